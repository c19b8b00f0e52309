import { Column, Entity, PrimaryColumn } from 'typeorm';

/** Milliseconds spent in each stage of producing one report, keyed `<stage>Ms`. */
export interface StageTimings {
  [stage: string]: number;
}

/** A draft report written by the model. It stays `preliminary` until a radiologist signs it elsewhere. */
@Entity({ name: 'report' })
export class Report {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ name: 'study_id', type: 'uuid' })
  studyId!: string;

  @Column({ name: 'series_id', type: 'uuid' })
  seriesId!: string;

  @Column({ name: 'status', type: 'varchar', length: 16 })
  status!: 'preliminary';

  @Column({ name: 'text', type: 'text' })
  text!: string;

  @Column({ name: 'findings', type: 'text' })
  findings!: string;

  @Column({ name: 'impression', type: 'text' })
  impression!: string;

  @Column({ name: 'model_name', type: 'varchar', length: 128 })
  modelName!: string;

  @Column({ name: 'model_version', type: 'varchar', length: 64 })
  modelVersion!: string;

  @Column({ name: 'model_device_uid', type: 'varchar', length: 64 })
  modelDeviceUid!: string;

  /** SOPInstanceUIDs of the slices the model read, in volume order. */
  @Column({ name: 'instance_uids', type: 'jsonb' })
  instanceUids!: string[];

  @Column({ name: 'timings', type: 'jsonb' })
  timings!: StageTimings;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  /** The earlier report of the same study that this one replaces; null for a first report. */
  @Column({ name: 'supersedes_report_id', type: 'uuid', nullable: true })
  supersedesReportId!: string | null;

  /** The study's report run this report belongs to; one report per run and model version. */
  @Column({ name: 'study_run', type: 'integer', nullable: true })
  studyRun!: number | null;

  /** The queue job that produced the report; null for a report written without the queue. */
  @Column({ name: 'job_id', type: 'uuid', nullable: true })
  jobId!: string | null;
}
