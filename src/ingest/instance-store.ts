/**
 * The instance store on disk. A received dataset is spooled under the spool folder, renamed to
 * <store>/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>-<copy id>.dcm, and then the file and
 * its folder are fsynced. The spool folder is inside the store so that the rename never crosses file
 * systems. The copy id is random, so each received copy gets its own file: a second copy of a
 * SOPInstanceUID never overwrites the first, and the sink compares their contents before it keeps one.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, renameSync } from 'node:fs';
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';

import { FolderSyncer } from './folder-syncer.ts';
import { SpoolWriter } from './spool-writer.ts';

/**
 * Digits separated by single dots (PS3.5 9.1, without its leading-zero rule, which senders break). Only
 * such names reach a path, so "." and ".." never do.
 */
const UID_PATH_PATTERN = /^[0-9]+(\.[0-9]+)*$/;
const MAX_UID_LENGTH = 64;

/** Read size when hashing a stored file: a 512 x 512 CT slice (about 0.5 MiB) takes one read. */
const HASH_READ_BYTES = 1024 * 1024;

/**
 * Age after which a spool file opened ahead is replaced instead of used. Listeners that share the store
 * remove each other's spool files older than 24 hours when they start (STALE_SPOOL_AGE_MS), so it must
 * never get that old.
 */
const MAX_SPARE_AGE_MS = 3600 * 1000;

/** Series folders known to exist; past this many the set is cleared, so memory stays bounded. */
const MAX_KNOWN_FOLDERS = 10_000;

export interface InstanceStoreOptions {
  /** fsync files and folders. Off only in benchmarks that measure the protocol path alone. */
  sync?: boolean;
}

export class InstanceStore {
  private readonly sync: boolean;
  private readonly knownFolders = new Set<string>();
  private readonly folderSyncer = new FolderSyncer();
  /** The spool file that the next createSpool() returns, opened one C-STORE ahead. */
  private spare: { spool: SpoolWriter; createdAt: number } | undefined;
  private closed = false;

  constructor(
    readonly directory: string,
    readonly spoolDirectory: string,
    options: InstanceStoreOptions = {},
  ) {
    this.sync = options.sync ?? true;
  }

  async prepare(): Promise<void> {
    await mkdir(this.spoolDirectory, { recursive: true });
  }

  /**
   * Returns a spool file that was opened when the previous one was handed out, and starts opening the
   * next. The file is created in the thread pool. In the ingest benchmark the open usually completed
   * only after a whole 512 x 512 slice had arrived, so the C-STORE waited for it (1.3 ms at the 90th
   * percentile under load). One file ahead, it is open when the dataset starts. The thread-pool call
   * still happens while this listener receives, not while the sender prepares its next request: opening
   * the next file right after the response made the benchmark slower.
   */
  createSpool(): SpoolWriter {
    const spare = this.spare;
    this.spare = this.closed ? undefined : { spool: this.newSpool(), createdAt: Date.now() };
    if (spare && Date.now() - spare.createdAt < MAX_SPARE_AGE_MS) return spare.spool;
    if (spare) discardQuietly(spare.spool);
    return this.newSpool();
  }

  /** Path of the spool file opened ahead, which contains no data yet; undefined when there is none. */
  get spareSpoolPath(): string | undefined {
    return this.spare?.spool.path;
  }

  private newSpool(): SpoolWriter {
    return new SpoolWriter(path.join(this.spoolDirectory, `${randomUUID()}.part`), { sync: this.sync });
  }

  /**
   * Returns a new store-relative path for one received copy of an instance, or throws InvalidUidError when
   * a UID is not a valid UID. The copy id is the first 16 hex digits of a version 4 UUID (60 random bits).
   */
  newRelativePath(uids: { studyInstanceUid: string; seriesInstanceUid: string; sopInstanceUid: string }): string {
    for (const [name, value] of Object.entries(uids) as [keyof typeof uids, string][]) {
      const problem = uidProblem(value);
      if (problem) throw new InvalidUidError(UID_KEYWORDS[name], problem);
    }
    // randomUUID() draws from a cached block of random bytes, unlike randomBytes(), which reads new ones.
    const copyId = randomUUID().replaceAll('-', '').slice(0, 16);
    return path.join(uids.studyInstanceUid, uids.seriesInstanceUid, `${uids.sopInstanceUid}-${copyId}.dcm`);
  }

  absolutePath(relativePath: string): string {
    return path.join(this.directory, relativePath);
  }

