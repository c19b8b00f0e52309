import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { buildBasicTextSr } from '../../../src/delivery/sr/basic-text-sr.ts';
import {
  AssociationRejectedError,
  CStoreError,
  CStoreTimeoutError,
  ConnectionFailedError,
  StoreFailedError,
} from '../../../src/delivery/sr/c-store-errors.ts';
import { sendCStore } from '../../../src/delivery/sr/c-store-scu.ts';
import { dumpDataset, findFreePort, runTool, startScp, type RunningPeer } from './peers.ts';

const SCP_AE_TITLE = 'TEST_PACS';
const CALLING_AE_TITLE = 'ARGUS_GW';

/** Generous for loopback; the timeout test uses its own shorter limit. */
const TIMEOUT_MS = 10_000;

const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';

function buildSampleSr(): ReturnType<typeof buildBasicTextSr> {
  return buildBasicTextSr({
    study: {
      studyInstanceUid: '1.2.826.0.1.3680043.8.498.2001',
      patientName: 'Łukasiewicz^Zoë',
      patientId: 'PID-2001',
      studyDate: '20240507',
    },
    evidence: {
      seriesInstanceUid: '1.2.826.0.1.3680043.8.498.2001.2',
      instances: [{ sopClassUid: CT_IMAGE_STORAGE, sopInstanceUid: '1.2.826.0.1.3680043.8.498.2001.2.1' }],
    },
    report: { findings: 'Right kidney cyst, 2 cm (é, ł, 中).\n\nNo free fluid.', impression: 'Simple renal cyst.' },
    model: { name: 'Argus CT demo', version: '0.3.1', deviceUid: '2.25.1234567890123', manufacturer: 'argus-gateway' },
    createdAt: new Date('2024-05-07T08:00:00.000Z'),
  });
}

/**
 * Returns the bytes after the file meta of a Part 10 file: 128-byte preamble, "DICM", then
 * (0002,0000) UL whose 4-byte value is the length of the rest of group 0002 (PS3.10 7.1).
 */
function datasetBytes(part10: Buffer): Buffer {
  const groupLengthElementEnd = 128 + 4 + 12;
  return part10.subarray(groupLengthElementEnd + part10.readUInt32LE(groupLengthElementEnd - 4));
}

