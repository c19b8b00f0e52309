/**
 * `argus-gateway audit` (search the audit log) and `argus-gateway audit verify` (check the hash chain).
 * Both read the database directly and record themselves as audit_log_viewed, with the operating-system
 * user as the actor. A search writes that row in the transaction that reads.
 */
import type { Command } from 'commander';

import { AUDIT_ACTIONS, AUDIT_OUTCOMES, recordAudit } from '../audit/record-audit.ts';
import { verifyAuditChain } from '../audit/verify-chain.ts';
import type { AppConfig } from '../config/load.ts';
import { embeddedDatabaseHeldElsewhere, openDatabase } from '../db/open-database.ts';
import { queryAuditEvents, type AuditEventFilter, type AuditEventRow } from '../db/queries/audit.ts';
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
      const { total, events } = await searchAuditLog(loadConfig(), filter);
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
      const result = await verifyChain(loadConfig());
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

async function searchAuditLog(config: AppConfig, filter: AuditEventFilter): Promise<{ total: number; events: AuditEventRow[] }> {
  return withDatabase(config, (database) =>
    database.transaction(async (manager) => {
      const result = await queryAuditEvents(manager, filter);
      await recordAudit(manager, {
        action: 'audit_log_viewed',
        outcome: 'success',
        actorType: 'user',
        actor: currentUser(),
        studyInstanceUid: filter.studyInstanceUid,
        accessionNumber: filter.accessionNumber,
        patientId: filter.patientId,
        details: {
          command: 'audit',
          since: filter.since?.toISOString() ?? null,
          until: filter.until?.toISOString() ?? null,
          action: filter.action ?? null,
          outcome: filter.outcome ?? null,
          actor: filter.actor ?? null,
          limit: filter.limit,
          offset: filter.offset,
          total: result.total,
          returned: result.events.length,
        },
      });
      return result;
    }),
  );
}

async function verifyChain(config: AppConfig) {
  return withDatabase(config, async (database) => {
    const result = await verifyAuditChain(database);
    // Recorded after the walk, so the new row is not part of what was verified.
    await database.transaction((manager) =>
      recordAudit(manager, {
        action: 'audit_log_viewed',
        outcome: 'success',
        actorType: 'user',
        actor: currentUser(),
        details: { command: 'audit verify', valid: result.valid, rowsVerified: result.rowsVerified, brokenSeq: result.valid ? null : result.break.seq },
      }),
    );
    return result;
  });
}

/**
 * Opens the configured database for one command.
 * NOTE: while `serve` runs on the embedded database (PGlite), only that process can open it, so the
 * audit commands work against PGlite only with the service stopped. On PostgreSQL they work at any time.
 */
async function withDatabase<T>(config: AppConfig, work: (database: Awaited<ReturnType<typeof openDatabase>>['database']) => Promise<T>): Promise<T> {
  configureLogging('warn');
  if (embeddedDatabaseHeldElsewhere(config)) {
    throw new CommandError('The service is running on the embedded database, which only one process can open. Stop the service, or run it on PostgreSQL (database.url), to read the audit log.');
  }
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
