/**
 * On the embedded database the C-STORE response waits for Database.flushCommits(), which makes the
 * instance row survive a power loss. A flush that fails gets Out of Resources and keeps the committed row
 * and its file, so that a resend of the instance gets Success without a second row.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Database } from '../../src/db/database.ts';
import { queryRows } from '../../src/db/sql.ts';
import { DicomListener } from '../../src/dicom/dicom-listener.ts';
import { IngestSink } from '../../src/ingest/ingest-sink.ts';
import { InstanceStore } from '../../src/ingest/instance-store.ts';
import { waitFor } from '../helpers/service-process.ts';
import { sharedData } from '../helpers/shared-data.ts';
import { RawScu } from '../dicom/raw-scu.ts';
import { splitPart10 } from '../dicom/scan-file.ts';
import { buildSyntheticStudy, type SyntheticStudy } from './synthetic-study.ts';

const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';

describe('commit flush before C-STORE Success (PGlite)', () => {
  let workDirectory: string;
  let database: Database;
  let store: InstanceStore;
  let listener: DicomListener;
  let port: number;
  let study: SyntheticStudy;
  let flushCommits: () => Promise<void>;

  before(async () => {
    workDirectory = await mkdtemp(path.join(os.tmpdir(), 'argus-commit-flush-'));
    database = await Database.open({ kind: 'pglite', directory: path.join(workDirectory, 'pglite') });
    await database.migrate();
    flushCommits = database.flushCommits.bind(database);
    study = await buildSyntheticStudy({
      sourceFile: sharedData('dcm_qa_ct/Philips_Ingenuity_study_S21570/S2010/I10'),
      directory: path.join(workDirectory, 'study'),
      instanceCount: 2,
    });
    store = new InstanceStore(path.join(workDirectory, 'store'), path.join(workDirectory, 'store', '.spool'));
    await store.prepare();
    listener = new DicomListener(
      { host: '127.0.0.1', port: 0, aeTitle: 'ARGUS', peers: [{ aeTitle: 'RAWSCU', host: '127.0.0.1' }], idleTimeoutSeconds: 30 },
      new IngestSink(database, store),
    );
    port = await listener.start();
  });

  after(async () => {
    await listener.stop();
    store.close();
    await database.close();
    await rm(workDirectory, { recursive: true, force: true });
  });

  async function associate(file: string): Promise<{ scu: RawScu; dataset: Buffer }> {
    const part10 = splitPart10(await readFile(file));
    const scu = await RawScu.connect(port);
    const accepted = await scu.associate({ calledAeTitle: 'ARGUS', callingAeTitle: 'RAWSCU', abstractSyntaxes: [CT_IMAGE_STORAGE], transferSyntax: part10.transferSyntaxUid });
    assert.equal(accepted.type, 0x02);
    return { scu, dataset: part10.dataset };
  }

  async function rowsOf(sopInstanceUid: string): Promise<{ file_path: string }[]> {
    return database.run((manager) => queryRows<{ file_path: string }>(manager, 'SELECT file_path FROM instance WHERE sop_instance_uid = $1', [sopInstanceUid]));
  }

  it('sends Success only after the flush', async () => {
    const file = study.files[0]!;
    let release!: () => void;
    let flushCalls = 0;
    database.flushCommits = async () => {
      flushCalls += 1;
      await new Promise<void>((resolve) => (release = resolve));
      await flushCommits();
    };
    try {
      const { scu, dataset } = await associate(file.path);
      scu.sendStore({ sopClassUid: CT_IMAGE_STORAGE, sopInstanceUid: file.sopInstanceUid, messageId: 1 }, dataset);
      let status: number | undefined;
      const answered = scu.storeStatus().then((value) => (status = value));

      await waitFor('the flush to start', async () => (flushCalls > 0 ? true : undefined), 10_000, 10);
      // The row is committed, but the response must not leave before the flush is done.
      assert.equal((await rowsOf(file.sopInstanceUid)).length, 1);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(status, undefined, 'C-STORE-RSP was sent before the flush finished');

      release();
      await answered;
      assert.equal(status, 0x0000);
      assert.equal(flushCalls, 1);
      await scu.release();
    } finally {
      database.flushCommits = flushCommits;
    }
  });

  it('answers Out of Resources when the flush fails', async () => {
    const file = study.files[1]!;
    database.flushCommits = async () => {
      throw Object.assign(new Error('simulated EIO from fdatasync'), { code: 'EIO' });
    };
    let firstPath: string;
    try {
      const { scu, dataset } = await associate(file.path);
      scu.sendStore({ sopClassUid: CT_IMAGE_STORAGE, sopInstanceUid: file.sopInstanceUid, messageId: 1 }, dataset);
      assert.equal(await scu.storeStatus(), 0xa700);
      await scu.release();

      // The commit went through before the flush failed: its row and file stay for the resend to match.
      const rows = await rowsOf(file.sopInstanceUid);
      assert.equal(rows.length, 1);
      firstPath = rows[0]!.file_path;
      assert.ok((await stat(store.absolutePath(firstPath))).size > 0);
    } finally {
      database.flushCommits = flushCommits;
    }

    const { scu, dataset } = await associate(file.path);
    scu.sendStore({ sopClassUid: CT_IMAGE_STORAGE, sopInstanceUid: file.sopInstanceUid, messageId: 2 }, dataset);
    assert.equal(await scu.storeStatus(), 0x0000);
    await scu.release();
    assert.deepEqual(await rowsOf(file.sopInstanceUid), [{ file_path: firstPath }]);
  });
});
