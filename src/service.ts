/**
 * `argus-gateway serve`: the composition root of the running service. It opens and migrates the
 * database, loads the model, and starts the DICOM listener, the HL7 order listener when one is
 * configured, and the periodic tasks (completeness check, report worker, delivery sender). On SIGTERM or
 * SIGINT it stops them in reverse order, so no accepted instance or started transaction is cut off.
 */
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

import type { AppConfig } from './config/load.ts';
import { LocalControlServer, type ControlRequest } from './api/local-control.ts';
import { completeQuietStudies } from './completeness/completeness-check.ts';
import type { Database } from './db/database.ts';
import { controlSocketPath, openDatabase, type OpenedDatabase } from './db/open-database.ts';
import { listDeliveries, listReports } from './db/queries/reports.ts';
import { DicomListener } from './dicom/dicom-listener.ts';
import { IngestSink } from './ingest/ingest-sink.ts';
import { InstanceStore } from './ingest/instance-store.ts';
import { getLogger } from './logging/logger.ts';
import { loadModel, type ArgusModel } from './model/index.ts';
import { OrderIntake } from './orders/order-intake.ts';
import { OrderListener } from './orders/order-listener.ts';
import { OrderStore } from './orders/order-store.ts';
import { approveDelivery, replayDelivery } from './worker/delivery-admin.ts';
import { DeliveryJob } from './worker/delivery-job.ts';
import { PeriodicTask } from './worker/periodic-task.ts';
import { ReportJob } from './worker/report-job.ts';

const logger = getLogger('service');

/** Rows returned by one control request at most. */
const MAX_LIST_ROWS = 1000;

export interface RunningService {
  dicomPort: number;
  /** Port of the HL7 order listener, when one is configured. */
  orderPort?: number;
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

export async function startService(config: AppConfig): Promise<RunningService> {
  const stoppers: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stoppers.reverse()) {
      await stop().catch((error: unknown) => logger.error('stopping a component failed', { err: error }));
    }
    logger.info('service stopped');
  };

  try {
    // The model is checked first: a wrong package path must not leave a new database behind.
    const model = await loadConfiguredModel(config);
    stoppers.push(() => model.release());
    logger.info('model loaded', { model: model.identity.name, version: model.identity.version });

    await mkdir(config.dataDirectory, { recursive: true });
    const opened: OpenedDatabase = await openDatabase(config);
    stoppers.push(() => opened.close());
    const { database } = opened;
    const applied = await database.migrate();
    logger.info('database ready', { state: database.target.kind, count: applied.length });

    if (database.target.kind === 'pglite') {
      const control = await startControlServer(config, database);
      stoppers.push(() => control.stop());
    }

    const store = new InstanceStore(config.instanceDirectory, config.spoolDirectory);
    await store.prepare();

    const reportJob = new ReportJob(database, config, store, model);
    const worker = new PeriodicTask('report worker', config.worker.pollIntervalSeconds, async () => {
      while (await reportJob.runOnce()) sender.trigger();
    }, logger);
    const deliveryJob = createDeliveryJob(database, config);
    stoppers.push(async () => deliveryJob.close());
    // pump() starts sends and returns; the job tracks them itself, so one slow RIS never delays the poll.
    const sender = new PeriodicTask('delivery sender', config.delivery.pollIntervalSeconds, () => deliveryJob.pump(), logger);
    const scheduler = new PeriodicTask('completeness check', config.completeness.checkIntervalSeconds, async () => {
      const completed = await completeQuietStudies(database, config.completeness.studyQuietPeriodSeconds);
      for (const study of completed) logger.info('study complete', { studyId: study.studyId, count: study.instanceCount });
      if (completed.length > 0) worker.trigger();
    }, logger);

    const listener = new DicomListener(
      {
        host: config.dicom.listener.host,
        port: config.dicom.listener.port,
        aeTitle: config.dicom.listener.aeTitle,
        peers: config.dicom.peers,
        idleTimeoutSeconds: config.dicom.listener.idleTimeoutSeconds,
      },
      new IngestSink(database, store),
    );
    const dicomPort = await listener.start();
    stoppers.push(() => listener.stop());

    const orderListener = config.hl7.orderListener ? await startOrderListener(config, database) : undefined;
    if (orderListener) stoppers.push(() => orderListener.stop());

    for (const task of [scheduler, worker, sender]) {
      task.start();
      stoppers.push(() => task.stop());
    }
    // Runs first at shutdown: no new delivery is claimed, and the sends in progress are recorded.
    stoppers.push(async () => {
      deliveryJob.stopClaiming();
      await deliveryJob.drain();
    });

    logger.info('service started', { port: dicomPort, aeTitle: config.dicom.listener.aeTitle });
    return { dicomPort, orderPort: orderListener?.port, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function loadConfiguredModel(config: AppConfig): Promise<ArgusModel> {
  try {
    return await loadModel(config.modelPackagePath, { intraOpThreads: config.model.intraOpThreads });
  } catch (error) {
    throw new ServiceStartError(
      `The model package in ${config.modelPackagePath} (model.packagePath) cannot be loaded: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

async function startControlServer(config: AppConfig, database: Database): Promise<LocalControlServer> {
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
    if (request.command === 'deliveries.approve' || request.command === 'deliveries.replay') {
      const { deliveryId, actor } = request;
      if (typeof deliveryId !== 'string' || typeof actor !== 'string') {
        throw Object.assign(new Error(`${request.command} needs deliveryId and actor`), { code: 'invalid_request' });
      }
      if (request.command === 'deliveries.approve') return approveDelivery(database, deliveryId, actor);
      return replayDelivery(database, deliveryId, actor, { force: request.force === true });
    }
    throw Object.assign(new Error(`unknown command "${String(request.command)}"`), { code: 'unknown_command' });
  });
  await control.start();
  return control;
}

function createDeliveryJob(database: Database, config: AppConfig): DeliveryJob {
  try {
    return new DeliveryJob(database, config);
  } catch (error) {
    throw new ServiceStartError(`The delivery destinations cannot be set up: ${(error as Error).message}`, { cause: error });
  }
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