  /**
   * Moves a written spool file to its place in the store. The caller then syncs the file and syncFolder()
   * makes the rename durable.
   */
  async placeSpool(spoolPath: string, relativePath: string): Promise<void> {
    const target = this.absolutePath(relativePath);
    const folder = path.dirname(target);
    await this.ensureFolder(folder);
    // Synchronous like the spool writes (see SpoolWriter): a rename within one file system is a
    // metadata change that is faster than a thread-pool round trip.
    try {
      renameSync(spoolPath, target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      // The folder was removed since it was created (an administrator's clean-up): make it again.
      this.knownFolders.delete(folder);
      this.folderSyncer.forget(folder);
      await this.ensureFolder(folder);
      renameSync(spoolPath, target);
    }
  }

  /** Makes the entries of an instance's folder durable (the rename of placeSpool()). */
  async syncFolder(relativePath: string): Promise<void> {
    if (this.sync) await this.folderSyncer.sync(path.dirname(this.absolutePath(relativePath)));
  }

  /**
   * Makes a stored file and its folder entry durable again. A copy that a process crash left unsynced
   * is complete in the page cache but not yet on disk, so a resend that matches it must sync it before
   * its Success.
   */
  async syncStoredFile(relativePath: string): Promise<void> {
    if (!this.sync) return;
    const handle = await open(this.absolutePath(relativePath), 'r');
    try {
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await this.syncFolder(relativePath);
  }

  /** Returns the size in bytes of a stored file, or undefined when it does not exist. */
  async storedSize(relativePath: string): Promise<number | undefined> {
    try {
      return (await stat(this.absolutePath(relativePath))).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  /** Computes the SHA-256 (hex) of a stored file. */
  async sha256Of(relativePath: string): Promise<string> {
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(this.absolutePath(relativePath), { highWaterMark: HASH_READ_BYTES })) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }

  /** Closes the folder descriptors kept for syncing and removes the spool file opened ahead. */
  close(): void {
    this.closed = true;
    if (this.spare) discardQuietly(this.spare.spool);
    this.spare = undefined;
    this.folderSyncer.closeAll();
  }

  async remove(filePath: string): Promise<void> {
    await rm(filePath, { force: true });
  }

  /**
   * Removes spool files. Without `olderThanMs` every file goes, which is right only before this spool
   * folder receives anything; with it, only files not modified for that long. Returns how many were
   * removed and how many of those were empty, such as the spare file opened ahead of the next C-STORE.
   */
  async cleanSpool(olderThanMs?: number): Promise<{ removed: number; empty: number }> {
    const counts = { removed: 0, empty: 0 };
    let names: string[];
    try {
      names = await readdir(this.spoolDirectory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return counts;
      throw error;
    }
    for (const name of names) {
      const filePath = path.join(this.spoolDirectory, name);
      const info = await stat(filePath).catch(() => undefined);
      if (!info?.isFile()) continue;
      if (olderThanMs !== undefined && Date.now() - info.mtimeMs < olderThanMs) continue;
      await rm(filePath, { force: true });
      counts.removed += 1;
      if (info.size === 0) counts.empty += 1;
    }
    return counts;
  }

  /** Creates the series folder; a new study or series folder is made durable in its parent. */
  private async ensureFolder(folder: string): Promise<void> {
    if (this.knownFolders.has(folder)) return;
    const firstCreated = await mkdir(folder, { recursive: true });
    if (firstCreated && this.sync) {
      // Every folder from the parent of the first created one down to the series folder's parent gained an entry.
      const top = path.dirname(firstCreated);
      for (let parent = path.dirname(folder); parent.length >= top.length; parent = path.dirname(parent)) {
        await fsyncDirectory(parent);
        if (parent === top) break;
      }
    }
    if (this.knownFolders.size >= MAX_KNOWN_FOLDERS) this.knownFolders.clear();
    this.knownFolders.add(folder);
  }
}

const UID_KEYWORDS = { studyInstanceUid: 'StudyInstanceUID', seriesInstanceUid: 'SeriesInstanceUID', sopInstanceUid: 'SOPInstanceUID' } as const;

/**
 * Returns what makes a UID unfit for a path in the store, or undefined when it fits. The check is that of
 * PS3.5 9.1 without its rule against leading zeros, which some archives break and which is harmless in
 * a path. Each text stays short, because it ends up in a 64-character Error Comment.
 */
function uidProblem(value: string): string | undefined {
  if (value.length === 0) return 'is empty';
  if (value.length > MAX_UID_LENGTH) return `is longer than 64 characters (${value.length})`;
  if (/[^0-9.]/.test(value)) return 'has a character that is not a digit or a dot';
  if (!UID_PATH_PATTERN.test(value)) return 'has an empty component';
  return undefined;
}

export class InvalidUidError extends Error {
  readonly code = 'invalid_uid';

  constructor(
    readonly attribute: string,
    problem: string,
  ) {
    super(`${attribute} ${problem}`);
    this.name = 'InvalidUidError';
  }
}

/** Removes an unused spool file. One that cannot be removed now goes with the spool clean-up at the next start. */
function discardQuietly(spool: SpoolWriter): void {
  spool.discard().catch(() => undefined);
}

async function fsyncDirectory(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
