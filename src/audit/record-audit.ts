/**
 * Audit rows. The action list is closed; names follow the DICOM PS3.15 A.5.3 audit events where one
 * fits (for example "DICOM Instances Transferred"; src/audit/dicom-audit-events.ts maps each action to
 * its event). Callers pass the EntityManager of the transaction that makes the change, so the row
 * commits or rolls back with it. `details` must hold ids, counts and codes only, never patient data or
 * report text; the accession number and patient ID have their own columns.
 *
 * Every row extends the hash chain (see hash-chain.ts). The append takes a transaction-level advisory
 * lock, so appends from all processes are serialized and the chain head cannot change between reading
 * it and inserting the next row. The lock is held until the caller's transaction ends, so rows commit
 * in `seq` order and a reader that has seen row n has seen every row before it.
 *
 * NOTE: because the lock is held to the end of the caller's transaction, a transaction that records an
 * audit row and then waits for a row lock held by another auditing transaction can deadlock with it.
 * PostgreSQL detects that and aborts one of them. Record the audit row as the last step of a transaction
 * where that is possible.
 */
import { randomUUID } from 'node:crypto';

import type { EntityManager } from 'typeorm';

import { queryRows } from '../db/sql.ts';
import { CHAIN_LOCK_KEY, computeRowHash, GENESIS_HASH } from './hash-chain.ts';

export const AUDIT_ACTIONS = [
  'dicom_association_accepted',
  'dicom_association_rejected',
  'dicom_instances_transferred',
  'dicom_instance_conflict',
  'study_complete',
  'series_selected',
  'series_rejected',
  'report_generated',
  'report_failed',
  'delivery_succeeded',
  'delivery_failed',
  'delivery_approved',
  'delivery_replayed',
  'hl7_order_received',
  'hl7_order_rejected',
  'hl7_order_not_matched',
  'dicom_instance_replaced',
  'study_reopened',
  'study_forced_complete',
  'late_arrival_decided',
  'instance_files_missing',
  'study_viewed',
  'report_viewed',
  'audit_log_viewed',
  'audit_log_exported',
  'api_token_created',
  'api_token_revoked',
  'job_retried',
  'user_authentication_failed',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export const AUDIT_OUTCOMES = ['success', 'failure'] as const;
export const AUDIT_ACTOR_TYPES = ['peer', 'system', 'user', 'token'] as const;

export interface AuditEntry {
  action: AuditAction;
  outcome: (typeof AUDIT_OUTCOMES)[number];
  actorType: (typeof AUDIT_ACTOR_TYPES)[number];
  actor: string;
  sourceAddress?: string;
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
  /** AccessionNumber (0008,0050) or the order's accession number. */
  accessionNumber?: string;
  /** PatientID (0010,0020). */
  patientId?: string;
  reportId?: string;
  deliveryId?: string;
  correlationId?: string;
  details?: Record<string, string | number | boolean | null>;
}

/** Thrown when recordAudit gets a manager outside a transaction, where the chain lock would not hold. */
export class AuditTransactionRequiredError extends Error {
  readonly code = 'audit_transaction_required';

  constructor() {
    super('recordAudit needs the EntityManager of an open transaction');
    this.name = 'AuditTransactionRequiredError';
  }
}

/** Appends one row to the audit chain in the caller's transaction. Returns its id and seq. */
export async function recordAudit(manager: EntityManager, entry: AuditEntry): Promise<{ id: string; seq: number }> {
  if (!manager.queryRunner?.isTransactionActive) throw new AuditTransactionRequiredError();

  await queryRows(manager, `SELECT pg_advisory_xact_lock(${CHAIN_LOCK_KEY})`);
  const [head] = await queryRows<{ seq: string | number; row_hash: string }>(
    manager,
    `SELECT seq, row_hash FROM audit_event ORDER BY seq DESC LIMIT 1`,
  );

  const fields = {
    seq: head === undefined ? 1 : Number(head.seq) + 1,
    id: randomUUID(),
    occurredAt: new Date(),
    actorType: entry.actorType,
    actor: entry.actor,
    action: entry.action,
    outcome: entry.outcome,
    sourceAddress: entry.sourceAddress ?? null,
    studyInstanceUid: entry.studyInstanceUid ?? null,
    seriesInstanceUid: entry.seriesInstanceUid ?? null,
    accessionNumber: nonEmpty(entry.accessionNumber),
    patientId: nonEmpty(entry.patientId),
    reportId: entry.reportId ?? null,
    deliveryId: entry.deliveryId ?? null,
    correlationId: entry.correlationId ?? null,
    details: entry.details ?? null,
    prevHash: head?.row_hash ?? GENESIS_HASH,
  };
  const rowHash = computeRowHash(fields);

  await queryRows(
    manager,
    `INSERT INTO audit_event (id, seq, occurred_at, actor_type, actor, action, outcome, source_address, study_instance_uid,
       series_instance_uid, accession_number, patient_id, report_id, delivery_id, correlation_id, details, prev_hash, row_hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
    [
      fields.id,
      fields.seq,
      fields.occurredAt,
      fields.actorType,
      fields.actor,
      fields.action,
      fields.outcome,
      fields.sourceAddress,
      fields.studyInstanceUid,
      fields.seriesInstanceUid,
      fields.accessionNumber,
      fields.patientId,
      fields.reportId,
      fields.deliveryId,
      fields.correlationId,
      fields.details === null ? null : JSON.stringify(fields.details),
      fields.prevHash,
      rowHash,
    ],
  );
  return { id: fields.id, seq: fields.seq };
}

/** Empty and blank identifiers are stored as absent; longer ones are cut to the column's 64 characters. */
function nonEmpty(value: string | undefined): string | null {
  const trimmed = value?.trim();
  return trimmed ? trimmed.slice(0, 64) : null;
}
