import { Column, Entity, PrimaryColumn } from 'typeorm';

export type DeliveryKind = 'hl7_oru' | 'dicom_sr';

/**
 * One message to one destination (the outbox). A `pending` row is due at next_attempt_at, and a row is
 * `sending` while one process sends it. A send ends in `delivered`, back in `pending` for a retry, or in
 * `failed` once the attempts are used up.
 */
export type DeliveryState = 'pending' | 'sending' | 'delivered' | 'failed';

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
}
