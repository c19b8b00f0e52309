/**
 * The completeness state machine on PostgreSQL, with the clock passed in: instances are recorded through
 * the ingest statement the listener uses, and the check is run at chosen times.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { runCompletenessCheck, type CompletenessSettings } from '../../src/completeness/completeness-check.ts';
import { Database } from '../../src/db/database.ts';
import { recordInstance } from '../../src/db/queries/ingest.ts';
import { listReports } from '../../src/db/queries/reports.ts';
import { detachNewJobReport } from '../../src/db/queries/worker.ts';
import { queryRows } from '../../src/db/sql.ts';
import { generateUid } from '../../src/dicom/uid.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const BASIC_TEXT_SR = '1.2.840.10008.5.1.4.1.1.88.11';
const T0 = Date.parse('2026-03-02T08:00:00Z');

const SETTINGS: CompletenessSettings = {
  studyQuietPeriodSeconds: 30,
  seriesQuietPeriodSeconds: 10,
  forceCompleteAfterSeconds: 600,
  requiredSeries: [],
  lateArrivalPolicy: 'amend',
};

/** Seconds after T0. */
function at(seconds: number): Date {
  return new Date(T0 + seconds * 1000);
}

interface StudyRow {
  id: string;
  state: string;
  state_reason: string | null;
  run_reason: string;
  late_instance_count: number;
  instance_count: number;
}

