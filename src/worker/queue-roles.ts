/**
 * The roles that work on the job queues: worker (report jobs), sender (delivery jobs) and scheduler
 * (the completeness check, which sends report jobs, and the housekeeping job). Each returns a stop
 * function; service.ts decides which run in a process.
 */
import type { AppConfig } from '../config/load.ts';
import { runCompletenessCheck } from '../completeness/completeness-check.ts';
import type { Database } from '../db/database.ts';
import { nextDeliveryAttempt } from '../db/queries/queue.ts';
import type { InstanceStore } from '../ingest/instance-store.ts';
import { getLogger } from '../logging/logger.ts';
import type { GatewayMetrics } from '../metrics/gateway-metrics.ts';
import type { ArgusModel } from '../model/index.ts';
import type { JobQueue } from '../queue/job-queue.ts';
import { JobRunner } from '../queue/job-runner.ts';
import { QUEUE_NAMES, type DeliveryJobData, type HousekeepingJobData, type ReportJobData } from '../queue/queue-names.ts';
import { DeliveryJob } from './delivery-job.ts';
import { HousekeepingJob } from './housekeeping-job.ts';
import type { JobScheduling } from './job-scheduling.ts';
import { PeriodicTask } from './periodic-task.ts';
import { ReportJob } from './report-job.ts';

const logger = getLogger('roles');

export interface QueueRoleContext {
  database: Database;
  config: AppConfig;
  queue: JobQueue;
  scheduling: JobScheduling;
  metrics: GatewayMetrics;
}

export interface StartedRole {
  /** Stops taking work; running jobs get `graceSeconds` to finish before they are handed back. */
  stop(graceSeconds: number): Promise<void>;
  /** Asks the role to look for work now (work was just queued by this process). */
  notify(): void;
}

export function startWorkerRole(context: QueueRoleContext, store: InstanceStore, model: ArgusModel, onReportStored: () => void): StartedRole {
  const { config, queue, scheduling, metrics } = context;
  const reportJob = new ReportJob(context.database, config, store, model, {
    observeStage: (stage, seconds) => metrics.observeStage(stage, seconds),
    observeTokensPerSecond: (value) => metrics.observeTokensPerSecond(value),
    afterStore: (manager, stored) => scheduling.wakeDestinations(manager, stored.destinations),
  });
  const runner = new JobRunner<ReportJobData>(
    queue,
    QUEUE_NAMES.report,
    {
      concurrency: config.worker.concurrency,
      pollIntervalSeconds: config.worker.pollIntervalSeconds,
      leaseSeconds: config.queues.report.leaseSeconds,
      timeoutSeconds: config.queues.report.timeoutSeconds,
    },
    async (job) => {
      const outcome = await reportJob.runJob(job, async (manager, output) => {
        await queue.complete(QUEUE_NAMES.report, job.id, output, manager);
      });
      if (outcome.outcome === 'reported') onReportStored();
      return outcome;
    },
    getLogger('report-worker'),
    (name, outcome, code) => metrics.jobEnded(name, outcome, code),
  );
  runner.start();
  return { stop: (graceSeconds) => runner.stop(graceSeconds), notify: () => runner.notify() };
}

export function startSenderRole(context: QueueRoleContext): StartedRole & { deliveryJob: DeliveryJob } {
  const { config, queue, scheduling, metrics } = context;
  const deliveryJob = new DeliveryJob(context.database, config, {
    observeStage: (stage, seconds) => metrics.observeStage(stage, seconds),
    afterRetryScheduled: (manager, retry) => scheduling.wakeDestinations(manager, [retry.destination], retry.nextAttemptAt),
  });
  const runner = new JobRunner<DeliveryJobData>(
    queue,
    QUEUE_NAMES.delivery,
    {
      concurrency: config.delivery.maxConcurrentSends,
      pollIntervalSeconds: config.delivery.pollIntervalSeconds,
      leaseSeconds: config.queues.delivery.leaseSeconds,
      timeoutSeconds: config.queues.delivery.timeoutSeconds,
    },
    async (job) => {
      const { destination } = job.data;
      const { sent } = await deliveryJob.drainDestination(destination, job.signal);
      // Rows that wait for a retry, or were left by the timeout, get the destination's next job.
      const next = await context.database.run((manager) => nextDeliveryAttempt(manager, destination));
      if (next) await context.database.transaction((manager) => scheduling.wakeDestinations(manager, [destination], next));
      return { sent };
    },
    getLogger('delivery'),
    (name, outcome, code) => metrics.jobEnded(name, outcome, code),
  );
  runner.start();
  return {
    deliveryJob,
    notify: () => runner.notify(),
    stop: async (graceSeconds) => {
      deliveryJob.stopClaiming();
      await runner.stop(graceSeconds);
      await deliveryJob.drain();
      deliveryJob.close();
    },
  };
}

export function startSchedulerRole(
  context: QueueRoleContext,
  options: { listeningSince: () => Date | undefined; onStudyComplete: () => void; deliveryLeaseSeconds: number },
): StartedRole {
  const { config, queue, scheduling, metrics } = context;
  const check = new PeriodicTask(
    'completeness check',
    config.completeness.checkIntervalSeconds,
    async () => {
      const outcomes = await runCompletenessCheck(context.database, {
        ...config.completeness,
        listeningSince: options.listeningSince(),
        onStudyComplete: async (manager, studyId) => {
          const scheduled = await scheduling.scheduleReport(manager, studyId);
          metrics.observeStage('complete', scheduled.completionSeconds);
          logger.info('report job queued', { studyId, jobId: scheduled.jobId, run: scheduled.run, priority: scheduled.priority });
        },
      });
      for (const outcome of outcomes) logger.info('completeness decision', { studyId: outcome.studyId, state: outcome.decision, count: outcome.instanceCount });
      if (outcomes.some((outcome) => outcome.completed)) options.onStudyComplete();
    },
    getLogger('completeness'),
  );
  const housekeeping = new HousekeepingJob(context.database, config, scheduling, options.deliveryLeaseSeconds);
  const runner = new JobRunner<HousekeepingJobData>(
    queue,
    QUEUE_NAMES.housekeeping,
    // Housekeeping jobs come once a minute; polling every 5 s starts each within a few seconds.
    { concurrency: 1, pollIntervalSeconds: 5, leaseSeconds: 60, timeoutSeconds: 300 },
    async () => housekeeping.run(),
    getLogger('housekeeping'),
    (name, outcome, code) => metrics.jobEnded(name, outcome, code),
  );
  check.start();
  runner.start();
  return {
    notify: () => check.trigger(),
    stop: async (graceSeconds) => {
      await check.stop();
      await runner.stop(graceSeconds);
    },
  };
}
