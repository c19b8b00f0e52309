/**
 * Report jobs through the queue on real parts: storescu sends a series to the listener, the
 * completeness check sends the report job in its transaction, and the worker role runs the tiny model.
 * A job whose inference fails on every attempt ends dead with its error, and `jobs list` shows it. A
 * duplicate job for a run that already has its report writes nothing.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { runCompletenessCheck, type CompletenessSettings } from '../../src/completeness/completeness-check.ts';
import { loadConfig, type AppConfig } from '../../src/config/load.ts';
import { Database } from '../../src/db/database.ts';
import { queryRows } from '../../src/db/sql.ts';
import { DicomListener } from '../../src/dicom/dicom-listener.ts';
import { IngestSink } from '../../src/ingest/ingest-sink.ts';
import { InstanceStore } from '../../src/ingest/instance-store.ts';
import { configureLogging } from '../../src/logging/logger.ts';
import { GatewayMetrics } from '../../src/metrics/gateway-metrics.ts';
import { loadModel, type ArgusModel } from '../../src/model/index.ts';
import { JobQueue } from '../../src/queue/job-queue.ts';
import { JOB_PRIORITY, QUEUE_NAMES, QUEUE_SCHEMA } from '../../src/queue/queue-names.ts';
import { JobScheduling } from '../../src/worker/job-scheduling.ts';
import { startWorkerRole, type StartedRole } from '../../src/worker/queue-roles.ts';
import { runTool, storescu } from '../helpers/dcmtk.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { REPOSITORY, runCli, waitFor } from '../helpers/service-process.ts';
import { sharedData } from '../helpers/shared-data.ts';
import { buildSyntheticStudy } from '../ingest/synthetic-study.ts';

const SOURCE_SLICE = sharedData('dcm_qa_ct/Philips_Ingenuity_study_S21570/S2010/I10');
const MAX_ATTEMPTS = 2;

interface JobRow {
  id: string;
  state: string;
  retry_count: number;
  output: Record<string, unknown> | null;
}

describe('report jobs through the queue', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let workDirectory: string;
  let store: InstanceStore;
  let listener: DicomListener;
  let port: number;
  let model: ArgusModel;
  let config: AppConfig;
  let queue: JobQueue;
  let scheduling: JobScheduling;
  let worker: StartedRole | undefined;

  before(async () => {
    configureLogging('silent');
    testDatabase = await createTestDatabase('argus_report_queue');
    database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    await database.migrate();
    workDirectory = await mkdtemp(path.join(os.tmpdir(), 'argus-report-queue-'));
    store = new InstanceStore(path.join(workDirectory, 'instances'), path.join(workDirectory, 'instances', '.spool'));
    await store.prepare();
    listener = new DicomListener(
      { host: '127.0.0.1', port: 0, aeTitle: 'ARGUS', peers: [{ aeTitle: 'STORESCU', host: '127.0.0.1' }], idleTimeoutSeconds: 30 },
      new IngestSink(database, store),
    );
    port = await listener.start();
    model = await loadModel(path.join(REPOSITORY, 'test/fixtures/tiny-argus'));
    const defaults = loadConfig(undefined, {});
    config = {
      ...defaults,
      hl7: { destinations: [] },
      volume: { ...defaults.volume, previews: false },
      worker: { pollIntervalSeconds: 0.5, concurrency: 1 },
      queues: { ...defaults.queues, maintenanceIntervalSeconds: 1, report: { leaseSeconds: 5, timeoutSeconds: 60, maxAttempts: MAX_ATTEMPTS, retryDelaySeconds: 1 } },
    };
    queue = await JobQueue.start(database, config, { schedule: false });
    scheduling = new JobScheduling(queue, config);
  });

  after(async () => {
    await worker?.stop(0);
    await queue.stop();
    await listener.stop();
    await model.release();
    await database.close();
    await testDatabase.drop();
    await rm(workDirectory, { recursive: true, force: true });
  });

  /**
   * Sends a new study of one series, completes it with the report job sent in the same transaction, and
   * returns the study and job ids.
   */
  async function receiveAndComplete(name: string, accessionNumber?: string): Promise<{ studyId: string; jobId: string }> {
    const study = await buildSyntheticStudy({ sourceFile: SOURCE_SLICE, directory: path.join(workDirectory, 'studies', name), instanceCount: config.selection.minSlices });
    if (accessionNumber) {
      const modified = await runTool('dcmodify', ['-nb', '-m', `(0008,0050)=${accessionNumber}`, ...study.files.map((file) => file.path)]);
      assert.equal(modified.code, 0, modified.stderr);
    }
    const sent = await storescu({ port, calledAeTitle: 'ARGUS', paths: [study.directory] });
    assert.equal(sent.code, 0, sent.stderr);
    const jobs: { studyId: string; jobId: string }[] = [];
    const settings: CompletenessSettings = {
      ...config.completeness,
      onStudyComplete: async (manager, studyId) => {
        jobs.push({ studyId, jobId: (await scheduling.scheduleReport(manager, studyId)).jobId });
      },
    };
    await runCompletenessCheck(database, settings, new Date(Date.now() + 3600_000));
    assert.equal(jobs.length, 1);
    return jobs[0]!;
  }

  async function jobRow(id: string): Promise<JobRow> {
    const rows = await database.run((manager) =>
      queryRows<JobRow>(manager, `SELECT id, state::text AS state, retry_count, output FROM ${QUEUE_SCHEMA}.job WHERE id = $1`, [id]),
    );
    assert.equal(rows.length, 1);
    return rows[0]!;
  }

  it('ends a job that always fails dead, with its error', async () => {
    const { studyId, jobId } = await receiveAndComplete('unreadable');
    // A worker whose onnxruntime sessions are gone: every inference fails with the model's own error.
    const broken = await loadModel(path.join(REPOSITORY, 'test/fixtures/tiny-argus'));
    await broken.release();
    const failing = startWorkerRole({ database, config, queue, scheduling, metrics: new GatewayMetrics() }, store, broken, () => undefined);

    const dead = await waitFor('the job to be dead', async () => {
      const row = await jobRow(jobId);
      return row.state === 'failed' ? row : undefined;
    }, 60_000, 250);
    await failing.stop(0);
    assert.equal(dead.retry_count, MAX_ATTEMPTS - 1);
    assert.equal(dead.output?.code, 'model_released');
    assert.match(String(dead.output?.message), /model has been released/);

    const study = await database.run((manager) => queryRows<{ state: string; state_reason: string }>(manager, 'SELECT state, state_reason FROM study WHERE id = $1', [studyId]));
    assert.equal(study[0]!.state, 'failed');
    assert.match(study[0]!.state_reason, /Report generation failed: the model has been released/);
    const audit = await database.run((manager) => queryRows<{ count: number }>(manager, `SELECT count(*)::int AS count FROM audit_event WHERE action = 'report_failed'`));
    assert.equal(audit[0]!.count, 1);

    const configPath = path.join(workDirectory, 'cli.json');
    await writeFile(configPath, JSON.stringify({ dataDirectory: path.join(workDirectory, 'cli'), database: { url: testDatabase.url } }));
    const listed = await runCli(configPath, ['jobs', 'list', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const items = JSON.parse(listed.stdout) as { id: string; queue: string; attempts: number; maxAttempts: number; output: { message?: string } }[];
    const item = items.find((candidate) => candidate.id === jobId);
    assert.equal(item?.queue, 'report');
    assert.equal(item?.attempts, MAX_ATTEMPTS);
    assert.equal(item?.maxAttempts, MAX_ATTEMPTS);
    const table = await runCli(configPath, ['jobs', 'list']);
    assert.match(table.stdout, new RegExp(`${jobId}\\s+report\\s+failed\\s+${MAX_ATTEMPTS}/${MAX_ATTEMPTS}`));
  });

  it('writes one report when the job of a run is sent twice', async () => {
    const { studyId, jobId } = await receiveAndComplete('duplicate');
    worker = startWorkerRole({ database, config, queue, scheduling, metrics: new GatewayMetrics() }, store, model, () => undefined);
    const run = await database.run((manager) => queryRows<{ report_run: number }>(manager, 'SELECT report_run FROM study WHERE id = $1', [studyId]));
    // A second job for the same run, as a client that retries a send would produce.
    const duplicateId = await database.transaction((manager) => queue.send(manager, QUEUE_NAMES.report, { studyId, run: run[0]!.report_run }));
    assert.ok(duplicateId);

    const done = await waitFor('both jobs to end', async () => {
      const rows = await Promise.all([jobRow(jobId), jobRow(duplicateId)]);
      return rows.every((row) => row.state === 'completed') ? rows : undefined;
    }, 60_000, 250);
    assert.equal(done[0]!.output?.outcome, 'reported');
    assert.equal(typeof done[0]!.output?.reportId, 'string');
    assert.deepEqual(done[1]!.output, { outcome: 'skipped', reason: 'not_current' });
    const reports = await database.run((manager) => queryRows<{ job_id: string }>(manager, 'SELECT job_id FROM report WHERE study_id = $1', [studyId]));
    assert.deepEqual(reports, [{ job_id: jobId }]);
  });

  it('queues the job of a stat order as urgent', async () => {
    // The RIS sent the study's order with priority S (stat); it is matched on the accession number.
    await database.run((manager) =>
      queryRows(
        manager,
        `INSERT INTO imaging_order (id, accession_number, patient_id, order_control, status, message_type, priority, received_at, updated_at)
         VALUES (gen_random_uuid(), 'ACC-STAT-1', 'PAT-1', 'NW', 'active', 'ORM^O01', 'S', now(), now())
         RETURNING id`,
      ),
    );
    const { jobId } = await receiveAndComplete('stat', 'ACC-STAT-1');
    const rows = await database.run((manager) => queryRows<{ priority: number }>(manager, `SELECT priority FROM ${QUEUE_SCHEMA}.job WHERE id = $1`, [jobId]));
    assert.deepEqual(rows, [{ priority: JOB_PRIORITY.urgent }]);
  });
});
