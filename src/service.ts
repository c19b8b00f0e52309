/**
 * `argus-gateway serve`: the composition root of a running process. A process runs any subset of the
 * roles; they share only PostgreSQL (state and job queues) and the instance store, so a fleet can run
 * each role on its own hosts:
 * - listener: the DICOM listener and the HL7 order listener; writes instances into the store;
 * - scheduler: the completeness check, which queues a report job with each complete study, and the
 *   housekeeping job;
 * - worker: report jobs (selection, volume, model), `worker.concurrency` at a time;
 * - sender: delivery jobs (ORU^R01 and SR), one destination per job;
 * - api: the admin API (/api/v1) and the web console (/console/); every process, whatever its
 *   roles, serves /health/live, /health/ready and /metrics on api.host:api.port.
 * On SIGTERM or SIGINT the process reports not ready, stops taking work, lets running jobs finish
 * within queues.shutdownGraceSeconds (the rest go back to the queue), and stops in reverse order.
 */
import { readFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import type { EntityManager } from 'typeorm';

import type { AppConfig } from './config/load.ts';
import { adminApiRoutes } from './api/admin-api.ts';
import { handleTokenControlRequest } from './api/api-tokens.ts';
import { auditFilterFromMessage, searchAuditLog, verifyAuditLog } from './audit/audit-log-reads.ts';
import { tokenAuthentication } from './api/authentication.ts';
import { healthRoutes, HttpServer, metricsRoutes } from './api/http-server.ts';
import { LocalControlServer, type ControlRequest } from './api/local-control.ts';
import { AuditSyslogExporter } from './audit/syslog-exporter.ts';
import { Readiness } from './api/readiness.ts';
import type { Database } from './db/database.ts';
import { migrateWithLock } from './db/migrate-with-lock.ts';
import { controlSocketPath, openDatabase, type OpenedDatabase } from './db/open-database.ts';
import { listAssociations } from './db/queries/associations.ts';
import { listStudies } from './db/queries/completeness.ts';
import { listJobs } from './db/queries/queue.ts';
import { listDeliveries, listReports } from './db/queries/reports.ts';
import { queryRows } from './db/sql.ts';
import { acceptedSopClasses } from './dicom/conformance.ts';
import { DicomListener, type ListenerTls } from './dicom/dicom-listener.ts';
import { DiskSpaceMonitor } from './ingest/disk-space.ts';
import { IngestSink } from './ingest/ingest-sink.ts';
import { InstanceStore } from './ingest/instance-store.ts';
import { cleanSpoolAtStart, findInstanceFileProblems } from './ingest/startup-check.ts';
import { getLogger } from './logging/logger.ts';
import { GatewayMetrics } from './metrics/gateway-metrics.ts';
import { MeteredSink } from './metrics/metered-sink.ts';
import { loadModel, type ArgusModel } from './model/index.ts';
import { OrderIntake } from './orders/order-intake.ts';
import { OrderListener } from './orders/order-listener.ts';
import { OrderStore } from './orders/order-store.ts';
import { JobQueue } from './queue/job-queue.ts';
import { approveDelivery, replayDelivery, type WakeDestination } from './worker/delivery-admin.ts';
import { outboxLeaseSeconds } from './worker/delivery-job.ts';
import { JobScheduling } from './worker/job-scheduling.ts';
import { startSchedulerRole, startSenderRole, startWorkerRole, type QueueRoleContext, type StartedRole } from './worker/queue-roles.ts';

const logger = getLogger('service');

/** Rows returned by one control request at most. */
const MAX_LIST_ROWS = 1000;

export const ROLES = ['listener', 'scheduler', 'worker', 'sender', 'api'] as const;
export type Role = (typeof ROLES)[number];

export interface RunningService {
  roles: Role[];
  /** Port of the DICOM listener, when this process runs the listener role. */
  dicomPort?: number;
  /** Port of the HL7 order listener, when one is configured and the listener role runs. */
  orderPort?: number;
  /** Port of the health, readiness and metrics server. */
  apiPort: number;
  stop(): Promise<void>;
}

/** Longest Unix socket path Linux accepts (sun_path is 108 bytes including the terminating NUL). */
const MAX_SOCKET_PATH_BYTES = 107;

export class ServiceStartError extends Error {
  readonly code = 'service_start_failed';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ServiceStartError';
  }
}

