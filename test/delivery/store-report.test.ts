import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { loadConfig, type AppConfig } from '../../src/config/load.ts';
import { Database } from '../../src/db/database.ts';
import { Delivery } from '../../src/db/entities/delivery.ts';
import { Series } from '../../src/db/entities/series.ts';
import { Study } from '../../src/db/entities/study.ts';
import { upsertOrder } from '../../src/db/queries/orders.ts';
import { queryRows } from '../../src/db/sql.ts';
import { readPart10 } from '../../src/delivery/sr/dcmjs-part10.ts';
import { configureLogging } from '../../src/logging/logger.ts';
import { buildDeliveries } from '../../src/worker/build-deliveries.ts';
import { insertReportWithDeliveries } from '../../src/worker/store-report.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { parseWithPythonHl7 } from '../helpers/python-hl7.ts';
import { hl7Destination } from './outbox-support.ts';

const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';

function config(options: { requireApproval?: boolean } = {}): AppConfig {
  const base = loadConfig(undefined, {});
  return {
    ...base,
    hl7: { destinations: [hl7Destination('ris', 2575, { requireApproval: options.requireApproval ?? false })] },
    dicom: {
      ...base.dicom,
      destinations: [{ name: 'pacs', aeTitle: 'PACS', host: '127.0.0.1', port: 104, warningPolicy: 'delivered', requireApproval: false, blockOnDead: false }],
    },
  };
}

