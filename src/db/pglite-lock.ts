/**
 * PGlite runs PostgreSQL inside one process, and two processes opening the same folder would corrupt
 * it. The lock file next to the folder contains the pid of the process that has it open. A lock whose
 * process is gone is stale and is taken over.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

export class DatabaseLockedError extends Error {
  readonly code = 'database_locked';

  constructor(
    readonly lockPath: string,
    readonly pid: number,
  ) {
    super(`The embedded database is open in another process (pid ${pid}, lock file ${lockPath}).`);
    this.name = 'DatabaseLockedError';
  }
}

/** Returns the pid holding the lock, or undefined when the lock is free or stale. */
export function lockHolder(lockPath: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(lockPath, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (error) {
    // EPERM: the process exists but belongs to another user, so it still holds the lock.
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

/** Takes the lock for this process; returns the function that releases it. */
export function acquireLock(lockPath: string): () => void {
  const holder = lockHolder(lockPath);
  if (holder !== undefined && holder !== process.pid) throw new DatabaseLockedError(lockPath, holder);
  rmSync(lockPath, { force: true });
  writeFileSync(lockPath, `${process.pid}\n`, { flag: 'wx' });
  return () => {
    if (lockHolder(lockPath) === process.pid) rmSync(lockPath, { force: true });
  };
}
