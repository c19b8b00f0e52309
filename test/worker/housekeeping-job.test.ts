/**
 * The housekeeping job on real rows: studies received by the listener from storescu, then left in the
 * states that the transactional sends cannot cover. A study completed before the queues existed gets
 * a report job, and a study whose report job died on its last attempt without a worker to record it
 * becomes failed with the job's error.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { loadConfig, type AppConfig } from '../../src/config/load.ts';
import { Database } from '../../src/db/database.ts';
import { queryRows } from '../../src/db/sql.ts';
import { DicomListener } from '../../src/dicom/dicom-listener.ts';
import { IngestSink } from '../../src/ingest/ingest-sink.ts';
import { InstanceStore } from '../../src/ingest/instance-store.ts';
import { configureLogging } from '../../src/logging/logger.ts';
import { JobQueue } from '../../src/queue/job-queue.ts';
import { QUEUE_NAMES, QUEUE_SCHEMA } from '../../src/queue/queue-names.ts';
import { HousekeepingJob } from '../../src/worker/housekeeping-job.ts';
import { JobScheduling } from '../../src/worker/job-scheduling.ts';
import { storescu } from '../helpers/dcmtk.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { sharedData } from '../helpers/shared-data.ts';
import { buildSyntheticStudy } from '../ingest/synthetic-study.ts';

const SOURCE_SLICE = sharedData('dcm_qa_ct/Philips_Ingenuity_study_S21570/S2010/I10');

describe('housekeeping job', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let workDirectory: string;
  let listener: DicomListener;
  let port: number;
  let config: AppConfig;
  let queue: JobQueue;
  let scheduling: JobScheduling;
  let housekeeping: HousekeepingJob;

  before(async () => {
    configureLogging('silent');
    testDatabase = await createTestDatabase('argus_housekeeping');
    database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    await database.migrate();
    workDirectory = await mkdtemp(path.join(os.tmpdir(), 'argus-housekeeping-'));
    const store = new InstanceStore(path.join(workDirectory, 'instances'), path.join(workDirectory, 'instances', '.spool'));
    await store.prepare();
    listener = new DicomListener(
      { host: '127.0.0.1', port: 0, aeTitle: 'ARGUS', peers: [{ aeTitle: 'STORESCU', host: '127.0.0.1' }], idleTimeoutSeconds: 30 },
      new IngestSink(database, store),
    );
    port = await listener.start();
    const defaults = loadConfig(undefined, {});
    config = { ...defaults, queues: { ...defaults.queues, report: { ...defaults.queues.report, maxAttempts: 2 } } };
    queue = await JobQueue.start(database, config, { schedule: false });
    scheduling = new JobScheduling(queue, config);
    housekeeping = new HousekeepingJob(database, config, scheduling, 120);
  });

  after(async () => {
    await queue.stop();
    await listener.stop();
    await database.close();
    await testDatabase.drop();
    await rm(workDirectory, { recursive: true, force: true });
  });

  /** Receives a small new study and returns its id. */
  async function receiveStudy(name: string): Promise<string> {
    const study = await buildSyntheticStudy({ sourceFile: SOURCE_SLICE, directory: path.join(workDirectory, 'studies', name), instanceCount: 2 });
    const sent = await storescu({ port, calledAeTitle: 'ARGUS', paths: [study.directory] });
    assert.equal(sent.code, 0, sent.stderr);
    const rows = await database.run((manager) => queryRows<{ id: string }>(manager, 'SELECT id FROM study WHERE study_instance_uid = $1', [study.studyInstanceUid]));
    return rows[0]!.id;
  }

  async function study(id: string): Promise<{ state: string; state_reason: string | null; report_job_id: string | null; report_run: number }> {
    const rows = await database.run((manager) =>
      queryRows<{ state: string; state_reason: string | null; report_job_id: string | null; report_run: number }>(
        manager,
        'SELECT state, state_reason, report_job_id, report_run FROM study WHERE id = $1',
        [id],
      ),
    );
    return rows[0]!;
  }

  it('sends a report job for a complete study that has none', async () => {
    const studyId = await receiveStudy('without-job');
    // Completed by a version without queues: complete, and no job names it.
    await database.run((manager) => queryRows(manager, `UPDATE study SET state = 'complete', completed_at = now() WHERE id = $1 RETURNING id`, [studyId]));

    const result = await housekeeping.run();
    assert.equal(result.reportJobsSent, 1);
    const after = await study(studyId);
    assert.equal(after.state, 'complete');
    assert.equal(after.report_run, 1);
    assert.ok(after.report_job_id);
    const jobs = await database.run((manager) =>
      queryRows<{ state: string; data: { studyId: string; run: number } }>(manager, `SELECT state::text AS state, data FROM ${QUEUE_SCHEMA}.job WHERE id = $1`, [after.report_job_id]),
    );
    assert.deepEqual(jobs, [{ state: 'created', data: { studyId, run: 1 } }]);

    // The next sweep finds the job waiting and leaves the study alone.
    assert.equal((await housekeeping.run()).reportJobsSent, 0);
  });

  it('fails a processing study whose report job died on its last attempt', async () => {
    const studyId = await receiveStudy('dead-job');
    const jobId = await database.transaction(async (manager) => {
      await queryRows(manager, `UPDATE study SET state = 'complete', completed_at = now() WHERE id = $1 RETURNING id`, [studyId]);
      return (await scheduling.scheduleReport(manager, studyId)).jobId;
    });
    // Each attempt was fetched by a worker that set the study processing and then vanished.
    for (let attempt = 1; attempt <= config.queues.report.maxAttempts; attempt++) {
      await database.run((manager) => queryRows(manager, `UPDATE ${QUEUE_SCHEMA}.job SET start_after = now() WHERE id = $1 RETURNING id`, [jobId]));
      const fetched = await queue.fetch(QUEUE_NAMES.report, 10);
      assert.ok(fetched.some((job) => job.id === jobId));
      await database.run((manager) => queryRows(manager, `UPDATE study SET state = 'processing' WHERE id = $1 RETURNING id`, [studyId]));
      await queue.fail(QUEUE_NAMES.report, jobId, { code: 'job_timeout', message: 'the job ran longer than its timeout of 1800 s' });
    }
    assert.equal((await study(studyId)).state, 'processing');

    const result = await housekeeping.run();
    assert.equal(result.studiesFailed, 1);
    const after = await study(studyId);
    assert.equal(after.state, 'failed');
    assert.match(after.state_reason ?? '', /the report job ended \(failed\) without a report: the job ran longer than its timeout of 1800 s/);
    const audit = await database.run((manager) =>
      queryRows<{ code: string }>(manager, `SELECT details->>'code' AS code FROM audit_event WHERE action = 'report_failed' AND details->>'jobId' = $1`, [jobId]),
    );
    assert.deepEqual(audit, [{ code: 'job_timeout' }]);
  });
});
