/**
 * Malformed input against the listener: a truncated dataset, a dataset that contradicts its C-STORE
 * command, and garbage inside P-DATA-TF. Each gets its failure status or an A-ABORT, nothing of it is
 * stored, and a storescu association running at the same time stores its whole series.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Database } from '../../src/db/database.ts';
import { queryRows } from '../../src/db/sql.ts';
import { DicomListener } from '../../src/dicom/dicom-listener.ts';
import { IngestSink } from '../../src/ingest/ingest-sink.ts';
import { InstanceStore } from '../../src/ingest/instance-store.ts';
import { storescu } from '../helpers/dcmtk.ts';
import { waitFor } from '../helpers/service-process.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { sharedData } from '../helpers/shared-data.ts';
import { RawScu } from './raw-scu.ts';
import { splitPart10 } from './scan-file.ts';

const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
const PHILIPS_AXIAL_SERIES = sharedData('dcm_qa_ct/Philips_Ingenuity_study_S21570/S2010');

describe('malformed input', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let listener: DicomListener;
  let port: number;
  let workDirectory: string;
  let store: InstanceStore;
  let ct: { dataset: Buffer; sopInstanceUid: string };

  before(async () => {
    testDatabase = await createTestDatabase('argus_malformed');
    database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    await database.migrate();
    workDirectory = await mkdtemp(path.join(os.tmpdir(), 'argus-malformed-'));
    store = new InstanceStore(path.join(workDirectory, 'instances'), path.join(workDirectory, 'instances', '.spool'));
    await store.prepare();
    listener = new DicomListener(
      { host: '127.0.0.1', port: 0, aeTitle: 'ARGUS', peers: [{ aeTitle: 'RAWSCU', host: '127.0.0.1' }, { aeTitle: 'STORESCU', host: '127.0.0.1' }], idleTimeoutSeconds: 30 },
      new IngestSink(database, store),
    );
    port = await listener.start();

    const part10 = splitPart10(await readFile(sharedData('wg04_compression_samples/CT1_UNC.dcm')));
    assert.equal(part10.transferSyntaxUid, EXPLICIT_VR_LITTLE_ENDIAN);
    ct = { dataset: part10.dataset, sopInstanceUid: sopInstanceUidOf(part10.dataset) };
  });

  after(async () => {
    await listener.stop();
    await database.close();
    await testDatabase.drop();
    await rm(workDirectory, { recursive: true, force: true });
  });

  async function associatedScu(): Promise<RawScu> {
    const scu = await RawScu.connect(port);
    const reply = await scu.associate({ calledAeTitle: 'ARGUS', callingAeTitle: 'RAWSCU', abstractSyntaxes: [CT_IMAGE_STORAGE], transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN });
    assert.equal(reply.type, 0x02, 'A-ASSOCIATE-AC expected');
    return scu;
  }

  async function instanceCount(): Promise<number> {
    const rows = await database.run((manager) => queryRows<{ count: number }>(manager, 'SELECT count(*)::int AS count FROM instance'));
    return rows[0]!.count;
  }

  it('answers malformed C-STOREs while storescu stores a series', async () => {
    const parallel = storescu({ port, calledAeTitle: 'ARGUS', paths: [PHILIPS_AXIAL_SERIES] });

    const scu = await associatedScu();
    // Truncated: the last 1000 bytes of Pixel Data never arrive, but the last fragment is flagged.
    scu.sendStore({ sopClassUid: CT_IMAGE_STORAGE, sopInstanceUid: ct.sopInstanceUid, messageId: 1 }, ct.dataset.subarray(0, ct.dataset.length - 1000));
    const truncated = await scu.storeResponse();
    assert.equal(truncated.status, 0xc000, 'truncated dataset: Cannot understand');
    assert.match(truncated.errorComment ?? '', /^the dataset cannot be parsed/);
    assert.ok(truncated.errorComment!.length <= 64);

    // A StudyInstanceUID with a letter in it: Invalid SOP Instance, with a comment that names the fault.
    scu.sendStore({ sopClassUid: CT_IMAGE_STORAGE, sopInstanceUid: ct.sopInstanceUid, messageId: 5 }, withLetterInStudyUid(ct.dataset));
    const invalidUid = await scu.storeResponse();
    assert.equal(invalidUid.status, 0x0117);
    assert.equal(invalidUid.errorComment, 'StudyInstanceUID has a character that is not a digit or a dot');

    // The command names another SOP instance than the dataset carries.
    scu.sendStore({ sopClassUid: CT_IMAGE_STORAGE, sopInstanceUid: '1.2.3.4.5.6.7', messageId: 2 }, ct.dataset);
    assert.equal(await scu.storeStatus(), 0xa900, 'SOP Instance UID mismatch: Data Set does not match SOP Class');

    // The dataset is an MR image sent as CT Image Storage.
    const mr = splitPart10(await readFile(sharedData('wg04_compression_samples/MR2_UNC.dcm')));
    scu.sendStore({ sopClassUid: CT_IMAGE_STORAGE, sopInstanceUid: sopInstanceUidOf(mr.dataset), messageId: 3 }, mr.dataset);
    assert.equal(await scu.storeStatus(), 0xa900, 'SOP Class UID mismatch: Data Set does not match SOP Class');

    // The association survives its failed C-STOREs: a correct one is stored.
    scu.sendStore({ sopClassUid: CT_IMAGE_STORAGE, sopInstanceUid: ct.sopInstanceUid, messageId: 4 }, ct.dataset);
    assert.equal(await scu.storeStatus(), 0x0000);
    const released = await scu.release();
    assert.equal(released.type, 0x06, 'A-RELEASE-RP expected');

    const result = await parallel;
    assert.equal(result.code, 0, result.stderr);
    const seriesFiles = await readdir(PHILIPS_AXIAL_SERIES);
    assert.equal(await instanceCount(), seriesFiles.length + 1);
  });

  it('aborts on a PDV longer than its P-DATA-TF', async () => {
    const scu = await associatedScu();
    const pdu = Buffer.alloc(6 + 6 + 10);
    pdu[0] = 0x04;
    pdu.writeUInt32BE(16, 2);
    pdu.writeUInt32BE(5000, 6);
    pdu[10] = 1;
    scu.sendRaw(pdu);
    const abort = await scu.nextPdu();
    assert.equal(abort.type, 0x07, 'A-ABORT expected');
    assert.equal(abort.body[2], 2, 'source: service provider');
    assert.equal(abort.body[3], 6, 'reason: invalid PDU parameter value');
    await scu.closedByPeer();
  });

  it('aborts on an unrecognized PDU type', async () => {
    const scu = await associatedScu();
    scu.sendRaw(Buffer.from([0x5a, 0x00, 0x00, 0x00, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef]));
    const abort = await scu.nextPdu();
    assert.equal(abort.type, 0x07);
    assert.equal(abort.body[3], 1, 'reason: unrecognized PDU');
    await scu.closedByPeer();
  });

  it('aborts on garbage inside a dataset PDV', async () => {
    const scu = await associatedScu();
    // A dataset fragment with no C-STORE command before it.
    scu.sendPDataTf(1, 0x02, Buffer.from('not a DICOM dataset at all'));
    const abort = await scu.nextPdu();
    assert.equal(abort.type, 0x07);
    assert.equal(abort.body[3], 5, 'reason: unexpected PDU parameter');
    await scu.closedByPeer();
  });

  it('keeps no partial file and logs every association', async () => {
    // The spool file opened ahead for the next C-STORE contains no data and is no leftover.
    const spoolFiles = (await readdir(store.spoolDirectory)).map((name) => path.join(store.spoolDirectory, name));
    assert.deepEqual(spoolFiles.filter((file) => file !== store.spareSpoolPath), []);
    // Log rows are written after the fact (the start just after acceptance, the end after the connection
    // closed), so wait for all four raw associations to be logged as ended.
    const rows = await waitFor('every association ended', async () => {
      const logged = await database.run((manager) =>
        queryRows<{ calling_ae_title: string; result: string; instances_stored: number; instances_failed: number }>(
          manager,
          `SELECT calling_ae_title, result, instances_stored, instances_failed FROM association_log ORDER BY started_at`,
        ),
      );
      const ended = logged.filter((row) => row.result !== 'in_progress');
      return ended.length === logged.length && logged.filter((row) => row.calling_ae_title === 'RAWSCU').length === 4 ? logged : undefined;
    }, 10_000, 100);
    const raw = rows.filter((row) => row.calling_ae_title === 'RAWSCU');
    assert.deepEqual(
      raw.map((row) => row.result),
      ['released', 'aborted', 'aborted', 'aborted'],
    );
    assert.equal(raw[0]!.instances_stored, 1);
    assert.equal(raw[0]!.instances_failed, 4);
    assert.equal(rows.find((row) => row.calling_ae_title === 'STORESCU')?.result, 'released');
  });
});

/** Reads SOPInstanceUID (0008,0018) from an Explicit VR Little Endian dataset. */
function sopInstanceUidOf(dataset: Buffer): string {
  const tag = Buffer.from([0x08, 0x00, 0x18, 0x00]);
  const offset = dataset.indexOf(tag);
  const length = dataset.readUInt16LE(offset + 6);
  return dataset.toString('ascii', offset + 8, offset + 8 + length).replace(/\0+$/, '');
}

/** Returns a copy of an Explicit VR Little Endian dataset whose StudyInstanceUID has an 'A' for its last digit. */
function withLetterInStudyUid(dataset: Buffer): Buffer {
  const copy = Buffer.from(dataset);
  const offset = copy.indexOf(Buffer.from([0x20, 0x00, 0x0d, 0x00, 0x55, 0x49]));
  assert.ok(offset >= 0, 'no StudyInstanceUID element');
  const length = copy.readUInt16LE(offset + 6);
  const value = copy.toString('latin1', offset + 8, offset + 8 + length);
  const lastDigit = value.search(/[0-9][^0-9]*$/);
  copy.write('A', offset + 8 + lastDigit, 'latin1');
  return copy;
}
