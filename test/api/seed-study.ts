/**
 * Rows of one reported study, inserted with the columns that the ingest, report and delivery code
 * write. The study has a selected axial series with volume checks and previews, a rejected localizer,
 * a report, a dead ORU^R01 delivery and a held SR delivery.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import type { Database } from '../../src/db/database.ts';
import { queryRows } from '../../src/db/sql.ts';
import { encodeGrayscalePng } from '../../src/volume/png.ts';

export interface SeededStudy {
  studyInstanceUid: string;
  axialSeriesUid: string;
  localizerSeriesUid: string;
  patientId: string;
  patientName: string;
  accessionNumber: string;
  reportId: string;
  reportText: string;
  deadDeliveryId: string;
  heldDeliveryId: string;
}

export async function seedReportedStudy(database: Database, previewRoot: string, suffix: string): Promise<SeededStudy> {
  const seeded: SeededStudy = {
    studyInstanceUid: `1.2.826.0.1.3680043.8.498.${suffix}`,
    axialSeriesUid: `1.2.826.0.1.3680043.8.498.${suffix}.1`,
    localizerSeriesUid: `1.2.826.0.1.3680043.8.498.${suffix}.2`,
    patientId: `PID${suffix}`,
    patientName: `TEST^PATIENT${suffix}`,
    accessionNumber: `ACC${suffix}`,
    reportId: randomUUID(),
    reportText: `FINDINGS: No focal lesion (${suffix}).\nIMPRESSION: Normal.`,
    deadDeliveryId: randomUUID(),
    heldDeliveryId: randomUUID(),
  };
  const studyId = randomUUID();
  const axialId = randomUUID();
  const localizerId = randomUUID();
  const now = new Date();
  const previewDirectory = seeded.axialSeriesUid;

  const planes = ['axial', 'coronal', 'sagittal'];
  await mkdir(path.join(previewRoot, previewDirectory), { recursive: true });
  for (const [index, plane] of planes.entries()) {
    const pixels = new Uint8Array(16 * 16).fill(60 * (index + 1));
    await writeFile(path.join(previewRoot, previewDirectory, `${plane}.png`), encodeGrayscalePng(16, 16, pixels));
  }

  await database.transaction(async (manager) => {
    await queryRows(
      manager,
      `INSERT INTO study (id, study_instance_uid, patient_id, patient_name, accession_number, study_date, study_description, state, state_reason,
         instance_count, first_received_at, last_received_at, completed_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, '20261201', 'CT CHEST', 'reported', 'report stored', 120, $6, $6, $6, $6)`,
      [studyId, seeded.studyInstanceUid, seeded.patientId, seeded.patientName, seeded.accessionNumber, now],
    );
    await queryRows(
      manager,
      `INSERT INTO series (id, study_id, series_instance_uid, modality, series_number, series_description, instance_count, last_received_at,
         completed_at, selection_decision, selection_reason_code, selection_reason, volume_checks, preview_directory)
       VALUES ($1, $2, $3, 'CT', 2, 'AXIAL 1.0', 118, $4, $4, 'selected', 'selected', 'most slices among the soft-tissue series', $5, $6),
              ($7, $2, $8, 'CT', 1, 'SCOUT', 2, $4, $4, 'rejected', 'localizer', 'every instance is a LOCALIZER', NULL, NULL)`,
      [
        axialId,
        studyId,
        seeded.axialSeriesUid,
        now,
        JSON.stringify({ passed: true, checks: [{ name: 'slice_spacing', passed: true, detail: 'uniform spacing of 1.0 mm' }], gaps: [], voxelType: 'int16' }),
        previewDirectory,
        localizerId,
        seeded.localizerSeriesUid,
      ],
    );
    await queryRows(
      manager,
      `INSERT INTO report (id, study_id, series_id, status, text, findings, impression, model_name, model_version, model_device_uid,
         instance_uids, timings, created_at)
       VALUES ($1, $2, $3, 'preliminary', $4, 'No focal lesion.', 'Normal.', 'tiny-argus', '0.1', '2.25.1', '[]', '{"inferenceMs": 10}', $5)`,
      [seeded.reportId, studyId, axialId, seeded.reportText, now],
    );
    const oru = `MSH|^~\\&|ARGUS|RAD|RIS|HOSP|20261201120000||ORU^R01^ORU_R01|OLD${suffix}|P|2.5.1\rPID|1||X\r`;
    await queryRows(
      manager,
      `INSERT INTO delivery (id, report_id, kind, destination, control_id, payload, state, attempts, next_attempt_at, last_error, created_at, updated_at)
       VALUES ($1, $2, 'hl7_oru', 'ris', $3, $4, 'dead', 20, $5, 'connection refused', $5, $5),
              ($6, $2, 'dicom_sr', 'pacs', $7, $8, 'held', 0, $5, NULL, $5, $5)`,
      [seeded.deadDeliveryId, seeded.reportId, `OLD${suffix}`, Buffer.from(oru, 'utf8'), now, seeded.heldDeliveryId, `2.25.${Date.now()}`, Buffer.from('DICM')],
    );
  });
  return seeded;
}
