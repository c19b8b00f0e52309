import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Records where the PNG previews of a series' volume were written, relative to the preview folder. */
export class SeriesPreviewDirectory1765065700000 implements MigrationInterface {
  name = 'SeriesPreviewDirectory1765065700000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE series ADD COLUMN preview_directory text`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE series DROP COLUMN preview_directory`);
  }
}
