/**
 * SQL of the delivery outbox. Several sender processes may share the table: a claim locks its row with
 * FOR UPDATE SKIP LOCKED, and the state in the row is the only state there is.
 *
 * Deliveries of one destination leave in `sequence_number` order. A row is not claimed while an earlier
 * row of its destination is pending, failed (waiting for its retry) or sending, nor while an earlier row
 * is dead if the destination blocks on dead deliveries. Held and delivered rows never block.
 */
import type { EntityManager } from 'typeorm';

import type { DeliveryKind, DeliveryState } from '../entities/delivery.ts';
import { queryRows } from '../sql.ts';

export interface ClaimedDelivery {
  id: string;
  reportId: string;
  kind: DeliveryKind;
  destination: string;
  controlId: string;
  payload: Buffer;
  /** Attempts including the one just claimed. */
  attempts: number;
  firstAttemptAt: Date;
  studyInstanceUid: string;
  /** The study's accession number and PatientID, for the audit row; never logged. */
  accessionNumber: string | null;
  patientId: string | null;
  /** When the report's transaction created the row. */
  createdAt: Date;
}

const CLAIMED_COLUMNS = `d.id, d.report_id, d.kind, d.destination, d.control_id, d.payload, d.attempts, d.first_attempt_at,
  s.study_instance_uid, s.accession_number, s.patient_id, d.created_at`;

/**
 * Claims the delivery that is due first, counts the attempt and starts its deadline clock. A row left in
 * `sending` longer than the lease belongs to a process that died mid-send, so it is claimed again. The
 * resend carries the same MSH-10 or SOPInstanceUID, so the receiver can drop the duplicate.
 * `blockingDestinations` names the destinations whose dead rows hold back later ones. With `destination`,
 * only that destination's rows are claimed.
 */
export async function claimDueDelivery(
  manager: EntityManager,
  now: Date,
  leaseSeconds: number,
  blockingDestinations: string[],
  destination?: string,
): Promise<ClaimedDelivery | undefined> {
  const rows = await queryRows<Record<string, unknown>>(
    manager,
    `UPDATE delivery d
        SET state = 'sending', attempts = d.attempts + 1, first_attempt_at = COALESCE(d.first_attempt_at, $1), updated_at = $1
       FROM report r, study s
      WHERE d.id = (
              SELECT c.id FROM delivery c
               WHERE ((c.state IN ('pending', 'failed') AND c.next_attempt_at <= $1)
                   OR (c.state = 'sending' AND c.updated_at < $1 - make_interval(secs => $2)))
                 AND ($4::varchar IS NULL OR c.destination = $4)
                 AND NOT EXISTS (
                       SELECT 1 FROM delivery e
                        WHERE e.destination = c.destination
                          AND e.sequence_number < c.sequence_number
                          AND (e.state IN ('pending', 'failed', 'sending')
                               OR (e.state = 'dead' AND e.destination = ANY($3::varchar[]))))
               ORDER BY c.next_attempt_at, c.sequence_number
               LIMIT 1
               FOR UPDATE SKIP LOCKED)
        AND r.id = d.report_id AND s.id = r.study_id
      RETURNING ${CLAIMED_COLUMNS}`,
    [now, leaseSeconds, blockingDestinations, destination ?? null],
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
    firstAttemptAt: new Date(row.first_attempt_at as string),
    studyInstanceUid: row.study_instance_uid as string,
    accessionNumber: (row.accession_number as string | null) ?? null,
    patientId: (row.patient_id as string | null) ?? null,
    createdAt: new Date(row.created_at as string),
  };
}

/** Records an accepted attempt. Only a row in `sending` changes, so a late result cannot undo a replay. */
export async function markDelivered(manager: EntityManager, id: string, response: string, now: Date): Promise<boolean> {
  const rows = await queryRows(
    manager,
    `UPDATE delivery SET state = 'delivered', response = $2, last_error = NULL, last_error_code = NULL, delivered_at = $3, updated_at = $3
      WHERE id = $1 AND state = 'sending' RETURNING id`,
    [id, response, now],
  );
  return rows.length === 1;
}

export interface AttemptFailure {
  /** `failed` schedules the next attempt at nextAttemptAt; `dead` ends automatic attempts. */
  state: 'failed' | 'dead';
  nextAttemptAt: Date | null;
  error: string;
  code: string;
  /** The receiver's reply, when there was one (an ACK, a C-STORE status). */
  response: string | null;
}

/** Records a failed attempt of a row in `sending`. */
export async function markAttemptFailed(manager: EntityManager, id: string, failure: AttemptFailure, now: Date): Promise<boolean> {
  const rows = await queryRows(
    manager,
    `UPDATE delivery
        SET state = $2, last_error = $3, last_error_code = $4, response = COALESCE($5, response),
            next_attempt_at = COALESCE($6, next_attempt_at), updated_at = $7
      WHERE id = $1 AND state = 'sending' RETURNING id`,
    [id, failure.state, failure.error, failure.code, failure.response, failure.nextAttemptAt, now],
  );
  return rows.length === 1;
}

