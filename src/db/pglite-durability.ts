/**
 * Flushes the embedded database's files to disk from Node.js. PGlite runs PostgreSQL with fsync=off, and
 * its WebAssembly file layer turns fdatasync() into a no-op (checked in @electric-sql/pglite 0.5.17). A
 * commit therefore reaches the operating system's page cache, which survives a crash of this process
 * but not a power loss or a kernel crash. Syncing the WAL segment files after a commit makes that commit
 * as durable as on a PostgreSQL server: at the next start PGlite replays the WAL from its last
 * checkpoint.
 *
 * NOTE: a checkpoint writes data pages and then lets PostgreSQL recycle older WAL segments, both without
 * fsync. PGlite runs PostgreSQL in single-user mode, where checkpoints happen at close and when the WAL
 * outgrows max_wal_size (1 GB by default). A power loss within the kernel's writeback delay (about 30 s
 * on Linux) after such a checkpoint can still lose pages. close() syncs every file after the shutdown
 * checkpoint. No flush from here covers a checkpoint in the middle of a run.
 */
import { closeSync, fdatasync, fsync, openSync, readdirSync } from 'node:fs';
import path from 'node:path';

/** WAL segment file names: timeline, log and segment number, 8 hexadecimal digits each. */
const WAL_SEGMENT_NAME = /^[0-9A-F]{24}$/;

/** Makes every WAL record written so far durable, by an fdatasync() of each WAL segment file. */
export async function syncWal(dataDirectory: string): Promise<void> {
  const walDirectory = path.join(dataDirectory, 'pg_wal');
  const segments = readdirSync(walDirectory).filter((name) => WAL_SEGMENT_NAME.test(name));
  // The folder too: a segment created since the last sync must be found after a power loss.
  await Promise.all([...segments.map((name) => syncPath(path.join(walDirectory, name), 'data')), syncPath(walDirectory, 'all')]);
}

/** Syncs every file and folder under the data directory. Call it only after PGlite has shut down. */
export async function syncDirectoryTree(directory: string): Promise<void> {
  const entries = readdirSync(directory, { withFileTypes: true });
  for (const entry of entries) {
    const entryPath = path.join(directory, entry.name);
    if (entry.isDirectory()) await syncDirectoryTree(entryPath);
    else if (entry.isFile()) await syncPath(entryPath, 'data');
  }
  await syncPath(directory, 'all');
}

async function syncPath(filePath: string, kind: 'data' | 'all'): Promise<void> {
  let fd: number;
  try {
    fd = openSync(filePath, 'r');
  } catch (error) {
    // PostgreSQL removes or renames old WAL segments at checkpoints, so a file gone since the listing is fine.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    const sync = kind === 'data' ? fdatasync : fsync;
    await new Promise<void>((resolve, reject) => sync(fd, (error) => (error ? reject(error) : resolve())));
  } finally {
    closeSync(fd);
  }
}