async function rejectionOf(promise: Promise<unknown>): Promise<CStoreError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof CStoreError, `expected a CStoreError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the C-STORE to fail');
}

describe('C-STORE SCU', () => {
  let directory: string;
  const peers: RunningPeer[] = [];

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'argus-c-store-'));
  });
  after(async () => {
    await Promise.all(peers.map((peer) => peer.stop()));
    await rm(directory, { recursive: true, force: true });
  });

  /** Starts storescp with `extraArgs`, writing received files to a fresh folder. */
  async function startStorescp(name: string, extraArgs: string[] = []): Promise<{ peer: RunningPeer; outputDirectory: string }> {
    const outputDirectory = join(directory, name);
    await mkdir(outputDirectory);
    const port = await findFreePort();
    // --bit-preserving writes the dataset exactly as it arrived, so the file shows what was sent.
    const peer = await startScp(
      'storescp',
      ['--aetitle', SCP_AE_TITLE, '--bit-preserving', '-od', outputDirectory, ...extraArgs, String(port)],
      port,
    );
    peers.push(peer);
    return { peer, outputDirectory };
  }

  /** Returns the path of the one file storescp wrote into `outputDirectory`. */
  async function receivedFile(outputDirectory: string): Promise<string> {
    const received = await readdir(outputDirectory);
    assert.equal(received.length, 1, `expected one received file, got ${received.join(', ')}`);
    return join(outputDirectory, received[0]!);
  }

  /** Compares the dcmdump output of the dataset that was sent and the one that was received. */
  async function assertSameDump(receivedPath: string, sr: ReturnType<typeof buildBasicTextSr>): Promise<void> {
    const sentPath = join(directory, `${sr.sopInstanceUid}.sent.dcm`);
    await writeFile(sentPath, sr.part10);

    const sentDump = await dumpDataset(sentPath);
    const receivedDump = await dumpDataset(receivedPath);
    assert.deepEqual(receivedDump, sentDump);
    assert.ok(receivedDump.some((line) => line.includes('UT [Right kidney cyst, 2 cm (é, ł, 中).]')));
  }

  it('stores the SR unchanged in storescp', async () => {
    const { peer, outputDirectory } = await startStorescp('explicit');
    const sr = buildSampleSr();

    const result = await sendCStore(
      { aeTitle: SCP_AE_TITLE, host: '127.0.0.1', port: peer.port },
      CALLING_AE_TITLE,
      sr.part10,
      { timeoutMs: TIMEOUT_MS },
    );

    assert.equal(result.status, 0x0000);
    const receivedPath = await receivedFile(outputDirectory);
    await assertSameDump(receivedPath, sr);
    assert.ok(datasetBytes(await readFile(receivedPath)).equals(datasetBytes(sr.part10)), 'dataset bytes differ');
  });

  it('stores the SR unchanged over Implicit VR Little Endian', async () => {
    // Only Implicit VR LE is accepted, so dcmjs-dimse re-encodes the dataset on the way.
    const configPath = join(directory, 'implicit-only.cfg');
    await writeFile(
      configPath,
      [
        '[[TransferSyntaxes]]',
        '[ImplicitOnly]',
        'TransferSyntax1 = LittleEndianImplicit',
        '[[PresentationContexts]]',
        '[BasicTextSr]',
        'PresentationContext1 = BasicTextSRStorage\\ImplicitOnly',
        '[[Profiles]]',
        '[BasicTextSr]',
        'PresentationContexts = BasicTextSr',
        '',
      ].join('\n'),
    );
    const { peer, outputDirectory } = await startStorescp('implicit', ['-xf', configPath, 'BasicTextSr']);
    const sr = buildSampleSr();

    const result = await sendCStore(
      { aeTitle: SCP_AE_TITLE, host: '127.0.0.1', port: peer.port },
      CALLING_AE_TITLE,
      sr.part10,
      { timeoutMs: TIMEOUT_MS },
    );

    assert.equal(result.status, 0x0000);
    const receivedPath = await receivedFile(outputDirectory);
    await assertSameDump(receivedPath, sr);
    assert.match((await runTool('dcmdump', ['+P', '0002,0010', receivedPath])).stdout, /LittleEndianImplicit/);
  });

  it('reports a wrong called AE title as association rejected', async () => {
    // storescp 3.6.7 accepts any called AE title; dcmqrscp rejects titles missing from its AETable.
    const port = await findFreePort();
    const storageArea = join(directory, 'dcmqrscp-db');
    await mkdir(storageArea);
    const configPath = join(directory, 'dcmqrscp.cfg');
    await writeFile(
      configPath,
      [
        `NetworkTCPPort = ${port}`,
        'MaxPDUSize = 16384',
        'MaxAssociations = 4',
        'HostTable BEGIN',
        'HostTable END',
        'VendorTable BEGIN',
        'VendorTable END',
        'AETable BEGIN',
        `${SCP_AE_TITLE} ${storageArea} RW (10, 64mb) ANY`,
        'AETable END',
        '',
      ].join('\n'),
    );
    const peer = await startScp('dcmqrscp', ['-c', configPath], port);
    peers.push(peer);

    const error = await rejectionOf(
      sendCStore({ aeTitle: 'NOT_THE_PACS', host: '127.0.0.1', port }, CALLING_AE_TITLE, buildSampleSr().part10, {
        timeoutMs: TIMEOUT_MS,
      }),
    );

    assert.equal(error.code, 'dicom_association_rejected');
    assert.equal(error.retryable, false);
    // PS3.8 9.3.4: rejected-permanent (1), DICOM UL service-user (1), called-AE-title-not-recognized (7).
    assert.ok(error instanceof AssociationRejectedError);
    assert.deepEqual(error.rejection, { result: 1, source: 1, reason: 7 });
  });

  it('reports a missing SR presentation context as association rejected', async () => {
    const configPath = join(directory, 'ct-only.cfg');
    await writeFile(
      configPath,
      [
        '[[TransferSyntaxes]]',
        '[Uncompressed]',
        'TransferSyntax1 = LocalEndianExplicit',
        'TransferSyntax2 = LittleEndianImplicit',
        '[[PresentationContexts]]',
        '[CtOnly]',
        'PresentationContext1 = CTImageStorage\\Uncompressed',
        '[[Profiles]]',
        '[CtOnly]',
        'PresentationContexts = CtOnly',
        '',
      ].join('\n'),
    );
    const { peer, outputDirectory } = await startStorescp('ct-only', ['-xf', configPath, 'CtOnly']);

    const error = await rejectionOf(
      sendCStore({ aeTitle: SCP_AE_TITLE, host: '127.0.0.1', port: peer.port }, CALLING_AE_TITLE, buildSampleSr().part10, {
        timeoutMs: TIMEOUT_MS,
      }),
    );

    assert.equal(error.code, 'dicom_association_rejected');
    assert.equal(error.retryable, false);
    assert.deepEqual(await readdir(outputDirectory), []);
  });

  it('reports a closed port as connection failed', async () => {
    const port = await findFreePort();

    const error = await rejectionOf(
      sendCStore({ aeTitle: SCP_AE_TITLE, host: '127.0.0.1', port }, CALLING_AE_TITLE, buildSampleSr().part10, {
        timeoutMs: TIMEOUT_MS,
      }),
    );

    assert.equal(error.code, 'dicom_connection_failed');
    assert.equal(error.retryable, true);
  });

  it('reports an A-ABORT before the response as connection failed', async () => {
    const { peer } = await startStorescp('abort', ['--abort-after']);

    const error = await rejectionOf(
      sendCStore({ aeTitle: SCP_AE_TITLE, host: '127.0.0.1', port: peer.port }, CALLING_AE_TITLE, buildSampleSr().part10, {
        timeoutMs: TIMEOUT_MS,
      }),
    );

    assert.equal(error.code, 'dicom_connection_failed');
    assert.equal(error.retryable, true);
    assert.ok(error instanceof ConnectionFailedError);
    assert.equal(error.stage, 'storing');
  });

  it('reports a late response as timeout', async () => {
    // storescp sleeps 5 s inside the C-STORE; the limit of 1 s ends the wait long before.
    const { peer } = await startStorescp('slow', ['--sleep-during', '5']);

    const error = await rejectionOf(
      sendCStore({ aeTitle: SCP_AE_TITLE, host: '127.0.0.1', port: peer.port }, CALLING_AE_TITLE, buildSampleSr().part10, {
        timeoutMs: 1000,
      }),
    );

    assert.equal(error.code, 'dicom_timeout');
    assert.equal(error.retryable, true);
    assert.ok(error instanceof CStoreTimeoutError);
    assert.equal(error.stage, 'storing');
  });

  it('rejects a buffer that is not Part 10', async () => {
    const port = await findFreePort();

    const error = await rejectionOf(
      sendCStore({ aeTitle: SCP_AE_TITLE, host: '127.0.0.1', port }, CALLING_AE_TITLE, Buffer.from('not DICOM'), {
        timeoutMs: TIMEOUT_MS,
      }),
    );

    assert.equal(error.code, 'dicom_invalid_dataset');
    assert.equal(error.retryable, false);
  });

  describe('failure status', () => {
    // PS3.4 Table B.2-1 and PS3.7 Annex C; only a passing lack of resources is worth a retry.
    const cases: { status: number; meaning: string; retryable: boolean }[] = [
      { status: 0xa700, meaning: 'Refused: Out of Resources', retryable: true },
      { status: 0xa7ff, meaning: 'Refused: Out of Resources (subcode)', retryable: true },
      { status: 0x0213, meaning: 'Resource limitation', retryable: true },
      { status: 0xa900, meaning: 'Error: Data Set does not match SOP Class', retryable: false },
      { status: 0xc000, meaning: 'Error: Cannot understand', retryable: false },
      { status: 0x0122, meaning: 'SOP Class not supported', retryable: false },
      { status: 0x0110, meaning: 'Processing failure', retryable: false },
      { status: 0xb000, meaning: 'Warning: Coercion of Data Elements', retryable: false },
      { status: 0xb006, meaning: 'Warning: Elements Discarded', retryable: false },
      { status: 0xb007, meaning: 'Warning: Data Set does not match SOP Class', retryable: false },
    ];

    for (const { status, meaning, retryable } of cases) {
      it(`treats ${meaning} as ${retryable ? 'retryable' : 'final'}`, () => {
        const error = new StoreFailedError(status, undefined);

        assert.equal(error.code, 'dicom_store_failed');
        assert.equal(error.status, status);
        assert.equal(error.retryable, retryable);
      });
    }
  });
});
