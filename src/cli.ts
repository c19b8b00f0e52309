/**
 * The argus-gateway command line. Every command loads the configuration first, so a bad file stops
 * the program with one message naming every invalid key (exit code 2).
 */
import os from 'node:os';

import { Command, Option } from 'commander';
import type { EntityManager } from 'typeorm';

import { sendControlRequest } from './api/local-control.ts';
import { registerAuditCommands } from './cli/audit-command.ts';
import { registerDoctorCommand } from './cli/doctor-command.ts';
import { registerEchoCommand } from './cli/echo-command.ts';
import { registerReportCommand } from './cli/report-command.ts';
import { registerTokenCommands } from './cli/token-command.ts';
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfig, type AppConfig } from './config/load.ts';
import { controlSocketPath, embeddedDatabaseHeldElsewhere, openDatabase } from './db/open-database.ts';
import type { ControlCommand } from './api/local-control.ts';
import { listAssociations, type AssociationLogItem } from './db/queries/associations.ts';
import { listStudies, type StudyListItem } from './db/queries/completeness.ts';
import { listJobs, queueInstalled, type JobListItem } from './db/queries/queue.ts';
import { listDeliveries, listReports, type DeliveryListItem, type ReportListItem } from './db/queries/reports.ts';
import { configureLogging } from './logging/logger.ts';
import type { DeliveryActionResult } from './worker/delivery-admin.ts';

/** Roles of `serve`; the same list as src/service.ts, kept here so that the CLI does not load the service. */
const SERVICE_ROLES = ['listener', 'scheduler', 'worker', 'sender', 'api'] as const;
/** pg-boss job states. */
const JOB_STATES = ['created', 'retry', 'active', 'completed', 'cancelled', 'failed'] as const;

const EXIT_CONFIG_INVALID = 2;
const EXIT_FAILURE = 1;

const program = new Command();
program
  .name('argus-gateway')
  .description('Receives CT studies over DICOM, writes draft reports with an Argus-architecture model and returns them as HL7 ORU^R01 and DICOM SR.')
  .addOption(new Option('-c, --config <file>', 'configuration file (JSON)').default(DEFAULT_CONFIG_PATH, 'config/argus-gateway.json'));

program
  .command('serve')
  .description('run the service: DICOM listener, completeness check, report worker and delivery sender')
  .option('--roles <roles>', `comma-separated roles this process runs, from ${SERVICE_ROLES.join(', ')}`, SERVICE_ROLES.join(','))
  .action(async (options: { roles: string }) => {
    const roles = parseRoles(options.roles);
    const config = configFromOptions();
    configureLogging(config.logLevel);
    // Loaded here so that the other commands do not load onnxruntime and the model code.
    const { startService } = await import('./service.ts');
    const service = await startService(config, { roles });
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`argus-gateway: ${signal} received, stopping\n`);
      await service.stop();
      process.exit(0);
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));
  });

program
  .command('migrate')
  .description('apply pending database migrations and exit')
  .action(async () => {
    const config = configFromOptions();
    configureLogging(config.logLevel);
    if (embeddedDatabaseHeldElsewhere(config)) {
      throw new CliError('The service is running on the embedded database and applies migrations itself at start; stop it to run migrate.');
    }
    const opened = await openDatabase(config);
    try {
      const applied = await opened.database.migrate();
      process.stdout.write(applied.length === 0 ? 'The database schema is up to date.\n' : `Applied migrations: ${applied.join(', ')}\n`);
    } finally {
      await opened.close();
    }
  });

const reports = program.command('reports').description('stored reports');
reports
  .command('list')
  .description('print the stored reports, newest first')
  .option('--json', 'print JSON: id, studyInstanceUid, status, model, createdAt, supersedesReportId, text and more')
  .option('--limit <count>', 'number of reports', parsePositiveInteger, 100)
  .action(async (options: { json?: boolean; limit: number }) => {
    const items = (await readList(configFromOptions(), 'reports.list', options.limit)) as ReportListItem[];
    if (options.json) {
      process.stdout.write(`${JSON.stringify(items, null, 2)}\n`);
      return;
    }
    printTable(
      ['id', 'study instance uid', 'status', 'model', 'created', 'replaces'],
      items.map((item) => [item.id, item.studyInstanceUid, item.status, `${item.model.name} ${item.model.version}`, item.createdAt, item.supersedesReportId ?? '']),
    );
  });

const deliveries = program.command('deliveries').description('outgoing ORU^R01 and SR deliveries');
deliveries
  .command('list')
  .description('print the deliveries with their state and last error, newest first')
  .option('--json', 'print JSON')
  .option('--limit <count>', 'number of deliveries', parsePositiveInteger, 100)
  .action(async (options: { json?: boolean; limit: number }) => {
    const items = (await readList(configFromOptions(), 'deliveries.list', options.limit)) as DeliveryListItem[];
    if (options.json) {
      process.stdout.write(`${JSON.stringify(items, null, 2)}\n`);
      return;
    }
    printTable(
      ['id', 'kind', 'destination', 'state', 'attempts', 'last error'],
      items.map((item) => [item.id, item.kind, item.destination, item.state, String(item.attempts), item.lastError ?? '']),
    );
  });

