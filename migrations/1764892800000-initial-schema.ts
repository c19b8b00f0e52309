import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The first schema: what a study's journey from C-STORE to delivery needs. */
export class InitialSchema1764892800000 implements MigrationInterface {
  name = 'InitialSchema1764892800000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE study (
        id uuid PRIMARY KEY,
        study_instance_uid varchar(64) NOT NULL UNIQUE,
        patient_id varchar(64),
        issuer_of_patient_id varchar(64),
        patient_name varchar(324),
        patient_birth_date varchar(8),
        patient_sex varchar(16),
        accession_number varchar(16),
        study_id varchar(16),
        study_date varchar(8),
        study_time varchar(16),
        study_description varchar(64),
        referring_physician_name varchar(324),
        specific_character_set varchar(128),
        state varchar(16) NOT NULL CHECK (state IN ('receiving', 'complete', 'processing', 'reported', 'failed')),
        state_reason text,
        instance_count integer NOT NULL DEFAULT 0,
        first_received_at timestamptz NOT NULL,
        last_received_at timestamptz NOT NULL,
        completed_at timestamptz,
        updated_at timestamptz NOT NULL
      )`);
    await queryRunner.query(`CREATE INDEX study_state_last_received_idx ON study (state, last_received_at)`);

    await queryRunner.query(`
      CREATE TABLE series (
        id uuid PRIMARY KEY,
        study_id uuid NOT NULL REFERENCES study (id),
        series_instance_uid varchar(64) NOT NULL UNIQUE,
        modality varchar(16),
        series_number integer,
        series_description varchar(64),
        instance_count integer NOT NULL DEFAULT 0,
        last_received_at timestamptz NOT NULL,
        selection_decision varchar(16) CHECK (selection_decision IN ('selected', 'rejected')),
        selection_reason_code varchar(64),
        selection_reason text,
        volume_checks jsonb
      )`);
    await queryRunner.query(`CREATE INDEX series_study_idx ON series (study_id)`);

    await queryRunner.query(`
      CREATE TABLE instance (
        id uuid PRIMARY KEY,
        study_id uuid NOT NULL REFERENCES study (id),
        series_id uuid NOT NULL REFERENCES series (id),
        sop_instance_uid varchar(64) NOT NULL UNIQUE,
        sop_class_uid varchar(64) NOT NULL,
        transfer_syntax_uid varchar(64) NOT NULL,
        file_path text NOT NULL,
        size_bytes bigint NOT NULL,
        sha256 char(64) NOT NULL,
        modality varchar(16),
        instance_number integer,
        image_type jsonb,
        image_position_patient jsonb,
        image_orientation_patient jsonb,
        rows integer,
        columns integer,
        calling_ae_title varchar(16) NOT NULL,
        association_id uuid NOT NULL,
        received_at timestamptz NOT NULL
      )`);
    await queryRunner.query(`CREATE INDEX instance_series_idx ON instance (series_id)`);

    await queryRunner.query(`
      CREATE TABLE report (
        id uuid PRIMARY KEY,
        study_id uuid NOT NULL REFERENCES study (id),
        series_id uuid NOT NULL REFERENCES series (id),
        status varchar(16) NOT NULL CHECK (status IN ('preliminary')),
        text text NOT NULL,
        findings text NOT NULL,
        impression text NOT NULL,
        model_name varchar(128) NOT NULL,
        model_version varchar(64) NOT NULL,
        model_device_uid varchar(64) NOT NULL,
        instance_uids jsonb NOT NULL,
        timings jsonb NOT NULL,
        created_at timestamptz NOT NULL
      )`);
    await queryRunner.query(`CREATE INDEX report_study_idx ON report (study_id)`);

    await queryRunner.query(`
      CREATE TABLE delivery (
        id uuid PRIMARY KEY,
        report_id uuid NOT NULL REFERENCES report (id),
        kind varchar(16) NOT NULL CHECK (kind IN ('hl7_oru', 'dicom_sr')),
        destination varchar(64) NOT NULL,
        control_id varchar(64) NOT NULL,
        payload bytea NOT NULL,
        state varchar(16) NOT NULL CHECK (state IN ('pending', 'sending', 'delivered', 'failed')),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL,
        last_error text,
        response text,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        delivered_at timestamptz,
        UNIQUE (report_id, kind, destination)
      )`);
    await queryRunner.query(`CREATE INDEX delivery_due_idx ON delivery (state, next_attempt_at)`);

    await queryRunner.query(`
      CREATE TABLE audit_event (
        id uuid PRIMARY KEY,
        occurred_at timestamptz NOT NULL,
        actor_type varchar(16) NOT NULL,
        actor varchar(128) NOT NULL,
        action varchar(64) NOT NULL,
        outcome varchar(16) NOT NULL CHECK (outcome IN ('success', 'failure')),
        source_address varchar(64),
        study_instance_uid varchar(64),
        series_instance_uid varchar(64),
        report_id uuid,
        delivery_id uuid,
        correlation_id varchar(64),
        details jsonb
      )`);
    await queryRunner.query(`CREATE INDEX audit_event_occurred_idx ON audit_event (occurred_at)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['audit_event', 'delivery', 'report', 'instance', 'series', 'study']) {
      await queryRunner.query(`DROP TABLE ${table}`);
    }
  }
}
