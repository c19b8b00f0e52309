/**
 * Every CT file of the cornerstone and NEMA WG04 samples goes over C-STORE in its own transfer syntax
 * (storescu proposes only the file's syntax) and is stored with its dataset byte-identical to what
 * storescu sent. The two in retired JPEG processes that the listener does not accept are rejected at
 * negotiation. storescu re-encodes what it reads (it recomputes group lengths, and deflates again at its
 * own level), so the sent bytes are captured first by DCMTK storescp in bit-preserving mode. Ten of the
 * cornerstone files carry one SOPInstanceUID in different encodings, so the same run exercises the
 * duplicate policies: with `replace` every file ends up stored as sent, with `keep_first` the first copy
 * stays and each differing copy is audited.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';

import { Database } from '../../src/db/database.ts';
import { queryRows } from '../../src/db/sql.ts';
import { datasetEncoding, SUPPORTED_TRANSFER_SYNTAX_UIDS } from '../../src/dicom/conformance.ts';
import { DicomListener } from '../../src/dicom/dicom-listener.ts';
import { IngestSink, type DuplicatePolicy } from '../../src/ingest/ingest-sink.ts';
import { InstanceStore } from '../../src/ingest/instance-store.ts';
import { DCMTK_ENV, freePort, runTool, waitForPort } from '../helpers/dcmtk.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { sharedData } from '../helpers/shared-data.ts';
import { splitPart10 } from './scan-file.ts';

const CT_SOP_CLASSES = new Set(['1.2.840.10008.5.1.4.1.1.2', '1.2.840.10008.5.1.4.1.1.2.1']);

interface SampleFile {
  path: string;
  sopClassUid: string;
  transferSyntaxUid: string;
  sopInstanceUid: string;
  dataset: Buffer;
}

async function ctSamples(): Promise<SampleFile[]> {
  const samples: SampleFile[] = [];
  for (const folder of ['cornerstone_wado_testimages', 'wg04_compression_samples']) {
    for (const name of (await readdir(sharedData(folder))).sort()) {
      if (!name.endsWith('.dcm')) continue;
      const file = sharedData(folder, name);
      const bytes = await readFile(file);
      const meta = metaValues(bytes);
      if (!CT_SOP_CLASSES.has(meta.sopClassUid)) continue;
      samples.push({ path: file, sopClassUid: meta.sopClassUid, transferSyntaxUid: meta.transferSyntaxUid, sopInstanceUid: meta.sopInstanceUid, dataset: Buffer.alloc(0) });
    }
  }
  return samples;
}

describe('transfer syntaxes', () => {
  let workDirectory: string;
  let samples: SampleFile[];
  const running: { listener: DicomListener; database: Database; testDatabase: TestDatabase }[] = [];

  before(async () => {
    workDirectory = await mkdtemp(path.join(os.tmpdir(), 'argus-ts-'));
    samples = await ctSamples();
    await captureSentDatasets();
  });

  /**
   * Sends each accepted sample to storescp and keeps what arrived. +B writes the received bytes as they
   * are; a configuration profile accepts every syntax the listener does (storescp's +xa lacks JPEG
   * Process 14).
   */
  async function captureSentDatasets(): Promise<void> {
    const port = await freePort();
    const captureFolder = path.join(workDirectory, 'storescp');
    await mkdir(captureFolder);
    const configFile = path.join(workDirectory, 'storescp.cfg');
    await writeFile(
      configFile,
      [
        '[[TransferSyntaxes]]',
        '[AllSyntaxes]',
        ...SUPPORTED_TRANSFER_SYNTAX_UIDS.map((uid, index) => `TransferSyntax${index + 1} = ${uid}`),
        '[[PresentationContexts]]',
        '[CtContexts]',
        ...[...CT_SOP_CLASSES].map((uid, index) => `PresentationContext${index + 1} = ${uid}\\AllSyntaxes`),
        '[[Profiles]]',
        '[CtProfile]',
        'PresentationContexts = CtContexts',
        '',
      ].join('\n'),
    );
    const storescp = spawn('storescp', ['--aetitle', 'ARGUS', '+B', '-xf', configFile, 'CtProfile', '-od', captureFolder, String(port)], { env: DCMTK_ENV, stdio: 'ignore' });
    try {
      await waitForPort(port);
      for (const sample of samples) {
        if (!datasetEncoding(sample.transferSyntaxUid)) continue;
        const result = await send(port, sample);
        assert.equal(result.code, 0, `storescp did not take ${path.basename(sample.path)}: ${result.stderr}`);
        const [received] = await readdir(captureFolder);
        const capturePath = path.join(captureFolder, received!);
        sample.dataset = splitPart10(await readFile(capturePath)).dataset;
        await rm(capturePath);
      }
    } finally {
      storescp.kill('SIGTERM');
    }
  }

  after(async () => {
    for (const { listener, database, testDatabase } of running) {
      await listener.stop();
      await database.close();
      await testDatabase.drop();
    }
    await rm(workDirectory, { recursive: true, force: true });
  });

  async function start(policy: DuplicatePolicy): Promise<{ port: number; store: InstanceStore; database: Database }> {
    // Each policy gets its own database.
    const testDatabase = await createTestDatabase(`argus_ts_${policy}`);
    const database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    await database.migrate();
    const folder = path.join(workDirectory, policy);
    const store = new InstanceStore(folder, path.join(folder, '.spool'));
    await store.prepare();
    const listener = new DicomListener(
      { host: '127.0.0.1', port: 0, aeTitle: 'ARGUS', peers: [{ aeTitle: 'STORESCU', host: '127.0.0.1' }], idleTimeoutSeconds: 30 },
      new IngestSink(database, store, { duplicatePolicy: policy }),
    );
    running.push({ listener, database, testDatabase });
    return { port: await listener.start(), store, database };
  }

  /**
   * Sends one file, proposing only its SOP class in its own transfer syntax: storescu's own options
   * always add uncompressed syntaxes and would decompress the file, so a storescu configuration
   * profile names the one presentation context.
   */
  async function send(port: number, sample: SampleFile) {
    const configFile = path.join(workDirectory, 'storescu.cfg');
    await writeFile(
      configFile,
      [
        '[[TransferSyntaxes]]',
        '[FileSyntax]',
        `TransferSyntax1 = ${sample.transferSyntaxUid}`,
        '[[PresentationContexts]]',
        '[FileContext]',
        `PresentationContext1 = ${sample.sopClassUid}\\FileSyntax`,
        '[[Profiles]]',
        '[FileProfile]',
        'PresentationContexts = FileContext',
        '',
      ].join('\n'),
    );
    return runTool('storescu', ['-aet', 'STORESCU', '-aec', 'ARGUS', '-xf', configFile, 'FileProfile', '127.0.0.1', String(port), sample.path]);
  }

  async function storedDataset(database: Database, store: InstanceStore, sopInstanceUid: string): Promise<Buffer | undefined> {
    const rows = await database.run((manager) => queryRows<{ file_path: string }>(manager, 'SELECT file_path FROM instance WHERE sop_instance_uid = $1', [sopInstanceUid]));
    if (!rows[0]) return undefined;
    return splitPart10(await readFile(store.absolutePath(rows[0].file_path))).dataset;
  }

  it('stores every CT sample as sent (replace policy)', async () => {
    const { port, store, database } = await start('replace');
    const previous = new Map<string, Buffer>();
    let expectedReplacements = 0;
    let accepted = 0;

    for (const sample of samples) {
      const result = await send(port, sample);
      if (!datasetEncoding(sample.transferSyntaxUid)) {
        assert.match(result.stderr, /No Acceptable Presentation Contexts|No presentation context/i, `${path.basename(sample.path)} should be rejected at negotiation`);
        continue;
      }
      assert.equal(result.code, 0, `${path.basename(sample.path)}: ${result.stderr}`);
      accepted += 1;
      const earlier = previous.get(sample.sopInstanceUid);
      if (earlier && !earlier.equals(sample.dataset)) expectedReplacements += 1;
      previous.set(sample.sopInstanceUid, sample.dataset);

      const stored = await storedDataset(database, store, sample.sopInstanceUid);
      assert.ok(stored, `${path.basename(sample.path)} was not stored`);
      assert.ok(stored.equals(sample.dataset), `${path.basename(sample.path)} is not stored byte-identical`);
    }

    assert.ok(accepted >= 25, `only ${accepted} files were accepted`);
    assert.ok(expectedReplacements >= 5, 'the samples should share SOPInstanceUIDs');
    const audited = await database.run((manager) => queryRows<{ count: number }>(manager, `SELECT count(*)::int AS count FROM audit_event WHERE action = 'dicom_instance_replaced'`));
    assert.equal(audited[0]!.count, expectedReplacements);
    const instances = await database.run((manager) => queryRows<{ count: number }>(manager, 'SELECT count(*)::int AS count FROM instance'));
    assert.equal(instances[0]!.count, previous.size);
    // Replaced copies leave no file behind: one file per stored instance.
    assert.equal((await listFiles(store.directory)).length, previous.size);
  });

  it('keeps the first copy and audits the others (keep_first policy)', async () => {
    const { port, store, database } = await start('keep_first');
    const first = new Map<string, Buffer>();
    let expectedConflicts = 0;

    for (const sample of samples) {
      if (!datasetEncoding(sample.transferSyntaxUid)) continue;
      const result = await send(port, sample);
      assert.equal(result.code, 0, `${path.basename(sample.path)}: ${result.stderr}`);
      const kept = first.get(sample.sopInstanceUid);
      if (!kept) first.set(sample.sopInstanceUid, sample.dataset);
      else if (!kept.equals(sample.dataset)) expectedConflicts += 1;
    }

    for (const [sopInstanceUid, dataset] of first) {
      const stored = await storedDataset(database, store, sopInstanceUid);
      assert.ok(stored?.equals(dataset), `the first copy of ${sopInstanceUid} is not the stored one`);
    }
    const audited = await database.run((manager) => queryRows<{ count: number }>(manager, `SELECT count(*)::int AS count FROM audit_event WHERE action = 'dicom_instance_conflict'`));
    assert.equal(audited[0]!.count, expectedConflicts);
    assert.equal((await listFiles(store.directory)).length, first.size);
  });
});

/** SOP Class, SOP Instance and Transfer Syntax UIDs from the file meta (group 0002, Explicit VR LE). */
function metaValues(bytes: Buffer): { sopClassUid: string; sopInstanceUid: string; transferSyntaxUid: string } {
  const end = 144 + bytes.readUInt32LE(140);
  const values = new Map<number, string>();
  for (let offset = 144; offset < end; ) {
    const element = bytes.readUInt16LE(offset + 2);
    const vr = bytes.toString('ascii', offset + 4, offset + 6);
    const long = vr === 'OB' || vr === 'UN';
    const length = long ? bytes.readUInt32LE(offset + 8) : bytes.readUInt16LE(offset + 6);
    const start = offset + (long ? 12 : 8);
    values.set(element, bytes.toString('ascii', start, start + length).replace(/[\0 ]+$/, ''));
    offset = start + length;
  }
  return { sopClassUid: values.get(0x0002) ?? '', sopInstanceUid: values.get(0x0003) ?? '', transferSyntaxUid: values.get(0x0010) ?? '' };
}

async function listFiles(directory: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(directory, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.dcm')) files.push(entry.name);
  }
  return files;
}
