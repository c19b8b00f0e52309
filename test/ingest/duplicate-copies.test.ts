/**
 * Copies of a SOPInstanceUID that is already stored, sent by DCMTK storescu to the listener with the
 * keep_first policy, on PostgreSQL and on PGlite. The listener hashes no file on arrival: a first copy
 * is stored without its SHA-256, and the hashes are computed from the files when a second copy arrives.
 * A stored file that a crash cut short (simulated by truncating or removing it) is replaced by the next
 * copy.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readdir, readFile, rm, truncate } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { Database, type DatabaseTarget } from '../../src/db/database.ts';
import { queryRows } from '../../src/db/sql.ts';
import { DicomListener } from '../../src/dicom/dicom-listener.ts';
import { IngestSink } from '../../src/ingest/ingest-sink.ts';
import { InstanceStore } from '../../src/ingest/instance-store.ts';
import { storescu } from '../helpers/dcmtk.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { sharedData } from '../helpers/shared-data.ts';
import { buildSyntheticStudy, type SyntheticStudy } from './synthetic-study.ts';

const run = promisify(execFile);

const SOURCE_SLICE = sharedData('dcm_qa_ct/Philips_Ingenuity_study_S21570/S2010/I10');

interface InstanceRow {
  file_path: string;
  size_bytes: string;
  sha256: string | null;
}

for (const kind of ['postgres', 'pglite'] as const) describeDuplicateCopies(kind);

function describeDuplicateCopies(kind: DatabaseTarget['kind']): void {
  describe(`duplicate copies (${kind})`, () => {
    let testDatabase: TestDatabase | undefined;
    let database: Database;
    let workDirectory: string;
    let store: InstanceStore;
    let listener: DicomListener;
    let port: number;
    let study: SyntheticStudy;
    /** The first file of the study with another ImageComments: same UIDs, other content. */
    let changedCopy: string;

    before(async () => {
      workDirectory = await mkdtemp(path.join(os.tmpdir(), 'argus-duplicates-'));
      if (kind === 'postgres') {
        testDatabase = await createTestDatabase('argus_duplicates');
        database = await Database.open({ kind, url: testDatabase.url });
      } else {
        database = await Database.open({ kind, directory: path.join(workDirectory, 'pglite') });
      }
      await database.migrate();

      study = await buildSyntheticStudy({ sourceFile: SOURCE_SLICE, directory: path.join(workDirectory, 'study'), instanceCount: 3 });
      changedCopy = path.join(workDirectory, 'changed.dcm');
      await copyFile(study.files[0]!.path, changedCopy);
      await run('dcmodify', ['-nb', '-i', '(0020,4000)=second copy', changedCopy]);

      store = new InstanceStore(path.join(workDirectory, 'store'), path.join(workDirectory, 'store', '.spool'));
      await store.prepare();
      listener = new DicomListener(
        { host: '127.0.0.1', port: 0, aeTitle: 'ARGUS', peers: [{ aeTitle: 'STORESCU', host: '127.0.0.1' }], idleTimeoutSeconds: 30 },
        new IngestSink(database, store, { duplicatePolicy: 'keep_first' }),
      );
      port = await listener.start();
    });

    after(async () => {
      await listener.stop();
      store.close();
      await database.close();
      await testDatabase?.drop();
      await rm(workDirectory, { recursive: true, force: true });
    });

    async function send(file: string): Promise<void> {
      const result = await storescu({ port, calledAeTitle: 'ARGUS', paths: [file] });
      assert.equal(result.code, 0, result.stderr);
    }

    async function rowsOf(sopInstanceUid: string): Promise<InstanceRow[]> {
      return database.run((manager) =>
        queryRows<InstanceRow>(manager, 'SELECT file_path, size_bytes, sha256 FROM instance WHERE sop_instance_uid = $1', [sopInstanceUid]),
      );
    }

    async function auditReasons(action: string): Promise<string[]> {
      const rows = await database.run((manager) =>
        queryRows<{ details: { reason: string } }>(manager, 'SELECT details FROM audit_event WHERE action = $1 ORDER BY occurred_at', [action]),
      );
      return rows.map((row) => row.details.reason);
    }

    /** Names of the files of an instance in its series folder. */
    async function filesOf(sopInstanceUid: string): Promise<string[]> {
      const folder = path.join(store.directory, study.studyInstanceUid, study.seriesInstanceUid);
      return (await readdir(folder)).filter((name) => name.startsWith(`${sopInstanceUid}-`));
    }

    async function sha256Of(relativePath: string): Promise<string> {
      return createHash('sha256').update(await readFile(store.absolutePath(relativePath))).digest('hex');
    }

    it('stores a first copy without its hash', async () => {
      const { sopInstanceUid } = study.files[0]!;
      await send(study.files[0]!.path);

      const rows = await rowsOf(sopInstanceUid);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.sha256, null);
      const stored = await readFile(store.absolutePath(rows[0]!.file_path));
      assert.equal(stored.length, Number(rows[0]!.size_bytes));
      assert.deepEqual(await filesOf(sopInstanceUid), [path.basename(rows[0]!.file_path)]);
    });

    it('records the hash when an identical copy arrives', async () => {
      const { sopInstanceUid } = study.files[0]!;
      const [first] = await rowsOf(sopInstanceUid);
      await send(study.files[0]!.path);

      const rows = await rowsOf(sopInstanceUid);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.file_path, first!.file_path);
      assert.equal(rows[0]!.sha256, await sha256Of(first!.file_path));
      assert.deepEqual(await filesOf(sopInstanceUid), [path.basename(first!.file_path)]);
      assert.deepEqual(await auditReasons('dicom_instance_conflict'), []);
      const spoolFiles = (await readdir(store.spoolDirectory)).map((name) => path.join(store.spoolDirectory, name));
      assert.deepEqual(spoolFiles.filter((file) => file !== store.spareSpoolPath), []);
    });

    it('keeps the first copy of other content', async () => {
      const { sopInstanceUid } = study.files[0]!;
      const [first] = await rowsOf(sopInstanceUid);
      const firstBytes = await readFile(store.absolutePath(first!.file_path));
      await send(changedCopy);

      const rows = await rowsOf(sopInstanceUid);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.file_path, first!.file_path);
      assert.ok((await readFile(store.absolutePath(first!.file_path))).equals(firstBytes), 'the first copy changed');
      assert.deepEqual(await filesOf(sopInstanceUid), [path.basename(first!.file_path)]);
      assert.deepEqual(await auditReasons('dicom_instance_conflict'), ['policy']);
    });

    it('replaces a stored copy cut short', async () => {
      const { sopInstanceUid, path: file } = study.files[1]!;
      await send(file);
      const [first] = await rowsOf(sopInstanceUid);
      const complete = await readFile(store.absolutePath(first!.file_path));
      await truncate(store.absolutePath(first!.file_path), 1000);

      await send(file);

      const rows = await rowsOf(sopInstanceUid);
      assert.equal(rows.length, 1);
      assert.notEqual(rows[0]!.file_path, first!.file_path);
      assert.ok((await readFile(store.absolutePath(rows[0]!.file_path))).equals(complete), 'the new copy differs from the sent file');
      assert.deepEqual(await filesOf(sopInstanceUid), [path.basename(rows[0]!.file_path)]);
      assert.deepEqual(await auditReasons('dicom_instance_replaced'), ['stored_copy_incomplete']);
    });

    it('replaces a stored copy whose file is missing', async () => {
      const { sopInstanceUid, path: file } = study.files[2]!;
      await send(file);
      const [first] = await rowsOf(sopInstanceUid);
      const complete = await readFile(store.absolutePath(first!.file_path));
      await rm(store.absolutePath(first!.file_path));

      await send(file);

      const rows = await rowsOf(sopInstanceUid);
      assert.equal(rows.length, 1);
      assert.ok((await readFile(store.absolutePath(rows[0]!.file_path))).equals(complete), 'the new copy differs from the sent file');
      assert.deepEqual(await auditReasons('dicom_instance_replaced'), ['stored_copy_incomplete', 'stored_copy_incomplete']);
      const counts = await database.run((manager) => queryRows<{ count: number }>(manager, 'SELECT instance_count AS count FROM series'));
      assert.deepEqual(counts.map((row) => row.count), [3]);
    });
  });
}
