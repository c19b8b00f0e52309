/**
 * Read queries of the admin API on studies: a filtered, paged list with each study's progress, and one
 * study's detail with its series, selection reasons, volume checks, reports and deliveries.
 */
import type { EntityManager } from 'typeorm';

import { queryRows } from '../sql.ts';
import { toDeliverySummary, type DeliverySummary } from './reports.ts';

/**
 * Stage of a study on its way, derived from its state and the deliveries of its latest report. Before
 * a report it is receiving, queued (complete, waiting for a worker), processing or failed. A reported
 * study is delivery_failed (a dead delivery), held (waiting for approval), delivering or done.
 */
export type StudyStage = 'receiving' | 'queued' | 'processing' | 'failed' | 'delivery_failed' | 'held' | 'delivering' | 'done';

export const STUDY_STATES = ['receiving', 'complete', 'processing', 'reported', 'failed'] as const;

export interface StudyFilter {
  state?: string;
  /** Studies whose first instance arrived at or after this time. */
  receivedFrom?: Date;
  /** Studies whose first instance arrived before this time. */
  receivedTo?: Date;
  /** Matches the start of the patient ID, accession number or StudyInstanceUID, or any part of the patient name. */
  search?: string;
  limit: number;
  offset: number;
}

export interface StudySummary {
  studyInstanceUid: string;
  patientId: string | null;
  patientName: string | null;
  accessionNumber: string | null;
  studyDate: string | null;
  studyDescription: string | null;
  state: string;
  stateReason: string | null;
  stage: StudyStage;
  instanceCount: number;
  firstReceivedAt: string;
  lastReceivedAt: string;
  completedAt: string | null;
  latestReportId: string | null;
}

/** The stage expression; `s` is the study and `d` the delivery counts of its latest report. */
const STAGE_SQL = `CASE
    WHEN s.state = 'receiving' THEN 'receiving'
    WHEN s.state = 'complete' THEN 'queued'
    WHEN s.state = 'processing' THEN 'processing'
    WHEN s.state = 'failed' THEN 'failed'
    WHEN d.dead > 0 THEN 'delivery_failed'
    WHEN d.held > 0 THEN 'held'
    WHEN d.open > 0 THEN 'delivering'
    ELSE 'done' END`;

/** Joins the latest report of study `s` as `lr` and the state counts of its deliveries as `d`. */
const LATEST_REPORT_JOIN = `
  LEFT JOIN LATERAL (SELECT r.id FROM report r WHERE r.study_id = s.id ORDER BY r.created_at DESC LIMIT 1) lr ON true
  LEFT JOIN LATERAL (
    SELECT count(*) FILTER (WHERE x.state = 'dead')::int AS dead,
           count(*) FILTER (WHERE x.state = 'held')::int AS held,
           count(*) FILTER (WHERE x.state IN ('pending', 'sending', 'failed'))::int AS open
      FROM delivery x WHERE x.report_id = lr.id) d ON true`;

const SUMMARY_COLUMNS = `s.study_instance_uid, s.patient_id, s.patient_name, s.accession_number, s.study_date, s.study_description,
  s.state, s.state_reason, s.instance_count, s.first_received_at, s.last_received_at, s.completed_at, lr.id AS latest_report_id,
  ${STAGE_SQL} AS stage`;

function toSummary(row: Record<string, unknown>): StudySummary {
  return {
    studyInstanceUid: row.study_instance_uid as string,
    patientId: (row.patient_id as string | null) ?? null,
    patientName: (row.patient_name as string | null) ?? null,
    accessionNumber: (row.accession_number as string | null) ?? null,
    studyDate: (row.study_date as string | null) ?? null,
    studyDescription: (row.study_description as string | null) ?? null,
    state: row.state as string,
    stateReason: (row.state_reason as string | null) ?? null,
    stage: row.stage as StudyStage,
    instanceCount: Number(row.instance_count),
    firstReceivedAt: new Date(row.first_received_at as string).toISOString(),
    lastReceivedAt: new Date(row.last_received_at as string).toISOString(),
    completedAt: row.completed_at ? new Date(row.completed_at as string).toISOString() : null,
    latestReportId: (row.latest_report_id as string | null) ?? null,
  };
}

/** Escapes LIKE wildcards so that a search string matches literally. */
function likeLiteral(value: string): string {
  return value.replace(/[\\%_]/g, (character) => `\\${character}`);
}

/** Returns one page of studies, most recently received first, and the number of studies the filter matches. */
export async function searchStudies(manager: EntityManager, filter: StudyFilter): Promise<{ total: number; studies: StudySummary[] }> {
  const conditions: string[] = [];
  const parameters: unknown[] = [];
  const add = (condition: (placeholder: string) => string, value: unknown) => {
    parameters.push(value);
    conditions.push(condition(`$${parameters.length}`));
  };
  if (filter.state !== undefined) add((p) => `s.state = ${p}`, filter.state);
  if (filter.receivedFrom !== undefined) add((p) => `s.first_received_at >= ${p}`, filter.receivedFrom);
  if (filter.receivedTo !== undefined) add((p) => `s.first_received_at < ${p}`, filter.receivedTo);
  if (filter.search !== undefined) {
    const literal = likeLiteral(filter.search);
    add(
      (p) => `(s.patient_id ILIKE ${p} || '%' OR s.accession_number ILIKE ${p} || '%' OR s.study_instance_uid LIKE ${p} || '%' OR s.patient_name ILIKE '%' || ${p} || '%')`,
      literal,
    );
  }
  const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';

  const counted = await queryRows<{ total: number | string }>(manager, `SELECT count(*) AS total FROM study s ${where}`, parameters);
  const rows = await queryRows<Record<string, unknown>>(
    manager,
    `SELECT ${SUMMARY_COLUMNS} FROM study s ${LATEST_REPORT_JOIN} ${where}
      ORDER BY s.last_received_at DESC, s.study_instance_uid
      LIMIT $${parameters.length + 1} OFFSET $${parameters.length + 2}`,
    [...parameters, filter.limit, filter.offset],
  );
  return { total: Number(counted[0]?.total ?? 0), studies: rows.map(toSummary) };
}

