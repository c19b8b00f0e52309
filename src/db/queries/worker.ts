/** SQL of the report worker: claiming studies, reading what selection needs, recording outcomes. */
import type { EntityManager } from 'typeorm';

import type { Study } from '../entities/study.ts';
import { queryRows } from '../sql.ts';

/**
 * Claims the complete study that has waited longest and moves it to `processing`. SKIP LOCKED lets
 * several workers claim different studies at once.
 */
export async function claimCompleteStudy(manager: EntityManager, now: Date, token: string): Promise<ClaimedStudy | undefined> {
  const rows = await queryRows<ClaimedStudyRow>(
    manager,
    `UPDATE study SET state = 'processing', updated_at = $1, processing_token = $2
      WHERE id = (SELECT id FROM study WHERE state = 'complete' ORDER BY completed_at LIMIT 1 FOR UPDATE SKIP LOCKED)
      RETURNING id, study_instance_uid, completed_at, report_run`,
    [now, token],
  );
  return rows[0] && claimedStudy(rows[0]);
}

export interface ClaimedStudy {
  id: string;
  studyInstanceUid: string;
  completedAt: Date;
  run: number;
}

interface ClaimedStudyRow {
  id: string;
  study_instance_uid: string;
  completed_at: Date;
  report_run: number;
}

function claimedStudy(row: ClaimedStudyRow): ClaimedStudy {
  return { id: row.id, studyInstanceUid: row.study_instance_uid, completedAt: new Date(row.completed_at), run: Number(row.report_run) };
}

/**
 * Gives a study to one attempt of its report job: the job must be the study's current one
 * (report_job_id) and the study complete, or processing under an earlier attempt of the same job whose
 * lease ran out. The new token fences that earlier attempt out. Undefined when the job is stale.
 */
export async function claimStudyForJob(manager: EntityManager, studyId: string, jobId: string, token: string, now: Date): Promise<ClaimedStudy | undefined> {
  const rows = await queryRows<ClaimedStudyRow>(
    manager,
    `UPDATE study SET state = 'processing', updated_at = $4, processing_token = $3
      WHERE id = $1 AND report_job_id = $2 AND state IN ('complete', 'processing')
      RETURNING id, study_instance_uid, completed_at, report_run`,
    [studyId, jobId, token, now],
  );
  return rows[0] && claimedStudy(rows[0]);
}

/** Locks the study if the attempt holding `token` still owns it; false when another attempt took it over. */
export async function lockOwnedStudy(manager: EntityManager, studyId: string, token: string): Promise<boolean> {
  const rows = await queryRows(manager, `SELECT id FROM study WHERE id = $1 AND processing_token = $2 AND state = 'processing' FOR UPDATE`, [studyId, token]);
  return rows.length === 1;
}

/**
 * Gives a newly complete study its next report run and the id of the job that will produce it, in the
 * transaction that completes it. Returns what the job's priority is decided on.
 */
export async function startReportRun(
  manager: EntityManager,
  studyId: string,
  jobId: string,
): Promise<{ run: number; studyDescription: string | null; orderPriorities: string[]; lastReceivedAt: Date; completedAt: Date }> {
  const rows = await queryRows<{ report_run: number; study_description: string | null; order_priorities: string[] | null; last_received_at: Date; completed_at: Date }>(
    manager,
    `UPDATE study s SET report_run = s.report_run + 1, report_job_id = $2, processing_token = NULL
      WHERE s.id = $1
      RETURNING s.report_run, s.study_description, s.last_received_at, s.completed_at,
        (SELECT array_agg(o.priority) FROM imaging_order o
          WHERE o.accession_number = s.accession_number AND o.status = 'active' AND o.priority IS NOT NULL) AS order_priorities`,
    [studyId, jobId],
  );
  const row = rows[0];
  if (!row) throw new Error(`study ${studyId} does not exist`);
  return {
    run: Number(row.report_run),
    studyDescription: row.study_description,
    orderPriorities: row.order_priorities ?? [],
    lastReceivedAt: new Date(row.last_received_at),
    completedAt: new Date(row.completed_at),
  };
}

