import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Links a report to the earlier report of the same study that it replaces (an amended report). */
export class ReportSupersedes1764979200000 implements MigrationInterface {
  name = 'ReportSupersedes1764979200000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE report ADD COLUMN supersedes_report_id uuid REFERENCES report (id)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE report DROP COLUMN supersedes_report_id`);
  }
}