export interface SeriesDetail {
  seriesInstanceUid: string;
  modality: string | null;
  seriesNumber: number | null;
  seriesDescription: string | null;
  instanceCount: number;
  completedAt: string | null;
  selectionDecision: 'selected' | 'rejected' | null;
  selectionReasonCode: string | null;
  selectionReason: string | null;
  /**
   * Findings of volume assembly as the report job stores them: `passed`, `checks` (name, passed,
   * detail, measured value and limit), and for a rejected series `code` and `reason`.
   */
  volumeChecks: Record<string, unknown> | null;
  /** Previews were written for this series' volume (axial, coronal and sagittal PNGs). */
  hasPreviews: boolean;
}

export interface ReportSummary {
  id: string;
  status: string;
  createdAt: string;
  model: { name: string; version: string };
  seriesInstanceUid: string;
  supersedesReportId: string | null;
}

export interface StudyDetail extends StudySummary {
  patientBirthDate: string | null;
  patientSex: string | null;
  studyTime: string | null;
  series: SeriesDetail[];
  reports: ReportSummary[];
  deliveries: DeliverySummary[];
}

/** Returns a study with its series, report summaries and deliveries, or undefined when it was never received. */
export async function findStudyDetail(manager: EntityManager, studyInstanceUid: string): Promise<StudyDetail | undefined> {
  const studies = await queryRows<Record<string, unknown>>(
    manager,
    `SELECT ${SUMMARY_COLUMNS}, s.id, s.patient_birth_date, s.patient_sex, s.study_time
       FROM study s ${LATEST_REPORT_JOIN} WHERE s.study_instance_uid = $1`,
    [studyInstanceUid],
  );
  const study = studies[0];
  if (!study) return undefined;

  const series = await queryRows<Record<string, unknown>>(
    manager,
    `SELECT series_instance_uid, modality, series_number, series_description, instance_count, completed_at,
            selection_decision, selection_reason_code, selection_reason, volume_checks, preview_directory
       FROM series WHERE study_id = $1 ORDER BY series_number NULLS LAST, series_instance_uid`,
    [study.id],
  );
  const reports = await queryRows<Record<string, unknown>>(
    manager,
    `SELECT r.id, r.status, r.created_at, r.model_name, r.model_version, r.supersedes_report_id, x.series_instance_uid
       FROM report r JOIN series x ON x.id = r.series_id WHERE r.study_id = $1 ORDER BY r.created_at DESC`,
    [study.id],
  );
  const deliveries = await queryRows<Record<string, unknown>>(
    manager,
    `SELECT d.id, d.report_id, d.kind, d.destination, d.control_id, d.state, d.attempts, d.next_attempt_at, d.last_error, d.delivered_at
       FROM delivery d JOIN report r ON r.id = d.report_id WHERE r.study_id = $1
      ORDER BY d.created_at DESC, d.destination`,
    [study.id],
  );

  return {
    ...toSummary(study),
    patientBirthDate: (study.patient_birth_date as string | null) ?? null,
    patientSex: (study.patient_sex as string | null) ?? null,
    studyTime: (study.study_time as string | null) ?? null,
    series: series.map((row) => ({
      seriesInstanceUid: row.series_instance_uid as string,
      modality: (row.modality as string | null) ?? null,
      seriesNumber: row.series_number === null || row.series_number === undefined ? null : Number(row.series_number),
      seriesDescription: (row.series_description as string | null) ?? null,
      instanceCount: Number(row.instance_count),
      completedAt: row.completed_at ? new Date(row.completed_at as string).toISOString() : null,
      selectionDecision: (row.selection_decision as 'selected' | 'rejected' | null) ?? null,
      selectionReasonCode: (row.selection_reason_code as string | null) ?? null,
      selectionReason: (row.selection_reason as string | null) ?? null,
      volumeChecks: (row.volume_checks as Record<string, unknown> | null) ?? null,
      hasPreviews: typeof row.preview_directory === 'string',
    })),
    reports: reports.map((row) => ({
      id: row.id as string,
      status: row.status as string,
      createdAt: new Date(row.created_at as string).toISOString(),
      model: { name: row.model_name as string, version: row.model_version as string },
      seriesInstanceUid: row.series_instance_uid as string,
      supersedesReportId: (row.supersedes_report_id as string | null) ?? null,
    })),
    deliveries: deliveries.map(toDeliverySummary),
  };
}

/** Returns a series' preview folder (relative to the preview root) and its study, or undefined when it has no previews. */
export async function findSeriesPreviews(
  manager: EntityManager,
  seriesInstanceUid: string,
): Promise<{ previewDirectory: string; studyInstanceUid: string } | undefined> {
  const rows = await queryRows<{ preview_directory: string; study_instance_uid: string }>(
    manager,
    `SELECT x.preview_directory, s.study_instance_uid FROM series x JOIN study s ON s.id = x.study_id
      WHERE x.series_instance_uid = $1 AND x.preview_directory IS NOT NULL`,
    [seriesInstanceUid],
  );
  return rows[0] ? { previewDirectory: rows[0].preview_directory, studyInstanceUid: rows[0].study_instance_uid } : undefined;
}
