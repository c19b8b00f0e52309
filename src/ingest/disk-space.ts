/**
 * The disk-use watermark of the instance store. A timer reads the file system's usage with statfs() and
 * keeps the result, so the listener can ask for every association and C-STORE without I/O. Above the
 * watermark new associations are rejected (transient) and C-STOREs answered Out of Resources, so the
 * sender keeps the instances and retries; nothing already stored is touched.
 */
import { statfs as statfsAsync } from 'node:fs/promises';

import { getLogger } from '../logging/logger.ts';

export interface DiskWatermark {
  /** Highest share of the file system in use, in percent, at which new instances are still accepted. */
  maxUsedPercent: number;
  /** Minimum free space, in bytes, at which new instances are still accepted. */
  minFreeBytes: number;
}

export interface DiskUsage {
  usedPercent: number;
  freeBytes: number;
}

export type StatfsFunction = (path: string) => Promise<{ bsize: number; blocks: number; bfree: number; bavail: number }>;

/**
 * Time between two reads. A burst can write past the watermark for at most this long, which at 1 s is
 * about 120 MB on a gigabit link, well inside any sensible free-space floor.
 */
const CHECK_INTERVAL_MS = 1000;

export class DiskSpaceMonitor {
  private readonly logger = getLogger('disk-space');
  private timer: NodeJS.Timeout | undefined;
  private above = false;
  private last: DiskUsage | undefined;

  constructor(
    private readonly directory: string,
    private readonly watermark: DiskWatermark,
    private readonly statfs: StatfsFunction = statfsAsync,
  ) {}

  /** Reads the usage once, then every second. */
  async start(): Promise<void> {
    await this.check();
    this.timer = setInterval(() => void this.check(), CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** False while the store is above the watermark, or when its usage cannot be read. */
  available(): boolean {
    return !this.above;
  }

  usage(): DiskUsage | undefined {
    return this.last;
  }

  async check(): Promise<void> {
    let usage: DiskUsage;
    try {
      const stats = await this.statfs(this.directory);
      const used = stats.blocks - stats.bfree;
      // Percent as df computes it: blocks reserved for root count as neither used nor available.
      usage = { usedPercent: (100 * used) / Math.max(1, used + stats.bavail), freeBytes: stats.bavail * stats.bsize };
    } catch (error) {
      if (!this.above) this.logger.error('disk usage of the instance store cannot be read; refusing new instances', { path: this.directory, err: error });
      this.above = true;
      return;
    }
    this.last = usage;
    const above = usage.usedPercent > this.watermark.maxUsedPercent || usage.freeBytes < this.watermark.minFreeBytes;
    if (above && !this.above) {
      this.logger.warn('instance store above its disk-use watermark; new associations and C-STOREs are refused', {
        path: this.directory,
        state: `${usage.usedPercent.toFixed(1)} % used, ${Math.round(usage.freeBytes / 1048576)} MiB free`,
      });
    } else if (!above && this.above) {
      this.logger.info('instance store below its disk-use watermark again; accepting instances', { path: this.directory });
    }
    this.above = above;
  }
}
