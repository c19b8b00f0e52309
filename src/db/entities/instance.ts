import { Column, Entity, PrimaryColumn } from 'typeorm';

/** One stored SOP instance: where its file is and the header fields that selection needs. */
@Entity({ name: 'instance' })
export class Instance {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ name: 'study_id', type: 'uuid' })
  studyId!: string;

  @Column({ name: 'series_id', type: 'uuid' })
  seriesId!: string;

  @Column({ name: 'sop_instance_uid', type: 'varchar', length: 64, unique: true })
  sopInstanceUid!: string;

  @Column({ name: 'sop_class_uid', type: 'varchar', length: 64 })
  sopClassUid!: string;

  @Column({ name: 'transfer_syntax_uid', type: 'varchar', length: 64 })
  transferSyntaxUid!: string;

  /** Path relative to the instance store folder. */
  @Column({ name: 'file_path', type: 'text' })
  filePath!: string;

  @Column({ name: 'size_bytes', type: 'bigint' })
  sizeBytes!: string;

  /** SHA-256 of the whole Part 10 file, hex; null until a second copy of the SOPInstanceUID was compared with it. */
  @Column({ name: 'sha256', type: 'char', length: 64, nullable: true })
  sha256!: string | null;

  @Column({ name: 'modality', type: 'varchar', length: 16, nullable: true })
  modality!: string | null;

  @Column({ name: 'instance_number', type: 'integer', nullable: true })
  instanceNumber!: number | null;

  @Column({ name: 'image_type', type: 'jsonb', nullable: true })
  imageType!: string[] | null;

  @Column({ name: 'image_position_patient', type: 'jsonb', nullable: true })
  imagePositionPatient!: number[] | null;

  @Column({ name: 'image_orientation_patient', type: 'jsonb', nullable: true })
  imageOrientationPatient!: number[] | null;

  @Column({ name: 'rows', type: 'integer', nullable: true })
  rows!: number | null;

  @Column({ name: 'columns', type: 'integer', nullable: true })
  columns!: number | null;

  @Column({ name: 'calling_ae_title', type: 'varchar', length: 16 })
  callingAeTitle!: string;

  @Column({ name: 'association_id', type: 'uuid' })
  associationId!: string;

  @Column({ name: 'received_at', type: 'timestamptz' })
  receivedAt!: Date;
}
