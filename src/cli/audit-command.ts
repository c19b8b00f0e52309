/**
 * `argus-gateway audit` (search the audit log) and `argus-gateway audit verify` (check the hash chain).
 * Both record themselves as audit_log_viewed, with the operating-system user as the actor. A search
 * writes that row in the transaction that reads.
 */
import type { Command } from 'commander';

import { sendControlRequest, type ControlRequest } from '../api/local-control.ts';
import { auditFilterToMessage, searchAuditLog, verifyAuditLog } from '../audit/audit-log-reads.ts';
import { AUDIT_ACTIONS, AUDIT_OUTCOMES } from '../audit/record-audit.ts';
import type { AppConfig } from '../config/load.ts';
import type { Database } from '../db/database.ts';
import { controlSocketPath, embeddedDatabaseHeldElsewhere, openDatabase } from '../db/open-database.ts';
import type { AuditEventFilter, AuditEventRow } from '../db/queries/audit.ts';
import { configureLogging } from '../logging/logger.ts';
import { CommandError, currentUser, printTable } from './output.ts';
import { parseTimeOption } from './time-range.ts';

interface AuditSearchOptions {
  since?: string;
  until?: string;
  action?: string;
  study?: string;
  accession?: string;
  patientId?: string;
  outcome?: string;
  actor?: string;
  limit: number;
  offset: number;
  json?: boolean;
}

export function registerAuditCommands(program: Command, loadConfig: () => AppConfig): void {
  const audit = program
    .command('audit')
    .description('search the audit log, newest first; every search is itself recorded as audit_log_viewed')
    .option('--since <time>', 'events at or after this time: a duration back from now (30m, 24h, 7d) or an ISO 8601 date')
    .option('--until <time>', 'events before this time, in the same forms as --since')
    .option('--action <action>', `one action, from ${AUDIT_ACTIONS.join(', ')}`)
    .option('--study <uid>', 'StudyInstanceUID')
    .option('--accession <number>', 'accession number')
    .option('--patient-id <id>', 'PatientID')
    .option('--outcome <outcome>', `${AUDIT_OUTCOMES.join(' or ')}`)
    .option('--actor <actor>', 'actor: calling AE title, user, token name or service role')
    .option('--limit <count>', 'number of events', parsePositiveInteger('--limit'), 100)
    .option('--offset <count>', 'events to skip, for paging', parseNonNegativeInteger('--offset'), 0)
    .option('--json', 'print JSON: { total, events } with every column, including the hashes')
    .action(async (options: AuditSearchOptions) => {
      const filter = searchFilter(options);
      const actor = currentUser();
      const { total, events } = await runAuditRead(
        loadConfig(),
        { command: 'audit.search', actor, auditFilter: auditFilterToMessage(filter) },
        (database) => searchAuditLog(database, filter, actor),
      );
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ total, events }, null, 2)}\n`);
        return;
      }
      printTable(['seq', 'time', 'action', 'outcome', 'actor', 'study instance uid', 'accession', 'patient id'], events.map(tableRow));
      process.stdout.write(`${events.length} of ${total} events\n`);
    });

  audit
    .command('verify')
    .description('check the hash chain of the whole audit log; exit code 1 names the first row that breaks it')
    .action(async () => {
      const actor = currentUser();
      const result = await runAuditRead(loadConfig(), { command: 'audit.verify', actor }, (database) => verifyAuditLog(database, actor));
      if (result.valid && result.rowsVerified === 0) {
        process.stdout.write('Audit chain valid: the audit log is empty.\n');
        return;
      }
      if (result.valid) {
        process.stdout.write(`Audit chain valid: ${rowCount(result.rowsVerified)} verified (seq 1 to ${result.headSeq}).\n`);
        return;
      }
      const { id, seq, problem, message } = result.break;
      process.stdout.write(`Audit chain broken at seq ${seq} (id ${id}, ${problem}): ${message}. ${rowCount(result.rowsVerified)} before it verified.\n`);
      process.exitCode = 1;
    });
}

function searchFilter(options: AuditSearchOptions): AuditEventFilter {
  if (options.action !== undefined && !(AUDIT_ACTIONS as readonly string[]).includes(options.action)) {
    throw new CommandError(`--action must be one of ${AUDIT_ACTIONS.join(', ')}; got "${options.action}"`);
  }
  if (options.outcome !== undefined && !(AUDIT_OUTCOMES as readonly string[]).includes(options.outcome)) {
    throw new CommandError(`--outcome must be ${AUDIT_OUTCOMES.join(' or ')}; got "${options.outcome}"`);
  }
  const now = new Date();
  const time = (value: string | undefined, option: string) => {
    if (value === undefined) return undefined;
    try {
      return parseTimeOption(value, option, now);
    } catch (error) {
      throw new CommandError((error as Error).message);
    }
  };
  const filter: AuditEventFilter = { limit: options.limit, offset: options.offset };
  const since = time(options.since, '--since');
  const until = time(options.until, '--until');
  if (since) filter.since = since;
  if (until) filter.until = until;
  if (options.action !== undefined) filter.action = options.action;
  if (options.study !== undefined) filter.studyInstanceUid = options.study;
  if (options.accession !== undefined) filter.accessionNumber = options.accession;
  if (options.patientId !== undefined) filter.patientId = options.patientId;
  if (options.outcome !== undefined) filter.outcome = options.outcome;
  if (options.actor !== undefined) filter.actor = options.actor;
  return filter;
}

/**
 * Runs one audit read on the configured database. While `serve` has the embedded database (PGlite) open,
 * the read goes through the service's control socket, because only one process can open PGlite.
 */
async function runAuditRead<T>(config: AppConfig, request: ControlRequest, work: (database: Database) => Promise<T>): Promise<T> {
  configureLogging('warn');
  if (embeddedDatabaseHeldElsewhere(config)) return (await sendControlRequest(controlSocketPath(config), request)) as T;
  const opened = await openDatabase(config);
  try {
    await opened.database.migrate();
    return await work(opened.database);
  } finally {
    await opened.close();
  }
}

function rowCount(count: number): string {
  return count === 1 ? '1 row' : `${count} rows`;
}

function tableRow(event: AuditEventRow): string[] {
  return [
    String(event.seq),
    event.occurredAt,
    event.action,
    event.outcome,
    `${event.actorType}:${event.actor}`,
    event.studyInstanceUid ?? '',
    event.accessionNumber ?? '',
    event.patientId ?? '',
  ];
}

function parsePositiveInteger(option: string): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (!Number.isInteger(number) || number <= 0) throw new CommandError(`${option} must be a positive integer, got "${value}"`);
    return number;
  };
}

function parseNonNegativeInteger(option: string): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (!Number.isInteger(number) || number < 0) throw new CommandError(`${option} must be zero or a positive integer, got "${value}"`);
    return number;
  };
}
