import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * One append-only audit row, a link of the hash chain (src/audit/hash-chain.ts). `details` contains ids
 * and codes only, never patient data or report text.
 */
@Entity({ name: 'audit_event' })
export class AuditEvent {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  /** Position in the hash chain: 1 for the first row, then without gaps. */
  @Column({ name: 'seq', type: 'bigint' })
  seq!: string;

  @Column({ name: 'occurred_at', type: 'timestamptz' })
  occurredAt!: Date;

  /** `peer`, `system`, `user` or `token`. */
  @Column({ name: 'actor_type', type: 'varchar', length: 16 })
  actorType!: string;

  /** The peer's calling AE title, the user or token name, or the service role. */
  @Column({ name: 'actor', type: 'varchar', length: 128 })
  actor!: string;

  @Column({ name: 'action', type: 'varchar', length: 64 })
  action!: string;

  @Column({ name: 'outcome', type: 'varchar', length: 16 })
  outcome!: 'success' | 'failure';

  @Column({ name: 'source_address', type: 'varchar', length: 64, nullable: true })
  sourceAddress!: string | null;

  @Column({ name: 'study_instance_uid', type: 'varchar', length: 64, nullable: true })
  studyInstanceUid!: string | null;

  @Column({ name: 'series_instance_uid', type: 'varchar', length: 64, nullable: true })
  seriesInstanceUid!: string | null;

  @Column({ name: 'accession_number', type: 'varchar', length: 64, nullable: true })
  accessionNumber!: string | null;

  @Column({ name: 'patient_id', type: 'varchar', length: 64, nullable: true })
  patientId!: string | null;

  @Column({ name: 'report_id', type: 'uuid', nullable: true })
  reportId!: string | null;

  @Column({ name: 'delivery_id', type: 'uuid', nullable: true })
  deliveryId!: string | null;

  /** Association id, job id or MSH-10 that ties related rows together. */
  @Column({ name: 'correlation_id', type: 'varchar', length: 64, nullable: true })
  correlationId!: string | null;

  @Column({ name: 'details', type: 'jsonb', nullable: true })
  details!: Record<string, unknown> | null;

  /** row_hash of the row with seq - 1; 64 zeros for the first row. */
  @Column({ name: 'prev_hash', type: 'char', length: 64 })
  prevHash!: string;

  /** Hex SHA-256 over the canonical encoding of the other columns and prev_hash. */
  @Column({ name: 'row_hash', type: 'char', length: 64 })
  rowHash!: string;
}
