/**
 * Named prepared statements on PGlite: rows come back as queryRows() returns them, a failing execution
 * leaves the session usable, and the statement is parsed once per PGlite instance.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Database } from '../../src/db/database.ts';
import { queryPreparedOnPglite } from '../../src/db/pglite-prepared.ts';
import { queryRows } from '../../src/db/sql.ts';

const SELECT_TYPES = `SELECT $1::bigint AS size, $2::jsonb AS position, $3::timestamptz AS received_at, $4::text AS name,
                             $5::boolean AS flag, 100 / $6::int AS quotient`;

describe('prepared statements on PGlite', () => {
  let workDirectory: string;
  let database: Database;

  before(async () => {
    workDirectory = await mkdtemp(path.join(os.tmpdir(), 'argus-pglite-prepared-'));
    database = await Database.open({ kind: 'pglite', directory: path.join(workDirectory, 'pglite') });
  });

  after(async () => {
    await database.close();
    await rm(workDirectory, { recursive: true, force: true });
  });

  it('returns rows as queryRows does', async () => {
    const parameters = ['524288', JSON.stringify([0.5, -12, 30]), new Date('2026-12-05T03:00:00Z'), "O'Brien", true, 4];
    const prepared = await database.run(() => queryPreparedOnPglite<Record<string, unknown>>('test_select_types', SELECT_TYPES, parameters));
    const plain = await database.run((manager) => queryRows<Record<string, unknown>>(manager, SELECT_TYPES, parameters));
    assert.equal(prepared.length, 1);
    assert.deepEqual(prepared, plain);
    assert.deepEqual(prepared[0]!.position, [0.5, -12, 30]);
    assert.equal(prepared[0]!.name, "O'Brien");
    assert.equal(prepared[0]!.quotient, 25);
  });

  it('keeps the session usable after an error', async () => {
    const failing = database.run(() => queryPreparedOnPglite('test_select_types', SELECT_TYPES, ['1', '{}', new Date(), 'x', false, 0]));
    await assert.rejects(failing, (error: { code?: string }) => error.code === '22012');

    const again = await database.run(() => queryPreparedOnPglite<{ quotient: number }>('test_select_types', SELECT_TYPES, ['1', '{}', new Date(), 'x', false, 5]));
    assert.equal(again[0]!.quotient, 20);
    const plain = await database.run((manager) => queryRows<{ one: number }>(manager, 'SELECT 1 AS one'));
    assert.equal(plain[0]!.one, 1);
  });

  it('parses each statement once', async () => {
    await database.run(() => queryPreparedOnPglite('test_parsed_once', 'SELECT $1::int + 1 AS next', [1]));
    await database.run(() => queryPreparedOnPglite('test_parsed_once', 'SELECT $1::int + 1 AS next', [2]));
    const statements = await database.run((manager) =>
      queryRows<{ name: string }>(manager, `SELECT name FROM pg_prepared_statements WHERE name = 'test_parsed_once'`),
    );
    assert.equal(statements.length, 1);
  });

  it('reports a statement that does not parse', async () => {
    await assert.rejects(
      database.run(() => queryPreparedOnPglite('test_broken', 'SELEC 1', [])),
      (error: { code?: string }) => error.code === '42601',
    );
    const plain = await database.run((manager) => queryRows<{ one: number }>(manager, 'SELECT 1 AS one'));
    assert.equal(plain[0]!.one, 1);
  });
});