export interface DeliveryRecord {
  id: string;
  reportId: string;
  studyId: string;
  studyInstanceUid: string;
  /** The study's accession number and PatientID, for the audit row; never logged. */
  accessionNumber: string | null;
  patientId: string | null;
  reportCreatedAt: Date;
  kind: DeliveryKind;
  destination: string;
  controlId: string;
  payload: Buffer;
  state: DeliveryState;
  attempts: number;
  lastError: string | null;
}

/** Reads one delivery and locks it for the rest of the transaction. */
export async function lockDelivery(manager: EntityManager, id: string): Promise<DeliveryRecord | undefined> {
  const rows = await queryRows<Record<string, unknown>>(
    manager,
    `SELECT d.id, d.report_id, r.study_id, s.study_instance_uid, s.accession_number, s.patient_id, r.created_at AS report_created_at,
            d.kind, d.destination, d.control_id, d.payload, d.state, d.attempts, d.last_error
       FROM delivery d JOIN report r ON r.id = d.report_id JOIN study s ON s.id = r.study_id
      WHERE d.id = $1
      FOR UPDATE OF d`,
    [id],
  );
  const row = rows[0];
  if (!row) return undefined;
  return {
    id: row.id as string,
    reportId: row.report_id as string,
    studyId: row.study_id as string,
    studyInstanceUid: row.study_instance_uid as string,
    accessionNumber: (row.accession_number as string | null) ?? null,
    patientId: (row.patient_id as string | null) ?? null,
    reportCreatedAt: new Date(row.report_created_at as string),
    kind: row.kind as DeliveryKind,
    destination: row.destination as string,
    controlId: row.control_id as string,
    payload: Buffer.from(row.payload as Uint8Array),
    state: row.state as DeliveryState,
    attempts: row.attempts as number,
    lastError: row.last_error as string | null,
  };
}

/** Moves a held delivery to `pending`, due now. */
export async function releaseHeldDelivery(manager: EntityManager, id: string, now: Date): Promise<void> {
  await queryRows(
    manager,
    `UPDATE delivery SET state = 'pending', next_attempt_at = $2, updated_at = $2 WHERE id = $1 AND state = 'held' RETURNING id`,
    [id, now],
  );
}

/**
 * Puts a dead or delivered delivery back in the queue as a new message. Attempts and deadline start
 * again, and the row moves to the end of its destination's queue, so a replay never delays messages
 * that were waiting behind it.
 */
export async function requeueDelivery(
  manager: EntityManager,
  id: string,
  message: { controlId: string; payload: Buffer },
  now: Date,
): Promise<void> {
  await queryRows(
    manager,
    `UPDATE delivery
        SET state = 'pending', attempts = 0, first_attempt_at = NULL, next_attempt_at = $4, control_id = $2, payload = $3,
            last_error = NULL, last_error_code = NULL, delivered_at = NULL, updated_at = $4,
            sequence_number = nextval(pg_get_serial_sequence('delivery', 'sequence_number'))
      WHERE id = $1 AND state IN ('dead', 'delivered') RETURNING id`,
    [id, message.controlId, message.payload, now],
  );
}

/**
 * Returns the id of a delivery to the same destination, for a later report of the same study, that was
 * delivered already. Replaying the older delivery would put outdated text in front of the reader.
 */
export async function findDeliveredSuccessor(manager: EntityManager, delivery: DeliveryRecord): Promise<string | undefined> {
  const rows = await queryRows<{ id: string }>(
    manager,
    `SELECT d.id FROM delivery d JOIN report r ON r.id = d.report_id
      WHERE r.study_id = $1 AND r.created_at > $2 AND d.destination = $3 AND d.kind = $4 AND d.state = 'delivered'
      ORDER BY r.created_at DESC LIMIT 1`,
    [delivery.studyId, delivery.reportCreatedAt, delivery.destination, delivery.kind],
  );
  return rows[0]?.id;
}

/**
 * Returns the Basic Text SR last built for an earlier report of the study (any DICOM destination), so a
 * correction can reference it as its predecessor.
 */
export async function findPredecessorSr(manager: EntityManager, reportId: string): Promise<Buffer | undefined> {
  const rows = await queryRows<{ payload: Uint8Array }>(
    manager,
    `SELECT d.payload FROM delivery d
      WHERE d.report_id = $1 AND d.kind = 'dicom_sr' AND octet_length(d.payload) > 0
      ORDER BY d.created_at LIMIT 1`,
    [reportId],
  );
  const payload = rows[0]?.payload;
  return payload === undefined ? undefined : Buffer.from(payload);
}

/** Returns the instance store path (relative to the store folder) of a stored instance. */
export async function findInstanceFilePath(manager: EntityManager, sopInstanceUid: string): Promise<string | undefined> {
  const rows = await queryRows<{ file_path: string }>(manager, `SELECT file_path FROM instance WHERE sop_instance_uid = $1`, [sopInstanceUid]);
  return rows[0]?.file_path;
}
