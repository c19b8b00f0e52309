import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';

import { Database } from '../../src/db/database.ts';
import { queryRows } from '../../src/db/sql.ts';
import { configureLogging, getLogger } from '../../src/logging/logger.ts';
import { DeliveryJob } from '../../src/worker/delivery-job.ts';
import { PeriodicTask } from '../../src/worker/periodic-task.ts';
import { freePort } from '../helpers/dcmtk.ts';
import { MllpPeer } from '../helpers/mllp-peer.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { hl7Destination, insertOruDelivery, messageControlIdOf, outboxConfig, readDelivery } from './outbox-support.ts';

/** How long the RIS stays down, as an outage test should last. */
const OUTAGE_MS = 30_000;
/** Time the sender gets to deliver once the RIS is back: the longest backoff (4 s) plus margin. */
const RECOVERY_MS = 15_000;

describe('RIS down then up', () => {
  let testDatabase: TestDatabase;
  let database: Database;

  before(async () => {
    configureLogging('silent');
    testDatabase = await createTestDatabase('argus_outage');
    database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    await database.migrate();
  });

  after(async () => {
    await database.close();
    await testDatabase.drop();
  });

  it('delivers once, with the same MSH-10', async () => {
    const port = await freePort();
    const config = outboxConfig([hl7Destination('ris', port, { ackTimeoutSeconds: 2 })], {
      maxAttempts: 100,
      retryBaseSeconds: 1,
      retryMaxSeconds: 4,
      deadlineHours: 1,
    });
    const delivery = await insertOruDelivery(database, 'ris');
    const job = new DeliveryJob(database, config);
    const sender = new PeriodicTask('delivery sender', 0.2, async () => void (await job.runDue()), getLogger('test'));
    const ris = new MllpPeer();

    sender.start();
    try {
      await sleep(OUTAGE_MS);
      const during = await readDelivery(database, delivery.id);
      assert.equal(during.state, 'failed');
      assert.equal(during.lastErrorCode, 'mllp_connection_failed');
      assert.ok(during.attempts >= 5, `only ${during.attempts} attempts in ${OUTAGE_MS} ms`);
      assert.equal(during.deliveredAt, null);

      await ris.start(port);
      const deadline = Date.now() + RECOVERY_MS;
      while ((await readDelivery(database, delivery.id)).state !== 'delivered') {
        assert.ok(Date.now() < deadline, 'not delivered after the RIS came back');
        await sleep(200);
      }
      // A little longer, so a duplicate send would show up.
      await sleep(1000);
    } finally {
      await sender.stop();
      job.close();
      await ris.close();
    }

    const row = await readDelivery(database, delivery.id);
    assert.equal(row.controlId, delivery.controlId);
    assert.equal(ris.messages.length, 1);
    assert.equal(messageControlIdOf(ris.messages[0]!), delivery.controlId);
    const audit = await database.run((manager) =>
      queryRows<{ action: string; count: number }>(
        manager,
        `SELECT action, count(*)::int AS count FROM audit_event WHERE delivery_id = $1 GROUP BY action ORDER BY action`,
        [delivery.id],
      ),
    );
    assert.deepEqual(audit, [
      { action: 'delivery_failed', count: row.attempts - 1 },
      { action: 'delivery_succeeded', count: 1 },
    ]);
    // Each delivery row names the study's accession number, so an auditor can search by it.
    const withoutAccession = await database.run((manager) =>
      queryRows<{ count: number }>(
        manager,
        `SELECT count(*)::int AS count FROM audit_event a JOIN delivery d ON d.id = a.delivery_id JOIN report r ON r.id = d.report_id
           JOIN study s ON s.id = r.study_id
          WHERE a.delivery_id = $1 AND a.accession_number IS DISTINCT FROM s.accession_number`,
        [delivery.id],
      ),
    );
    assert.equal(withoutAccession[0]!.count, 0);
  });
});
