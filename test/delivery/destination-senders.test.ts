import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { loadConfig, type AppConfig } from '../../src/config/load.ts';
import { DestinationConfigError, DestinationSenders } from '../../src/delivery/destination-senders.ts';
import { buildBasicTextSr } from '../../src/delivery/sr/basic-text-sr.ts';
import { configureLogging } from '../../src/logging/logger.ts';
import { ScriptedStorageScp } from './sr/scripted-scp.ts';
import { findFreePort, startScp, type RunningPeer } from './sr/peers.ts';

const TLS_FIXTURES = path.resolve(import.meta.dirname, 'fixtures/tls');
type DicomDestination = AppConfig['dicom']['destinations'][number];

function dicomConfig(destination: Partial<DicomDestination> & { port: number }): AppConfig {
  const base = loadConfig(undefined, {});
  return {
    ...base,
    configPath: path.join(TLS_FIXTURES, 'argus-gateway.json'),
    dicom: {
      ...base.dicom,
      timeoutSeconds: 10,
      destinations: [
        { name: 'pacs', aeTitle: 'PACS', host: '127.0.0.1', warningPolicy: 'delivered', requireApproval: false, blockOnDead: false, ...destination },
      ],
    },
  };
}

function sampleSr(): Buffer {
  return buildBasicTextSr({
    study: { studyInstanceUid: '1.2.826.0.1.3680043.8.498.4001', patientId: 'PAT-4001' },
    evidence: {
      seriesInstanceUid: '1.2.826.0.1.3680043.8.498.4001.2',
      instances: [{ sopClassUid: '1.2.840.10008.5.1.4.1.1.2', sopInstanceUid: '1.2.826.0.1.3680043.8.498.4001.2.1' }],
    },
    report: { findings: 'No acute finding.', impression: 'Normal.' },
    model: { name: 'argus-demo', version: '0.1.0', deviceUid: '2.25.4001', manufacturer: 'argus-gateway' },
    createdAt: new Date('2024-05-07T08:00:00Z'),
  }).part10;
}

describe('destination senders for DICOM', () => {
  let directory: string;
  const peers: RunningPeer[] = [];
  const scps: ScriptedStorageScp[] = [];

  before(async () => {
    configureLogging('silent');
    directory = await mkdtemp(path.join(tmpdir(), 'argus-senders-'));
  });

  after(async () => {
    await Promise.all([...peers.map((peer) => peer.stop()), ...scps.map((scp) => scp.stop())]);
    await rm(directory, { recursive: true, force: true });
  });

  async function send(status: number, destination: Partial<DicomDestination> = {}) {
    const scp = new ScriptedStorageScp(status);
    scps.push(scp);
    const port = await scp.start();
    const senders = new DestinationSenders(dicomConfig({ port, ...destination }));
    const outcome = await senders.send({ kind: 'dicom_sr', destination: 'pacs', controlId: 'x', payload: sampleSr() });
    assert.equal(scp.received.length, 1);
    return outcome;
  }

  const cases: Array<{ name: string; status: number; policy: 'delivered' | 'park'; result: 'delivered' | 'failed'; retryable?: boolean; code?: string }> = [
    { name: 'Success', status: 0x0000, policy: 'park', result: 'delivered' },
    { name: 'a warning with warningPolicy delivered', status: 0xb000, policy: 'delivered', result: 'delivered' },
    { name: 'a warning with warningPolicy park', status: 0xb007, policy: 'park', result: 'failed', retryable: false, code: 'dicom_store_warning' },
    { name: 'Out of Resources', status: 0xa700, policy: 'delivered', result: 'failed', retryable: true, code: 'dicom_store_failed' },
    { name: 'a SOP class mismatch', status: 0xa900, policy: 'delivered', result: 'failed', retryable: false, code: 'dicom_store_failed' },
  ];
  for (const testCase of cases) {
    it(`treats ${testCase.name} as ${testCase.result}`, async () => {
      const outcome = await send(testCase.status, { warningPolicy: testCase.policy });
      assert.equal(outcome.result, testCase.result);
      const statusText = `0x${testCase.status.toString(16).toUpperCase().padStart(4, '0')}`;
      if (outcome.result === 'delivered') {
        assert.match(outcome.response, new RegExp(statusText));
      } else {
        assert.equal(outcome.retryable, testCase.retryable);
        assert.equal(outcome.code, testCase.code);
        assert.match(outcome.message, new RegExp(statusText));
      }
    });
  }

  it('stores the SR in storescp over mutual TLS', async () => {
    const outputDirectory = path.join(directory, 'tls');
    await mkdir(outputDirectory);
    const port = await findFreePort();
    const args = ['--aetitle', 'PACS', '-od', outputDirectory, '+tls', path.join(TLS_FIXTURES, 'server.key'), path.join(TLS_FIXTURES, 'server.pem')];
    peers.push(await startScp('storescp', [...args, '-pw', '+cf', path.join(TLS_FIXTURES, 'ca.pem'), '-rc', String(port)], port));
    const tls = { caFile: 'ca.pem', certFile: 'server.pem', keyFile: 'server.key', rejectUnauthorized: true };

    const trusted = new DestinationSenders(dicomConfig({ port, tls }));
    const outcome = await trusted.send({ kind: 'dicom_sr', destination: 'pacs', controlId: 'x', payload: sampleSr() });
    assert.equal(outcome.result, 'delivered', outcome.result === 'failed' ? outcome.message : '');
    assert.equal((await readdir(outputDirectory)).length, 1);

    const untrusted = new DestinationSenders(dicomConfig({ port, tls: { ...tls, caFile: 'other-ca.pem' } }));
    const refused = await untrusted.send({ kind: 'dicom_sr', destination: 'pacs', controlId: 'x', payload: sampleSr() });
    assert.equal(refused.result, 'failed');
    assert.equal((await readdir(outputDirectory)).length, 1);
  });

  it('names the unreadable TLS file', () => {
    assert.throws(
      () => new DestinationSenders(dicomConfig({ port: 104, tls: { caFile: 'missing.pem', rejectUnauthorized: true } })),
      (error: unknown) => error instanceof DestinationConfigError && /missing\.pem/.test(error.message) && /ENOENT/.test(error.message),
    );
  });

  it('parks a delivery whose destination was removed', async () => {
    const senders = new DestinationSenders(dicomConfig({ port: 104 }));
    const outcome = await senders.send({ kind: 'dicom_sr', destination: 'old-pacs', controlId: 'x', payload: sampleSr() });
    assert.equal(outcome.result, 'failed');
    assert.equal(outcome.result === 'failed' && outcome.code, 'destination_not_configured');
    assert.equal(outcome.result === 'failed' && outcome.retryable, false);
  });
});
