/** SQL of the report worker: claiming studies, reading what selection needs, recording outcomes. */
import type { EntityManager } from 'typeorm';

import type { Study } from '../entities/study.ts';
import { queryRows } from '../sql.ts';

/**
 * Claims the complete study that has waited longest and moves it to `processing`. SKIP LOCKED lets
 * several workers claim different studies at once.
 */
export async function claimCompleteStudy(manager: EntityManager, now: Date): Promise<{ id: string; studyInstanceUid: string; completedAt: Date } | undefined> {
  const rows = await queryRows<{ id: string; study_instance_uid: string; completed_at: Date }>(
    manager,
    `UPDATE study SET state = 'processing', updated_at = $1
      WHERE id = (SELECT id FROM study WHERE state = 'complete' ORDER BY completed_at LIMIT 1 FOR UPDATE SKIP LOCKED)
      RETURNING id, study_instance_uid, completed_at`,
    [now],
  );
  const row = rows[0];
  return row ? { id: row.id, studyInstanceUid: row.study_instance_uid, completedAt: new Date(row.completed_at) } : undefined;
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
