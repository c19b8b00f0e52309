/** SQL of the ingest stage: upserting studies and series and inserting instances. */
import type { EntityManager } from 'typeorm';

import { queryRows } from '../sql.ts';

export interface StudyFields {
  id: string;
  studyInstanceUid: string;
  patientId: string | null;
  issuerOfPatientId: string | null;
  patientName: string | null;
  patientBirthDate: string | null;
  patientSex: string | null;
  accessionNumber: string | null;
  studyId: string | null;
  studyDate: string | null;
  studyTime: string | null;
  studyDescription: string | null;
  referringPhysicianName: string | null;
  specificCharacterSet: string | null;
}

/**
 * Inserts the study or, when it exists, keeps its attributes and moves last_received_at forward.
 * Returns the stored id and state.
 */
export async function upsertStudyReturningState(
  manager: EntityManager,
  study: StudyFields,
  receivedAt: Date,
): Promise<{ id: string; state: string }> {
  const rows = await queryRows<{ id: string; state: string }>(
    manager,
    `INSERT INTO study (id, study_instance_uid, patient_id, issuer_of_patient_id, patient_name, patient_birth_date,
       patient_sex, accession_number, study_id, study_date, study_time, study_description, referring_physician_name,
       specific_character_set, state, instance_count, first_received_at, last_received_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'receiving', 0, $15, $15, $15)
     ON CONFLICT (study_instance_uid) DO UPDATE
       SET last_received_at = GREATEST(study.last_received_at, EXCLUDED.last_received_at),
           updated_at = EXCLUDED.updated_at
     RETURNING id, state`,
    [
      study.id,
      study.studyInstanceUid,
      study.patientId,
      study.issuerOfPatientId,
      study.patientName,
      study.patientBirthDate,
      study.patientSex,
      study.accessionNumber,
      study.studyId,
      study.studyDate,
      study.studyTime,
      study.studyDescription,
      study.referringPhysicianName,
      study.specificCharacterSet,
      receivedAt,
    ],
  );
  return rows[0]!;
}

export async function upsertSeriesReturningId(
  manager: EntityManager,
  series: { id: string; studyId: string; seriesInstanceUid: string; modality: string | null; seriesNumber: number | null; seriesDescription: string | null },
  receivedAt: Date,
): Promise<{ id: string; studyId: string }> {
  const rows = await queryRows<{ id: string; study_id: string }>(
    manager,
    `INSERT INTO series (id, study_id, series_instance_uid, modality, series_number, series_description, instance_count, last_received_at)
     VALUES ($1, $2, $3, $4, $5, $6, 0, $7)
     ON CONFLICT (series_instance_uid) DO UPDATE
       SET last_received_at = GREATEST(series.last_received_at, EXCLUDED.last_received_at)
     RETURNING id, study_id`,
    [series.id, series.studyId, series.seriesInstanceUid, series.modality, series.seriesNumber, series.seriesDescription, receivedAt],
  );
  return { id: rows[0]!.id, studyId: rows[0]!.study_id };
}

export interface InstanceFields {
  id: string;
  studyId: string;
  seriesId: string;
  sopInstanceUid: string;
  sopClassUid: string;
  transferSyntaxUid: string;
  filePath: string;
  sizeBytes: number;
  sha256: string;
  modality: string | null;
  instanceNumber: number | null;
  imageType: string[] | null;
  imagePositionPatient: number[] | null;
  imageOrientationPatient: number[] | null;
  rows: number | null;
  columns: number | null;
  callingAeTitle: string;
  associationId: string;
  receivedAt: Date;
}

/** Inserts the instance unless its SOPInstanceUID exists; returns whether a row was inserted. */
export async function insertInstanceIfNew(manager: EntityManager, instance: InstanceFields): Promise<boolean> {
  const rows = await queryRows<{ id: string }>(
    manager,
    `INSERT INTO instance (id, study_id, series_id, sop_instance_uid, sop_class_uid, transfer_syntax_uid, file_path, size_bytes,
       sha256, modality, instance_number, image_type, image_position_patient, image_orientation_patient, rows, columns,
       calling_ae_title, association_id, received_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
     ON CONFLICT (sop_instance_uid) DO NOTHING
     RETURNING id`,
    [
      instance.id,
      instance.studyId,
      instance.seriesId,
      instance.sopInstanceUid,
      instance.sopClassUid,
      instance.transferSyntaxUid,
      instance.filePath,
      instance.sizeBytes,
      instance.sha256,
      instance.modality,
      instance.instanceNumber,
      jsonOrNull(instance.imageType),
      jsonOrNull(instance.imagePositionPatient),
      jsonOrNull(instance.imageOrientationPatient),
      instance.rows,
      instance.columns,
      instance.callingAeTitle,
      instance.associationId,
      instance.receivedAt,
    ],
  );
  return rows.length === 1;
}

function jsonOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

/**
 * Counts the new instance on its series and study. A study that is complete but not yet picked up, or
 * that failed (for example with too few slices), goes back to receiving so that it is decided again
 * after a new quiet period. A study being processed or already reported keeps its state.
 */
export async function countNewInstance(manager: EntityManager, studyId: string, seriesId: string): Promise<void> {
  await queryRows(manager, `UPDATE series SET instance_count = instance_count + 1 WHERE id = $1 RETURNING id`, [seriesId]);
  await queryRows(
    manager,
    `UPDATE study SET instance_count = instance_count + 1,
       state = CASE WHEN state IN ('complete', 'failed') THEN 'receiving' ELSE state END,
       state_reason = CASE WHEN state IN ('complete', 'failed')
         THEN 'a new instance arrived after the study was ' || state || '; waiting for a new quiet period'
         ELSE state_reason END,
       completed_at = CASE WHEN state IN ('complete', 'failed') THEN NULL ELSE completed_at END
     WHERE id = $1 RETURNING id`,
    [studyId],
  );
}

export async function findInstanceBySopInstanceUid(
  manager: EntityManager,
  sopInstanceUid: string,
): Promise<{ sha256: string; filePath: string } | undefined> {
  const rows = await queryRows<{ sha256: string; file_path: string }>(
    manager,
    `SELECT sha256, file_path FROM instance WHERE sop_instance_uid = $1`,
    [sopInstanceUid],
  );
  const row = rows[0];
  return row ? { sha256: row.sha256, filePath: row.file_path } : undefined;
}
