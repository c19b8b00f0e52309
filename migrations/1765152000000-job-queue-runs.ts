import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Report runs for the job queue. pg-boss keeps its own tables in the `pgboss` schema and creates them
 * when a process starts; these columns tie our rows to its jobs.
 *
 * - `study.report_run` counts the report jobs a study was given: each completion enqueues run n + 1.
 * - `study.report_job_id` and `study.processing_token` name the job attempt that owns a study in
 *   `processing`. A worker whose lease expired finds another token there and cannot store its report.
 * - `report.study_run` with the unique index allows one report per study, run and model version, so a
 *   job that is run twice cannot write two reports.
 * - `imaging_order.priority` keeps the order's priority (TQ1-9, or ORC-7.6 / OBR-27.6 before v2.5),
 *   from which a report job's queue priority is taken.
 */
export class JobQueueRuns1765152000000 implements MigrationInterface {
  name = 'JobQueueRuns1765152000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE study ADD COLUMN report_run integer NOT NULL DEFAULT 0`);
    await queryRunner.query(`ALTER TABLE study ADD COLUMN report_job_id uuid`);
    await queryRunner.query(`ALTER TABLE study ADD COLUMN processing_token uuid`);
    await queryRunner.query(`ALTER TABLE report ADD COLUMN study_run integer`);
    await queryRunner.query(`ALTER TABLE report ADD COLUMN job_id uuid`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX report_study_run_model_idx ON report (study_id, study_run, model_name, model_version) WHERE study_run IS NOT NULL`,
    );
    await queryRunner.query(`ALTER TABLE imaging_order ADD COLUMN priority varchar(8)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE imaging_order DROP COLUMN priority`);
    await queryRunner.query(`DROP INDEX report_study_run_model_idx`);
    for (const column of ['job_id', 'study_run']) await queryRunner.query(`ALTER TABLE report DROP COLUMN ${column}`);
    for (const column of ['processing_token', 'report_job_id', 'report_run']) await queryRunner.query(`ALTER TABLE study DROP COLUMN ${column}`);
  }
}
