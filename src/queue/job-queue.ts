/**
 * The job queues on pg-boss 10. Every process of the fleet opens one JobQueue on the shared database;
 * pg-boss's tables hold the jobs, and FOR UPDATE SKIP LOCKED hands each job to one process at a time.
 *
 * Jobs are sent inside the transaction of the change that causes them, so a committed change always
 * has its job and a rolled-back one never does. Workers fetch jobs themselves (job-runner.ts) instead
 * of using pg-boss's work(), because a report job must keep its lease for as long as its heartbeat runs
 * and must stop at its own timeout, which work() does not offer.
 */
import PgBoss from 'pg-boss';
import type { EntityManager } from 'typeorm';

import type { AppConfig } from '../config/load.ts';
import type { Database } from '../db/database.ts';
import { withStartupLock } from '../db/migrate-with-lock.ts';
import { countJobsByQueue, extendJobLease, releaseJob } from '../db/queries/queue.ts';
import { getLogger } from '../logging/logger.ts';
import { QUEUE_NAMES, QUEUE_SCHEMA, type QueueName } from './queue-names.ts';
import { databaseExecutor, transactionExecutor } from './sql-executor.ts';

const logger = getLogger('queue');

/** A job still waiting after this long is archived by pg-boss without running; 30 days lets waiting jobs survive a long outage. */
const WAITING_RETENTION_MINUTES = 30 * 24 * 60;
/** Completed jobs stay in the job table for a day, for inspection, before pg-boss archives them. */
const COMPLETED_ARCHIVE_SECONDS = 24 * 3600;
/** Retries of a delivery or housekeeping job that failed for a reason outside the outbox (a lost connection). */
const SERVICE_JOB_RETRIES = 5;
const SERVICE_JOB_RETRY_DELAY_SECONDS = 5;
/** Housekeeping runs once a minute, the finest step of pg-boss's cron. */
const HOUSEKEEPING_CRON = '* * * * *';

export interface FetchedJob<T> {
  id: string;
  data: T;
  priority: number;
  /** 1 for the first attempt. */
  attempt: number;
  maxAttempts: number;
  createdOn: Date;
}

interface CommandResult {
  affected: number;
}

export interface SendOptions {
  /** Our id for the job, so that it can be stored with the row it belongs to in the same transaction. */
  id?: string;
  priority?: number;
  /** Jobs of one singleton key run one at a time, and at most one waits (delivery jobs: the destination). */
  singletonKey?: string;
  startAfter?: Date;
}

/** pg-boss asserts on misuse; its errors carry no code, so they are wrapped into one. */
export class QueueError extends Error {
  readonly code = 'queue_error';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'QueueError';
  }
}

export class JobQueue {
  private constructor(
    private readonly boss: PgBoss,
    private readonly database: Database,
  ) {}

  /**
   * Installs or upgrades pg-boss's schema, creates the queues or applies the configured retry and lease
   * settings to them, and starts pg-boss's maintenance. `schedule` makes this process one of those that
   * send the housekeeping job each minute (pg-boss sends it once for the whole fleet).
   */
  static async start(database: Database, config: AppConfig, options: { schedule: boolean }): Promise<JobQueue> {
    const boss = new PgBoss({
      db: databaseExecutor(database),
      schema: QUEUE_SCHEMA,
      migrate: true,
      supervise: true,
      schedule: options.schedule,
      maintenanceIntervalSeconds: config.queues.maintenanceIntervalSeconds,
      archiveCompletedAfterSeconds: COMPLETED_ARCHIVE_SECONDS,
      archiveFailedAfterSeconds: config.queues.failedJobRetentionDays * 86400,
      deleteAfterDays: config.queues.failedJobRetentionDays,
    } as PgBoss.ConstructorOptions);
    boss.on('error', (error: unknown) => logger.error('job queue maintenance failed', { err: error }));
    try {
      const queue = new JobQueue(boss, database);
      await withStartupLock(database, async () => {
        await boss.start();
        await queue.defineQueues(config);
      });
      if (options.schedule) await boss.schedule(QUEUE_NAMES.housekeeping, HOUSEKEEPING_CRON, {}, { tz: 'UTC' });
      return queue;
    } catch (error) {
      await boss.stop({ graceful: false, close: false }).catch(() => undefined);
      throw new QueueError(`The job queue cannot start: ${(error as Error).message}`, { cause: error });
    }
  }

