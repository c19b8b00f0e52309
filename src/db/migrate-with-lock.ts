/**
 * Applies migrations when several processes of a fleet start at once against one PostgreSQL database.
 * TypeORM's migration run is not safe to run twice concurrently (both would create the same tables),
 * so each process first takes a session advisory lock; the others wait for it and then find nothing to
 * apply. The embedded PGlite belongs to one process and needs no lock.
 */
import type { Database } from './database.ts';

/** Fixed key of the advisory lock; any 64-bit value no other tool uses. Spells "ARGUSMIG" in ASCII. */
const MIGRATION_LOCK_KEY = '4706902992350955847';

export async function migrateWithLock(database: Database): Promise<string[]> {
  if (database.target.kind !== 'postgres') return database.migrate();
  const runner = database.dataSource.createQueryRunner();
  try {
    await runner.connect();
    await runner.query(`SELECT pg_advisory_lock($1::bigint)`, [MIGRATION_LOCK_KEY]);
    try {
      return await database.migrate();
    } finally {
      await runner.query(`SELECT pg_advisory_unlock($1::bigint)`, [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await runner.release();
  }
}
