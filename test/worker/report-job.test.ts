/**
 * The report job on real parts: instances arrive through the listener from storescu, the completeness
 * check completes the study and the job runs the tiny model package. Rejections must leave the study
 * `failed` with the reason stored and audited.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { completeQuietStudies } from '../../src/completeness/completeness-check.ts';
import { loadConfig, type AppConfig } from '../../src/config/load.ts';
import { Database } from '../../src/db/database.ts';
import { queryRows } from '../../src/db/sql.ts';
import { DicomListener } from '../../src/dicom/dicom-listener.ts';
import { IngestSink } from '../../src/ingest/ingest-sink.ts';
import { InstanceStore } from '../../src/ingest/instance-store.ts';
import { loadModel, type ArgusModel } from '../../src/model/index.ts';
import { ReportJob } from '../../src/worker/report-job.ts';
import { storescu } from '../helpers/dcmtk.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { REPOSITORY } from '../helpers/service-process.ts';
import { sharedData } from '../helpers/shared-data.ts';

const PHILIPS_AXIAL = sharedData('dcm_qa_ct/Philips_Ingenuity_study_S21570/S2010');
const GE_TILT_IRREGULAR = sharedData('dcm_qa_ct/GE_HiSpeedDual_tilt_irregular');

describe('report job', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let workDirectory: string;
  let store: InstanceStore;
  let listener: DicomListener;
  let port: number;
  let model: ArgusModel;
  let config: AppConfig;

  before(async () => {
    testDatabase = await createTestDatabase('argus_report_job');
    database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    await database.migrate();
    workDirectory = await mkdtemp(path.join(os.tmpdir(), 'argus-report-job-'));
    store = new InstanceStore(path.join(workDirectory, 'instances'), path.join(workDirectory, 'instances', '.spool'));
    await store.prepare();
    listener = new DicomListener(
      { host: '127.0.0.1', port: 0, aeTitle: 'ARGUS', peers: [{ aeTitle: 'STORESCU', host: '127.0.0.1' }], idleTimeoutSeconds: 30 },
      new IngestSink(database, store),
    );
    port = await listener.start();
    model = await loadModel(path.join(REPOSITORY, 'test/fixtures/tiny-argus'));
    const defaults = loadConfig(undefined, {});
    config = { ...defaults, hl7: { destinations: [] }, volume: { ...defaults.volume, previewDirectory: path.join(workDirectory, 'previews') } };
  });

  after(async () => {
    await listener.stop();
    await model.release();
    await database.close();
    await testDatabase.drop();
    await rm(workDirectory, { recursive: true, force: true });
  });

  /** Sends files, completes their study at once and runs the job on it. */
  async function receiveAndProcess(paths: string[]): Promise<{ state: string; state_reason: string; study_instance_uid: string }> {
    const sent = await storescu({ port, calledAeTitle: 'ARGUS', paths });
    assert.equal(sent.code, 0, sent.stderr);
    const completed = await completeQuietStudies(database, 30, new Date(Date.now() + 60_000));
    assert.equal(completed.length, 1);
    assert.equal(await new ReportJob(database, config, store, model).runOnce(), true);
    const rows = await database.run((manager) =>
      queryRows<{ state: string; state_reason: string; study_instance_uid: string }>(manager, 'SELECT state, state_reason, study_instance_uid FROM study WHERE id = $1', [completed[0]!.studyId]),
    );
    return rows[0]!;
  }

  it('fails a study whose only series has too few slices', async () => {
    const files = ['I10', 'I20', 'I30', 'I40', 'I50'].map((name) => path.join(PHILIPS_AXIAL, name));
    const study = await receiveAndProcess(files);

    assert.equal(study.state, 'failed');
    assert.match(study.state_reason, /No series of the study can be read by the model/);
    const series = await database.run((manager) =>
      queryRows<{ selection_decision: string; selection_reason_code: string }>(
        manager,
        'SELECT selection_decision, selection_reason_code FROM series s JOIN study t ON t.id = s.study_id WHERE t.study_instance_uid = $1',
        [study.study_instance_uid],
      ),
    );
    assert.deepEqual(series, [{ selection_decision: 'rejected', selection_reason_code: 'too_few_slices' }]);
  });

  it('fails a series with irregular spacing and stores the volume checks', async () => {
    const study = await receiveAndProcess([GE_TILT_IRREGULAR]);

    assert.equal(study.state, 'failed');
    assert.match(study.state_reason, /cannot be made into a volume/);
    const series = await database.run((manager) =>
      queryRows<{ selection_decision: string; volume_checks: { passed: boolean; code: string; checks: unknown[] } }>(
        manager,
        'SELECT selection_decision, volume_checks FROM series s JOIN study t ON t.id = s.study_id WHERE t.study_instance_uid = $1',
        [study.study_instance_uid],
      ),
    );
    assert.equal(series[0]!.selection_decision, 'selected');
    assert.equal(series[0]!.volume_checks.passed, false);
    assert.equal(series[0]!.volume_checks.code, 'non_uniform_spacing');
    assert.ok(series[0]!.volume_checks.checks.length > 0);
  });

  it('audits each failure with its code', async () => {
    const rows = await database.run((manager) =>
      queryRows<{ code: string }>(manager, `SELECT details->>'code' AS code FROM audit_event WHERE action = 'report_failed' ORDER BY occurred_at`),
    );
    assert.deepEqual(rows.map((row) => row.code), ['no_series_selected', 'non_uniform_spacing']);
  });

  it('reopens a failed study and reports it once the series is whole', async () => {
    const study = await receiveAndProcess([PHILIPS_AXIAL]);

    assert.equal(study.state, 'reported');
    const reports = await database.run((manager) =>
      queryRows<{ status: string; instance_count: number; timings: Record<string, number> }>(
        manager,
        `SELECT r.status, jsonb_array_length(r.instance_uids) AS instance_count, r.timings FROM report r JOIN study s ON s.id = r.study_id WHERE s.study_instance_uid = $1`,
        [study.study_instance_uid],
      ),
    );
    assert.equal(reports.length, 1);
    assert.equal(reports[0]!.status, 'preliminary');
    assert.equal(reports[0]!.instance_count, 28);
    for (const stage of ['selectionMs', 'volumeMs', 'inferenceMs', 'preprocessMs', 'visionMs', 'decodeMs']) {
      assert.equal(typeof reports[0]!.timings[stage], 'number', `timing ${stage} is missing`);
    }

    const [series] = await database.run((manager) =>
      queryRows<{ series_instance_uid: string; preview_directory: string | null }>(
        manager,
        `SELECT s.series_instance_uid, s.preview_directory FROM series s JOIN study t ON t.id = s.study_id WHERE t.study_instance_uid = $1`,
        [study.study_instance_uid],
      ),
    );
    assert.equal(series!.preview_directory, series!.series_instance_uid);
    for (const plane of ['axial', 'coronal', 'sagittal']) {
      const png: Buffer = await readFile(path.join(workDirectory, 'previews', series!.preview_directory!, `${plane}.png`));
      assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], `${plane}.png is a PNG`);
    }
  });
});
