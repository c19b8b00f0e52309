/**
 * A fleet on one PostgreSQL database: one process with the listener, scheduler, sender and api roles
 * and two worker processes, sharing one instance store, each a real `argus-gateway serve` child
 * process. DCMTK storescu pushes ten studies; a recording MLLP peer is the RIS. Then one worker is
 * killed in the middle of a report job, and the other one must take the job over once the lease has
 * run out, with the report still written once. Last, the Prometheus endpoints of the processes are
 * scraped.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Database } from '../../src/db/database.ts';
import { QUEUE_SCHEMA } from '../../src/queue/queue-names.ts';
import { queryRows } from '../../src/db/sql.ts';
import { freePort, storescu } from '../helpers/dcmtk.ts';
import { MllpPeer } from '../helpers/mllp-peer.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { REPOSITORY, runCli, ServiceProcess, waitFor } from '../helpers/service-process.ts';
import { sharedData } from '../helpers/shared-data.ts';
import { buildSyntheticStudy, type SyntheticStudy } from '../ingest/synthetic-study.ts';

const SOURCE_SLICE = sharedData('dcm_qa_ct/Philips_Ingenuity_study_S21570/S2010/I10');
const STUDY_COUNT = 10;
const SLICES_PER_STUDY = 8;
/** The shortest lease the configuration allows; a killed worker's job is free again after it. */
const LEASE_SECONDS = 5;
const STAGES = ['complete', 'selected', 'assembled', 'inferred', 'delivered', 'acknowledged'];

interface ReportRow {
  study_id: string;
  study_instance_uid: string;
  job_id: string | null;
  study_run: number;
}

