/**
 * Runs an async task every N seconds, never two runs at once, and logs failures instead of stopping.
 * stop() waits for a run in progress.
 */
import type { Logger } from '../logging/logger.ts';

export class PeriodicTask {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly name: string,
    private readonly intervalSeconds: number,
    private readonly task: () => Promise<void>,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.schedule(0);
  }

  /** Runs the task soon instead of waiting for the interval (e.g. right after new work appeared). */
  trigger(): void {
    if (this.stopped || this.running) return;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.runOnce(), delayMs);
  }

  private runOnce(): void {
    this.timer = undefined;
    this.running = this.task()
      .catch((error: unknown) => this.logger.error(`${this.name} failed`, { err: error }))
      .finally(() => {
        this.running = undefined;
        if (!this.stopped) this.schedule(this.intervalSeconds * 1000);
      });
  }
}
