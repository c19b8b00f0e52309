/**
 * Writes one received dataset to a spool file. Fragments are collected and written in batches, and
 * flush() writes the rest. The file stays open, so it can be renamed into the store and then made
 * durable through the same descriptor with syncAndClose(). fdatasync() also flushes the file size, the
 * only metadata needed to read the data back.
 *
 * write and close are synchronous calls. They only reach the page cache, and with libuv's thread pool
 * each of them cost a round trip between threads that took longer than the call itself: profiling a
 * 300-slice C-STORE run put them on the critical path of every C-STORE, because the sender waits for each
 * response. open() stays asynchronous: creating a file costs a journal update (0.5 ms in that profile),
 * and it runs while the dataset's first fragments arrive. fdatasync(), which waits for the disk, stays
 * asynchronous too.
 *
 * Write errors (disk full, I/O error) are kept and reported by flush(). Until then the writer keeps
 * accepting bytes and drops them, so the association stays in step with the sender and the C-STORE
 * gets a failure status instead of a stalled connection.
 */
import { closeSync, fdatasync, open, rmSync, writevSync } from 'node:fs';

import type { SpoolFile } from '../dicom/instance-sink.ts';

/** Bytes collected before a write: a 512 x 512 CT slice (about 0.5 MiB) is written in one call. */
const BATCH_BYTES = 128 * 1024;

/**
 * Buffers per writev() call. Linux accepts at most IOV_MAX (1024) vectors. Fragments of 16 KiB PDUs
 * stay far below it within one batch, and the cap keeps a peer's tiny PDUs from exceeding it.
 */
const MAX_VECTORS = 512;

export interface SpoolWriterOptions {
  /** fdatasync() in syncAndClose(). Off only in benchmarks that measure the protocol path alone. */
  sync: boolean;
}

export class SpoolWriter implements SpoolFile {
  private fd: number | undefined;
  private readonly opened: Promise<void>;
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private failure: Error | undefined;
  private closed = false;

  constructor(
    readonly path: string,
    private readonly options: SpoolWriterOptions,
  ) {
    // 'wx': fail rather than reuse a file another writer might hold.
    this.opened = new Promise((resolve) =>
      open(path, 'wx', 0o640, (error, fd) => {
        if (error) this.failure ??= error;
        else this.fd = fd;
        resolve();
      }),
    );
  }

  write(chunk: Buffer): boolean {
    if (this.failure || this.closed) return true;
    this.batch.push(chunk);
    this.batchBytes += chunk.length;
    if (this.fd !== undefined && (this.batchBytes >= BATCH_BYTES || this.batch.length >= MAX_VECTORS)) this.writeBatch();
    return true;
  }

  /** Writes are synchronous, so there is never anything to wait for. */
  drained(): Promise<void> {
    return Promise.resolve();
  }

  /** Writes everything received; rejects with the first write error. The file stays open. */
  async flush(): Promise<void> {
    await this.opened;
    this.writeBatch();
    this.closed = true;
    if (this.failure) throw this.failure;
  }

  /** Makes the written bytes durable (unless the store runs without fsync) and closes the file. */
  async syncAndClose(): Promise<void> {
    await this.opened;
    const fd = this.fd;
    if (fd === undefined) throw this.failure ?? new Error('the spool file is not open');
    this.fd = undefined;
    try {
      if (this.options.sync) await new Promise<void>((resolve, reject) => fdatasync(fd, (error) => (error ? reject(error) : resolve())));
    } finally {
      closeSync(fd);
    }
  }

  async discard(): Promise<void> {
    this.closed = true;
    this.batch = [];
    await this.opened;
    if (this.fd !== undefined) {
      const fd = this.fd;
      this.fd = undefined;
      try {
        closeSync(fd);
      } catch {
        // Closing can only fail for a descriptor that is already gone; the file is removed below either way.
      }
    }
    rmSync(this.path, { force: true });
  }

  private writeBatch(): void {
    const buffers = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    if (buffers.length === 0 || this.fd === undefined || this.failure) return;
    try {
      writeAll(this.fd, buffers);
    } catch (error) {
      this.failure = error as Error;
    }
  }
}

/** writev() may write less than asked (a signal, a nearly full disk); the rest is written again. */
function writeAll(fd: number, buffers: Buffer[]): void {
  let remaining = buffers;
  while (remaining.length > 0) {
    const total = remaining.reduce((sum, buffer) => sum + buffer.length, 0);
    const written = writevSync(fd, remaining);
    if (written >= total) return;
    if (written === 0) throw new Error('writev() wrote no bytes');
    remaining = skipBytes(remaining, written);
  }
}

function skipBytes(buffers: Buffer[], count: number): Buffer[] {
  const rest: Buffer[] = [];
  let skip = count;
  for (const buffer of buffers) {
    if (skip >= buffer.length) {
      skip -= buffer.length;
      continue;
    }
    rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
    skip = 0;
  }
  return rest;
}
