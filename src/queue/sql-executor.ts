/**
 * pg-boss runs its SQL through an object with executeSql(text, values). These adapters send it through
 * our Database, so pg-boss shares the connection pool on PostgreSQL and the one serialized session on
 * the embedded PGlite, and can run inside one of our transactions (a job sent with the change that
 * causes it commits or rolls back with it).
 *
 * Several pg-boss commands are many statements in one string (schema creation, maintenance with its
 * advisory lock). Without parameters they go as one simple query, which both drivers accept.
 */
import type { EntityManager } from 'typeorm';

import type { Database } from '../db/database.ts';
import { queryRows } from '../db/sql.ts';

export interface SqlExecutor {
  executeSql(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

/**
 * Runs each command as its own unit of work (on PGlite, in turn with every other one). A command of
 * several statements that opens its own transaction and fails leaves that transaction open and aborted.
 * It is rolled back here, because the pooled connection would otherwise fail every later query.
 */
export function databaseExecutor(database: Database): SqlExecutor {
  return {
    executeSql: (text, values) =>
      database.run(async (manager) => {
        if (values !== undefined && values.length > 0) return { rows: await queryRows(manager, text, values) };
        const runner = manager.connection.createQueryRunner();
        try {
          return { rows: await queryRows(runner.manager, text) };
        } catch (error) {
          await runner.query('ROLLBACK').catch(() => undefined);
          throw error;
        } finally {
          await runner.release();
        }
      }),
  };
}

/** Runs each command in the caller's transaction. */
export function transactionExecutor(manager: EntityManager): SqlExecutor {
  if (!manager.queryRunner) throw new Error('transactionExecutor needs the EntityManager of a transaction');
  return {
    executeSql: async (text, values) => ({ rows: await queryRows(manager, text, values ?? []) }),
  };
}
