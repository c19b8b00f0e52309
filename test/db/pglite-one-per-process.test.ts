/**
 * typeorm-pglite shares one PGlite instance per process, so Database.open() rejects a second embedded
 * database folder while one is open instead of handing it the first folder's database.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Database } from '../../src/db/database.ts';
import { queryRows } from '../../src/db/sql.ts';

describe('one embedded database per process', () => {
  let workDirectory: string;

  before(async () => {
    workDirectory = await mkdtemp(path.join(os.tmpdir(), 'argus-pglite-one-'));
  });

  after(async () => {
    await rm(workDirectory, { recursive: true, force: true });
  });

  it('rejects a second folder while one is open', async () => {
    const first = path.join(workDirectory, 'first');
    const second = path.join(workDirectory, 'second');
    const database = await Database.open({ kind: 'pglite', directory: first });
    try {
      await database.run((manager) => queryRows(manager, 'CREATE TABLE marker (folder text)'));
      await assert.rejects(Database.open({ kind: 'pglite', directory: second }), (error: Error) => {
        assert.match(error.message, /already open in this process/);
        assert.ok(error.message.includes(first), error.message);
        assert.ok(error.message.includes(second), error.message);
        return true;
      });
    } finally {
      await database.close();
    }

    // Once the first is closed, the second folder opens its own database, without the first one's table.
    const other = await Database.open({ kind: 'pglite', directory: second });
    try {
      const tables = await other.run((manager) => queryRows<{ name: string }>(manager, `SELECT tablename AS name FROM pg_tables WHERE tablename = 'marker'`));
      assert.deepEqual(tables, []);
    } finally {
      await other.close();
    }
  });
});