describe('completeness check', () => {
  let testDatabase: TestDatabase;
  let first: Database;
  let second: Database;

  before(async () => {
    testDatabase = await createTestDatabase('argus_completeness');
    first = await Database.open({ kind: 'postgres', url: testDatabase.url });
    second = await Database.open({ kind: 'postgres', url: testDatabase.url });
    await first.migrate();
  });

  after(async () => {
    await first.close();
    await second.close();
    await testDatabase.drop();
  });

  /** Records one instance as the listener would; returns the UIDs used. */
  async function receive(options: {
    study: string;
    series?: string;
    at: Date;
    sopClassUid?: string;
    modality?: string;
    seriesDescription?: string;
    imageType?: string[];
  }): Promise<string> {
    const series = options.series ?? `${options.study}.1`;
    const sopClassUid = options.sopClassUid ?? CT;
    const result = await first.run((manager) =>
      recordInstance(manager, {
        study: {
          id: randomUUID(),
          studyInstanceUid: options.study,
          patientId: null,
          issuerOfPatientId: null,
          patientName: null,
          patientBirthDate: null,
          patientSex: null,
          accessionNumber: null,
          studyId: null,
          studyDate: null,
          studyTime: null,
          studyDescription: null,
          referringPhysicianName: null,
          specificCharacterSet: null,
        },
        series: { id: randomUUID(), seriesInstanceUid: series, modality: options.modality ?? 'CT', seriesNumber: 1, seriesDescription: options.seriesDescription ?? null },
        instance: {
          id: randomUUID(),
          sopInstanceUid: generateUid(),
          sopClassUid,
          transferSyntaxUid: '1.2.840.10008.1.2.1',
          filePath: `${randomUUID()}.dcm`,
          sizeBytes: 1000,
          sha256: 'a'.repeat(64),
          modality: options.modality ?? 'CT',
          instanceNumber: 1,
          imageType: options.imageType ?? ['ORIGINAL', 'PRIMARY', 'AXIAL'],
          imagePositionPatient: null,
          imageOrientationPatient: null,
          rows: 512,
          columns: 512,
          callingAeTitle: 'STORESCU',
          associationId: randomUUID(),
          receivedAt: options.at,
        },
        processed: sopClassUid === CT,
        eventIds: [randomUUID(), randomUUID()],
      }),
    );
    assert.equal(result.kind, 'inserted');
    return series;
  }

  async function study(studyInstanceUid: string): Promise<StudyRow> {
    const rows = await first.run((manager) =>
      queryRows<StudyRow>(
        manager,
        `SELECT id, state, state_reason, run_reason, late_instance_count, instance_count FROM study WHERE study_instance_uid = $1`,
        [studyInstanceUid],
      ),
    );
    return rows[0]!;
  }

  async function decisions(studyInstanceUid: string): Promise<string[]> {
    const rows = await first.run((manager) =>
      queryRows<{ decision: string }>(
        manager,
        `SELECT e.decision FROM completeness_event e JOIN study s ON s.id = e.study_id WHERE s.study_instance_uid = $1 ORDER BY e.decided_at, e.decision`,
        [studyInstanceUid],
      ),
    );
    return rows.map((row) => row.decision);
  }

  async function setState(studyInstanceUid: string, state: string): Promise<void> {
    await first.run((manager) => queryRows(manager, `UPDATE study SET state = $2 WHERE study_instance_uid = $1 RETURNING id`, [studyInstanceUid, state]));
  }

  it('completes series and study after their quiet periods', async () => {
    const uid = generateUid();
    await receive({ study: uid, at: at(0) });
    await receive({ study: uid, at: at(5) });

    await runCompletenessCheck(first, SETTINGS, at(14));
    assert.deepEqual(await decisions(uid), []);
    await runCompletenessCheck(first, SETTINGS, at(16));
    assert.deepEqual(await decisions(uid), ['series_complete']);
    assert.equal((await study(uid)).state, 'receiving');

    const outcomes = await runCompletenessCheck(first, SETTINGS, at(35));
    assert.deepEqual(
      outcomes.filter((outcome) => outcome.studyInstanceUid === uid).map((outcome) => outcome.decision),
      ['study_complete'],
    );
    const row = await study(uid);
    assert.equal(row.state, 'complete');
    assert.equal(row.run_reason, 'initial');
    assert.match(row.state_reason!, /no instance received for 30 s \(study quiet period\) and every series complete \(series quiet period 10 s\); last instance at 2026-03-02T08:00:05\.000Z/);
    assert.deepEqual(await decisions(uid), ['series_complete', 'study_complete']);
  });

  it('counts quiet time only after the listener started', async () => {
    const uid = generateUid();
    await receive({ study: uid, at: at(0) });
    // The service was down from second 5 to second 100: the quiet period restarts at 100.
    const restarted = { ...SETTINGS, listeningSince: at(100) };
    await runCompletenessCheck(first, restarted, at(120));
    assert.equal((await study(uid)).state, 'receiving');
    assert.deepEqual(await decisions(uid), ['series_complete']);
    await runCompletenessCheck(first, restarted, at(131));
    assert.equal((await study(uid)).state, 'complete');
  });

  it('waits for a series still inside its quiet period', async () => {
    const uid = generateUid();
    await receive({ study: uid, at: at(0) });
    const slow = { ...SETTINGS, studyQuietPeriodSeconds: 5, seriesQuietPeriodSeconds: 20 };
    await runCompletenessCheck(first, slow, at(10));
    assert.equal((await study(uid)).state, 'receiving');
    await runCompletenessCheck(first, slow, at(21));
    assert.equal((await study(uid)).state, 'complete');
  });

  it('reopens a series and a complete study on a new instance', async () => {
    const uid = generateUid();
    await receive({ study: uid, at: at(0) });
    await runCompletenessCheck(first, SETTINGS, at(40));
    assert.equal((await study(uid)).state, 'complete');

    await receive({ study: uid, at: at(41) });
    const row = await study(uid);
    assert.equal(row.state, 'receiving');
    assert.match(row.state_reason!, /a new instance arrived after the study was complete/);
    assert.deepEqual(await decisions(uid), ['series_complete', 'study_complete', 'series_reopened', 'study_reopened']);

    await runCompletenessCheck(first, SETTINGS, at(80));
    assert.equal((await study(uid)).state, 'complete');
    assert.equal((await decisions(uid)).filter((decision) => decision === 'study_complete').length, 2);
  });

  it('waits for a required series, then completes', async () => {
    const settings = { ...SETTINGS, requiredSeries: [{ modality: 'CT', imageType: ['ORIGINAL', 'AXIAL'] }, { seriesDescription: 'dose' }] };
    const uid = generateUid();
    await receive({ study: uid, at: at(0), imageType: ['ORIGINAL', 'PRIMARY', 'AXIAL'] });

    await runCompletenessCheck(first, settings, at(40));
    await runCompletenessCheck(first, settings, at(45));
    let row = await study(uid);
    assert.equal(row.state, 'receiving');
    assert.match(row.state_reason!, /waiting for required series: SeriesDescription \/dose\/i; forced complete at 2026-03-02T08:10:00\.000Z at the latest/);
    assert.deepEqual(await decisions(uid), ['series_complete', 'study_waiting']);

    await receive({ study: uid, series: `${uid}.9`, at: at(50), modality: 'SR', sopClassUid: BASIC_TEXT_SR, seriesDescription: 'Dose Report' });
    await runCompletenessCheck(first, settings, at(90));
    row = await study(uid);
    assert.equal(row.state, 'complete');
    assert.match(row.state_reason!, /required series present: Modality CT, ImageType ORIGINAL\\AXIAL; SeriesDescription \/dose\/i/);
  });

  it('forces a study at the deadline and says why', async () => {
    const settings = { ...SETTINGS, requiredSeries: [{ seriesDescription: '^never$' }] };
    const uid = generateUid();
    // An instance every 20 s: never quiet for 30 s.
    for (let second = 0; second <= 600; second += 20) {
      await receive({ study: uid, at: at(second) });
      await runCompletenessCheck(first, settings, at(second + 1));
    }
    const row = await study(uid);
    assert.equal(row.state, 'complete');
    assert.match(row.state_reason!, /^forced complete at the deadline, 600 s after receiving began at 2026-03-02T08:00:00\.000Z: /);
    assert.match(row.state_reason!, /instances still arriving \(last at 2026-03-02T08:10:00\.000Z\)/);
    assert.match(row.state_reason!, /required series missing: SeriesDescription \/\^never\$\/i/);
    const forced = await decisions(uid);
    assert.equal(forced.filter((decision) => decision === 'study_forced_complete').length, 1);
    assert.equal(forced.filter((decision) => decision === 'study_complete').length, 0);
    const audit = await first.run((manager) => queryRows<{ count: number }>(manager, `SELECT count(*)::int AS count FROM audit_event WHERE action = 'study_forced_complete' AND study_instance_uid = $1`, [uid]));
    assert.equal(audit[0]!.count, 1);
  });

  for (const [policy, expectedState, expectedRunReason, expectedDecision] of [
    ['ignore', 'reported', 'initial', 'late_arrival_ignored'],
    ['amend', 'complete', 'amend', 'late_arrival_amend'],
    ['new_job', 'complete', 'new_job', 'late_arrival_new_job'],
  ] as const) {
    it(`applies the late-arrival policy ${policy}`, async () => {
      const settings = { ...SETTINGS, lateArrivalPolicy: policy };
      const uid = generateUid();
      await receive({ study: uid, at: at(0) });
      await runCompletenessCheck(first, settings, at(40));
      await setState(uid, 'reported');

      // A stored-only instance (a dose SR) is no late arrival.
      await receive({ study: uid, series: `${uid}.8`, at: at(100), sopClassUid: BASIC_TEXT_SR, modality: 'SR' });
      assert.equal((await study(uid)).late_instance_count, 0);
      await receive({ study: uid, series: `${uid}.2`, at: at(101) });
      await receive({ study: uid, series: `${uid}.2`, at: at(102) });
      assert.equal((await study(uid)).late_instance_count, 2);

      await runCompletenessCheck(first, settings, at(110));
      assert.equal((await study(uid)).state, 'reported', 'still arriving: no decision yet');
      await runCompletenessCheck(first, settings, at(140));
      const row = await study(uid);
      assert.equal(row.state, expectedState);
      assert.equal(row.run_reason, expectedRunReason);
      assert.equal(row.late_instance_count, 0);
      assert.match(row.state_reason!, new RegExp(`2 instance\\(s\\) of a processed SOP class arrived after the study was processed.*late-arrival policy ${policy}`));
      assert.equal((await decisions(uid)).filter((decision) => decision === expectedDecision).length, 1);
    });
  }

  it('reopens a failed study only for a processed SOP class', async () => {
    const uid = generateUid();
    await receive({ study: uid, at: at(0) });
    await runCompletenessCheck(first, SETTINGS, at(40));
    await setState(uid, 'failed');
    await receive({ study: uid, series: `${uid}.8`, at: at(50), sopClassUid: BASIC_TEXT_SR, modality: 'SR' });
    assert.equal((await study(uid)).state, 'failed');
    await receive({ study: uid, at: at(60) });
    const row = await study(uid);
    assert.equal(row.state, 'receiving');
    assert.equal(row.run_reason, 'reopened');
  });

  it('detaches the report of a new job from the one before', async () => {
    const uid = generateUid();
    await receive({ study: uid, at: at(0) });
    const { id: studyId } = await study(uid);
    const seriesRows = await first.run((manager) => queryRows<{ id: string }>(manager, 'SELECT id FROM series WHERE study_id = $1', [studyId]));
    const [earlier, later] = [randomUUID(), randomUUID()];
    for (const [reportId, supersedes] of [
      [earlier, null],
      [later, earlier],
    ]) {
      await first.run((manager) =>
        queryRows(
          manager,
          `INSERT INTO report (id, study_id, series_id, status, text, findings, impression, model_name, model_version, model_device_uid,
             instance_uids, timings, created_at, supersedes_report_id)
           VALUES ($1, $2, $3, 'preliminary', '', '', '', 'm', '1', '1.2', '[]', '{}', now(), $4)`,
          [reportId, studyId, seriesRows[0]!.id, supersedes],
        ),
      );
    }
    // reports list shows which report replaces which.
    const listed = await first.run((manager) => listReports(manager, 100));
    assert.equal(listed.find((report) => report.id === later)?.supersedesReportId, earlier);
    assert.equal(listed.find((report) => report.id === earlier)?.supersedesReportId, null);

    await first.run((manager) => queryRows(manager, `UPDATE study SET run_reason = 'amend' WHERE id = $1 RETURNING id`, [studyId]));
    assert.equal(await first.run((manager) => detachNewJobReport(manager, studyId, later)), false);
    await first.run((manager) => queryRows(manager, `UPDATE study SET run_reason = 'new_job' WHERE id = $1 RETURNING id`, [studyId]));
    assert.equal(await first.run((manager) => detachNewJobReport(manager, studyId, later)), true);
  });

  it('completes each study once when two processes check at the same time', async () => {
    const uids = Array.from({ length: 20 }, () => generateUid());
    for (const uid of uids) await receive({ study: uid, at: at(1000) });

    const [fromFirst, fromSecond] = await Promise.all([runCompletenessCheck(first, SETTINGS, at(1100)), runCompletenessCheck(second, SETTINGS, at(1100))]);

    const completed = [...fromFirst, ...fromSecond].filter((outcome) => uids.includes(outcome.studyInstanceUid) && outcome.decision === 'study_complete');
    assert.equal(completed.length, 20);
    assert.equal(new Set(completed.map((outcome) => outcome.studyInstanceUid)).size, 20);
    const events = await first.run((manager) =>
      queryRows<{ count: number }>(
        manager,
        `SELECT count(*)::int AS count FROM completeness_event e JOIN study s ON s.id = e.study_id
          WHERE s.study_instance_uid = ANY($1) AND e.decision IN ('study_complete', 'series_complete')`,
        [uids],
      ),
    );
    assert.equal(events[0]!.count, 40, 'one series_complete and one study_complete per study');
  });
});
