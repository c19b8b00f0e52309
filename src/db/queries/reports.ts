/** Read queries behind `reports list` and `deliveries list`, and the delivery shape the admin API shares. */
import type { EntityManager } from 'typeorm';

import { queryRows } from '../sql.ts';

export interface ReportListItem {
  id: string;
  studyInstanceUid: string;
  status: string;
  model: { name: string; version: string; deviceUid: string };
  createdAt: string;
  /** The report of the same study that this one replaces (late-arrival policy `amend`), or null. */
  supersedesReportId: string | null;
  text: string;
  findings: string;
  impression: string;
  timings: Record<string, number>;
}

export async function listReports(manager: EntityManager, limit: number): Promise<ReportListItem[]> {
  const rows = await queryRows<Record<string, unknown>>(
    manager,
    `SELECT r.id, s.study_instance_uid, r.status, r.model_name, r.model_version, r.model_device_uid, r.created_at,
            r.supersedes_report_id, r.text, r.findings, r.impression, r.timings
       FROM report r JOIN study s ON s.id = r.study_id
      ORDER BY r.created_at DESC
      LIMIT $1`,
    [limit],
  );
  return rows.map((row) => ({
    id: row.id as string,
    studyInstanceUid: row.study_instance_uid as string,
    status: row.status as string,
    model: { name: row.model_name as string, version: row.model_version as string, deviceUid: row.model_device_uid as string },
    createdAt: new Date(row.created_at as string).toISOString(),
    supersedesReportId: (row.supersedes_report_id as string | null) ?? null,
    text: row.text as string,
    findings: row.findings as string,
    impression: row.impression as string,
    timings: row.timings as Record<string, number>,
  }));
}

/** A delivery row as the CLI and the admin API show it, without its message. */
export interface DeliverySummary {
  id: string;
  reportId: string;
  kind: string;
  destination: string;
  controlId: string;
  state: string;
  attempts: number;
  nextAttemptAt: string;
  lastError: string | null;
  deliveredAt: string | null;
}

export interface DeliveryListItem extends DeliverySummary {
  studyInstanceUid: string;
}

export function toDeliverySummary(row: Record<string, unknown>): DeliverySummary {
  return {
    id: row.id as string,
    reportId: row.report_id as string,
    kind: row.kind as string,
    destination: row.destination as string,
    controlId: row.control_id as string,
    state: row.state as string,
    attempts: Number(row.attempts),
    nextAttemptAt: new Date(row.next_attempt_at as string).toISOString(),
    lastError: (row.last_error as string | null) ?? null,
    deliveredAt: row.delivered_at ? new Date(row.delivered_at as string).toISOString() : null,
  };
}

export async function listDeliveries(manager: EntityManager, limit: number): Promise<DeliveryListItem[]> {
  const rows = await queryRows<Record<string, unknown>>(
    manager,
    `SELECT d.id, d.report_id, s.study_instance_uid, d.kind, d.destination, d.control_id, d.state, d.attempts,
            d.next_attempt_at, d.last_error, d.delivered_at
       FROM delivery d JOIN report r ON r.id = d.report_id JOIN study s ON s.id = r.study_id
      ORDER BY d.created_at DESC, d.destination
      LIMIT $1`,
    [limit],
  );
  return rows.map((row) => ({ ...toDeliverySummary(row), studyInstanceUid: row.study_instance_uid as string }));
}
