import assert from 'node:assert/strict';
import { readFile, readdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Database } from '../../src/db/database.ts';
import { queryRows } from '../../src/db/sql.ts';
import { DicomListener } from '../../src/dicom/dicom-listener.ts';
import { IngestSink } from '../../src/ingest/ingest-sink.ts';
import { InstanceStore } from '../../src/ingest/instance-store.ts';
import { echoscu, storescu } from '../helpers/dcmtk.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { sharedData } from '../helpers/shared-data.ts';

const PHILIPS_STUDY = sharedData('dcm_qa_ct/Philips_Ingenuity_study_S21570');
const AXIAL_SERIES = path.join(PHILIPS_STUDY, 'S2010');

/** Returns the bytes after the file meta group, i.e. the dataset as it was sent. */
function datasetBytes(file: Buffer): Buffer {
  assert.equal(file.subarray(128, 132).toString('ascii'), 'DICM');
  const groupLength = file.readUInt32LE(140);
  return file.subarray(144 + groupLength);
}

describe('Storage SCP', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let listener: DicomListener;
  let port: number;
  let workDirectory: string;
  let store: InstanceStore;

  before(async () => {
    testDatabase = await createTestDatabase('argus_scp');
    database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    await database.migrate();
    workDirectory = await mkdtemp(path.join(os.tmpdir(), 'argus-scp-'));
    store = new InstanceStore(path.join(workDirectory, 'instances'), path.join(workDirectory, 'instances', '.spool'));
    await store.prepare();
    listener = new DicomListener(
      { host: '127.0.0.1', port: 0, aeTitle: 'ARGUS', peers: [{ aeTitle: 'STORESCU', host: '127.0.0.1' }], idleTimeoutSeconds: 30 },
      new IngestSink(database, store),
    );
    port = await listener.start();
  });

  after(async () => {
    await listener.stop();
    await database.close();
    await testDatabase.drop();
    await rm(workDirectory, { recursive: true, force: true });
  });

  it('answers C-ECHO from a configured peer', async () => {
    const result = await echoscu({ port, calledAeTitle: 'ARGUS' });
    assert.equal(result.code, 0, result.stderr);
  });

  it('rejects an unknown calling AE title', async () => {
    const result = await echoscu({ port, calledAeTitle: 'ARGUS', callingAeTitle: 'INTRUDER' });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /Rejected Permanent, Source: Service User/);
    assert.match(result.stderr, /Calling AE Title Not Recognized/);
  });

  it('rejects a wrong called AE title', async () => {
    const result = await echoscu({ port, calledAeTitle: 'NOT_ARGUS' });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /Called AE Title Not Recognized/);
  });

  it('stores a CT series byte for byte and records each instance once', async () => {
    const result = await storescu({ port, calledAeTitle: 'ARGUS', paths: [AXIAL_SERIES] });
    assert.equal(result.code, 0, result.stderr);

    const counts = await database.run((manager) =>
      queryRows<{ instances: number; series: number; study_count: number }>(
        manager,
        `SELECT (SELECT count(*)::int FROM instance) AS instances, (SELECT instance_count FROM series LIMIT 1) AS series,
                (SELECT instance_count FROM study LIMIT 1) AS study_count`,
      ),
    );
    assert.deepEqual(counts[0], { instances: 28, series: 28, study_count: 28 });

    const rows = await database.run((manager) => queryRows<{ file_path: string; sop_instance_uid: string }>(manager, 'SELECT file_path, sop_instance_uid FROM instance'));
    const originals = await readdir(AXIAL_SERIES);
    const originalBySize = new Map<string, Buffer>();
    for (const name of originals) {
      const bytes = datasetBytes(await readFile(path.join(AXIAL_SERIES, name)));
      originalBySize.set(bytes.toString('base64', 0, 0) + bytes.length + bytes.subarray(-64).toString('hex'), bytes);
    }
    for (const row of rows) {
      const stored = datasetBytes(await readFile(store.absolutePath(row.file_path)));
      const key = stored.length + stored.subarray(-64).toString('hex');
      const original = originalBySize.get(key);
      assert.ok(original, `no sent file matches the stored dataset of ${row.sop_instance_uid}`);
      assert.ok(stored.equals(original), `stored dataset of ${row.sop_instance_uid} differs from the sent one`);
    }
    assert.deepEqual(await readdir(path.join(workDirectory, 'instances', '.spool')), []);
  });

  it('creates no second row for a SOP Instance UID sent twice', async () => {
    const result = await storescu({ port, calledAeTitle: 'ARGUS', paths: [path.join(AXIAL_SERIES, 'I10'), path.join(AXIAL_SERIES, 'I20')] });
    assert.equal(result.code, 0, result.stderr);
    const rows = await database.run((manager) => queryRows<{ count: number }>(manager, 'SELECT count(*)::int AS count FROM instance'));
    assert.equal(rows[0]!.count, 28);
    assert.deepEqual(await readdir(path.join(workDirectory, 'instances', '.spool')), []);
  });

  it('rejects Secondary Capture at negotiation', async () => {
    const result = await storescu({ port, calledAeTitle: 'ARGUS', paths: [path.join(PHILIPS_STUDY, 'S4010'), path.join(PHILIPS_STUDY, 'S1000')] });
    assert.match(result.stderr, /No presentation context for: \(SC\)/);
    const rows = await database.run((manager) => queryRows<{ count: number }>(manager, `SELECT count(*)::int AS count FROM instance WHERE sop_class_uid = '1.2.840.10008.5.1.4.1.1.7'`));
    assert.equal(rows[0]!.count, 0);
    const localizer = await database.run((manager) => queryRows<{ count: number }>(manager, 'SELECT count(*)::int AS count FROM instance'));
    assert.equal(localizer[0]!.count, 29);
  });

  it('audits accepted and rejected associations', async () => {
    const rows = await database.run((manager) =>
      queryRows<{ action: string; count: number }>(manager, 'SELECT action, count(*)::int AS count FROM audit_event GROUP BY action ORDER BY action'),
    );
    const byAction = Object.fromEntries(rows.map((row) => [row.action, row.count]));
    assert.ok((byAction.dicom_association_accepted ?? 0) >= 4);
    assert.equal(byAction.dicom_association_rejected, 2);
    assert.ok((byAction.dicom_instances_transferred ?? 0) >= 1);
  });
});
