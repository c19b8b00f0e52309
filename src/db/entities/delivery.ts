import { Column, Entity, PrimaryColumn } from 'typeorm';

export type DeliveryKind = 'hl7_oru' | 'dicom_sr';

/**
 * One message to one destination (the outbox).
 * - `pending`: due at next_attempt_at.
 * - `held`: waits for an administrator's approval (review gate of the destination).
 * - `sending`: one process is sending it.
 * - `delivered`: acknowledged (AA or CA) or stored (C-STORE success).
 * - `failed`: an attempt failed and the next one is scheduled at next_attempt_at.
 * - `dead`: no further automatic attempt (attempts or deadline used up, or parked by policy); replayable.
 */
export type DeliveryState = 'pending' | 'held' | 'sending' | 'delivered' | 'failed' | 'dead';

@Entity({ name: 'delivery' })
export class Delivery {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ name: 'report_id', type: 'uuid' })
  reportId!: string;

  @Column({ name: 'kind', type: 'varchar', length: 16 })
  kind!: DeliveryKind;

  /** Destination name from the configuration. */
  @Column({ name: 'destination', type: 'varchar', length: 64 })
  destination!: string;

  /** MSH-10 of an ORU^R01, or the SOPInstanceUID of an SR; kept across retries. */
  @Column({ name: 'control_id', type: 'varchar', length: 64 })
  controlId!: string;

  /** The message as sent: HL7 text for an ORU, the Part 10 SR file for an SR. */
  @Column({ name: 'payload', type: 'bytea' })
  payload!: Buffer;

  @Column({ name: 'state', type: 'varchar', length: 16 })
  state!: DeliveryState;

  @Column({ name: 'attempts', type: 'integer' })
  attempts!: number;

  @Column({ name: 'next_attempt_at', type: 'timestamptz' })
  nextAttemptAt!: Date;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError!: string | null;

  /** The ACK as received (HL7), or the C-STORE status (DICOM). */
  @Column({ name: 'response', type: 'text', nullable: true })
  response!: string | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;

  @Column({ name: 'delivered_at', type: 'timestamptz', nullable: true })
  deliveredAt!: Date | null;

  /** Position in the destination's queue; the database assigns it. Returned as a string (bigint). */
  @Column({ name: 'sequence_number', type: 'bigint', insert: false, update: false })
  sequenceNumber!: string;

  /** Start of the delivery deadline; reset by a replay. */
  @Column({ name: 'first_attempt_at', type: 'timestamptz', nullable: true })
  firstAttemptAt!: Date | null;

  /** Machine code of the last error (for example `mllp_timeout`, `hl7_ack_rejected`). */
  @Column({ name: 'last_error_code', type: 'varchar', length: 64, nullable: true })
  lastErrorCode!: string | null;

  /** The RIS order whose numbers the message carries, when one matched the study. */
  @Column({ name: 'order_id', type: 'uuid', nullable: true })
  orderId!: string | null;
}
