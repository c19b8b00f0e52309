/**
 * The Storage SCP with DCMTK as the sending PACS: association checks and their A-ASSOCIATE-RJ fields,
 * parallel associations, byte-identical storage, stored-only SOP classes, limits and the disk-use
 * watermark.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Database } from '../../src/db/database.ts';
import { queryRows } from '../../src/db/sql.ts';
import { DicomListener, type DicomListenerOptions } from '../../src/dicom/dicom-listener.ts';
import { DiskSpaceMonitor } from '../../src/ingest/disk-space.ts';
import { IngestSink } from '../../src/ingest/ingest-sink.ts';
import { InstanceStore } from '../../src/ingest/instance-store.ts';
import { echoscu, storescu } from '../helpers/dcmtk.ts';
import { waitFor } from '../helpers/service-process.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { sharedData } from '../helpers/shared-data.ts';
import { RawScu } from './raw-scu.ts';
import { splitPart10 } from './scan-file.ts';

const PHILIPS_STUDY = sharedData('dcm_qa_ct/Philips_Ingenuity_study_S21570');
/** Four CT series of three studies, sent at once over four associations. */
const PARALLEL_SERIES = [
  sharedData('dcm_qa_ct/Philips_Ingenuity_study_S21570/S2010'),
  sharedData('dcm_qa_ct/Philips_Ingenuity_study_S21610/S2010'),
  sharedData('dcm_qa_ct/Philips_Ingenuity_study_S21610/S3010'),
  sharedData('dcm_qa_ct/GE_HiSpeedDual_tilt_irregular'),
];
const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';

const PEERS = [
  { aeTitle: 'STORESCU', host: '127.0.0.1' },
  { aeTitle: 'RAWSCU', host: '127.0.0.1' },
  // Known AE title, but allowed only from another address than the tests connect from.
  { aeTitle: 'REMOTEPACS', host: '127.0.0.2' },
];