export async function startService(config: AppConfig, options: { roles?: readonly Role[] } = {}): Promise<RunningService> {
  const roles = new Set<Role>(options.roles ?? ROLES);
  const stoppers: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stoppers.reverse()) {
      await stop().catch((error: unknown) => logger.error('stopping a component failed', { err: error }));
    }
    logger.info('service stopped');
  };
  const metrics = new GatewayMetrics();
  const readiness = new Readiness();

  try {
    // The model is checked first: a wrong package path must not leave a new database behind.
    const model = roles.has('worker') ? await loadConfiguredModel(config) : undefined;
    if (model) {
      stoppers.push(() => model.release());
      logger.info('model loaded', { model: model.identity.name, version: model.identity.version });
    }

    await mkdir(config.dataDirectory, { recursive: true });
    const opened: OpenedDatabase = await openDatabase(config);
    stoppers.push(() => opened.close());
    const { database } = opened;
    const applied = await migrateWithLock(database);
    logger.info('database ready', { state: database.target.kind, count: applied.length });
    readiness.register('database', async () => {
      await database.run((manager) => queryRows(manager, 'SELECT 1'));
    });

    const queue = await JobQueue.start(database, config, { schedule: roles.has('scheduler') });
    stoppers.push(() => queue.stop());
    metrics.setQueueDepthSource(() => queue.depths());
    readiness.register('queue', () => true);

    const scheduling = new JobScheduling(queue, config);
    const wakeDestination = (manager: EntityManager, destination: string) => scheduling.wakeDestinations(manager, [destination]);
    const metricsAuthentication = config.api.metricsRequireToken ? tokenAuthentication(database) : undefined;
    const httpPlugins = [healthRoutes(readiness), metricsRoutes(metrics, metricsAuthentication)];
    if (roles.has('api')) httpPlugins.push(adminApiRoutes({ database, config, wakeDestination }));
    const http = new HttpServer(config.api, httpPlugins);
    const apiPort = await http.start();
    stoppers.push(() => http.stop());

    if (database.target.kind === 'pglite') {
      const control = await startControlServer(config, database, wakeDestination);
      stoppers.push(() => control.stop());
    }

    // The export reads committed audit rows, so it never holds up the roles that write them.
    if (roles.has('scheduler') && config.audit.syslog) {
      let exporter: AuditSyslogExporter;
      try {
        exporter = new AuditSyslogExporter(database, config.audit.syslog, path.dirname(config.configPath));
      } catch (error) {
        throw new ServiceStartError(`The audit syslog export cannot be set up: ${(error as Error).message}`, { cause: error });
      }
      exporter.start();
      stoppers.push(() => exporter.stop());
    }

    // Workers read the store that listeners write; across hosts it is one shared volume (docs/deployment.md).
    const spoolDirectory = path.join(config.spoolDirectory, `${os.hostname()}-${config.dicom.listener.port}`);
    const store = new InstanceStore(config.instanceDirectory, spoolDirectory);
    stoppers.push(async () => store.close());

    const context: QueueRoleContext = { database, config, queue, scheduling, metrics };
    const started: StartedRole[] = [];
    let listeningSince: Date | undefined = roles.has('listener') ? undefined : new Date();
    let sender: StartedRole | undefined;
    let worker: StartedRole | undefined;
    if (roles.has('sender')) {
      try {
        sender = startSenderRole(context);
      } catch (error) {
        throw new ServiceStartError(`The delivery destinations cannot be set up: ${(error as Error).message}`, { cause: error });
      }
      started.push(sender);
    }
    if (roles.has('worker')) {
      worker = startWorkerRole(context, store, model!, () => sender?.notify());
      started.push(worker);
      readiness.register('worker', () => true);
    }
    if (roles.has('scheduler')) {
      started.push(
        startSchedulerRole(context, {
          // Quiet periods count from the listener's start: silence while it was down proves nothing.
          listeningSince: () => listeningSince ?? new Date(),
          onStudyComplete: () => worker?.notify(),
          deliveryLeaseSeconds: outboxLeaseSeconds(config),
        }),
      );
    }
    // Runs after the listeners stop: no new job is taken, and running ones finish or go back to the queue.
    stoppers.push(async () => {
      readiness.markStopping();
      await Promise.all(started.map((role) => role.stop(config.queues.shutdownGraceSeconds)));
    });

    let dicomPort: number | undefined;
    let orderPort: number | undefined;
    if (roles.has('listener')) {
      const listener = await startListenerRole(config, database, store, metrics, stoppers);
      dicomPort = listener.dicomPort;
      orderPort = listener.orderPort;
      listeningSince = new Date();
      readiness.register('listener', () => true);
    }

    // Runs first at shutdown, so probes see the process as not ready before anything stops.
    stoppers.push(async () => readiness.markStopping());

    logger.info('service started', { roles: [...roles].join(','), port: dicomPort, aeTitle: roles.has('listener') ? config.dicom.listener.aeTitle : undefined });
    logger.info('HTTP server listening', { host: config.api.host, port: apiPort });
    return { roles: [...roles], dicomPort, orderPort, apiPort, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Starts the DICOM listener, the HL7 order listener when configured, and the store checks. */
async function startListenerRole(
  config: AppConfig,
  database: Database,
  store: InstanceStore,
  metrics: GatewayMetrics,
  stoppers: (() => Promise<void>)[],
): Promise<{ dicomPort: number; orderPort?: number }> {
  await store.prepare();
  await cleanSpoolAtStart(store, config.spoolDirectory);
  const diskSpace = new DiskSpaceMonitor(config.instanceDirectory, {
    maxUsedPercent: config.storage.maxDiskUsagePercent,
    minFreeBytes: config.storage.minFreeDiskMegabytes * 1024 * 1024,
  });
  await diskSpace.start();
  stoppers.push(async () => diskSpace.stop());

  const listener = new DicomListener(
    {
      host: config.dicom.listener.host,
      port: config.dicom.listener.port,
      aeTitle: config.dicom.listener.aeTitle,
      peers: config.dicom.peers,
      idleTimeoutSeconds: config.dicom.listener.idleTimeoutSeconds,
      sopClasses: acceptedSopClasses(config.dicom.sopClasses.processed, config.dicom.sopClasses.storedOnly),
      transferSyntaxes: config.dicom.transferSyntaxes,
      maxConnections: config.dicom.listener.maxConnections,
      maxAssociations: config.dicom.listener.maxAssociations,
      maxAssociationsPerPeer: config.dicom.listener.maxAssociationsPerPeer,
      tls: await loadListenerTls(config),
    },
    new MeteredSink(new IngestSink(database, store, { duplicatePolicy: config.storage.duplicatePolicy, diskSpace }), metrics),
  );
  const dicomPort = await listener.start();
  stoppers.push(() => listener.stop());

  const orderListener = config.hl7.orderListener ? await startOrderListener(config, database) : undefined;
  if (orderListener) stoppers.push(() => orderListener.stop());

  // Rows whose file a crash left missing are reported in the background; receiving does not wait.
  const fileCheckAbort = new AbortController();
  const fileCheck = findInstanceFileProblems(database, store, fileCheckAbort.signal).catch((error: unknown) =>
    logger.error('checking the instance store failed', { err: error }),
  );
  stoppers.push(async () => {
    fileCheckAbort.abort();
    await fileCheck;
  });
  return { dicomPort, orderPort: orderListener?.port };
}

async function loadConfiguredModel(config: AppConfig): Promise<ArgusModel> {
  try {
    const { intraOpThreads, executionProvider, maxNewTokens, numBeams, repetitionPenalty, noRepeatNgramSize, endTokens } = config.model;
    return await loadModel(config.modelPackagePath, {
      intraOpThreads,
      executionProvider,
      generation: {
        ...(maxNewTokens === undefined ? {} : { maxNewTokens }),
        ...(numBeams === undefined ? {} : { numBeams }),
        ...(repetitionPenalty === undefined ? {} : { repetitionPenalty }),
        ...(noRepeatNgramSize === undefined ? {} : { noRepeatNgramSize }),
        ...(endTokens === undefined ? {} : { endTokens }),
      },
    });
  } catch (error) {
    throw new ServiceStartError(
      `The model package in ${config.modelPackagePath} (model.packagePath) cannot be loaded: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** Reads the listener's TLS files, relative to the configuration file; absent TLS settings give undefined. */
async function loadListenerTls(config: AppConfig): Promise<ListenerTls | undefined> {
  const settings = config.dicom.listener.tls;
  if (!settings) return undefined;
  const base = path.dirname(config.configPath);
  const read = async (key: string, file: string) => {
    try {
      return await readFile(path.resolve(base, file));
    } catch (error) {
      throw new ServiceStartError(`dicom.listener.tls.${key}: ${path.resolve(base, file)} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`, { cause: error });
    }
  };
  return {
    cert: await read('certFile', settings.certFile),
    key: await read('keyFile', settings.keyFile),
    ca: settings.caFile ? await read('caFile', settings.caFile) : undefined,
    requireClientCertificate: settings.requireClientCertificate,
  };
}

async function startControlServer(config: AppConfig, database: Database, wake: WakeDestination): Promise<LocalControlServer> {
  const socketPath = controlSocketPath(config);
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw new ServiceStartError(
      `The control socket path ${socketPath} is ${Buffer.byteLength(socketPath)} bytes long; Unix sockets allow ${MAX_SOCKET_PATH_BYTES}. Choose a shorter dataDirectory.`,
    );
  }
  const control = new LocalControlServer(socketPath, (request: ControlRequest) => {
    const limit = Math.min(request.limit ?? MAX_LIST_ROWS, MAX_LIST_ROWS);
    if (request.command === 'reports.list') return database.run((manager) => listReports(manager, limit));
    if (request.command === 'deliveries.list') return database.run((manager) => listDeliveries(manager, limit));
    if (request.command === 'associations.list') return database.run((manager) => listAssociations(manager, limit));
    if (request.command === 'studies.list') return database.run((manager) => listStudies(manager, limit));
    if (request.command === 'jobs.list') return database.run((manager) => listJobs(manager, request.states ?? ['failed'], limit));
    if (request.command.startsWith('tokens.')) return handleTokenControlRequest(database, request);
    if (request.command === 'audit.search' || request.command === 'audit.verify') {
      if (typeof request.actor !== 'string') throw Object.assign(new Error(`${request.command} needs actor`), { code: 'invalid_request' });
      if (request.command === 'audit.verify') return verifyAuditLog(database, request.actor);
      return searchAuditLog(database, auditFilterFromMessage(request.auditFilter), request.actor);
    }
    if (request.command === 'deliveries.approve' || request.command === 'deliveries.replay') {
      const { deliveryId, actor } = request;
      if (typeof deliveryId !== 'string' || typeof actor !== 'string') {
        throw Object.assign(new Error(`${request.command} needs deliveryId and actor`), { code: 'invalid_request' });
      }
      if (request.command === 'deliveries.approve') return approveDelivery(database, deliveryId, actor, wake);
      return replayDelivery(database, deliveryId, actor, { force: request.force === true, wake });
    }
    throw Object.assign(new Error(`unknown command "${String(request.command)}"`), { code: 'unknown_command' });
  });
  await control.start();
  return control;
}

/** Starts the HL7 order listener; a TLS file that cannot be read stops the service at start. */
async function startOrderListener(config: AppConfig, database: Database): Promise<{ port: number; stop(): Promise<void> }> {
  const settings = config.hl7.orderListener!;
  const read = (file: string, key: string): Buffer => {
    const absolute = path.resolve(path.dirname(config.configPath), file);
    try {
      return readFileSync(absolute);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? String(error);
      throw new ServiceStartError(`hl7.orderListener.tls.${key} ${absolute} cannot be read (${reason})`, { cause: error });
    }
  };
  const tls = settings.tls && {
    cert: read(settings.tls.certFile, 'certFile'),
    key: read(settings.tls.keyFile, 'keyFile'),
    ...(settings.tls.caFile ? { ca: read(settings.tls.caFile, 'caFile') } : {}),
  };

  const intake = new OrderIntake(new OrderStore(database), { acceptedProcessingIds: settings.processingIds });
  const listener = new OrderListener(
    {
      host: settings.host,
      port: settings.port,
      allowedAddresses: settings.allowedAddresses,
      idleTimeoutMs: settings.idleTimeoutSeconds * 1000,
      ...(tls ? { tls } : {}),
    },
    (frame, remoteAddress) => intake.handleFrame(frame, remoteAddress),
  );
  const port = await listener.start();
  return { port, stop: () => listener.stop() };
}
