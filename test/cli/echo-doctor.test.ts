import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Database } from '../../src/db/database.ts';
import { DCMTK_ENV, freePort, startStorescp, waitForPort, type Storescp } from '../helpers/dcmtk.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { runCli } from '../helpers/service-process.ts';

const MODEL_PACKAGE = path.resolve(import.meta.dirname, '../fixtures/tiny-argus');

/** Starts storescp with --refuse, which rejects every A-ASSOCIATE-RQ with A-ASSOCIATE-RJ. */
async function startRefusingStorescp(): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const child: ChildProcess = spawn('storescp', ['--refuse', '--aetitle', 'REFUSER', String(port)], { env: DCMTK_ENV, stdio: 'ignore' });
  await waitForPort(port);
  return {
    port,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Starts a TCP server that accepts connections and never sends a byte, like a peer that hangs. */
async function startSilentServer(): Promise<{ port: number; stop(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('echo and doctor commands', () => {
  let testDatabase: TestDatabase;
  let directory: string;
  let storescp: Storescp;
  let refusing: { port: number; stop(): Promise<void> };
  let silent: { port: number; stop(): Promise<void> };
  let mllp: { port: number; stop(): Promise<void> };
  let closedPort: number;
  let goodConfig: string;
  let badConfig: string;

  before(async () => {
    testDatabase = await createTestDatabase('argus_cli_echo');
    const database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    await database.migrate();
    await database.close();

    storescp = await startStorescp('PACS');
    refusing = await startRefusingStorescp();
    silent = await startSilentServer();
    closedPort = await freePort();
    mllp = await startSilentServer();

    directory = await mkdtemp(path.join(os.tmpdir(), 'argus-cli-echo-'));
    const base = { dataDirectory: path.join(directory, 'data'), database: { url: testDatabase.url }, model: { packagePath: MODEL_PACKAGE } };
    const hl7 = (name: string, port: number) => ({
      name,
      host: '127.0.0.1',
      port,
      sendingApplication: 'ARGUS',
      sendingFacility: 'RAD',
      receivingApplication: 'RIS',
      receivingFacility: 'HOSP',
      ackTimeoutSeconds: 2,
    });
    goodConfig = path.join(directory, 'good.json');
    await writeFile(
      goodConfig,
      JSON.stringify({
        ...base,
        dicom: { destinations: [{ name: 'pacs', aeTitle: 'PACS', host: '127.0.0.1', port: storescp.port }], timeoutSeconds: 3 },
        hl7: { destinations: [hl7('ris', mllp.port)] },
      }),
    );
    badConfig = path.join(directory, 'bad.json');
    await writeFile(
      badConfig,
      JSON.stringify({
        ...base,
        dicom: {
          destinations: [
            { name: 'pacs', aeTitle: 'PACS', host: '127.0.0.1', port: storescp.port },
            { name: 'refusing', aeTitle: 'REFUSER', host: '127.0.0.1', port: refusing.port },
            { name: 'closed', aeTitle: 'NOBODY', host: '127.0.0.1', port: closedPort },
            { name: 'silent', aeTitle: 'SILENT', host: '127.0.0.1', port: silent.port },
          ],
          peers: [{ aeTitle: 'MODALITY', host: '127.0.0.1' }],
          timeoutSeconds: 2,
        },
        hl7: { destinations: [hl7('ris-down', closedPort)] },
      }),
    );
  });

  after(async () => {
    await storescp.stop();
    await refusing.stop();
    await silent.stop();
    await mllp.stop();
    await testDatabase.drop();
    await rm(directory, { recursive: true, force: true });
  });

  it('echoes storescp by name and by AE title', async () => {
    for (const peer of ['pacs', 'PACS']) {
      const result = await runCli(goodConfig, ['echo', peer]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`^C-ECHO to pacs \\(PACS at 127\\.0\\.0\\.1:${storescp.port}\\) succeeded in [0-9.]+ ms\\.\\n$`));
    }
  });

  it('reports a rejected association with its reason', async () => {
    const result = await runCli(badConfig, ['echo', 'refusing']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /C-ECHO to refusing \(REFUSER at 127\.0\.0\.1:\d+\) failed: REFUSER@127\.0\.0\.1:\d+ rejected the association: rejected-(permanent|transient), source /);
  });

  it('reports a refused connection and a timeout', async () => {
    const closed = await runCli(badConfig, ['echo', 'closed']);
    assert.equal(closed.code, 1);
    assert.match(closed.stderr, /refused the connection \(nothing listens on that port\)/);

    const timeout = await runCli(badConfig, ['echo', 'SILENT', '--timeout', '1']);
    assert.equal(timeout.code, 1);
    assert.match(timeout.stderr, /SILENT@127\.0\.0\.1:\d+ did not respond within 1000 ms while associating/);
  });

  it('names the configured destinations for an unknown peer', async () => {
    const unknown = await runCli(badConfig, ['echo', 'ELSEWHERE']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no DICOM destination named or titled "ELSEWHERE" in dicom\.destinations; configured: pacs \(PACS\), refusing \(REFUSER\)/);

    const callingPeer = await runCli(badConfig, ['echo', 'MODALITY']);
    assert.equal(callingPeer.code, 1);
    assert.match(callingPeer.stderr, /MODALITY is a calling peer \(dicom\.peers\), which has no port to call/);
  });

  it('doctor passes on a working setup', async () => {
    const result = await runCli(goodConfig, ['doctor']);

    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^ok\s+config\s+/m);
    assert.match(result.stdout, /^ok\s+database\s+PostgreSQL reachable, every migration applied$/m);
    assert.match(result.stdout, /^ok\s+model package\s+\S+ \S+ loaded from /m);
    assert.match(result.stdout, /^ok\s+dicom destination pacs\s+C-ECHO to PACS at 127\.0\.0\.1:\d+ succeeded/m);
    assert.match(result.stdout, /^ok\s+hl7 destination ris\s+TCP connect to 127\.0\.0\.1:\d+ succeeded/m);
    assert.match(result.stdout, /All 5 checks passed\.\n$/);
  });

  it('doctor names every failing check', async () => {
    const result = await runCli(badConfig, ['doctor']);

    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stdout, /^ok\s+dicom destination pacs\s+/m);
    assert.match(result.stdout, /^FAIL\s+dicom destination refusing\s+.*rejected the association/m);
    assert.match(result.stdout, /^FAIL\s+dicom destination closed\s+.*refused the connection/m);
    assert.match(result.stdout, /^FAIL\s+dicom destination silent\s+.*did not respond within 2000 ms/m);
    assert.match(result.stdout, /^FAIL\s+hl7 destination ris-down\s+TCP connect to 127\.0\.0\.1:\d+ failed: connection refused/m);
    assert.match(result.stdout, /4 of 8 checks failed\.\n$/);
  });

  it('doctor reports a missing model package and pending migrations', async () => {
    const fresh = await createTestDatabase('argus_cli_doctor');
    try {
      const configPath = path.join(directory, 'broken.json');
      await writeFile(
        configPath,
        JSON.stringify({ dataDirectory: path.join(directory, 'data'), database: { url: fresh.url }, model: { packagePath: path.join(directory, 'no-model') } }),
      );
      const result = await runCli(configPath, ['doctor']);

      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stdout, /^FAIL\s+database\s+the database is reachable but has pending migrations; run argus-gateway migrate$/m);
      assert.match(result.stdout, /^FAIL\s+model package\s+the package in .*no-model \(model\.packagePath\) cannot be loaded: /m);
    } finally {
      await fresh.drop();
    }
  });
});
