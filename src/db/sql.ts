import type { EntityManager } from 'typeorm';

/**
 * Runs one SQL statement and returns its rows. TypeORM's plain query() returns different shapes for
 * UPDATE on node-postgres and on PGlite, but the structured result's `records` is the same on both. Every
 * raw statement goes through here; an UPDATE uses RETURNING to report the rows it changed.
 */
export async function queryRows<T>(manager: EntityManager, sql: string, parameters: unknown[] = []): Promise<T[]> {
  // Inside a transaction the manager has its query runner; outside one, a runner is borrowed for the statement.
  const runner = manager.queryRunner ?? manager.connection.createQueryRunner();
  try {
    const result = (await runner.query(sql, parameters, true)) as { records?: T[] };
    return result.records ?? [];
  } finally {
    if (!manager.queryRunner) await runner.release();
  }
}

/** True when the error is PostgreSQL's unique_violation (SQLSTATE 23505), on either driver. */
export function isUniqueViolation(error: unknown): boolean {
  return hasSqlState(error, '23505');
}

/** True when the error is PostgreSQL's foreign_key_violation (SQLSTATE 23503), on either driver. */
export function isForeignKeyViolation(error: unknown): boolean {
  return hasSqlState(error, '23503');
}

/** Reads the SQLSTATE from TypeORM's `driverError`, or from the error itself for a statement sent past TypeORM. */
function hasSqlState(error: unknown, sqlState: string): boolean {
  const driverError = (error as { driverError?: { code?: string } } | undefined)?.driverError;
  return driverError?.code === sqlState || (error as { code?: string } | undefined)?.code === sqlState;
}
