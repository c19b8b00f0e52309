/**
 * fsync() of instance folders through descriptors kept open. Every stored instance needs its folder
 * synced after the rename. Opening and closing the folder each time would add two thread-pool round
 * trips to each C-STORE, while the instances of a series arrive one after another into the same folder.
 */
import { closeSync, fsync, openSync } from 'node:fs';

/** Folders kept open: a few studies arriving at once, each with a few series. */
const MAX_OPEN_FOLDERS = 32;

interface OpenFolder {
  fd: number;
  /** fsync() calls in progress; a folder in use is never closed. */
  users: number;
  stale: boolean;
}

export class FolderSyncer {
  private readonly folders = new Map<string, OpenFolder>();

  async sync(folder: string): Promise<void> {
    const entry = this.acquire(folder);
    try {
      await new Promise<void>((resolve, reject) => fsync(entry.fd, (error) => (error ? reject(error) : resolve())));
    } finally {
      entry.users -= 1;
      if (entry.stale && entry.users === 0) closeSync(entry.fd);
    }
  }

  /** Drops a folder that was removed, so the next sync opens it again. */
  forget(folder: string): void {
    const entry = this.folders.get(folder);
    if (entry) this.retire(folder, entry);
  }

  closeAll(): void {
    for (const [folder, entry] of this.folders) this.retire(folder, entry);
  }

  private acquire(folder: string): OpenFolder {
    let entry = this.folders.get(folder);
    if (entry) {
      // Most recently used last, so the first entries are the ones to close.
      this.folders.delete(folder);
    } else {
      entry = { fd: openSync(folder, 'r'), users: 0, stale: false };
      this.evict();
    }
    this.folders.set(folder, entry);
    entry.users += 1;
    return entry;
  }

  private evict(): void {
    for (const [folder, entry] of this.folders) {
      if (this.folders.size < MAX_OPEN_FOLDERS) return;
      this.retire(folder, entry);
    }
  }

  private retire(folder: string, entry: OpenFolder): void {
    this.folders.delete(folder);
    entry.stale = true;
    if (entry.users === 0) closeSync(entry.fd);
  }
}
