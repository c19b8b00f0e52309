import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The association log, the completeness state machine's decision log, and the study and series columns
 * that the per-series quiet period, the force-complete deadline and the late-arrival policy need.
 */
export class IngestCompleteness1765065600000 implements MigrationInterface {
  name = 'IngestCompleteness1765065600000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE association_log (
        id uuid PRIMARY KEY,
        calling_ae_title varchar(16) NOT NULL,
        called_ae_title varchar(16) NOT NULL,
        remote_address varchar(64) NOT NULL,
        started_at timestamptz NOT NULL,
        ended_at timestamptz,
        result varchar(32) NOT NULL CHECK (result IN ('in_progress', 'rejected', 'released', 'aborted', 'aborted_by_peer',
          'connection_closed', 'timed_out')),
        rejection_reason varchar(64),
        instances_stored integer NOT NULL DEFAULT 0,
        instances_failed integer NOT NULL DEFAULT 0,
        bytes_received bigint NOT NULL DEFAULT 0
      )`);
    await queryRunner.query(`CREATE INDEX association_log_started_idx ON association_log (started_at)`);

    await queryRunner.query(`
      CREATE TABLE completeness_event (
        id uuid PRIMARY KEY,
        study_id uuid NOT NULL REFERENCES study (id),
        series_id uuid REFERENCES series (id),
        decision varchar(32) NOT NULL,
        reason text NOT NULL,
        details jsonb,
        decided_at timestamptz NOT NULL
      )`);
    await queryRunner.query(`CREATE INDEX completeness_event_study_idx ON completeness_event (study_id, decided_at)`);

    // Start of the current receiving episode (first instance, reopening or first late instance); the
    // force-complete deadline counts from here. NULL means first_received_at.
    await queryRunner.query(`ALTER TABLE study ADD COLUMN receiving_since timestamptz`);
    // Instances of processed SOP classes that arrived while the study was being processed or after its report.
    await queryRunner.query(`ALTER TABLE study ADD COLUMN late_instance_count integer NOT NULL DEFAULT 0`);
    // Why the study was last moved to complete; the report job reads it.
    await queryRunner.query(
      `ALTER TABLE study ADD COLUMN run_reason varchar(16) NOT NULL DEFAULT 'initial'
         CHECK (run_reason IN ('initial', 'reopened', 'amend', 'new_job'))`,
    );
    // NULL while the series is receiving; set when its quiet period has passed.
    await queryRunner.query(`ALTER TABLE series ADD COLUMN completed_at timestamptz`);
    await queryRunner.query(`CREATE INDEX instance_study_idx ON instance (study_id)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX instance_study_idx`);
    await queryRunner.query(`ALTER TABLE series DROP COLUMN completed_at`);
    await queryRunner.query(`ALTER TABLE study DROP COLUMN run_reason`);
    await queryRunner.query(`ALTER TABLE study DROP COLUMN late_instance_count`);
    await queryRunner.query(`ALTER TABLE study DROP COLUMN receiving_since`);
    await queryRunner.query(`DROP TABLE completeness_event`);
    await queryRunner.query(`DROP TABLE association_log`);
  }
}
