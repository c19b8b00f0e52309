/**
 * A Writable that streams one received dataset to a spool file and fsyncs it before 'finish'.
 *
 * Write errors (disk full, I/O error) are recorded in `failure` instead of being emitted: dcmjs-dimse
 * waits for 'drain' on a full stream, and an errored stream never drains, which would stall the whole
 * association. The C-STORE handler checks `failure` once the dataset has been received and sends
 * Out of Resources.
 */
import { close, fsync, open, write } from 'node:fs';
import { Writable } from 'node:stream';

export class SpoolWriter extends Writable {
  failure: Error | undefined;
  bytesWritten = 0;
  private fd: number | undefined;

  constructor(readonly path: string) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _construct(callback: (error?: Error | null) => void): void {
    // 'wx': fail rather than reuse a file another writer might hold.
    open(this.path, 'wx', 0o640, (error, fd) => {
      if (error) this.failure = error;
      else this.fd = fd;
      callback();
    });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.fd === undefined || this.failure) {
      callback();
      return;
    }
    this.writeAll(this.fd, chunk, 0, callback);
  }

  private writeAll(fd: number, chunk: Buffer, offset: number, callback: () => void): void {
    write(fd, chunk, offset, chunk.length - offset, null, (error, written) => {
      if (error) {
        this.failure = error;
        callback();
        return;
      }
      this.bytesWritten += written;
      if (offset + written < chunk.length) this.writeAll(fd, chunk, offset + written, callback);
      else callback();
    });
  }

  override _final(callback: (error?: Error | null) => void): void {
    const fd = this.fd;
    if (fd === undefined) {
      callback();
      return;
    }
    this.fd = undefined;
    fsync(fd, (syncError) => {
      if (syncError && !this.failure) this.failure = syncError;
      close(fd, () => callback());
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const fd = this.fd;
    this.fd = undefined;
    if (fd === undefined) callback(error);
    else close(fd, () => callback(error));
  }
}
