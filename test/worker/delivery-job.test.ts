import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';

import { Database } from '../../src/db/database.ts';
import { queryRows } from '../../src/db/sql.ts';
import { configureLogging } from '../../src/logging/logger.ts';
import { approveDelivery, DeliveryAdminError, replayDelivery } from '../../src/worker/delivery-admin.ts';
import { DeliveryJob } from '../../src/worker/delivery-job.ts';
import { MllpPeer, type MllpPeerReply } from '../helpers/mllp-peer.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import {
  hl7Destination,
  insertOruDelivery,
  insertReport,
  messageControlIdOf,
  outboxConfig,
  readDelivery,
} from '../delivery/outbox-support.ts';

const TLS_FIXTURES = path.resolve(import.meta.dirname, '../delivery/fixtures/tls');

describe('delivery outbox', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  const peers: MllpPeer[] = [];
  const jobs: DeliveryJob[] = [];

  before(async () => {
    configureLogging('silent');
    testDatabase = await createTestDatabase('argus_delivery');
    database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    await database.migrate();
  });

  afterEach(async () => {
    for (const job of jobs.splice(0)) job.close();
    await Promise.all(peers.splice(0).map((peer) => peer.close()));
    // The claim takes any due row, so rows left by one test must not be sent by the next.
    await database.run((manager) => queryRows(manager, `DELETE FROM delivery`));
  });

  after(async () => {
    await database.close();
    await testDatabase.drop();
  });

  /** Starts a scripted RIS and returns its port. */
  async function startPeer(reply?: MllpPeerReply | ((message: string, index: number) => MllpPeerReply)): Promise<{ peer: MllpPeer; port: number }> {
    const peer = new MllpPeer(reply === undefined ? {} : { reply });
    peers.push(peer);
    const { port } = await peer.start();
    return { peer, port };
  }

  function job(config: ReturnType<typeof outboxConfig>): DeliveryJob {
    const created = new DeliveryJob(database, config);
    jobs.push(created);
    return created;
  }

  /** Runs the job until every listed delivery is delivered or dead, letting retries come due. */
  async function runUntilSettled(deliveryJob: DeliveryJob, ids: string[]): Promise<void> {
    for (let round = 0; round < 100; round++) {
      await deliveryJob.runDue();
      const rows = await Promise.all(ids.map((id) => readDelivery(database, id)));
      if (rows.every((row) => row.state === 'delivered' || row.state === 'dead')) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.fail('the deliveries did not settle');
  }

  describe('ACK matrix', () => {
    const cases: Array<{
      name: string;
      reply: MllpPeerReply;
      rejectPolicy?: 'retry' | 'park';
      state: 'delivered' | 'failed' | 'dead';
      code?: string;
      storesAck?: boolean;
    }> = [
      { name: 'AA', reply: { ackCode: 'AA' }, state: 'delivered', storesAck: true },
      { name: 'CA', reply: { ackCode: 'CA' }, state: 'delivered', storesAck: true },
      { name: 'AE', reply: { ackCode: 'AE', ackText: 'PID-3 unknown' }, state: 'failed', code: 'hl7_ack_error', storesAck: true },
      { name: 'CE', reply: { ackCode: 'CE' }, state: 'failed', code: 'hl7_ack_error', storesAck: true },
      { name: 'AR parked', reply: { ackCode: 'AR' }, state: 'dead', code: 'hl7_ack_rejected', storesAck: true },
      { name: 'AR retried', reply: { ackCode: 'AR' }, rejectPolicy: 'retry', state: 'failed', code: 'hl7_ack_rejected', storesAck: true },
      { name: 'CR parked', reply: { ackCode: 'CR' }, state: 'dead', code: 'hl7_ack_rejected', storesAck: true },
      { name: 'CR retried', reply: { ackCode: 'CR' }, rejectPolicy: 'retry', state: 'failed', code: 'hl7_ack_rejected', storesAck: true },
      { name: 'no ACK', reply: { behaviour: 'never-answer' }, state: 'failed', code: 'mllp_timeout' },
      { name: 'a wrong MSA-2', reply: { behaviour: 'wrong-msa2' }, state: 'failed', code: 'mllp_timeout' },
      { name: 'a garbage frame', reply: { behaviour: 'garbage-frame' }, state: 'failed', code: 'hl7_ack_invalid' },
      { name: 'unframed garbage', reply: { behaviour: 'garbage-bytes' }, state: 'failed', code: 'mllp_timeout' },
      { name: 'an ACK split across chunks', reply: { splitAckInto: 7 }, state: 'delivered', storesAck: true },
      { name: 'two frames in one chunk', reply: { strayAckFirst: 'same-write' }, state: 'delivered', storesAck: true },
      { name: 'two frames in one chunk, ours AE', reply: { strayAckFirst: 'same-write', ackCode: 'AE' }, state: 'failed', code: 'hl7_ack_error' },
      { name: 'a connection reset', reply: { behaviour: 'reset' }, state: 'failed', code: 'mllp_closed' },
      { name: 'a hang-up', reply: { behaviour: 'close' }, state: 'failed', code: 'mllp_closed' },
    ];

    for (const testCase of cases) {
      it(`leaves ${testCase.state} on ${testCase.name}`, async () => {
        const { peer, port } = await startPeer(testCase.reply);
        const destination = `ris-${cases.indexOf(testCase)}`;
        const config = outboxConfig([hl7Destination(destination, port, { rejectPolicy: testCase.rejectPolicy ?? 'park' })]);
        const delivery = await insertOruDelivery(database, destination);

        assert.equal(await job(config).runOnce(), true);
        const row = await readDelivery(database, delivery.id);

        assert.equal(row.state, testCase.state);
        assert.equal(row.attempts, 1);
        assert.equal(row.lastErrorCode, testCase.code ?? null);
        assert.equal(row.deliveredAt !== null, testCase.state === 'delivered');
        assert.equal(peer.messages.length, 1);
        assert.equal(messageControlIdOf(peer.messages[0]!), delivery.controlId);
        if (testCase.storesAck) assert.match(row.response ?? '', new RegExp(`MSA\\|[A-Z]{2}\\|${delivery.controlId}`));
        if (testCase.state === 'failed') assert.ok(row.nextAttemptAt.getTime() > Date.now() - 1000);
      });
    }

    it('takes no late ACK of the previous message for the next', async () => {
      // The first message gets no answer; the second gets an AA for the first, then silence.
      const { peer, port } = await startPeer((_message, index) =>
        index === 0 ? { behaviour: 'never-answer' } : { lateAckOfPreviousFirst: true, behaviour: 'never-answer' },
      );
      // The first delivery's retry must not come due before the second is claimed.
      const config = outboxConfig([hl7Destination('late-a', port), hl7Destination('late-b', port)], { retryBaseSeconds: 60, retryMaxSeconds: 60 });
      const first = await insertOruDelivery(database, 'late-a');
      const deliveryJob = job(config);
      await deliveryJob.runOnce();
      const second = await insertOruDelivery(database, 'late-b');
      await deliveryJob.runOnce();

      const [firstRow, secondRow] = await Promise.all([readDelivery(database, first.id), readDelivery(database, second.id)]);
      assert.equal(peer.messages.length, 2);
      assert.equal(firstRow.state, 'failed');
      assert.equal(secondRow.state, 'failed');
      assert.equal(secondRow.lastErrorCode, 'mllp_timeout');
    });

    it('delivers the next message when its own ACK follows a late one', async () => {
      const { port } = await startPeer((_message, index) => (index === 0 ? { behaviour: 'never-answer' } : { lateAckOfPreviousFirst: true }));
      const config = outboxConfig([hl7Destination('late-c', port), hl7Destination('late-d', port)], { retryBaseSeconds: 60, retryMaxSeconds: 60 });
      const first = await insertOruDelivery(database, 'late-c');
      const deliveryJob = job(config);
      await deliveryJob.runOnce();
      const second = await insertOruDelivery(database, 'late-d');
      await deliveryJob.runOnce();

      const [firstRow, secondRow] = await Promise.all([readDelivery(database, first.id), readDelivery(database, second.id)]);
      assert.equal(firstRow.state, 'failed');
      assert.equal(secondRow.state, 'delivered');
      assert.match(secondRow.response ?? '', new RegExp(`MSA\\|AA\\|${second.controlId}`));
    });
  });

  describe('retries', () => {
    it('retries AE with the same MSH-10 until dead', async () => {
      const { peer, port } = await startPeer({ ackCode: 'AE' });
      const config = outboxConfig([hl7Destination('retry-ae', port)], { maxAttempts: 3 });
      const delivery = await insertOruDelivery(database, 'retry-ae');

      await runUntilSettled(job(config), [delivery.id]);
      const row = await readDelivery(database, delivery.id);

      assert.equal(row.state, 'dead');
      assert.equal(row.attempts, 3);
      assert.equal(peer.messages.length, 3);
      for (const message of peer.messages) assert.equal(messageControlIdOf(message), delivery.controlId);
      const audit = await database.run((manager) =>
        queryRows<{ details: { final: boolean; deadReason: string | null } }>(
          manager,
          `SELECT details FROM audit_event WHERE action = 'delivery_failed' AND delivery_id = $1 ORDER BY occurred_at`,
          [delivery.id],
        ),
      );
      assert.deepEqual(
        audit.map((entry) => entry.details.deadReason),
        [null, null, 'attempts_exhausted'],
      );
    });

    it('ends a failing delivery at its deadline', async () => {
      const { port } = await startPeer({ ackCode: 'AE' });
      // 0.0002 h is 0.72 s: a few retries fit before the deadline, far fewer than the 1000 attempts allowed.
      const config = outboxConfig([hl7Destination('deadline', port)], { maxAttempts: 1000, deadlineHours: 0.0002 });
      const delivery = await insertOruDelivery(database, 'deadline');

      await runUntilSettled(job(config), [delivery.id]);
      const row = await readDelivery(database, delivery.id);

      assert.equal(row.state, 'dead');
      assert.ok(row.attempts > 1 && row.attempts < 1000, `attempts: ${row.attempts}`);
      const audit = await database.run((manager) =>
        queryRows<{ reason: string }>(
          manager,
          `SELECT details->>'deadReason' AS reason FROM audit_event WHERE action = 'delivery_failed' AND delivery_id = $1 AND details->>'final' = 'true'`,
          [delivery.id],
        ),
      );
      assert.equal(audit[0]?.reason, 'deadline_passed');
    });

    it('records a refused connection', async () => {
      const peer = new MllpPeer();
      const { port } = await peer.start();
      await peer.close();
      const config = outboxConfig([hl7Destination('refused', port)]);
      const delivery = await insertOruDelivery(database, 'refused');

      await job(config).runOnce();
      const row = await readDelivery(database, delivery.id);

      assert.equal(row.state, 'failed');
      assert.equal(row.lastErrorCode, 'mllp_connection_failed');
      assert.match(row.lastError ?? '', /connection failed/);
    });
  });

  describe('destination queues', () => {
    it('keeps the order of one destination', async () => {
      // The first attempt of the first message fails; the second message must wait for it.
      const { peer, port } = await startPeer((_message, index) => ({ ackCode: index === 0 ? 'AE' : 'AA' }));
      // Half a second keeps the retry from coming due within the first runDue().
      const config = outboxConfig([hl7Destination('ordered', port)], { retryBaseSeconds: 0.5, retryMaxSeconds: 0.5 });
      const first = await insertOruDelivery(database, 'ordered');
      const second = await insertOruDelivery(database, 'ordered');
      const deliveryJob = job(config);

      await deliveryJob.runDue();
      assert.equal(peer.messages.length, 1);
      assert.equal((await readDelivery(database, second.id)).state, 'pending');

      await runUntilSettled(deliveryJob, [first.id, second.id]);
      assert.deepEqual(peer.messages.map(messageControlIdOf), [first.controlId, first.controlId, second.controlId]);
    });

    it('lets later deliveries pass a dead one', async () => {
      const { peer, port } = await startPeer((_message, index) => ({ ackCode: index === 0 ? 'AR' : 'AA' }));
      const config = outboxConfig([hl7Destination('passing', port)]);
      const first = await insertOruDelivery(database, 'passing');
      const second = await insertOruDelivery(database, 'passing');

      await runUntilSettled(job(config), [first.id, second.id]);

      assert.equal((await readDelivery(database, first.id)).state, 'dead');
      assert.equal((await readDelivery(database, second.id)).state, 'delivered');
      assert.equal(peer.messages.length, 2);
    });

    it('holds later deliveries behind a dead one with blockOnDead', async () => {
      const { peer, port } = await startPeer((_message, index) => ({ ackCode: index === 0 ? 'AR' : 'AA' }));
      const config = outboxConfig([hl7Destination('blocking', port, { blockOnDead: true })]);
      const first = await insertOruDelivery(database, 'blocking');
      const second = await insertOruDelivery(database, 'blocking');
      const deliveryJob = job(config);

      await deliveryJob.runDue();
      await deliveryJob.runDue();
      assert.equal((await readDelivery(database, first.id)).state, 'dead');
      assert.equal((await readDelivery(database, second.id)).state, 'pending');
      assert.equal(peer.messages.length, 1);

      await replayDelivery(database, first.id, 'test-admin');
      await runUntilSettled(deliveryJob, [first.id, second.id]);
      assert.equal((await readDelivery(database, second.id)).state, 'delivered');
      assert.equal(peer.messages.length, 3);
    });

    it('serves destinations at the same time', async () => {
      // B answers only after A has received its message, and B is claimed first: one at a time, B
      // would time out waiting for A.
      const a = await startPeer();
      const b = await startPeer(() => ({ waitFor: a.peer.waitForMessages(1, 5000) }));
      const config = outboxConfig(
        [hl7Destination('parallel-a', a.port, { ackTimeoutSeconds: 3 }), hl7Destination('parallel-b', b.port, { ackTimeoutSeconds: 3 })],
        { maxConcurrentSends: 2 },
      );
      const first = await insertOruDelivery(database, 'parallel-b');
      const second = await insertOruDelivery(database, 'parallel-a');

      await job(config).runDue();
      assert.equal((await readDelivery(database, first.id)).state, 'delivered');
      assert.equal((await readDelivery(database, second.id)).state, 'delivered');
    });
  });

  describe('connections', () => {
    it('reuses one connection with keepAliveSeconds', async () => {
      const { peer, port } = await startPeer();
      const config = outboxConfig([hl7Destination('kept', port, { keepAliveSeconds: 30 })]);
      const ids = [(await insertOruDelivery(database, 'kept')).id, (await insertOruDelivery(database, 'kept')).id];

      await runUntilSettled(job(config), ids);
      assert.equal(peer.messages.length, 2);
      assert.equal(peer.connections, 1);
    });

    it('opens a connection per message by default', async () => {
      const { peer, port } = await startPeer();
      const config = outboxConfig([hl7Destination('per-message', port)]);
      const ids = [(await insertOruDelivery(database, 'per-message')).id, (await insertOruDelivery(database, 'per-message')).id];

      await runUntilSettled(job(config), ids);
      assert.equal(peer.connections, 2);
    });

    it('delivers over TLS to a RIS the CA signed', async () => {
      const peer = new MllpPeer({ tls: { cert: readFileSync(path.join(TLS_FIXTURES, 'server.pem')), key: readFileSync(path.join(TLS_FIXTURES, 'server.key')) } });
      peers.push(peer);
      const { port } = await peer.start();
      const trusted = outboxConfig([hl7Destination('tls-ok', port, { tls: { caFile: path.join(TLS_FIXTURES, 'ca.pem'), rejectUnauthorized: true } })]);
      const untrusted = outboxConfig([hl7Destination('tls-bad', port, { tls: { caFile: path.join(TLS_FIXTURES, 'other-ca.pem'), rejectUnauthorized: true } })]);
      const good = await insertOruDelivery(database, 'tls-ok');
      const bad = await insertOruDelivery(database, 'tls-bad');

      await job(trusted).runOnce();
      await job(untrusted).runOnce();

      assert.equal((await readDelivery(database, good.id)).state, 'delivered');
      const badRow = await readDelivery(database, bad.id);
      assert.equal(badRow.state, 'failed');
      assert.equal(badRow.lastErrorCode, 'mllp_tls_failed');
      assert.equal(peer.messages.length, 1);
    });
  });

  describe('administration', () => {
    it('sends a held delivery only after approval', async () => {
      const { peer, port } = await startPeer();
      const config = outboxConfig([hl7Destination('gated', port, { requireApproval: true })]);
      const delivery = await insertOruDelivery(database, 'gated', { state: 'held' });
      const deliveryJob = job(config);

      await deliveryJob.runDue();
      assert.equal(peer.messages.length, 0);
      await approveDelivery(database, delivery.id, 'test-admin');
      await runUntilSettled(deliveryJob, [delivery.id]);

      assert.equal((await readDelivery(database, delivery.id)).state, 'delivered');
      const audit = await database.run((manager) =>
        queryRows<{ actor: string }>(manager, `SELECT actor FROM audit_event WHERE action = 'delivery_approved' AND delivery_id = $1`, [delivery.id]),
      );
      assert.deepEqual(audit, [{ actor: 'test-admin' }]);
      await assert.rejects(approveDelivery(database, delivery.id, 'test-admin'), (error: unknown) => {
        assert.ok(error instanceof DeliveryAdminError);
        assert.equal(error.code, 'delivery_state_invalid');
        return true;
      });
    });

    it('replays a delivered ORU with a new MSH-10', async () => {
      const { peer, port } = await startPeer();
      const config = outboxConfig([hl7Destination('replayed', port)]);
      const delivery = await insertOruDelivery(database, 'replayed');
      const deliveryJob = job(config);
      await runUntilSettled(deliveryJob, [delivery.id]);

      const result = await replayDelivery(database, delivery.id, 'test-admin');
      assert.notEqual(result.controlId, delivery.controlId);
      assert.equal((await readDelivery(database, delivery.id)).state, 'pending');
      await runUntilSettled(deliveryJob, [delivery.id]);

      const row = await readDelivery(database, delivery.id);
      assert.equal(row.state, 'delivered');
      assert.equal(row.controlId, result.controlId);
      assert.deepEqual(peer.messages.map(messageControlIdOf), [delivery.controlId, result.controlId]);
      // Apart from MSH-7 and MSH-10 the resent message is the same message.
      const withoutHeader = (message: string) => message.slice(message.indexOf('\r'));
      assert.equal(withoutHeader(peer.messages[1]!), withoutHeader(peer.messages[0]!));
    });

    it('refuses to replay a pending delivery', async () => {
      const delivery = await insertOruDelivery(database, 'not-replayable');
      await assert.rejects(replayDelivery(database, delivery.id, 'test-admin'), (error: unknown) => {
        assert.ok(error instanceof DeliveryAdminError);
        assert.equal(error.code, 'delivery_state_invalid');
        return true;
      });
    });

    it('refuses to replay a report that a delivered correction replaced', async () => {
      const older = await insertReport(database, { createdAt: new Date(Date.now() - 60_000) });
      const newer = await insertReport(database, { studyId: older.studyId });
      const original = await insertOruDelivery(database, 'corrected', { reportId: older.reportId, studyId: older.studyId, state: 'delivered' });
      await insertOruDelivery(database, 'corrected', { reportId: newer.reportId, studyId: older.studyId, state: 'delivered' });

      await assert.rejects(replayDelivery(database, original.id, 'test-admin'), (error: unknown) => {
        assert.ok(error instanceof DeliveryAdminError);
        assert.equal(error.code, 'delivery_superseded');
        return true;
      });
      const forced = await replayDelivery(database, original.id, 'test-admin', { force: true });
      assert.equal(forced.state, 'pending');
    });
  });
});
