/**
 * Audit rows. The action list is closed; names follow the DICOM PS3.15 A.5.3 audit events where one
 * fits (for example "DICOM Instances Transferred"). Callers pass the EntityManager of the transaction
 * that makes the change, so the row commits or rolls back with it. `details` must hold ids, counts and
 * codes only, never patient data or report text.
 */
import { randomUUID } from 'node:crypto';

import type { EntityManager } from 'typeorm';

import { queryRows } from '../db/sql.ts';

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
  'job_retried',
  'user_authentication_failed',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditEntry {
  action: AuditAction;
  outcome: 'success' | 'failure';
  actorType: 'peer' | 'system' | 'user' | 'token';
  actor: string;
  sourceAddress?: string;
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
  reportId?: string;
  deliveryId?: string;
  correlationId?: string;
  details?: Record<string, string | number | boolean | null>;
}

export async function recordAudit(manager: EntityManager, entry: AuditEntry): Promise<void> {
  await queryRows(
    manager,
    `INSERT INTO audit_event (id, occurred_at, actor_type, actor, action, outcome, source_address, study_instance_uid,
       series_instance_uid, report_id, delivery_id, correlation_id, details)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
    [
      randomUUID(),
      new Date(),
      entry.actorType,
      entry.actor,
      entry.action,
      entry.outcome,
      entry.sourceAddress ?? null,
      entry.studyInstanceUid ?? null,
      entry.seriesInstanceUid ?? null,
      entry.reportId ?? null,
      entry.deliveryId ?? null,
      entry.correlationId ?? null,
      entry.details ? JSON.stringify(entry.details) : null,
    ],
  );
}
