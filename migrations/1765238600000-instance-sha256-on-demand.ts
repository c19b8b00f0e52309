import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Lets instance.sha256 stay empty. The listener no longer hashes every received file: the hash is
 * computed and stored only when a second copy of the same SOPInstanceUID has to be compared with it.
 */
export class InstanceSha256OnDemand1765238600000 implements MigrationInterface {
  name = 'InstanceSha256OnDemand1765238600000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE instance ALTER COLUMN sha256 DROP NOT NULL`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    // Fails while rows without a hash exist: their hash is in no column and the files are not read here.
    await queryRunner.query(`ALTER TABLE instance ALTER COLUMN sha256 SET NOT NULL`);
  }
}
