/** Read queries of the admin API on reports and deliveries, with filters and paging. */
import type { EntityManager } from 'typeorm';

import { queryRows } from '../sql.ts';
import { toDeliverySummary, type DeliveryListItem } from './reports.ts';

export interface ReportListEntry {
  id: string;
  studyInstanceUid: string;
  accessionNumber: string | null;
  status: string;
  createdAt: string;
  model: { name: string; version: string };
  supersedesReportId: string | null;
}

export interface ReportDocument extends ReportListEntry {
  patientId: string | null;
  seriesInstanceUid: string;
  model: { name: string; version: string; deviceUid: string };
  text: string;
  findings: string;
  impression: string;
  /** SOPInstanceUIDs of the slices the model read, in slice order. */
  instanceUids: string[];
  /** Milliseconds per stage. */
  timings: Record<string, number>;
}

/** Returns one page of reports without their text, newest first; reading the text is a separate, audited request. */
export async function searchReports(
  manager: EntityManager,
  filter: { studyInstanceUid?: string; limit: number; offset: number },
): Promise<{ total: number; reports: ReportListEntry[] }> {
  const where = filter.studyInstanceUid === undefined ? '' : 'WHERE s.study_instance_uid = $1';
  const parameters: unknown[] = filter.studyInstanceUid === undefined ? [] : [filter.studyInstanceUid];
  const counted = await queryRows<{ total: number | string }>(manager, `SELECT count(*) AS total FROM report r JOIN study s ON s.id = r.study_id ${where}`, parameters);
  const rows = await queryRows<Record<string, unknown>>(
    manager,
    `SELECT r.id, s.study_instance_uid, s.accession_number, r.status, r.created_at, r.model_name, r.model_version, r.supersedes_report_id
       FROM report r JOIN study s ON s.id = r.study_id ${where}
      ORDER BY r.created_at DESC, r.id
      LIMIT $${parameters.length + 1} OFFSET $${parameters.length + 2}`,
    [...parameters, filter.limit, filter.offset],
  );
  return {
    total: Number(counted[0]?.total ?? 0),
    reports: rows.map((row) => ({
      id: row.id as string,
      studyInstanceUid: row.study_instance_uid as string,
      accessionNumber: (row.accession_number as string | null) ?? null,
      status: row.status as string,
      createdAt: new Date(row.created_at as string).toISOString(),
      model: { name: row.model_name as string, version: row.model_version as string },
      supersedesReportId: (row.supersedes_report_id as string | null) ?? null,
    })),
  };
}

/** Returns a report with its text, or undefined when no report has this id. */
export async function findReport(manager: EntityManager, id: string): Promise<ReportDocument | undefined> {
  const rows = await queryRows<Record<string, unknown>>(
    manager,
    `SELECT r.id, s.study_instance_uid, s.accession_number, s.patient_id, x.series_instance_uid, r.status, r.created_at, r.model_name,
            r.model_version, r.model_device_uid, r.supersedes_report_id, r.text, r.findings, r.impression, r.instance_uids, r.timings
       FROM report r JOIN study s ON s.id = r.study_id JOIN series x ON x.id = r.series_id
      WHERE r.id = $1`,
    [id],
  );
  const row = rows[0];
  if (!row) return undefined;
  return {
    id: row.id as string,
    studyInstanceUid: row.study_instance_uid as string,
    accessionNumber: (row.accession_number as string | null) ?? null,
    patientId: (row.patient_id as string | null) ?? null,
    seriesInstanceUid: row.series_instance_uid as string,
    status: row.status as string,
    createdAt: new Date(row.created_at as string).toISOString(),
    model: { name: row.model_name as string, version: row.model_version as string, deviceUid: row.model_device_uid as string },
    supersedesReportId: (row.supersedes_report_id as string | null) ?? null,
    text: row.text as string,
    findings: row.findings as string,
    impression: row.impression as string,
    instanceUids: row.instance_uids as string[],
    timings: row.timings as Record<string, number>,
  };
}

/** Returns one page of deliveries, newest first, and the number the filter matches. */
export async function searchDeliveries(
  manager: EntityManager,
  filter: { state?: string; destination?: string; studyInstanceUid?: string; limit: number; offset: number },
): Promise<{ total: number; deliveries: DeliveryListItem[] }> {
  const conditions: string[] = [];
  const parameters: unknown[] = [];
  for (const [column, value] of [
    ['d.state', filter.state],
    ['d.destination', filter.destination],
    ['s.study_instance_uid', filter.studyInstanceUid],
  ] as const) {
    if (value === undefined) continue;
    parameters.push(value);
    conditions.push(`${column} = $${parameters.length}`);
  }
  const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
  const from = 'FROM delivery d JOIN report r ON r.id = d.report_id JOIN study s ON s.id = r.study_id';
  const counted = await queryRows<{ total: number | string }>(manager, `SELECT count(*) AS total ${from} ${where}`, parameters);
  const rows = await queryRows<Record<string, unknown>>(
    manager,
    `SELECT d.id, d.report_id, d.kind, d.destination, d.control_id, d.state, d.attempts, d.next_attempt_at, d.last_error, d.delivered_at,
            s.study_instance_uid
       ${from} ${where}
      ORDER BY d.created_at DESC, d.destination, d.id
      LIMIT $${parameters.length + 1} OFFSET $${parameters.length + 2}`,
    [...parameters, filter.limit, filter.offset],
  );
  return {
    total: Number(counted[0]?.total ?? 0),
    deliveries: rows.map((row) => ({ ...toDeliverySummary(row), studyInstanceUid: row.study_instance_uid as string })),
  };
}
