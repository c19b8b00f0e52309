/**
 * `npm run bench:ingest`: C-STORE throughput of the DICOM listener against DCMTK storescp, in the same
 * run. DCMTK storescu sends one study of 300 512 x 512 CT slices (copies of a real slice with new UIDs
 * and positions) to each receiver in turn:
 * - storescp, the reference, writing each object to a file;
 * - argus-gateway with durability off: the listener and instance store without fsync and without
 *   database rows;
 * - argus-gateway as it runs in production: fsync of file and folder plus the database rows, on the
 *   PostgreSQL server the tests use (TEST_DATABASE_URL), or on PGlite with --database pglite.
 * Rounds rotate the order of the receivers; each receiver's median over the rounds is reported.
 *
 * Options: --rounds <n> (default 5), --instances <n> (default 300), --database postgres|pglite, and
 * --only storescp|off|on to run one receiver, for example under `node --cpu-prof`.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

import { Database } from '../src/db/database.ts';
import { DicomListener } from '../src/dicom/dicom-listener.ts';
import type { InstanceSink } from '../src/dicom/instance-sink.ts';
import { IngestSink } from '../src/ingest/ingest-sink.ts';
import { InstanceStore } from '../src/ingest/instance-store.ts';
import { SpoolWriter } from '../src/ingest/spool-writer.ts';
import { configureLogging } from '../src/logging/logger.ts';
import { startStorescp, storescu } from '../test/helpers/dcmtk.ts';
import { createTestDatabase } from '../test/helpers/postgres.ts';
import { sharedData } from '../test/helpers/shared-data.ts';
import { buildSyntheticStudy } from '../test/ingest/synthetic-study.ts';

/** A 512 x 512 axial slice of a real CT series, Explicit VR Little Endian. */
const SOURCE_SLICE = sharedData('dcm_qa_ct/Philips_Ingenuity_study_S21570/S2010/I10');

const TARGETS = { durabilityOff: 0.9, durable: 0.5 };

interface Receiver {
  name: string;
  /** Starts a fresh receiver; returns its port, AE title and a function that stops it. */
  start(): Promise<{ port: number; aeTitle: string; stop(): Promise<void> }>;
}

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    instances: { type: 'string', default: '300' },
    database: { type: 'string', default: 'postgres' },
    only: { type: 'string' },
  },
});
const rounds = Number(values.rounds);
const instanceCount = Number(values.instances);
const databaseKind = values.database === 'pglite' ? 'pglite' : 'postgres';
configureLogging('warn');

const workDirectory = await mkdtemp(path.join(os.tmpdir(), 'argus-bench-ingest-'));
try {
  process.stdout.write(`Building a ${instanceCount}-instance study from ${path.basename(SOURCE_SLICE)} ...\n`);
  const study = await buildSyntheticStudy({ sourceFile: SOURCE_SLICE, directory: path.join(workDirectory, 'study'), instanceCount });

  const allReceivers: (Receiver & { key: string })[] = [
    { key: 'storescp', name: 'storescp', start: () => startReference() },
    { key: 'off', name: 'argus, durability off', start: () => startArgus(workDirectory, 'off') },
    { key: 'on', name: `argus, fsync + database rows (${databaseKind})`, start: () => startArgus(workDirectory, 'on') },
  ];
  const receivers = allReceivers.filter((receiver) => values.only === undefined || receiver.key === values.only);
  const rates = new Map<string, number[]>(receivers.map((receiver) => [receiver.name, []]));

  for (let round = 0; round < rounds; round += 1) {
    const order = receivers.map((_, index) => receivers[(index + round) % receivers.length]!);
    for (const receiver of order) {
      const running = await receiver.start();
      try {
        const started = performance.now();
        const result = await storescu({ port: running.port, calledAeTitle: running.aeTitle, paths: [study.directory] });
        const seconds = (performance.now() - started) / 1000;
        if (result.code !== 0) throw new Error(`storescu to ${receiver.name} failed:\n${result.stderr}`);
        rates.get(receiver.name)!.push(instanceCount / seconds);
        process.stdout.write(`round ${round + 1}: ${receiver.name}: ${(instanceCount / seconds).toFixed(1)} instances/s\n`);
      } finally {
        await running.stop();
      }
    }
  }

  const medians = new Map([...rates].map(([name, list]) => [name, median(list)]));
  process.stdout.write(`\nmedian of ${rounds} rounds, ${instanceCount} instances of ${Math.round((await sizeOf(study.directory)) / instanceCount / 1024)} KiB each:\n`);
  for (const [name, rate] of medians) process.stdout.write(`  ${name}: ${rate.toFixed(1)} instances/s\n`);
  if (receivers.length === allReceivers.length) {
    const [reference, off, on] = allReceivers.map((receiver) => medians.get(receiver.name)!) as [number, number, number];
    process.stdout.write(`ratio argus durability off vs storescp: ${(off / reference).toFixed(2)} (target >= ${TARGETS.durabilityOff})\n`);
    process.stdout.write(`ratio argus fsync and database rows vs storescp: ${(on / reference).toFixed(2)} (target >= ${TARGETS.durable})\n`);
  }
} finally {
  await rm(workDirectory, { recursive: true, force: true });
}

