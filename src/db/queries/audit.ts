/**
 * Audit log queries. Accession number and patient ID are matched through the study that an audit row
 * names, so rows written before a study's attributes were known still match once they are.
 */
import type { EntityManager } from 'typeorm';

import { queryRows } from '../sql.ts';

export interface AuditEventFilter {
  since?: Date;
  until?: Date;
  actor?: string;
  action?: string;
  studyInstanceUid?: string;
  accessionNumber?: string;
  patientId?: string;
  outcome?: string;
  limit: number;
  offset: number;
}

export interface AuditEventRow {
  id: string;
  occurredAt: string;
  actorType: string;
  actor: string;
  action: string;
  outcome: string;
  sourceAddress: string | null;
  studyInstanceUid: string | null;
  seriesInstanceUid: string | null;
  accessionNumber: string | null;
  patientId: string | null;
  reportId: string | null;
  deliveryId: string | null;
  correlationId: string | null;
  details: Record<string, unknown> | null;
}

/** Returns one page of audit rows, newest first, and the number of rows the filter matches. */
export async function queryAuditEvents(manager: EntityManager, filter: AuditEventFilter): Promise<{ total: number; events: AuditEventRow[] }> {
  const conditions: string[] = [];
  const parameters: unknown[] = [];
  const add = (condition: (placeholder: string) => string, value: unknown) => {
    parameters.push(value);
    conditions.push(condition(`$${parameters.length}`));
  };
  if (filter.since !== undefined) add((p) => `a.occurred_at >= ${p}`, filter.since);
  if (filter.until !== undefined) add((p) => `a.occurred_at < ${p}`, filter.until);
  if (filter.actor !== undefined) add((p) => `a.actor = ${p}`, filter.actor);
  if (filter.action !== undefined) add((p) => `a.action = ${p}`, filter.action);
  if (filter.studyInstanceUid !== undefined) add((p) => `a.study_instance_uid = ${p}`, filter.studyInstanceUid);
  if (filter.accessionNumber !== undefined) add((p) => `s.accession_number = ${p}`, filter.accessionNumber);
  if (filter.patientId !== undefined) add((p) => `s.patient_id = ${p}`, filter.patientId);
  if (filter.outcome !== undefined) add((p) => `a.outcome = ${p}`, filter.outcome);
  const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
  const from = 'FROM audit_event a LEFT JOIN study s ON s.study_instance_uid = a.study_instance_uid';

  const counted = await queryRows<{ total: number | string }>(manager, `SELECT count(*) AS total ${from} ${where}`, parameters);
  const rows = await queryRows<Record<string, unknown>>(
    manager,
    `SELECT a.id, a.occurred_at, a.actor_type, a.actor, a.action, a.outcome, a.source_address, a.study_instance_uid,
            a.series_instance_uid, s.accession_number, s.patient_id, a.report_id, a.delivery_id, a.correlation_id, a.details
       ${from} ${where}
      ORDER BY a.occurred_at DESC, a.id
      LIMIT $${parameters.length + 1} OFFSET $${parameters.length + 2}`,
    [...parameters, filter.limit, filter.offset],
  );
  return {
    total: Number(counted[0]?.total ?? 0),
    events: rows.map((row) => ({
      id: row.id as string,
      occurredAt: new Date(row.occurred_at as string).toISOString(),
      actorType: row.actor_type as string,
      actor: row.actor as string,
      action: row.action as string,
      outcome: row.outcome as string,
      sourceAddress: (row.source_address as string | null) ?? null,
      studyInstanceUid: (row.study_instance_uid as string | null) ?? null,
      seriesInstanceUid: (row.series_instance_uid as string | null) ?? null,
      accessionNumber: (row.accession_number as string | null) ?? null,
      patientId: (row.patient_id as string | null) ?? null,
      reportId: (row.report_id as string | null) ?? null,
      deliveryId: (row.delivery_id as string | null) ?? null,
      correlationId: (row.correlation_id as string | null) ?? null,
      details: (row.details as Record<string, unknown> | null) ?? null,
    })),
  };
}
