/**
 * Runs the jobs of one queue in this process: up to `concurrency` at once, each under a lease that a
 * heartbeat keeps alive and a timeout that stops it.
 *
 * - Lease: pg-boss fails an active job once its expiry passes. The heartbeat moves the expiry forward
 *   every third of the lease, so a long inference keeps its job. A process that died (SIGKILL, a lost
 *   host) stops renewing, and another worker takes the job over once the lease has run out.
 * - Timeout: a job still running after `timeoutSeconds` is aborted through its AbortSignal and failed;
 *   pg-boss retries it with backoff until its attempts are used up.
 * - A heartbeat that finds the job no longer active means the lease was lost (the event loop was
 *   blocked longer than the lease); the job is aborted, because another worker owns it now.
 * - stop(): no new job is fetched; running jobs may finish within the grace period, and the rest are
 *   aborted and handed back to the queue without counting the attempt.
 *
 * A handler that ignores its signal still occupies its slot until it settles, so a hung inference is
 * not joined by a second one on the same device.
 */
import type { Logger } from '../logging/logger.ts';
import type { FetchedJob, JobQueue } from './job-queue.ts';
import type { QueueName } from './queue-names.ts';

export interface RunnerSettings {
  concurrency: number;
  pollIntervalSeconds: number;
  leaseSeconds: number;
  timeoutSeconds: number;
}

export interface RunningJob<T> extends FetchedJob<T> {
  /** Aborted at the timeout, when the lease is lost, and when the process stops. */
  signal: AbortSignal;
  /** True on the last attempt pg-boss allows: a failure now makes the job dead. */
  lastAttempt: boolean;
}

/** The handler's result is stored as the job's output; it must hold ids and codes only. */
export type JobHandler<T> = (job: RunningJob<T>) => Promise<object | void>;

/** Reason a running job was stopped, passed to the handler as signal.reason. */
export class JobAbortedError extends Error {
  readonly retryable = true;

  constructor(
    readonly code: 'job_timeout' | 'lease_lost' | 'worker_stopping',
    message: string,
  ) {
    super(message);
    this.name = 'JobAbortedError';
  }
}

export interface JobOutcomeListener {
  (queue: QueueName, outcome: 'completed' | 'failed' | 'released', code?: string): void;
}

/** A heartbeat renews the lease this many times per lease, so two missed beats still keep it. */
const HEARTBEATS_PER_LEASE = 3;

export class JobRunner<T> {
  private readonly active = new Set<Promise<void>>();
  private readonly controllers = new Map<string, AbortController>();
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private stopping = false;

  constructor(
    private readonly queue: JobQueue,
    private readonly name: QueueName,
    private readonly settings: RunnerSettings,
    private readonly handler: JobHandler<T>,
    private readonly logger: Logger,
    private readonly onOutcome: JobOutcomeListener = () => undefined,
  ) {}

  start(): void {
    this.loop ??= this.fetchLoop();
  }

  /** Fetches at once instead of waiting for the poll interval (a job was just sent from this process). */
  notify(): void {
    this.wake?.();
  }

  /** Jobs running now, including one that timed out but has not yet settled. */
  get runningCount(): number {
    return this.active.size;
  }

