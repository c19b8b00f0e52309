import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { loadConfig, type AppConfig } from '../../src/config/load.ts';
import { Database } from '../../src/db/database.ts';
import { Delivery } from '../../src/db/entities/delivery.ts';
import { Report } from '../../src/db/entities/report.ts';
import { Series } from '../../src/db/entities/series.ts';
import { Study } from '../../src/db/entities/study.ts';
import { queryRows } from '../../src/db/sql.ts';
import { buildOruR01 } from '../../src/delivery/hl7/oru-r01.ts';
import { DeliveryJob } from '../../src/worker/delivery-job.ts';
import { freePort } from '../helpers/dcmtk.ts';
import { MllpPeer, type PeerAckCode } from '../helpers/mllp-peer.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';

/** Retries are due this soon in the test; production waits seconds. */
const RETRY_BASE_SECONDS = 0.05;
const MAX_ATTEMPTS = 3;

describe('delivery job', () => {
  let testDatabase: TestDatabase;
  let database: Database;

  before(async () => {
    testDatabase = await createTestDatabase('argus_delivery');
    database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    await database.migrate();
  });

  after(async () => {
    await database.close();
    await testDatabase.drop();
  });

  function configFor(port: number): AppConfig {
    const base = loadConfig(undefined, {});
    return {
      ...base,
      delivery: { maxAttempts: MAX_ATTEMPTS, retryBaseSeconds: RETRY_BASE_SECONDS, pollIntervalSeconds: 1 },
      hl7: {
        destinations: [
          { name: 'ris', host: '127.0.0.1', port, sendingApplication: 'ARGUS', sendingFacility: 'RAD', receivingApplication: 'RIS', receivingFacility: 'HOSP', ackTimeoutSeconds: 2 },
        ],
      },
    };
  }

  /** Inserts a report with one pending ORU delivery; a report has at most one delivery per destination. */
  async function insertOruDelivery(): Promise<{ id: string; controlId: string }> {
    const reportId = await insertReport(database);
    const id = randomUUID();
    const controlId = randomUUID().replaceAll('-', '').slice(0, 20).toUpperCase();
    const message = buildOruR01({
      messageControlId: controlId,
      createdAt: new Date(),
      sendingApplication: 'ARGUS',
      sendingFacility: 'RAD',
      receivingApplication: 'RIS',
      receivingFacility: 'HOSP',
      patient: { id: 'P1' },
      order: { studyInstanceUid: '1.2.3' },
      result: { status: 'P', reportedAt: new Date(), findings: 'No acute finding.', impression: 'Normal.' },
      model: { name: 'tiny', version: '1', deviceUid: '2.25.1' },
    });
    const now = new Date();
    await database.run((manager) =>
      manager.insert(Delivery, {
        id,
        reportId,
        kind: 'hl7_oru',
        destination: 'ris',
        controlId,
        payload: Buffer.from(message, 'utf8'),
        state: 'pending',
        attempts: 0,
        nextAttemptAt: now,
        createdAt: now,
        updatedAt: now,
      }),
    );
    return { id, controlId };
  }

  async function runUntilSettled(job: DeliveryJob, deliveryId: string): Promise<Delivery> {
    for (let round = 0; round < 50; round++) {
      await job.runOnce();
      const row = await database.run((manager) => manager.findOneByOrFail(Delivery, { id: deliveryId }));
      if (row.state === 'delivered' || row.state === 'failed') return row;
      await new Promise((resolve) => setTimeout(resolve, RETRY_BASE_SECONDS * 1000 * 2 ** row.attempts));
    }
    assert.fail('the delivery did not settle');
  }

  it('marks an ORU delivered on AA with the ACK stored', async () => {
    const peer = new MllpPeer();
    const { port } = await peer.start();
    try {
      const { id, controlId } = await insertOruDelivery();
      const row = await runUntilSettled(new DeliveryJob(database, configFor(port)), id);
      assert.equal(row.state, 'delivered');
      assert.equal(row.attempts, 1);
      assert.match(row.response ?? '', new RegExp(`MSA\\|AA\\|${controlId}`));
      assert.equal(peer.messages.length, 1);
    } finally {
      await peer.close();
    }
  });

  for (const ackCode of ['AE', 'AR'] as PeerAckCode[]) {
    it(`retries on ${ackCode} and stays failed with the last error after ${MAX_ATTEMPTS} attempts`, async () => {
      const peer = new MllpPeer({ reply: { ackCode, ackText: 'rejected by test' } });
      const { port } = await peer.start();
      try {
        const { id, controlId } = await insertOruDelivery();
        const row = await runUntilSettled(new DeliveryJob(database, configFor(port)), id);
        assert.equal(row.state, 'failed');
        assert.equal(row.attempts, MAX_ATTEMPTS);
        assert.match(row.lastError ?? '', new RegExp(`MSA-1 ${ackCode}`));
        assert.equal(peer.messages.length, MAX_ATTEMPTS);
        // Every retry resends the same message with the same MSH-10.
        for (const message of peer.messages) assert.match(message, new RegExp(`\\|${controlId}\\|`));
        const audit = await database.run((manager) =>
          queryRows<{ count: number }>(manager, `SELECT count(*)::int AS count FROM audit_event WHERE action = 'delivery_failed' AND delivery_id = $1`, [id]),
        );
        assert.equal(audit[0]!.count, MAX_ATTEMPTS);
      } finally {
        await peer.close();
      }
    });
  }

  it('records a refused connection as the last error', async () => {
    const port = await freePort();
    const { id } = await insertOruDelivery();
    const row = await runUntilSettled(new DeliveryJob(database, configFor(port)), id);
    assert.equal(row.state, 'failed');
    assert.equal(row.attempts, MAX_ATTEMPTS);
    assert.ok((row.lastError ?? '').length > 0);
  });

  it('lists failed deliveries with their error through the CLI query', async () => {
    const { listDeliveries } = await import('../../src/db/queries/reports.ts');
    const items = await database.run((manager) => listDeliveries(manager, 100));
    assert.ok(items.some((item) => item.state === 'failed' && item.lastError));
  });
});

async function insertReport(database: Database): Promise<string> {
  const studyId = randomUUID();
  const studyInstanceUid = `2.25.${BigInt(`0x${studyId.replaceAll('-', '')}`)}`;
  const seriesId = randomUUID();
  const reportId = randomUUID();
  const now = new Date();
  await database.transaction(async (manager) => {
    await manager.insert(Study, { id: studyId, studyInstanceUid, state: 'reported', instanceCount: 1, firstReceivedAt: now, lastReceivedAt: now, updatedAt: now });
    await manager.insert(Series, { id: seriesId, studyId, seriesInstanceUid: `${studyInstanceUid}.1`, instanceCount: 1, lastReceivedAt: now });
    await manager.insert(Report, {
      id: reportId,
      studyId,
      seriesId,
      status: 'preliminary',
      text: 'Findings: none',
      findings: 'none',
      impression: '',
      modelName: 'tiny',
      modelVersion: '1',
      modelDeviceUid: '2.25.1',
      instanceUids: [],
      timings: {},
      createdAt: now,
    });
  });
  return reportId;
}
