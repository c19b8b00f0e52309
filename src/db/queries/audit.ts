/**
 * Queries on audit_event: the filtered, paged audit search behind `argus-gateway audit` and the API,
 * the ordered walk that `audit verify` makes over the hash chain, and the cursor of the syslog exporter.
 */
import type { EntityManager } from 'typeorm';

import type { ChainedFields } from '../../audit/hash-chain.ts';
import { queryRows } from '../sql.ts';

/** An audit_event row as read back: the hashed columns, with the time as an ISO string, plus the row hash. */
export interface AuditEventRow extends Omit<ChainedFields, 'occurredAt' | 'details'> {
  occurredAt: string;
  details: Record<string, unknown> | null;
  rowHash: string;
}

export interface AuditEventFilter {
  /** Inclusive lower bound of occurred_at. */
  since?: Date;
  /** Exclusive upper bound of occurred_at. */
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

const AUDIT_COLUMNS = `id, seq, occurred_at, actor_type, actor, action, outcome, source_address, study_instance_uid,
  series_instance_uid, accession_number, patient_id, report_id, delivery_id, correlation_id, details, prev_hash, row_hash`;

/** Returns the events that match every given filter, newest first, and the number of all matches. */
export async function queryAuditEvents(manager: EntityManager, filter: AuditEventFilter): Promise<{ total: number; events: AuditEventRow[] }> {
  const conditions: string[] = [];
  const parameters: unknown[] = [];
  const add = (sql: string, value: unknown) => {
    parameters.push(value);
    conditions.push(sql.replace('?', `$${parameters.length}`));
  };
  if (filter.since !== undefined) add('occurred_at >= ?', filter.since);
  if (filter.until !== undefined) add('occurred_at < ?', filter.until);
  if (filter.actor !== undefined) add('actor = ?', filter.actor);
  if (filter.action !== undefined) add('action = ?', filter.action);
  if (filter.studyInstanceUid !== undefined) add('study_instance_uid = ?', filter.studyInstanceUid);
  if (filter.accessionNumber !== undefined) add('accession_number = ?', filter.accessionNumber);
  if (filter.patientId !== undefined) add('patient_id = ?', filter.patientId);
  if (filter.outcome !== undefined) add('outcome = ?', filter.outcome);
  const where = conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;

  const [counted] = await queryRows<{ total: string | number }>(manager, `SELECT count(*) AS total FROM audit_event ${where}`, parameters);
  const rows = await queryRows<Record<string, unknown>>(
    manager,
    `SELECT ${AUDIT_COLUMNS} FROM audit_event ${where}
      ORDER BY seq DESC LIMIT $${parameters.length + 1} OFFSET $${parameters.length + 2}`,
    [...parameters, filter.limit, filter.offset],
  );
  return { total: Number(counted?.total ?? 0), events: rows.map(toAuditEventRow) };
}

/** Returns up to `limit` rows with seq above `afterSeq`, in chain order. */
export async function listAuditChainAfter(manager: EntityManager, afterSeq: number, limit: number): Promise<AuditEventRow[]> {
  const rows = await queryRows<Record<string, unknown>>(
    manager,
    `SELECT ${AUDIT_COLUMNS} FROM audit_event WHERE seq > $1 ORDER BY seq LIMIT $2`,
    [afterSeq, limit],
  );
  return rows.map(toAuditEventRow);
}

/**
 * Takes or renews the export lease of `target` for `owner` and returns the last exported seq, or
 * undefined while another process holds an unexpired lease. The cursor row is created at the current
 * chain head the first time, so enabling the export does not send the whole history.
 */
export async function leaseExportCursor(manager: EntityManager, target: string, owner: string, leaseSeconds: number, now: Date): Promise<number | undefined> {
  await queryRows(
    manager,
    `INSERT INTO audit_export_cursor (target, last_seq, updated_at)
     SELECT $1, coalesce(max(seq), 0), $2 FROM audit_event
     ON CONFLICT (target) DO NOTHING`,
    [target, now],
  );
  const [row] = await queryRows<{ last_seq: string | number }>(
    manager,
    `UPDATE audit_export_cursor
        SET lease_owner = $2, lease_until = $3::timestamptz + make_interval(secs => $4)
      WHERE target = $1 AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until < $3)
      RETURNING last_seq`,
    [target, owner, now, leaseSeconds],
  );
  return row === undefined ? undefined : Number(row.last_seq);
}

/** Moves the cursor of `target` forward to `seq` while `owner` holds the lease; false when it lost it. */
export async function advanceExportCursor(manager: EntityManager, target: string, owner: string, seq: number, now: Date): Promise<boolean> {
  const rows = await queryRows(
    manager,
    `UPDATE audit_export_cursor SET last_seq = $3, updated_at = $4
      WHERE target = $1 AND lease_owner = $2 AND last_seq < $3
      RETURNING target`,
    [target, owner, seq, now],
  );
  return rows.length === 1;
}

/** Gives up the lease so that another process can export at once. */
export async function releaseExportCursor(manager: EntityManager, target: string, owner: string): Promise<void> {
  await queryRows(manager, `UPDATE audit_export_cursor SET lease_owner = NULL, lease_until = NULL WHERE target = $1 AND lease_owner = $2 RETURNING target`, [
    target,
    owner,
  ]);
}

function toAuditEventRow(row: Record<string, unknown>): AuditEventRow {
  return {
    id: row.id as string,
    seq: Number(row.seq),
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
    details: parseDetails(row.details),
    prevHash: row.prev_hash as string,
    rowHash: row.row_hash as string,
  };
}

/** jsonb arrives parsed from node-postgres and PGlite; a string is parsed here in case a driver does not. */
function parseDetails(value: unknown): Record<string, unknown> | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return JSON.parse(value) as Record<string, unknown>;
  return value as Record<string, unknown>;
}
