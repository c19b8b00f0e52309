/** SQL of the delivery outbox. */
import type { EntityManager } from 'typeorm';

import type { DeliveryKind } from '../entities/delivery.ts';
import { queryRows } from '../sql.ts';

export interface ClaimedDelivery {
  id: string;
  reportId: string;
  kind: DeliveryKind;
  destination: string;
  controlId: string;
  payload: Buffer;
  attempts: number;
  studyInstanceUid: string;
}

/**
 * Claims the delivery that is due first and counts the attempt. A row left in `sending` longer than
 * the lease belongs to a process that died mid-send and is claimed again. The resend carries the same
 * MSH-10 or SOPInstanceUID, so the receiver can drop the duplicate.
 */
export async function claimDueDelivery(manager: EntityManager, now: Date, leaseSeconds: number): Promise<ClaimedDelivery | undefined> {
  const rows = await queryRows<Record<string, unknown>>(
    manager,
    `UPDATE delivery d SET state = 'sending', attempts = d.attempts + 1, updated_at = $1
      FROM report r, study s
      WHERE d.id = (SELECT id FROM delivery
                     WHERE (state = 'pending' AND next_attempt_at <= $1)
                        OR (state = 'sending' AND updated_at < $1 - make_interval(secs => $2))
                     ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED)
        AND r.id = d.report_id AND s.id = r.study_id
      RETURNING d.id, d.report_id, d.kind, d.destination, d.control_id, d.payload, d.attempts, s.study_instance_uid`,
    [now, leaseSeconds],
  );
  const row = rows[0];
  if (!row) return undefined;
  return {
    id: row.id as string,
    reportId: row.report_id as string,
    kind: row.kind as DeliveryKind,
    destination: row.destination as string,
    controlId: row.control_id as string,
    payload: Buffer.from(row.payload as Uint8Array),
    attempts: row.attempts as number,
    studyInstanceUid: row.study_instance_uid as string,
  };
}

export async function markDelivered(manager: EntityManager, id: string, response: string, now: Date): Promise<void> {
  await queryRows(
    manager,
    `UPDATE delivery SET state = 'delivered', response = $2, last_error = NULL, delivered_at = $3, updated_at = $3 WHERE id = $1 RETURNING id`,
    [id, response, now],
  );
}

/** Records a failed attempt: back to `pending` at `nextAttemptAt`, or `failed` when nextAttemptAt is null. */
export async function markAttemptFailed(
  manager: EntityManager,
  id: string,
  failure: { error: string; response: string | null; nextAttemptAt: Date | null },
  now: Date,
): Promise<void> {
  await queryRows(
    manager,
    `UPDATE delivery SET state = $2, last_error = $3, response = COALESCE($4, response), next_attempt_at = COALESCE($5, next_attempt_at), updated_at = $6
      WHERE id = $1 RETURNING id`,
    [id, failure.nextAttemptAt ? 'pending' : 'failed', failure.error, failure.response, failure.nextAttemptAt, now],
  );
}