deliveries
  .command('approve')
  .description('release a held delivery (review gate): it becomes pending and is sent in its destination\'s order')
  .argument('<id>', 'delivery id, as deliveries list prints it')
  .action(async (id: string) => {
    const result = (await runDeliveryAction(configFromOptions(), { command: 'deliveries.approve', deliveryId: id })) as DeliveryActionResult;
    process.stdout.write(`Delivery ${result.id} approved; it is pending and will be sent next.\n`);
  });

deliveries
  .command('replay')
  .description('send a dead or delivered delivery again; an ORU^R01 gets a new MSH-10, an SR keeps its SOPInstanceUID')
  .argument('<id>', 'delivery id, as deliveries list prints it')
  .option('--force', 'replay even when a later report of the study was delivered to the same destination')
  .action(async (id: string, options: { force?: boolean }) => {
    const request = { command: 'deliveries.replay' as const, deliveryId: id, force: options.force === true };
    const result = (await runDeliveryAction(configFromOptions(), request)) as DeliveryActionResult;
    const renewed = result.controlId === result.previousControlId ? '' : ` as MSH-10 ${result.controlId} (was ${result.previousControlId})`;
    process.stdout.write(`Delivery ${result.id} queued again${renewed}.\n`);
  });

const associations = program.command('associations').description('the association log of the DICOM listener');
associations
  .command('list')
  .description('print associations with their peer, result, instance count and bytes, newest first')
  .option('--json', 'print JSON, including the rejection reason and end time')
  .option('--limit <count>', 'number of associations', parsePositiveInteger, 100)
  .action(async (options: { json?: boolean; limit: number }) => {
    const items = (await readList(configFromOptions(), 'associations.list', options.limit)) as AssociationLogItem[];
    if (options.json) {
      process.stdout.write(`${JSON.stringify(items, null, 2)}\n`);
      return;
    }
    printTable(
      ['started', 'calling AE', 'called AE', 'address', 'result', 'instances', 'failed', 'bytes'],
      items.map((item) => [
        item.startedAt,
        item.callingAeTitle,
        item.calledAeTitle,
        item.remoteAddress,
        item.rejectionReason ? `${item.result} (${item.rejectionReason})` : item.result,
        String(item.instancesStored),
        String(item.instancesFailed),
        String(item.bytesReceived),
      ]),
    );
  });

const studies = program.command('studies').description('received studies and their completeness state');
studies
  .command('list')
  .description('print studies with their state and the reason for it, most recently received first')
  .option('--json', 'print JSON, including run reason and late instances')
  .option('--limit <count>', 'number of studies', parsePositiveInteger, 100)
  .action(async (options: { json?: boolean; limit: number }) => {
    const items = (await readList(configFromOptions(), 'studies.list', options.limit)) as StudyListItem[];
    if (options.json) {
      process.stdout.write(`${JSON.stringify(items, null, 2)}\n`);
      return;
    }
    printTable(
      ['study instance uid', 'state', 'instances', 'last received', 'reason'],
      items.map((item) => [item.studyInstanceUid, item.state, String(item.instanceCount), item.lastReceivedAt, item.stateReason ?? '']),
    );
  });

const jobs = program.command('jobs').description('report, delivery and housekeeping jobs in the queues');
jobs
  .command('list')
  .description('print jobs with their attempts and last error, newest first; by default those that used up their attempts')
  .option('--state <states>', `comma-separated job states, from ${JOB_STATES.join(', ')}`, 'failed')
  .option('--json', 'print JSON, including the job payload (ids only) and output')
  .option('--limit <count>', 'number of jobs', parsePositiveInteger, 100)
  .action(async (options: { state: string; json?: boolean; limit: number }) => {
    const states = parseList(options.state, JOB_STATES, '--state');
    const items = await readJobs(configFromOptions(), states, options.limit);
    if (options.json) {
      process.stdout.write(`${JSON.stringify(items, null, 2)}\n`);
      return;
    }
    printTable(
      ['id', 'queue', 'state', 'attempts', 'created', 'error'],
      items.map((item) => [item.id, item.queue, item.state, `${item.attempts}/${item.maxAttempts}`, item.createdAt, jobErrorText(item.output)]),
    );
  });

// Commands that live in their own modules under src/cli/.
registerAuditCommands(program, configFromOptions);
registerEchoCommand(program, configFromOptions);
registerDoctorCommand(program, configFromOptions);
registerTokenCommands(program, { loadConfig: configFromOptions, currentUser, printTable });
registerReportCommand(program, configFromOptions);