export interface InstanceRow {
  seriesId: string;
  seriesInstanceUid: string;
  seriesModality: string | null;
  seriesDescription: string | null;
  sopInstanceUid: string;
  sopClassUid: string;
  modality: string | null;
  imageType: string[] | null;
  imagePositionPatient: number[] | null;
  imageOrientationPatient: number[] | null;
  rows: number | null;
  columns: number | null;
  filePath: string;
}

export async function listStudyInstances(manager: EntityManager, studyId: string): Promise<InstanceRow[]> {
  const rows = await queryRows<Record<string, unknown>>(
    manager,
    `SELECT s.id AS series_id, s.series_instance_uid, s.modality AS series_modality, s.series_description,
            i.sop_instance_uid, i.sop_class_uid, i.modality, i.image_type, i.image_position_patient,
            i.image_orientation_patient, i.rows, i.columns, i.file_path
       FROM instance i JOIN series s ON s.id = i.series_id
      WHERE i.study_id = $1
      ORDER BY s.series_number NULLS LAST, s.series_instance_uid, i.received_at`,
    [studyId],
  );
  return rows.map((row) => ({
    seriesId: row.series_id as string,
    seriesInstanceUid: row.series_instance_uid as string,
    seriesModality: row.series_modality as string | null,
    seriesDescription: row.series_description as string | null,
    sopInstanceUid: row.sop_instance_uid as string,
    sopClassUid: row.sop_class_uid as string,
    modality: row.modality as string | null,
    imageType: row.image_type as string[] | null,
    imagePositionPatient: row.image_position_patient as number[] | null,
    imageOrientationPatient: row.image_orientation_patient as number[] | null,
    rows: row.rows as number | null,
    columns: row.columns as number | null,
    filePath: row.file_path as string,
  }));
}

export async function recordSeriesDecision(
  manager: EntityManager,
  seriesId: string,
  decision: { selected: boolean; reasonCode: string; reason: string },
): Promise<void> {
  await queryRows(
    manager,
    `UPDATE series SET selection_decision = $2, selection_reason_code = $3, selection_reason = $4 WHERE id = $1 RETURNING id`,
    [seriesId, decision.selected ? 'selected' : 'rejected', decision.reasonCode, decision.reason],
  );
}

export async function recordVolumeChecks(manager: EntityManager, seriesId: string, checks: unknown): Promise<void> {
  await queryRows(manager, `UPDATE series SET volume_checks = $2 WHERE id = $1 RETURNING id`, [seriesId, JSON.stringify(checks)]);
}

export async function setStudyState(manager: EntityManager, studyId: string, state: Study['state'], reason: string, now: Date): Promise<void> {
  await queryRows(manager, `UPDATE study SET state = $2, state_reason = $3, updated_at = $4 WHERE id = $1 RETURNING id`, [studyId, state, reason, now]);
}

/** Sets the state of a study that the attempt holding `token` still owns; false when it no longer does. */
export async function setOwnedStudyState(manager: EntityManager, studyId: string, token: string, state: Study['state'], reason: string, now: Date): Promise<boolean> {
  const rows = await queryRows(
    manager,
    `UPDATE study SET state = $3, state_reason = $4, updated_at = $5 WHERE id = $1 AND processing_token = $2 AND state = 'processing' RETURNING id`,
    [studyId, token, state, reason, now],
  );
  return rows.length === 1;
}

/**
 * Clears the replaced-report link of a report written for a study that the late-arrival policy
 * `new_job` sent back to processing: that report is a new one, not an amendment. Returns whether it did.
 */
export async function detachNewJobReport(manager: EntityManager, studyId: string, reportId: string): Promise<boolean> {
  const rows = await queryRows<{ id: string }>(
    manager,
    `UPDATE report SET supersedes_report_id = NULL
      WHERE id = $2 AND supersedes_report_id IS NOT NULL AND (SELECT run_reason FROM study WHERE id = $1) = 'new_job'
      RETURNING id`,
    [studyId, reportId],
  );
  return rows.length === 1;
}
