/**
 * A pool of worker threads that read and decode CT files, so that decoding a compressed series uses
 * more than one core. Each thread loads its own copy of the codecs; the decoded stored values are moved
 * to the caller without copying. The threads do not keep the process alive while no file is pending.
 */
import { Worker } from 'node:worker_threads';

import type { CtSlice } from './ct-slice.ts';
import type { ReadRequest, ReadResponse } from './slice-reader-worker.ts';
import { VolumeError, type VolumeErrorCode } from './volume-error.ts';

const WORKER_ENTRY = new URL('./slice-reader-worker.mjs', import.meta.url);

interface Pending {
  resolve: (slices: CtSlice[]) => void;
  reject: (error: Error) => void;
  worker: PooledWorker;
}

interface PooledWorker {
  thread: Worker;
  inFlight: number;
}

export class SliceReaderPool {
  private readonly workers: PooledWorker[];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  /** Starts `size` threads (at least one). */
  constructor(readonly size: number) {
    this.workers = Array.from({ length: Math.max(1, size) }, () => this.startWorker());
  }

  private startWorker(): PooledWorker {
    const pooled: PooledWorker = { thread: new Worker(WORKER_ENTRY), inFlight: 0 };
    pooled.thread.on('message', (response: ReadResponse) => this.settle(response));
    pooled.thread.on('error', (error) => this.failWorker(pooled, error));
    pooled.thread.on('exit', (code) => this.failWorker(pooled, new Error(`the slice reader thread exited with code ${code}`)));
    // After the listeners: adding a 'message' listener refs the thread's port again.
    pooled.thread.unref();
    return pooled;
  }

  /** Reads every frame of a CT file as a slice, like readCtSlices, on the least busy thread. */
  read(filePath: string): Promise<CtSlice[]> {
    const worker = this.workers.reduce((best, candidate) => (candidate.inFlight < best.inFlight ? candidate : best));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker });
      if (worker.inFlight++ === 0) worker.thread.ref();
      worker.thread.postMessage({ id, filePath } satisfies ReadRequest);
    });
  }

  /** Stops the threads; files still pending are rejected. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.thread.terminate()));
  }

  private settle(response: ReadResponse): void {
    const pending = this.pending.get(response.id);
    if (pending === undefined) return;
    this.pending.delete(response.id);
    if (--pending.worker.inFlight === 0) pending.worker.thread.unref();
    if ('slices' in response) {
      pending.resolve(response.slices);
      return;
    }
    const { error } = response;
    pending.reject(
      error.volumeError
        ? new VolumeError(error.code as VolumeErrorCode, error.message, { filePath: error.filePath, retryable: error.retryable })
        : new Error(`Reading ${error.filePath} failed: ${error.message}`),
    );
  }

  private failWorker(worker: PooledWorker, error: Error): void {
    for (const [id, pending] of this.pending) {
      if (pending.worker !== worker) continue;
      this.pending.delete(id);
      pending.reject(error);
    }
    worker.inFlight = 0;
  }
}