class CliError extends Error {}


function parseRoles(value: string): (typeof SERVICE_ROLES)[number][] {
  return parseList(value, SERVICE_ROLES, '--roles');
}

function parseList<T extends string>(value: string, allowed: readonly T[], option: string): T[] {
  const items = value.split(',').map((item) => item.trim()).filter((item) => item.length > 0);
  const unknown = items.filter((item) => !(allowed as readonly string[]).includes(item));
  if (items.length === 0 || unknown.length > 0) {
    throw new CliError(`${option} takes a comma-separated list of ${allowed.join(', ')}; got "${value}"`);
  }
  return [...new Set(items)] as T[];
}

/** Returns the message of a job's last failure, from the object the job was failed with or pg-boss's own timeout record. */
function jobErrorText(output: unknown): string {
  if (typeof output !== 'object' || output === null) return '';
  const record = output as { code?: unknown; message?: unknown; value?: { message?: unknown } };
  const message = typeof record.message === 'string' ? record.message : typeof record.value?.message === 'string' ? record.value.message : '';
  return typeof record.code === 'string' && message ? `${record.code}: ${message}` : message;
}

async function readJobs(config: AppConfig, states: string[], limit: number): Promise<JobListItem[]> {
  configureLogging('warn');
  if (embeddedDatabaseHeldElsewhere(config)) {
    return (await sendControlRequest(controlSocketPath(config), { command: 'jobs.list', states, limit })) as JobListItem[];
  }
  const opened = await openDatabase(config);
  try {
    await opened.database.migrate();
    return await opened.database.run(async (manager) => ((await queueInstalled(manager)) ? listJobs(manager, states, limit) : []));
  } finally {
    await opened.close();
  }
}

/** Approves or replays a delivery, through the running service when that service has the embedded database open. */
async function runDeliveryAction(
  config: AppConfig,
  request: { command: 'deliveries.approve' | 'deliveries.replay'; deliveryId: string; force?: boolean },
): Promise<unknown> {
  configureLogging('warn');
  const actor = currentUser();
  if (embeddedDatabaseHeldElsewhere(config)) {
    return sendControlRequest(controlSocketPath(config), { ...request, actor });
  }
  const { approveDelivery, replayDelivery } = await import('./worker/delivery-admin.ts');
  const { JobQueue } = await import('./queue/job-queue.ts');
  const { JobScheduling } = await import('./worker/job-scheduling.ts');
  const opened = await openDatabase(config);
  try {
    await opened.database.migrate();
    // The running senders learn of the change at once through a delivery job in the same transaction.
    const scheduling = new JobScheduling(JobQueue.forSending(opened.database), config);
    const wake = async (manager: EntityManager, destination: string) => {
      if (await queueInstalled(manager)) await scheduling.wakeDestinations(manager, [destination]);
    };
    if (request.command === 'deliveries.approve') return await approveDelivery(opened.database, request.deliveryId, actor, wake);
    return await replayDelivery(opened.database, request.deliveryId, actor, { force: request.force, wake });
  } finally {
    await opened.close();
  }
}

/** Returns the operating-system account that runs the command, which the audit row names as the actor. */
function currentUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid:${process.getuid?.() ?? 'unknown'}`;
  }
}

function configFromOptions(): AppConfig {
  return loadConfig(program.opts<{ config: string }>().config);
}

type ListCommand = Exclude<Extract<ControlCommand, `${string}.list`>, 'jobs.list' | 'tokens.list'>;

const LIST_QUERIES: Record<ListCommand, (manager: EntityManager, limit: number) => Promise<unknown[]>> = {
  'reports.list': listReports,
  'deliveries.list': listDeliveries,
  'associations.list': listAssociations,
  'studies.list': listStudies,
};

/** Reads from the database directly, or through the running service when that service has the embedded database open. */
async function readList(config: AppConfig, command: ListCommand, limit: number): Promise<unknown[]> {
  configureLogging('warn');
  if (embeddedDatabaseHeldElsewhere(config)) {
    return (await sendControlRequest(controlSocketPath(config), { command, limit })) as unknown[];
  }
  const opened = await openDatabase(config);
  try {
    await opened.database.migrate();
    return await opened.database.run((manager) => LIST_QUERIES[command](manager, limit));
  } finally {
    await opened.close();
  }
}

function parsePositiveInteger(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number <= 0) throw new CliError(`--limit must be a positive integer, got "${value}"`);
  return number;
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd();
  process.stdout.write(`${[line(header), ...rows.map(line)].join('\n')}\n`);
}

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`argus-gateway: ${error.message}\n`);
    process.exit(EXIT_CONFIG_INVALID);
  }
  process.stderr.write(`argus-gateway: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(EXIT_FAILURE);
});