  /** Stops fetching, waits up to `graceSeconds` for running jobs, then aborts and releases the rest. */
  async stop(graceSeconds: number): Promise<void> {
    this.stopping = true;
    this.notify();
    await this.loop;
    const deadline = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), graceSeconds * 1000).unref());
    const settled = Promise.allSettled([...this.active]).then(() => 'settled' as const);
    if ((await Promise.race([settled, deadline])) === 'timeout') {
      for (const controller of this.controllers.values()) {
        controller.abort(new JobAbortedError('worker_stopping', 'the worker is stopping'));
      }
      await Promise.allSettled([...this.active]);
    }
  }

  private async fetchLoop(): Promise<void> {
    while (!this.stopping) {
      const free = this.settings.concurrency - this.active.size;
      let fetched = 0;
      if (free > 0) {
        try {
          const jobs = await this.queue.fetch<T>(this.name, free);
          fetched = jobs.length;
          for (const job of jobs) this.track(job);
        } catch (error) {
          this.logger.error('fetching jobs failed', { queue: this.name, err: error });
        }
      }
      // A full batch may mean more are waiting; otherwise wait for the interval, a notify() or a free slot.
      if (fetched === free && free > 0) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.settings.pollIntervalSeconds * 1000);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  private track(job: FetchedJob<T>): void {
    const run: Promise<void> = this.run(job).finally(() => {
      this.active.delete(run);
      this.notify();
    });
    this.active.add(run);
  }

  private async run(job: FetchedJob<T>): Promise<void> {
    const controller = new AbortController();
    this.controllers.set(job.id, controller);
    const log = this.logger.child({ jobId: job.id });
    const heartbeat = setInterval(() => void this.beat(job, controller, log), (this.settings.leaseSeconds * 1000) / HEARTBEATS_PER_LEASE);
    const timeout = setTimeout(
      () => controller.abort(new JobAbortedError('job_timeout', `the job ran longer than its timeout of ${this.settings.timeoutSeconds} s`)),
      this.settings.timeoutSeconds * 1000,
    );

    const running = this.handler({ ...job, signal: controller.signal, lastAttempt: job.attempt >= job.maxAttempts });
    // The outcome is recorded as soon as the job is aborted, even if the handler is slow to notice.
    const aborted = new Promise<never>((_, reject) => controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), { once: true }));
    // A heartbeat that returns after the job ended may still abort, and nothing awaits that rejection.
    aborted.catch(() => undefined);
    try {
      const output = await Promise.race([running, aborted]);
      await this.queue.complete(this.name, job.id, output ?? {});
      this.onOutcome(this.name, 'completed');
    } catch (error) {
      await this.recordFailure(job, error, log);
    } finally {
      clearInterval(heartbeat);
      clearTimeout(timeout);
      this.controllers.delete(job.id);
    }
    // The slot stays taken until the handler itself has settled.
    await running.catch(() => undefined);
  }

  private async recordFailure(job: FetchedJob<T>, error: unknown, log: Logger): Promise<void> {
    const code = (error as { code?: unknown }).code;
    const failure = { code: typeof code === 'string' ? code : 'internal_error', message: (error as Error).message ?? String(error) };
    try {
      if (failure.code === 'worker_stopping') {
        await this.queue.release(this.name, job.id);
        this.onOutcome(this.name, 'released', failure.code);
        log.info('job released', { queue: this.name, code: failure.code });
      } else if (failure.code === 'lease_lost') {
        // pg-boss already failed the job when the lease ran out; another worker may run it now.
        this.onOutcome(this.name, 'failed', failure.code);
        log.warn('job lease lost', { queue: this.name, attempt: job.attempt });
      } else {
        await this.queue.fail(this.name, job.id, failure);
        this.onOutcome(this.name, 'failed', failure.code);
        const final = job.attempt >= job.maxAttempts;
        log[final ? 'error' : 'warn'](final ? 'job failed; no attempts left' : 'job failed; will retry', {
          queue: this.name,
          attempt: job.attempt,
          code: failure.code,
          err: error,
        });
      }
    } catch (recordError) {
      // The lease expires on its own, and pg-boss retries the job then.
      log.error('recording a job failure failed', { queue: this.name, err: recordError });
    }
  }

  private async beat(job: FetchedJob<T>, controller: AbortController, log: Logger): Promise<void> {
    try {
      const kept = await this.queue.extendLease(this.name, job.id, this.settings.leaseSeconds);
      // A job that ended while the beat was on its way is no longer active; that is not a lost lease.
      if (!kept && this.controllers.get(job.id) === controller) {
        controller.abort(new JobAbortedError('lease_lost', 'the job lease expired before its heartbeat'));
      }
    } catch (error) {
      // One missed beat is within the lease; the next beat tries again.
      log.warn('job heartbeat failed', { queue: this.name, err: error });
    }
  }
}