describe('storing a report with its deliveries', () => {
  let testDatabase: TestDatabase;
  let database: Database;

  before(async () => {
    configureLogging('silent');
    testDatabase = await createTestDatabase('argus_store_report');
    database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    await database.migrate();
  });

  after(async () => {
    await database.close();
    await testDatabase.drop();
  });

  async function insertStudy(values: Partial<Study>): Promise<{ study: Study; seriesId: string; seriesInstanceUid: string }> {
    const id = randomUUID();
    const studyInstanceUid = `2.25.${BigInt(`0x${id.replaceAll('-', '')}`)}`;
    const now = new Date();
    const seriesId = randomUUID();
    await database.transaction(async (manager) => {
      await manager.insert(Study, { id, studyInstanceUid, state: 'processing', instanceCount: 1, firstReceivedAt: now, lastReceivedAt: now, updatedAt: now, ...values });
      await manager.insert(Series, { id: seriesId, studyId: id, seriesInstanceUid: `${studyInstanceUid}.1`, instanceCount: 1, lastReceivedAt: now });
    });
    const study = await database.run((manager) => manager.findOneByOrFail(Study, { id }));
    return { study, seriesId, seriesInstanceUid: `${studyInstanceUid}.1` };
  }

  async function storeReport(appConfig: AppConfig, target: Awaited<ReturnType<typeof insertStudy>>, createdAt: Date): Promise<Delivery[]> {
    const reportId = randomUUID();
    const model = { name: 'argus-demo', version: '0.1.0', deviceUid: '2.25.5001' };
    const plan = buildDeliveries(appConfig, {
      study: target.study,
      seriesInstanceUid: target.seriesInstanceUid,
      instances: [{ sopClassUid: CT_IMAGE_STORAGE, sopInstanceUid: `${target.seriesInstanceUid}.1` }],
      findings: 'Nodule.',
      impression: 'Follow-up.',
      model,
      createdAt,
    });
    await database.transaction((manager) =>
      insertReportWithDeliveries(manager, {
        report: {
          id: reportId,
          studyId: target.study.id,
          seriesId: target.seriesId,
          text: 'Findings: Nodule. Impression: Follow-up.',
          findings: 'Nodule.',
          impression: 'Follow-up.',
          model,
          instanceUids: [`${target.seriesInstanceUid}.1`],
          timings: {},
          createdAt,
        },
        deliveries: plan,
        studyInstanceUid: target.study.studyInstanceUid,
        seriesInstanceUid: target.seriesInstanceUid,
      }),
    );
    return database.run((manager) => manager.find(Delivery, { where: { reportId }, order: { kind: 'ASC' } }));
  }

  async function insertOrder(accessionNumber: string, patientId: string): Promise<string> {
    return database.transaction((manager) =>
      upsertOrder(
        manager,
        {
          orderControl: 'NW',
          status: 'active',
          placerOrderNumber: `PL-${accessionNumber}`,
          fillerOrderNumber: `FI-${accessionNumber}`,
          accessionNumber,
          requestedProcedureId: 'RP-1',
          procedureCode: 'CTCH',
          procedureText: 'CT chest',
          procedureCodingSystem: 'L',
          patient: { id: patientId, familyName: 'Ordered', givenName: 'Name' },
        },
        { messageType: 'ORM^O01', messageControlId: randomUUID(), sendingApplication: 'HIS', sendingFacility: 'HOSP', processingId: 'P', version: '2.5.1' },
        new Date(),
      ),
    );
  }

  it('carries the matched order and then a correction', async () => {
    const target = await insertStudy({ accessionNumber: 'ACC-5001', patientId: 'PAT-5001', patientName: 'Dicom^Name' });
    const orderId = await insertOrder('ACC-5001', 'PAT-5001');

    const first = await storeReport(config(), target, new Date(Date.now() - 1000));
    const [firstSr, firstOru] = first;
    assert.deepEqual(first.map((row) => [row.kind, row.state, row.orderId]), [
      ['dicom_sr', 'pending', orderId],
      ['hl7_oru', 'pending', orderId],
    ]);
    const oru = parseWithPythonHl7(firstOru!.payload.toString('utf8'));
    assert.equal(oru.fields['ORC.F2'], 'PL-ACC-5001');
    assert.equal(oru.fields['OBR.F3'], 'FI-ACC-5001');
    assert.equal(oru.fields['PID.F5.R1.C1'], 'Ordered');
    assert.equal(oru.fields['OBR.F25'], 'P');

    const second = await storeReport(config(), target, new Date());
    const [secondSr, secondOru] = second;
    const correction = parseWithPythonHl7(secondOru!.payload.toString('utf8'));
    assert.equal(correction.fields['OBR.F25'], 'C');
    for (const row of correction.observations) assert.equal(row.status, 'C');

    const original = readPart10(firstSr!.payload).dataset;
    const corrected = readPart10(secondSr!.payload).dataset;
    const predecessor = (corrected.PredecessorDocumentsSequence as Array<Record<string, unknown>>)[0]!;
    const referenced = ((predecessor.ReferencedSeriesSequence as Array<Record<string, unknown>>)[0]!.ReferencedSOPSequence as Array<Record<string, unknown>>)[0]!;
    assert.equal(referenced.ReferencedSOPInstanceUID, original.SOPInstanceUID);
    assert.equal(corrected.SeriesInstanceUID, original.SeriesInstanceUID);
    assert.notEqual(corrected.SOPInstanceUID, original.SOPInstanceUID);
    assert.equal(Number(corrected.InstanceNumber), Number(original.InstanceNumber) + 1);
    assert.equal(secondSr!.controlId, corrected.SOPInstanceUID);
  });

  it('does not use an order of another patient', async () => {
    const target = await insertStudy({ accessionNumber: 'ACC-5002', patientId: 'PAT-5002' });
    const orderId = await insertOrder('ACC-5002', 'SOMEONE-ELSE');

    const deliveries = await storeReport(config(), target, new Date());
    assert.ok(deliveries.every((row) => row.orderId === null));
    const oru = parseWithPythonHl7(deliveries.find((row) => row.kind === 'hl7_oru')!.payload.toString('utf8'));
    assert.equal(oru.fields['PID.F3.R1.C1'], 'PAT-5002');
    assert.equal(oru.fields['ORC.F2'], '');
    const audit = await database.run((manager) =>
      queryRows<{ order_id: string; reason: string }>(
        manager,
        `SELECT details->>'orderId' AS order_id, details->>'reason' AS reason FROM audit_event WHERE action = 'hl7_order_not_matched' AND study_instance_uid = $1`,
        [target.study.studyInstanceUid],
      ),
    );
    assert.deepEqual(audit, [{ order_id: orderId, reason: 'patient_differs' }]);
  });

  it('holds deliveries of a destination that requires approval', async () => {
    const target = await insertStudy({ accessionNumber: 'ACC-5003', patientId: 'PAT-5003' });
    const deliveries = await storeReport(config({ requireApproval: true }), target, new Date());
    assert.deepEqual(deliveries.map((row) => [row.kind, row.state]), [
      ['dicom_sr', 'pending'],
      ['hl7_oru', 'held'],
    ]);
  });

  it('stores a message that cannot be built as dead', async () => {
    const target = await insertStudy({ accessionNumber: 'ACC-5004', patientId: null });
    const deliveries = await storeReport(config(), target, new Date());
    const oru = deliveries.find((row) => row.kind === 'hl7_oru')!;
    assert.equal(oru.state, 'dead');
    assert.equal(oru.lastErrorCode, 'hl7_input_invalid');
    assert.match(oru.lastError ?? '', /PID-3/);
    assert.equal(deliveries.find((row) => row.kind === 'dicom_sr')!.state, 'pending');
  });
});