async function startReference(): Promise<{ port: number; aeTitle: string; stop(): Promise<void> }> {
  const scp = await startStorescp('PACS');
  return {
    port: scp.port,
    aeTitle: 'PACS',
    stop: async () => {
      await scp.stop();
      await rm(scp.directory, { recursive: true, force: true });
    },
  };
}

async function startArgus(base: string, durability: 'on' | 'off'): Promise<{ port: number; aeTitle: string; stop(): Promise<void> }> {
  const directory = await mkdtemp(path.join(base, `argus-${durability}-`));
  const store = new InstanceStore(path.join(directory, 'instances'), path.join(directory, 'instances', '.spool'), { sync: durability === 'on' });
  await store.prepare();

  let sink: InstanceSink;
  let closeDatabase = async () => {};
  if (durability === 'on') {
    const { database, close } = await openBenchDatabase(directory);
    sink = new IngestSink(database, store);
    closeDatabase = close;
  } else {
    sink = fileOnlySink(store);
  }

  const listener = new DicomListener(
    { host: '127.0.0.1', port: 0, aeTitle: 'ARGUS', peers: [{ aeTitle: 'STORESCU', host: '127.0.0.1' }], idleTimeoutSeconds: 60 },
    sink,
  );
  const port = await listener.start();
  return {
    port,
    aeTitle: 'ARGUS',
    stop: async () => {
      await listener.stop();
      store.close();
      await closeDatabase();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

async function openBenchDatabase(directory: string): Promise<{ database: Database; close(): Promise<void> }> {
  if (databaseKind === 'pglite') {
    const database = await Database.open({ kind: 'pglite', directory: path.join(directory, 'pglite') });
    await database.migrate();
    return { database, close: () => database.close() };
  }
  const testDatabase = await createTestDatabase('argus_bench_ingest');
  const database = await Database.open({ kind: 'postgres', url: testDatabase.url });
  await database.migrate();
  return {
    database,
    close: async () => {
      await database.close();
      await testDatabase.drop();
    },
  };
}

/** Returns a sink that only spools and renames into the store, without fsync or database rows. */
function fileOnlySink(store: InstanceStore): InstanceSink {
  return {
    createSpool: () => store.createSpool(),
    storageAvailable: () => true,
    async storeInstance(spool, instance) {
      const writer = spool as SpoolWriter;
      const relativePath = store.newRelativePath({
        studyInstanceUid: String(instance.attributes.StudyInstanceUID),
        seriesInstanceUid: String(instance.attributes.SeriesInstanceUID),
        sopInstanceUid: instance.sopInstanceUid,
      });
      await writer.flush();
      await store.placeSpool(writer.path, relativePath);
      await writer.syncAndClose();
      return { outcome: 'stored' };
    },
    associationAccepted: async () => {},
    associationRejected: async () => {},
    associationEnded: async () => {},
  };
}

function median(list: number[]): number {
  const sorted = [...list].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function sizeOf(directory: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(directory)) total += (await stat(path.join(directory, name))).size;
  return total;
}