describe('fleet of processes on one PostgreSQL', () => {
  let workDirectory: string;
  let testDatabase: TestDatabase;
  let database: Database;
  let ris: MllpPeer;
  let dicomPort: number;
  let gateway: ServiceProcess;
  /** A viewer token for scraping /metrics, created with the CLI as an operator would for Prometheus. */
  let metricsToken: string;
  let workers: ServiceProcess[];
  let studies: SyntheticStudy[];
  let extraStudy: SyntheticStudy;
  let lastStudy: SyntheticStudy;

  before(async () => {
    workDirectory = await mkdtemp(path.join(os.tmpdir(), 'argus-fleet-'));
    testDatabase = await createTestDatabase('argus_fleet');
    ris = new MllpPeer();
    const { port: risPort } = await ris.start();
    dicomPort = await freePort();
    studies = [];
    for (let index = 0; index < STUDY_COUNT + 2; index++) {
      studies.push(
        await buildSyntheticStudy({ sourceFile: SOURCE_SLICE, directory: path.join(workDirectory, 'studies', `study-${index}`), instanceCount: SLICES_PER_STUDY }),
      );
    }
    lastStudy = studies.pop()!;
    extraStudy = studies.pop()!;

    const shared = {
      database: { url: testDatabase.url },
      storage: { instanceDirectory: path.join(workDirectory, 'store') },
      dicom: {
        listener: { host: '127.0.0.1', port: dicomPort, aeTitle: 'ARGUS' },
        peers: [{ aeTitle: 'STORESCU', host: '127.0.0.1' }],
      },
      completeness: { studyQuietPeriodSeconds: 2, seriesQuietPeriodSeconds: 1, checkIntervalSeconds: 0.5 },
      selection: { minSlices: SLICES_PER_STUDY },
      volume: { previews: false },
      // The maximum text length of the tiny model (its position limit), on one thread, so an inference lasts long enough to interrupt.
      model: { packagePath: path.join(REPOSITORY, 'test/fixtures/tiny-argus'), maxNewTokens: 2000, intraOpThreads: 1 },
      worker: { pollIntervalSeconds: 0.5, concurrency: 1 },
      delivery: { pollIntervalSeconds: 0.5, retryBaseSeconds: 1 },
      queues: { maintenanceIntervalSeconds: 1, shutdownGraceSeconds: 5, report: { leaseSeconds: LEASE_SECONDS, retryDelaySeconds: 1 } },
      hl7: {
        destinations: [
          {
            name: 'ris',
            host: '127.0.0.1',
            port: risPort,
            sendingApplication: 'ARGUS',
            sendingFacility: 'RADIOLOGY',
            receivingApplication: 'RIS',
            receivingFacility: 'HOSPITAL',
            ackTimeoutSeconds: 10,
          },
        ],
      },
    };
    const configFor = async (name: string) => {
      const file = path.join(workDirectory, `${name}.json`);
      await writeFile(file, JSON.stringify({ ...shared, dataDirectory: path.join(workDirectory, name) }));
      return file;
    };

    // All three start at once, so they also race for the migrations and the queue schema.
    gateway = new ServiceProcess(await configFor('gateway'), ['--roles', 'listener,scheduler,sender,api']);
    workers = [new ServiceProcess(await configFor('worker-a'), ['--roles', 'worker']), new ServiceProcess(await configFor('worker-b'), ['--roles', 'worker'])];
    await Promise.all([gateway, ...workers].map((process) => process.waitForLog('service started', 90_000)));
    database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    const created = await runCli(await configFor('operator'), ['token', 'create', '--role', 'viewer', '--name', 'prometheus']);
    assert.equal(created.code, 0, created.stderr);
    metricsToken = created.stdout.trim();
  });

  after(async () => {
    await Promise.all([gateway, ...(workers ?? [])].map((process) => process?.stop()));
    await ris?.close();
    await database?.close();
    await testDatabase?.drop();
    await rm(workDirectory, { recursive: true, force: true });
  });

  async function reports(): Promise<ReportRow[]> {
    return database.run((manager) =>
      queryRows<ReportRow>(manager, `SELECT r.study_id, s.study_instance_uid, r.job_id, r.study_run FROM report r JOIN study s ON s.id = r.study_id`),
    );
  }

  async function scrape(process: ServiceProcess): Promise<string> {
    const response = await fetch(`http://127.0.0.1:${await process.apiPort()}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
    assert.equal(response.status, 200);
    return response.text();
  }

  it('turns ten studies pushed by storescu into ten reports, each written once', async () => {
    const sent = await storescu({ port: dicomPort, calledAeTitle: 'ARGUS', paths: studies.map((study) => study.directory) });
    assert.equal(sent.code, 0, sent.stderr);

    const written = await waitFor('ten reports', async () => {
      const rows = await reports();
      return rows.length >= STUDY_COUNT ? rows : undefined;
    }, 150_000);
    assert.deepEqual(written.map((row) => row.study_instance_uid).sort(), studies.map((study) => study.studyInstanceUid).sort());
    for (const row of written) {
      assert.ok(row.job_id, 'a report without its queue job');
      assert.equal(row.study_run, 1);
    }
    const audited = await database.run((manager) =>
      queryRows<{ count: number }>(manager, `SELECT count(*)::int AS count FROM audit_event WHERE action = 'report_generated'`),
    );
    assert.equal(audited[0]!.count, STUDY_COUNT);
    const jobs = await database.run((manager) =>
      queryRows<{ state: string; count: number }>(manager, `SELECT state::text AS state, count(*)::int AS count FROM ${QUEUE_SCHEMA}.job WHERE name = 'report' GROUP BY state`),
    );
    assert.deepEqual(jobs, [{ state: 'completed', count: STUDY_COUNT }]);
    for (const worker of workers) {
      assert.ok(worker.logLines().some((line) => line.msg === 'report generated'), 'a worker wrote no report');
    }
  });

  it('sends one ORU^R01 per report through the sender', async () => {
    await waitFor('ten ACKed ORU^R01', async () => (ris.messages.length >= STUDY_COUNT ? true : undefined), 60_000);
    const controlIds = ris.messages.map((message) => message.split('\r')[0]!.split('|')[9]);
    assert.equal(new Set(controlIds).size, STUDY_COUNT);
  });

  it('takes over the job of a killed worker after the lease', async () => {
    const assembledBefore = await Promise.all(workers.map(async (worker) => stageCount(await scrape(worker), 'assembled')));
    const sent = await storescu({ port: dicomPort, calledAeTitle: 'ARGUS', paths: [extraStudy.directory] });
    assert.equal(sent.code, 0, sent.stderr);

    // The worker that assembles the study's volume is stopped at once: it is inside the model run then.
    const victimIndex = await waitFor('a worker to assemble the volume', async () => {
      for (const [index, worker] of workers.entries()) {
        if (stageCount(await scrape(worker), 'assembled') > assembledBefore[index]!) return index;
      }
      return undefined;
    }, 60_000, 20);
    const victim = workers[victimIndex]!;
    const survivor = workers[1 - victimIndex]!;
    victim.signal('SIGSTOP');
    const study = await database.run((manager) =>
      queryRows<{ id: string; state: string }>(manager, `SELECT id, state FROM study WHERE study_instance_uid = $1`, [extraStudy.studyInstanceUid]),
    );
    assert.equal(study[0]?.state, 'processing', 'the worker finished the report before it was stopped');
    victim.signal('SIGKILL');
    const killedAt = Date.now();
    assert.equal(await victim.exitCode(), null);

    const row = await waitFor('the report of the taken-over job', async () => {
      const rows = (await reports()).filter((candidate) => candidate.study_instance_uid === extraStudy.studyInstanceUid);
      return rows.length > 0 ? rows : undefined;
    }, 60_000);
    assert.ok(Date.now() - killedAt >= (LEASE_SECONDS - 1) * 1000, 'the job was taken over before the lease ran out');
    assert.equal(row.length, 1);
    const studyId = study[0]!.id;
    assert.ok(survivor.logLines().some((line) => line.msg === 'report generated' && line.studyId === studyId), 'the surviving worker did not write the report');
    const job = await database.run((manager) =>
      queryRows<{ state: string; retry_count: number }>(manager, `SELECT state::text AS state, retry_count FROM ${QUEUE_SCHEMA}.job WHERE id = $1`, [row[0]!.job_id]),
    );
    assert.deepEqual(job[0], { state: 'completed', retry_count: 1 });

    // Nothing else of the killed attempt surfaces later: still one report and one audit row.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const audited = await database.run((manager) =>
      queryRows<{ count: number }>(
        manager,
        `SELECT count(*)::int AS count FROM audit_event WHERE action = 'report_generated' AND study_instance_uid = $1`,
        [extraStudy.studyInstanceUid],
      ),
    );
    assert.equal(audited[0]!.count, 1);
    assert.equal((await reports()).filter((candidate) => candidate.study_instance_uid === extraStudy.studyInstanceUid).length, 1);
  });

  it('counts every stage of the journey in the metrics of the live processes', async () => {
    await waitFor('the eleventh ORU^R01', async () => (ris.messages.length >= STUDY_COUNT + 1 ? true : undefined), 60_000);
    // The killed worker's own observations died with it; the others' must still cover every stage.
    const texts = await Promise.all([gateway, ...workers].map((process) => scrapeIfAlive(process)));
    const scraped = texts.filter((text): text is string => text !== undefined);
    assert.equal(scraped.length, 2);
    for (const stage of STAGES) {
      const total = scraped.reduce((sum, text) => sum + stageCount(text, stage), 0);
      assert.ok(total > 0, `no observation of the ${stage} stage`);
    }
    const gatewayText = await scrape(gateway);
    assert.equal(metricValue(gatewayText, 'argus_instances_received_total'), (STUDY_COUNT + 1) * SLICES_PER_STUDY);
    assert.ok(metricValue(gatewayText, 'argus_received_bytes_total') > 0);
    assert.equal(metricValue(gatewayText, 'argus_open_associations'), 0);
    assert.match(gatewayText, /# TYPE argus_queue_depth gauge/);
    const ready = await fetch(`http://127.0.0.1:${await gateway.apiPort()}/health/ready`);
    assert.equal(ready.status, 200);
    assert.deepEqual(((await ready.json()) as { status: string }).status, 'ready');
  });

  it('finishes the running job on SIGTERM before exiting', async () => {
    const alive: ServiceProcess[] = [];
    for (const candidate of workers) if ((await scrapeIfAlive(candidate)) !== undefined) alive.push(candidate);
    assert.equal(alive.length, 1);
    const worker = alive[0]!;
    const sent = await storescu({ port: dicomPort, calledAeTitle: 'ARGUS', paths: [lastStudy.directory] });
    assert.equal(sent.code, 0, sent.stderr);
    const studyId = await waitFor('the study to be processing', async () => {
      const rows = await database.run((manager) =>
        queryRows<{ id: string; state: string }>(manager, `SELECT id, state FROM study WHERE study_instance_uid = $1`, [lastStudy.studyInstanceUid]),
      );
      return rows[0]?.state === 'processing' ? rows[0].id : undefined;
    }, 60_000, 20);

    worker.signal('SIGTERM');
    assert.equal(await worker.exitCode(), 0);
    const rows = (await reports()).filter((candidate) => candidate.study_instance_uid === lastStudy.studyInstanceUid);
    assert.equal(rows.length, 1, 'the stopping worker did not finish its job');
    assert.ok(worker.logLines().some((line) => line.msg === 'report generated' && line.studyId === studyId));
    const job = await database.run((manager) =>
      queryRows<{ state: string; retry_count: number }>(manager, `SELECT state::text AS state, retry_count FROM ${QUEUE_SCHEMA}.job WHERE id = $1`, [rows[0]!.job_id]),
    );
    assert.deepEqual(job[0], { state: 'completed', retry_count: 0 });
  });

  async function scrapeIfAlive(process: ServiceProcess): Promise<string | undefined> {
    try {
      return await scrape(process);
    } catch {
      return undefined;
    }
  }
});

/** Returns the count of observations of one stage in a Prometheus text exposition. */
function stageCount(text: string, stage: string): number {
  return metricValue(text, `argus_stage_duration_seconds_count{stage="${stage}"}`);
}

function metricValue(text: string, series: string): number {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}
