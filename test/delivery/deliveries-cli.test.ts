import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Database } from '../../src/db/database.ts';
import { queryRows } from '../../src/db/sql.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { runCli } from '../helpers/service-process.ts';
import { insertOruDelivery, readDelivery } from './outbox-support.ts';

describe('deliveries approve and replay', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let directory: string;
  let configPath: string;

  before(async () => {
    testDatabase = await createTestDatabase('argus_cli_delivery');
    database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    await database.migrate();
    directory = await mkdtemp(path.join(os.tmpdir(), 'argus-cli-delivery-'));
    configPath = path.join(directory, 'argus-gateway.json');
    await writeFile(configPath, JSON.stringify({ dataDirectory: path.join(directory, 'data'), database: { url: testDatabase.url } }));
  });

  after(async () => {
    await database.close();
    await testDatabase.drop();
    await rm(directory, { recursive: true, force: true });
  });

  it('approves a held delivery', async () => {
    const delivery = await insertOruDelivery(database, 'ris', { state: 'held' });
    const result = await runCli(configPath, ['deliveries', 'approve', delivery.id]);

    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `Delivery ${delivery.id} approved; it is pending and will be sent next.\n`);
    assert.equal((await readDelivery(database, delivery.id)).state, 'pending');
    const audit = await database.run((manager) =>
      queryRows<{ actor_type: string; actor: string }>(manager, `SELECT actor_type, actor FROM audit_event WHERE delivery_id = $1`, [delivery.id]),
    );
    assert.deepEqual(audit, [{ actor_type: 'user', actor: os.userInfo().username }]);
  });

  it('replays a dead delivery with a new MSH-10', async () => {
    const delivery = await insertOruDelivery(database, 'ris', { state: 'dead' });
    const result = await runCli(configPath, ['deliveries', 'replay', delivery.id]);
    const row = await readDelivery(database, delivery.id);

    assert.equal(result.code, 0, result.stderr);
    assert.equal(row.state, 'pending');
    assert.notEqual(row.controlId, delivery.controlId);
    assert.equal(result.stdout, `Delivery ${delivery.id} queued again as MSH-10 ${row.controlId} (was ${delivery.controlId}).\n`);
    assert.ok(row.payload.toString('utf8').includes(`|${row.controlId}|`));
  });

  it('rejects a replay of a pending delivery', async () => {
    const delivery = await insertOruDelivery(database, 'ris');
    const result = await runCli(configPath, ['deliveries', 'replay', delivery.id]);

    assert.equal(result.code, 1);
    assert.match(result.stderr, /is pending; only a dead or delivered delivery can be replayed/);
    assert.equal((await readDelivery(database, delivery.id)).controlId, delivery.controlId);
  });

  it('names an id that is not a delivery', async () => {
    const notUuid = await runCli(configPath, ['deliveries', 'approve', 'abc']);
    assert.equal(notUuid.code, 1);
    assert.match(notUuid.stderr, /"abc" is not a delivery id/);

    const missing = await runCli(configPath, ['deliveries', 'approve', '00000000-0000-4000-8000-000000000000']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /does not exist/);
  });
});
