/**
 * Start-up steps that several processes of a fleet may run at once against one PostgreSQL database:
 * applying migrations and installing the job queue's schema. Neither TypeORM's migration run nor
 * pg-boss's schema creation is safe to run twice at once, because both would create the same tables.
 * Each process therefore takes a session advisory lock first. The others wait for it and then find
 * nothing left to do. The embedded PGlite belongs to one process and needs no lock.
 */
import type { Database } from './database.ts';

/** Fixed key of the advisory lock; any 64-bit value no other tool uses. Spells "ARGUSMIG" in ASCII. */
const STARTUP_LOCK_KEY = '4706902992350955847';

export async function withStartupLock<T>(database: Database, work: () => Promise<T>): Promise<T> {
  if (database.target.kind !== 'postgres') return work();
  const runner = database.dataSource.createQueryRunner();
  try {
    await runner.connect();
    await runner.query(`SELECT pg_advisory_lock($1::bigint)`, [STARTUP_LOCK_KEY]);
    try {
      return await work();
    } finally {
      await runner.query(`SELECT pg_advisory_unlock($1::bigint)`, [STARTUP_LOCK_KEY]);
    }
  } finally {
    await runner.release();
  }
}

export function migrateWithLock(database: Database): Promise<string[]> {
  return withStartupLock(database, () => database.migrate());
}
