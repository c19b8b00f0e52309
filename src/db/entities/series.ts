import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A series of a study, with the series selection decision once the study is processed. */
@Entity({ name: 'series' })
export class Series {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ name: 'study_id', type: 'uuid' })
  studyId!: string;

  @Column({ name: 'series_instance_uid', type: 'varchar', length: 64, unique: true })
  seriesInstanceUid!: string;

  @Column({ name: 'modality', type: 'varchar', length: 16, nullable: true })
  modality!: string | null;

  @Column({ name: 'series_number', type: 'integer', nullable: true })
  seriesNumber!: number | null;

  @Column({ name: 'series_description', type: 'varchar', length: 64, nullable: true })
  seriesDescription!: string | null;

  @Column({ name: 'instance_count', type: 'integer' })
  instanceCount!: number;

  @Column({ name: 'last_received_at', type: 'timestamptz' })
  lastReceivedAt!: Date;

  /** `selected` or `rejected`; null until the study has been processed. */
  @Column({ name: 'selection_decision', type: 'varchar', length: 16, nullable: true })
  selectionDecision!: 'selected' | 'rejected' | null;

  @Column({ name: 'selection_reason_code', type: 'varchar', length: 64, nullable: true })
  selectionReasonCode!: string | null;

  @Column({ name: 'selection_reason', type: 'text', nullable: true })
  selectionReason!: string | null;

  /** Checks made by volume assembly, with the rejection code and reason when it failed. */
  @Column({ name: 'volume_checks', type: 'jsonb', nullable: true })
  volumeChecks!: unknown;

  /** Folder of the volume's PNG previews, relative to volume.previewDirectory; null until they are written. */
  @Column({ name: 'preview_directory', type: 'text', nullable: true })
  previewDirectory!: string | null;
}
