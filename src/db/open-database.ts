/**
 * Opens the configured database: PostgreSQL when database.url is set, otherwise the embedded PGlite
 * under the data folder, guarded by a lock file so that a second process cannot open it too.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';

import type { AppConfig } from '../config/load.ts';
import { Database } from './database.ts';
import { acquireLock, lockHolder } from './pglite-lock.ts';

export interface OpenedDatabase {
  database: Database;
  close(): Promise<void>;
}

export function pgliteLockPath(config: AppConfig): string {
  return path.join(config.dataDirectory, 'pglite.lock');
}

export function controlSocketPath(config: AppConfig): string {
  return path.join(config.dataDirectory, 'argus-gateway.sock');
}

/** True when the service runs on the embedded database in another process. */
export function embeddedDatabaseHeldElsewhere(config: AppConfig): boolean {
  if (config.database.url) return false;
  const holder = lockHolder(pgliteLockPath(config));
  return holder !== undefined && holder !== process.pid;
}

export async function openDatabase(config: AppConfig): Promise<OpenedDatabase> {
  if (config.database.url) {
    const database = await Database.open({ kind: 'postgres', url: config.database.url });
    return { database, close: () => database.close() };
  }
  mkdirSync(config.dataDirectory, { recursive: true });
  const release = acquireLock(pgliteLockPath(config));
  try {
    const database = await Database.open({ kind: 'pglite', directory: config.pgliteDirectory });
    return {
      database,
      close: async () => {
        await database.close();
        release();
      },
    };
  } catch (error) {
    release();
    throw error;
  }
}
