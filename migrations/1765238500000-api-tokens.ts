import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * API tokens of the admin API. Only the SHA-256 hash of a token is stored, so a copy of the database
 * does not give access to the API. A revoked token keeps its row, because audit rows name it.
 */
export class ApiTokens1765238500000 implements MigrationInterface {
  name = 'ApiTokens1765238500000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE api_token (
        id uuid PRIMARY KEY,
        name varchar(64) NOT NULL,
        role varchar(16) NOT NULL CHECK (role IN ('admin', 'auditor', 'viewer')),
        token_hash char(64) NOT NULL UNIQUE,
        created_at timestamptz NOT NULL,
        created_by varchar(128) NOT NULL,
        last_used_at timestamptz,
        revoked_at timestamptz
      )`);
    // A name names one token in use at a time; a revoked token's name can be given to its replacement.
    await queryRunner.query(`CREATE UNIQUE INDEX api_token_active_name_idx ON api_token (name) WHERE revoked_at IS NULL`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE api_token`);
  }
}
