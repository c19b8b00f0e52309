/**
 * Writes one received dataset to a spool file. Incoming fragments are collected and written in batches
 * with one writev() each, because every file-system call costs a round trip to libuv's thread pool and
 * a C-STORE of a CT slice arrives in several PDUs. flush() writes the rest; the file stays open, so it
 * can be renamed into the store and then made durable through the same descriptor with syncAndClose().
 * fdatasync() also flushes the file size, the only metadata needed to read the data back.
 *
 * Write errors (disk full, I/O error) are kept and reported by finish(). Until then the writer keeps
 * accepting bytes and drops them, so the association stays in step with the sender and the C-STORE
 * gets a failure status instead of a stalled connection.
 */
import { open, rm, type FileHandle } from 'node:fs/promises';

import type { SpoolFile } from '../dicom/instance-sink.ts';

/** Bytes collected before a write: a 512 x 512 CT slice (about 0.5 MiB) is written in one call. */
const BATCH_BYTES = 1024 * 1024;

/** Bytes buffered or being written before write() asks the caller to wait; bounds memory per association. */
const HIGH_WATER_BYTES = 8 * 1024 * 1024;

export interface SpoolWriterOptions {
  /** fdatasync() in finish(). Off only in benchmarks that measure the protocol path alone. */
  sync: boolean;
}

export class SpoolWriter implements SpoolFile {
  private readonly handle: Promise<FileHandle | undefined>;
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private inFlightBytes = 0;
  private writing: Promise<void> = Promise.resolve();
  private drainWaiters: (() => void)[] = [];
  private failure: Error | undefined;
  private closed = false;

  constructor(
    readonly path: string,
    private readonly options: SpoolWriterOptions,
  ) {
    // 'wx': fail rather than reuse a file another writer might hold.
    this.handle = open(path, 'wx', 0o640).catch((error: unknown) => {
      this.failure ??= error as Error;
      return undefined;
    });
  }

  write(chunk: Buffer): boolean {
    if (this.failure || this.closed) return true;
    this.batch.push(chunk);
    this.batchBytes += chunk.length;
    if (this.batchBytes >= BATCH_BYTES) this.writeBatch();
    return this.batchBytes + this.inFlightBytes < HIGH_WATER_BYTES;
  }

  drained(): Promise<void> {
    if (this.failure || this.batchBytes + this.inFlightBytes < HIGH_WATER_BYTES) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Writes everything received; rejects with the first write error. The file stays open. */
  async flush(): Promise<void> {
    this.writeBatch();
    await this.writing;
    await this.handle;
    this.closed = true;
    if (this.failure) throw this.failure;
  }

  /** Makes the written bytes durable (unless the store runs without fsync) and closes the file. */
  async syncAndClose(): Promise<void> {
    const handle = await this.handle;
    if (!handle) throw this.failure ?? new Error('the spool file was never opened');
    try {
      if (this.options.sync) await handle.datasync();
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  async discard(): Promise<void> {
    this.closed = true;
    this.batch = [];
    await this.writing;
    const handle = await this.handle;
    await handle?.close().catch(() => undefined);
    await rm(this.path, { force: true });
  }

  private writeBatch(): void {
    if (this.batchBytes === 0) return;
    const buffers = this.batch;
    const bytes = this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    this.inFlightBytes += bytes;
    this.writing = this.writing.then(async () => {
      const handle = await this.handle;
      if (handle && !this.failure) await writeAll(handle, buffers).catch((error: unknown) => (this.failure ??= error as Error));
      this.inFlightBytes -= bytes;
      this.releaseWaiters();
    });
  }

  private releaseWaiters(): void {
    if (this.batchBytes + this.inFlightBytes >= HIGH_WATER_BYTES && !this.failure) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/** writev() may write less than asked (a signal, a nearly full disk); the rest is written again. */
async function writeAll(handle: FileHandle, buffers: Buffer[]): Promise<void> {
  let remaining = buffers;
  for (;;) {
    const total = remaining.reduce((sum, buffer) => sum + buffer.length, 0);
    const { bytesWritten } = await handle.writev(remaining);
    if (bytesWritten >= total) return;
    if (bytesWritten === 0) throw new Error('writev() wrote no bytes');
    remaining = skipBytes(remaining, bytesWritten);
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
