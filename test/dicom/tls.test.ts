/**
 * DICOM TLS with DCMTK's TLS client: certificates made with openssl for a test CA, a listener that
 * requires client certificates and one that does not.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { Database } from '../../src/db/database.ts';
import { queryRows } from '../../src/db/sql.ts';
import { DicomListener } from '../../src/dicom/dicom-listener.ts';
import { IngestSink } from '../../src/ingest/ingest-sink.ts';
import { InstanceStore } from '../../src/ingest/instance-store.ts';
import { runTool } from '../helpers/dcmtk.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { sharedData } from '../helpers/shared-data.ts';

const run = promisify(execFile);

/** Validity of the test certificates; they live as long as the test. */
const CERTIFICATE_DAYS = '2';

describe('DICOM TLS', () => {
  let folder: string;
  let testDatabase: TestDatabase;
  let database: Database;
  const listeners: DicomListener[] = [];
  let strictPort: number;
  let openPort: number;

  /** Writes `<name>.key` and `<name>.pem`, signed by `issuer` or self-signed. */
  async function certificate(name: string, subject: string, issuer?: string, extensions?: string): Promise<void> {
    const key = path.join(folder, `${name}.key`);
    const pem = path.join(folder, `${name}.pem`);
    if (!issuer) {
      await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', pem, '-days', CERTIFICATE_DAYS, '-subj', subject]);
      return;
    }
    const csr = path.join(folder, `${name}.csr`);
    await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', subject]);
    const args = ['x509', '-req', '-in', csr, '-CA', path.join(folder, `${issuer}.pem`), '-CAkey', path.join(folder, `${issuer}.key`), '-CAcreateserial', '-out', pem, '-days', CERTIFICATE_DAYS];
    if (extensions) {
      const extensionFile = path.join(folder, `${name}.ext`);
      await writeFile(extensionFile, `${extensions}\n`);
      args.push('-extfile', extensionFile);
    }
    await run('openssl', args);
  }

  async function startListener(requireClientCertificate: boolean): Promise<number> {
    const store = new InstanceStore(path.join(folder, `store-${requireClientCertificate}`), path.join(folder, `store-${requireClientCertificate}`, '.spool'));
    await store.prepare();
    const listener = new DicomListener(
      {
        host: '127.0.0.1',
        port: 0,
        aeTitle: 'ARGUS',
        peers: [{ aeTitle: 'STORESCU', host: '127.0.0.1' }],
        idleTimeoutSeconds: 30,
        tls: {
          key: await readFile(path.join(folder, 'server.key')),
          cert: await readFile(path.join(folder, 'server.pem')),
          ca: await readFile(path.join(folder, 'ca.pem')),
          requireClientCertificate,
        },
      },
      new IngestSink(database, store),
    );
    listeners.push(listener);
    return listener.start();
  }

  before(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'argus-tls-'));
    await certificate('ca', '/CN=Argus Test CA');
    await certificate('server', '/CN=localhost', 'ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost');
    await certificate('client', '/CN=STORESCU', 'ca');
    await certificate('rogue', '/CN=STORESCU');
    testDatabase = await createTestDatabase('argus_tls');
    database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    await database.migrate();
    strictPort = await startListener(true);
    openPort = await startListener(false);
  });

  after(async () => {
    for (const listener of listeners) await listener.stop();
    await database.close();
    await testDatabase.drop();
    await rm(folder, { recursive: true, force: true });
  });

  /** DCMTK TLS options: our key and certificate (or anonymous) and the CA that signed the listener. */
  function tlsArguments(client: 'client' | 'rogue' | 'anonymous'): string[] {
    const trust = ['+cf', path.join(folder, 'ca.pem')];
    if (client === 'anonymous') return ['+tla', ...trust];
    return ['+tls', path.join(folder, `${client}.key`), path.join(folder, `${client}.pem`), ...trust];
  }

  function echo(port: number, tls: string[]) {
    return runTool('echoscu', ['-aet', 'STORESCU', '-aec', 'ARGUS', ...tls, '127.0.0.1', String(port)], { timeoutMs: 30_000 });
  }

  it('stores over TLS with a client certificate', async () => {
    assert.equal((await echo(strictPort, tlsArguments('client'))).code, 0);
    const file = sharedData('wg04_compression_samples/CT2_UNC.dcm');
    const result = await runTool('storescu', ['-aet', 'STORESCU', '-aec', 'ARGUS', ...tlsArguments('client'), '127.0.0.1', String(strictPort), file]);
    assert.equal(result.code, 0, result.stderr);
    const rows = await database.run((manager) => queryRows<{ count: number }>(manager, 'SELECT count(*)::int AS count FROM instance'));
    assert.equal(rows[0]!.count, 1);
  });

  it('rejects a client without a certificate when one is required', async () => {
    const result = await echo(strictPort, tlsArguments('anonymous'));
    assert.notEqual(result.code, 0);
  });

  it('rejects a client certificate from another CA', async () => {
    const result = await echo(strictPort, tlsArguments('rogue'));
    assert.notEqual(result.code, 0);
  });

  it('rejects plain TCP on a TLS listener', async () => {
    const result = await echo(strictPort, []);
    assert.notEqual(result.code, 0);
  });

  it('accepts a client without a certificate when none is required', async () => {
    assert.equal((await echo(openPort, tlsArguments('anonymous'))).code, 0);
  });
});
