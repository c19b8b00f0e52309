/**
 * A one-line progress bar on a terminal: "label [#####.....] 12/48". On anything but a TTY it writes
 * nothing, so redirected stderr stays free of carriage returns.
 */
import type { WriteStream } from 'node:tty';

const BAR_WIDTH = 30;

export class ProgressBar {
  private readonly enabled: boolean;
  private lineDrawn = false;

  constructor(private readonly stream: NodeJS.WritableStream & Partial<Pick<WriteStream, 'isTTY'>>) {
    this.enabled = stream.isTTY === true;
  }

  /** Redraws the line with `done` of `total` steps of the stage `label`. */
  update(label: string, done: number, total: number): void {
    if (!this.enabled) return;
    const fraction = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
    const filled = Math.round(fraction * BAR_WIDTH);
    const bar = `${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}`;
    // \r returns to the line start and ESC[K clears what a longer previous line left behind.
    this.stream.write(`\r${label} [${bar}] ${done}/${total}\u001b[K`);
    this.lineDrawn = true;
  }

  /** Erases the line, so that what follows starts on a clean line. */
  clear(): void {
    if (!this.lineDrawn) return;
    this.stream.write('\r\u001b[K');
    this.lineDrawn = false;
  }
}