  private async defineQueues(config: AppConfig): Promise<void> {
    const report = config.queues.report;
    await this.defineQueue(QUEUE_NAMES.report, {
      policy: 'standard',
      retryLimit: report.maxAttempts - 1,
      retryDelay: report.retryDelaySeconds,
      retryBackoff: true,
      expireInSeconds: report.leaseSeconds,
      retentionMinutes: WAITING_RETENTION_MINUTES,
    });
    await this.defineQueue(QUEUE_NAMES.delivery, {
      // One active and one waiting job per destination, so the destination's order is kept across senders.
      policy: 'stately',
      retryLimit: SERVICE_JOB_RETRIES,
      retryDelay: SERVICE_JOB_RETRY_DELAY_SECONDS,
      retryBackoff: true,
      expireInSeconds: config.queues.delivery.leaseSeconds,
      retentionMinutes: WAITING_RETENTION_MINUTES,
    });
    await this.defineQueue(QUEUE_NAMES.housekeeping, {
      policy: 'stately',
      retryLimit: 0,
      // A sweep is short; a minute is ample and the next one comes a minute later anyway.
      expireInSeconds: 60,
      retentionMinutes: 10,
    });
  }

  /**
   * Opens the queues only to send jobs, without pg-boss's maintenance or schema installation: for a
   * command-line action that wakes the running service. The caller checks that the schema exists.
   */
  static forSending(database: Database): JobQueue {
    return new JobQueue(new PgBoss({ db: databaseExecutor(database), schema: QUEUE_SCHEMA, migrate: false, supervise: false, schedule: false } as PgBoss.ConstructorOptions), database);
  }

  /** Creates the queue, or updates its settings when another process (or an earlier start) created it. */
  private async defineQueue(name: QueueName, settings: Omit<PgBoss.Queue, 'name'>): Promise<void> {
    const options = { ...settings, name };
    if (await this.boss.getQueue(name)) {
      await this.boss.updateQueue(name, options);
      return;
    }
    try {
      await this.boss.createQueue(name, options);
    } catch (error) {
      // Two processes starting together: the other one created it first.
      if (!(await this.boss.getQueue(name))) throw error;
      await this.boss.updateQueue(name, options);
    }
  }

  /** Sends a job in the caller's transaction; returns its id, or null when a singleton job already waits. */
  async send<T extends object>(manager: EntityManager, queue: QueueName, data: T, options: SendOptions = {}): Promise<string | null> {
    return this.boss.send(queue, data, {
      ...(options.id === undefined ? {} : { id: options.id }),
      ...(options.priority === undefined ? {} : { priority: options.priority }),
      ...(options.singletonKey === undefined ? {} : { singletonKey: options.singletonKey }),
      ...(options.startAfter === undefined ? {} : { startAfter: options.startAfter }),
      db: transactionExecutor(manager),
    } as PgBoss.SendOptions);
  }

  /** Starts up to `count` jobs of the queue, highest priority first, and returns them. */
  async fetch<T>(queue: QueueName, count: number): Promise<FetchedJob<T>[]> {
    const jobs = (await this.boss.fetch<T>(queue, { batchSize: count, includeMetadata: true, priority: true })) as PgBoss.JobWithMetadata<T>[];
    return jobs.map((job) => ({
      id: job.id,
      data: job.data,
      priority: job.priority,
      attempt: job.retryCount + 1,
      maxAttempts: job.retryLimit + 1,
      createdOn: new Date(job.createdOn),
    }));
  }

  /** Marks an active job done; with `manager`, in that transaction. Returns false when it was no longer active. */
  async complete(queue: QueueName, jobId: string, output: object, manager?: EntityManager): Promise<boolean> {
    // The typings declare void, but pg-boss 10 returns { jobs, requested, affected }.
    const result = (await this.boss.complete(queue, jobId, output, manager ? { db: transactionExecutor(manager) } : undefined)) as unknown as CommandResult;
    return result.affected === 1;
  }

  /** Records a failed attempt: pg-boss retries the job after its backoff, or makes it `failed` after the last attempt. */
  async fail(queue: QueueName, jobId: string, error: { code: string; message: string }): Promise<boolean> {
    const result = (await this.boss.fail(queue, jobId, { code: error.code, message: error.message })) as unknown as CommandResult;
    return result.affected === 1;
  }

  /** Extends an active job's lease by `leaseSeconds` (the heartbeat); returns false when the lease was already lost. */
  extendLease(queue: QueueName, jobId: string, leaseSeconds: number): Promise<boolean> {
    return this.database.run((manager) => extendJobLease(manager, queue, jobId, leaseSeconds));
  }

  /** Hands an active job back to the queue without counting the attempt (a worker that stops). */
  release(queue: QueueName, jobId: string): Promise<boolean> {
    return this.database.run((manager) => releaseJob(manager, queue, jobId));
  }

  /** Waiting and running jobs per queue, for the metrics. */
  async depths(): Promise<{ queue: string; state: string; count: number }[]> {
    return this.database.run((manager) => countJobsByQueue(manager));
  }

  /** Stops pg-boss's timers; the runners must have stopped first. */
  async stop(): Promise<void> {
    await this.boss.stop({ graceful: false, close: false, wait: true });
  }
}