describe('Storage SCP', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let workDirectory: string;
  const listeners: DicomListener[] = [];

  before(async () => {
    testDatabase = await createTestDatabase('argus_scp');
    database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    await database.migrate();
    workDirectory = await mkdtemp(path.join(os.tmpdir(), 'argus-scp-'));
  });

  after(async () => {
    for (const listener of listeners) await listener.stop();
    await database.close();
    await testDatabase.drop();
    await rm(workDirectory, { recursive: true, force: true });
  });

  /** Starts a listener on its own instance store; returns its port and store. */
  async function startListener(options: Partial<DicomListenerOptions> = {}, diskSpace?: DiskSpaceMonitor): Promise<{ port: number; store: InstanceStore }> {
    const folder = await mkdtemp(path.join(workDirectory, 'store-'));
    const store = new InstanceStore(folder, path.join(folder, '.spool'));
    await store.prepare();
    const listener = new DicomListener({ host: '127.0.0.1', port: 0, aeTitle: 'ARGUS', peers: PEERS, idleTimeoutSeconds: 30, ...options }, new IngestSink(database, store, { diskSpace }));
    listeners.push(listener);
    return { port: await listener.start(), store };
  }

  async function count(sql: string): Promise<number> {
    const rows = await database.run((manager) => queryRows<{ count: number }>(manager, sql));
    return rows[0]!.count;
  }

  describe('association checks', () => {
    let port: number;
    before(async () => ({ port } = await startListener()));

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
      assert.match(result.stderr, /Rejected Permanent, Source: Service User/);
      assert.match(result.stderr, /Called AE Title Not Recognized/);
    });

    it('rejects a known AE title from a disallowed address', async () => {
      const result = await echoscu({ port, calledAeTitle: 'ARGUS', callingAeTitle: 'REMOTEPACS' });
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /Rejected Permanent, Source: Service User/);
      assert.match(result.stderr, /Calling AE Title Not Recognized/);
    });

    it('logs each rejection with its reason', async () => {
      const rows = await waitFor('three rejections logged', async () => {
        const logged = await database.run((manager) =>
          queryRows<{ calling_ae_title: string; rejection_reason: string }>(
            manager,
            `SELECT calling_ae_title, rejection_reason FROM association_log WHERE result = 'rejected' ORDER BY started_at`,
          ),
        );
        return logged.length >= 3 ? logged : undefined;
      }, 10_000, 100);
      assert.deepEqual(
        rows.map((row) => [row.calling_ae_title, row.rejection_reason]),
        [
          ['INTRUDER', 'calling_ae_not_recognized'],
          ['STORESCU', 'called_ae_not_recognized'],
          ['REMOTEPACS', 'calling_address_not_allowed'],
        ],
      );
      assert.equal(await count(`SELECT count(*)::int AS count FROM audit_event WHERE action = 'dicom_association_rejected'`), 3);
    });
  });

  describe('storage', () => {
    let port: number;
    let store: InstanceStore;
    before(async () => ({ port, store } = await startListener()));

    it('loses nothing over four parallel associations', async () => {
      const results = await Promise.all(PARALLEL_SERIES.map((folder) => storescu({ port, calledAeTitle: 'ARGUS', paths: [folder] })));
      for (const result of results) assert.equal(result.code, 0, result.stderr);

      let sent = 0;
      for (const folder of PARALLEL_SERIES) sent += (await readdir(folder)).length;
      assert.equal(await count('SELECT count(*)::int AS count FROM instance'), sent);
      assert.equal(await count('SELECT sum(instance_count)::int AS count FROM series'), sent);
      assert.equal(await count('SELECT sum(instance_count)::int AS count FROM study'), sent);
    });

    it('stores every dataset byte for byte', async () => {
      const rows = await database.run((manager) => queryRows<{ file_path: string; sop_instance_uid: string }>(manager, 'SELECT file_path, sop_instance_uid FROM instance'));
      const sentBySopInstanceUid = new Map<string, Buffer>();
      for (const folder of PARALLEL_SERIES) {
        for (const name of await readdir(folder)) {
          const { dataset } = splitPart10(await readFile(path.join(folder, name)));
          sentBySopInstanceUid.set(sopInstanceUidOf(await readFile(path.join(folder, name))), dataset);
        }
      }
      for (const row of rows) {
        const stored = splitPart10(await readFile(store.absolutePath(row.file_path))).dataset;
        const sent = sentBySopInstanceUid.get(row.sop_instance_uid);
        assert.ok(sent, `no sent file has SOPInstanceUID ${row.sop_instance_uid}`);
        assert.ok(stored.equals(sent), `stored dataset of ${row.sop_instance_uid} differs from the sent one`);
      }
      const spoolFiles = (await readdir(store.spoolDirectory)).map((name) => path.join(store.spoolDirectory, name));
      assert.deepEqual(spoolFiles.filter((file) => file !== store.spareSpoolPath), []);
    });

    it('creates no second row for a SOP Instance UID sent twice', async () => {
      const before = await count('SELECT count(*)::int AS count FROM instance');
      const series = PARALLEL_SERIES[0]!;
      const result = await storescu({ port, calledAeTitle: 'ARGUS', paths: [path.join(series, 'I10'), path.join(series, 'I20')] });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(await count('SELECT count(*)::int AS count FROM instance'), before);
      assert.equal(await count(`SELECT count(*)::int AS count FROM audit_event WHERE action = 'dicom_instance_conflict'`), 0);
    });

    it('stores Secondary Capture and SR without processing them', async () => {
      const result = await storescu({
        port,
        calledAeTitle: 'ARGUS',
        paths: [path.join(PHILIPS_STUDY, 'S4010'), sharedData('cornerstone_wado_testimages/no-pixel-data.dcm')],
      });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(await count(`SELECT count(*)::int AS count FROM instance WHERE sop_class_uid = '1.2.840.10008.5.1.4.1.1.7'`), 6);
      assert.equal(await count(`SELECT count(*)::int AS count FROM instance WHERE sop_class_uid = '1.2.840.10008.5.1.4.1.1.88.11'`), 1);
    });

    it('rejects an MR image at negotiation', async () => {
      const result = await storescu({ port, calledAeTitle: 'ARGUS', paths: [sharedData('wg04_compression_samples/MR2_UNC.dcm')] });
      assert.match(result.stderr, /No presentation context for: \(MR\)/);
      assert.equal(await count(`SELECT count(*)::int AS count FROM instance WHERE sop_class_uid = '1.2.840.10008.5.1.4.1.1.4'`), 0);
    });

    it('logs associations with counts and bytes', async () => {
      const rows = await waitFor('stored associations logged', async () => {
        const logged = await database.run((manager) =>
          queryRows<{ result: string; instances_stored: number; bytes_received: string; ended_at: Date | null }>(
            manager,
            `SELECT result, instances_stored, bytes_received, ended_at FROM association_log WHERE instances_stored > 0`,
          ),
        );
        return logged.length >= 5 ? logged : undefined;
      }, 10_000, 100);
      for (const row of rows) {
        assert.equal(row.result, 'released');
        assert.ok(Number(row.bytes_received) > row.instances_stored * 1000);
        assert.ok(row.ended_at);
      }
    });
  });

  describe('limits', () => {
    it('rejects an association above the limit as transient', async () => {
      const { port } = await startListener({ maxAssociations: 1 });
      const holder = await RawScu.connect(port);
      const accepted = await holder.associate({ calledAeTitle: 'ARGUS', callingAeTitle: 'RAWSCU', abstractSyntaxes: [CT_IMAGE_STORAGE] });
      assert.equal(accepted.type, 0x02);

      const refused = await echoscu({ port, calledAeTitle: 'ARGUS' });
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /Rejected Transient, Source: Service Provider \(Presentation Related\)/);
      assert.match(refused.stderr, /Local Limit Exceeded/);

      await holder.release();
      await waitFor('the slot to be free again', async () => ((await echoscu({ port, calledAeTitle: 'ARGUS' })).code === 0 ? true : undefined), 10_000, 200);
    });

    it('refuses instances above the disk-use watermark', async () => {
      let usedBlocks = 10;
      const diskSpace = new DiskSpaceMonitor('/', { maxUsedPercent: 90, minFreeBytes: 0 }, async () => ({ bsize: 4096, blocks: 100, bfree: 100 - usedBlocks, bavail: 100 - usedBlocks }));
      await diskSpace.start();
      try {
        const { port } = await startListener({}, diskSpace);
        const part10 = splitPart10(await readFile(sharedData('wg04_compression_samples/CT2_UNC.dcm')));
        const sopInstanceUid = sopInstanceUidOf(await readFile(sharedData('wg04_compression_samples/CT2_UNC.dcm')));

        // An association that is already open gets Out of Resources once the disk fills up.
        const scu = await RawScu.connect(port);
        assert.equal((await scu.associate({ calledAeTitle: 'ARGUS', callingAeTitle: 'RAWSCU', abstractSyntaxes: [CT_IMAGE_STORAGE], transferSyntax: part10.transferSyntaxUid })).type, 0x02);
        usedBlocks = 95;
        await diskSpace.check();
        scu.sendStore({ sopClassUid: CT_IMAGE_STORAGE, sopInstanceUid, messageId: 1 }, part10.dataset);
        assert.equal(await scu.storeStatus(), 0xa700);

        // New associations are rejected as transient (temporary congestion).
        const refused = await echoscu({ port, calledAeTitle: 'ARGUS' });
        assert.match(refused.stderr, /Rejected Transient, Source: Service Provider \(Presentation Related\)/);
        assert.match(refused.stderr, /Temporary Congestion/);

        // Below the watermark again, the same C-STORE succeeds.
        usedBlocks = 50;
        await diskSpace.check();
        scu.sendStore({ sopClassUid: CT_IMAGE_STORAGE, sopInstanceUid, messageId: 2 }, part10.dataset);
        assert.equal(await scu.storeStatus(), 0x0000);
        await scu.release();
        assert.equal(await count(`SELECT count(*)::int AS count FROM instance WHERE sop_instance_uid = '${sopInstanceUid}'`), 1);
      } finally {
        diskSpace.stop();
      }
    });
  });
});

/** Reads SOPInstanceUID (0008,0018) from an Explicit VR Little Endian Part 10 file. */
function sopInstanceUidOf(file: Buffer): string {
  const { dataset } = splitPart10(file);
  const offset = dataset.indexOf(Buffer.from([0x08, 0x00, 0x18, 0x00, 0x55, 0x49]));
  const length = dataset.readUInt16LE(offset + 6);
  return dataset.toString('ascii', offset + 8, offset + 8 + length).replace(/\0+$/, '');
}
