/** SQL of the association log: one row per association request, accepted or rejected. */
import type { EntityManager } from 'typeorm';

import { queryRows } from '../sql.ts';

export type AssociationLogResult = 'in_progress' | 'rejected' | 'released' | 'aborted' | 'aborted_by_peer' | 'connection_closed' | 'timed_out';

export interface AssociationLogStart {
  id: string;
  callingAeTitle: string;
  calledAeTitle: string;
  remoteAddress: string;
  startedAt: Date;
  result: 'in_progress' | 'rejected';
  rejectionReason: string | null;
}

export async function insertAssociationLog(manager: EntityManager, entry: AssociationLogStart): Promise<void> {
  await queryRows(
    manager,
    `INSERT INTO association_log (id, calling_ae_title, called_ae_title, remote_address, started_at, ended_at, result, rejection_reason)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [
      entry.id,
      // AE titles of a rejected request are whatever the peer sent; the column holds 16 characters (PS3.5 6.2).
      entry.callingAeTitle.slice(0, 16),
      entry.calledAeTitle.slice(0, 16),
      entry.remoteAddress.slice(0, 64),
      entry.startedAt,
      entry.result === 'rejected' ? entry.startedAt : null,
      entry.result,
      entry.rejectionReason,
    ],
  );
}

export async function finishAssociationLog(
  manager: EntityManager,
  id: string,
  summary: { result: AssociationLogResult; endedAt: Date; instancesStored: number; instancesFailed: number; bytesReceived: number },
): Promise<void> {
  await queryRows(
    manager,
    `UPDATE association_log SET result = $2, ended_at = $3, instances_stored = $4, instances_failed = $5, bytes_received = $6
      WHERE id = $1 RETURNING id`,
    [id, summary.result, summary.endedAt, summary.instancesStored, summary.instancesFailed, summary.bytesReceived],
  );
}

export interface AssociationLogItem {
  id: string;
  callingAeTitle: string;
  calledAeTitle: string;
  remoteAddress: string;
  startedAt: string;
  endedAt: string | null;
  result: AssociationLogResult;
  rejectionReason: string | null;
  instancesStored: number;
  instancesFailed: number;
  bytesReceived: number;
}

/** Returns the newest associations first. */
export async function listAssociations(manager: EntityManager, limit: number): Promise<AssociationLogItem[]> {
  const rows = await queryRows<Record<string, unknown>>(
    manager,
    `SELECT id, calling_ae_title, called_ae_title, remote_address, started_at, ended_at, result, rejection_reason,
            instances_stored, instances_failed, bytes_received
       FROM association_log ORDER BY started_at DESC LIMIT $1`,
    [limit],
  );
  return rows.map((row) => ({
    id: row.id as string,
    callingAeTitle: row.calling_ae_title as string,
    calledAeTitle: row.called_ae_title as string,
    remoteAddress: row.remote_address as string,
    startedAt: new Date(row.started_at as string).toISOString(),
    endedAt: row.ended_at ? new Date(row.ended_at as string).toISOString() : null,
    result: row.result as AssociationLogResult,
    rejectionReason: row.rejection_reason as string | null,
    instancesStored: Number(row.instances_stored),
    instancesFailed: Number(row.instances_failed),
    bytesReceived: Number(row.bytes_received),
  }));
}
