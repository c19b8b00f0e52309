import { Column, Entity, PrimaryColumn } from 'typeorm';

/** Lifecycle of a study: receiving -> complete -> processing -> reported | failed. */
export type StudyState = 'receiving' | 'complete' | 'processing' | 'reported' | 'failed';

/** A study as received; patient and study attributes come from the first instance stored. */
@Entity({ name: 'study' })
export class Study {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ name: 'study_instance_uid', type: 'varchar', length: 64, unique: true })
  studyInstanceUid!: string;

  @Column({ name: 'patient_id', type: 'varchar', length: 64, nullable: true })
  patientId!: string | null;

  @Column({ name: 'issuer_of_patient_id', type: 'varchar', length: 64, nullable: true })
  issuerOfPatientId!: string | null;

  @Column({ name: 'patient_name', type: 'varchar', length: 324, nullable: true })
  patientName!: string | null;

  @Column({ name: 'patient_birth_date', type: 'varchar', length: 8, nullable: true })
  patientBirthDate!: string | null;

  @Column({ name: 'patient_sex', type: 'varchar', length: 16, nullable: true })
  patientSex!: string | null;

  @Column({ name: 'accession_number', type: 'varchar', length: 16, nullable: true })
  accessionNumber!: string | null;

  @Column({ name: 'study_id', type: 'varchar', length: 16, nullable: true })
  studyId!: string | null;

  @Column({ name: 'study_date', type: 'varchar', length: 8, nullable: true })
  studyDate!: string | null;

  @Column({ name: 'study_time', type: 'varchar', length: 16, nullable: true })
  studyTime!: string | null;

  @Column({ name: 'study_description', type: 'varchar', length: 64, nullable: true })
  studyDescription!: string | null;

  @Column({ name: 'referring_physician_name', type: 'varchar', length: 324, nullable: true })
  referringPhysicianName!: string | null;

  @Column({ name: 'specific_character_set', type: 'varchar', length: 128, nullable: true })
  specificCharacterSet!: string | null;

  @Column({ name: 'state', type: 'varchar', length: 16 })
  state!: StudyState;

  /** Reason for the current state, in English: the completeness decision or the failure. */
  @Column({ name: 'state_reason', type: 'text', nullable: true })
  stateReason!: string | null;

  @Column({ name: 'instance_count', type: 'integer' })
  instanceCount!: number;

  @Column({ name: 'first_received_at', type: 'timestamptz' })
  firstReceivedAt!: Date;

  @Column({ name: 'last_received_at', type: 'timestamptz' })
  lastReceivedAt!: Date;

  @Column({ name: 'completed_at', type: 'timestamptz', nullable: true })
  completedAt!: Date | null;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
