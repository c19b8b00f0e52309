import type { MigrationInterface, QueryRunner } from 'typeorm';

import { computeRowHash, GENESIS_HASH } from '../src/audit/hash-chain.ts';

/**
 * Makes audit_event a tamper-evident, append-only log.
 *
 * - `seq`, `prev_hash` and `row_hash` form the hash chain described in src/audit/hash-chain.ts. Rows
 *   written by earlier versions are chained here in (occurred_at, id) order.
 * - `accession_number` and `patient_id` let an auditor find every event of an order or a patient.
 * - A trigger rejects every UPDATE, DELETE and TRUNCATE, whatever the role. Only the table owner or a
 *   superuser can get past it (ALTER TABLE ... DISABLE TRIGGER, session_replication_role = replica),
 *   and the chain shows what such a change did.
 * - `audit_export_cursor` records how far the syslog exporter got, per export target.
 */
export class AuditHashChain1765238400000 implements MigrationInterface {
  name = 'AuditHashChain1765238400000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE audit_event ADD COLUMN seq bigint`);
    await queryRunner.query(`ALTER TABLE audit_event ADD COLUMN prev_hash char(64)`);
    await queryRunner.query(`ALTER TABLE audit_event ADD COLUMN row_hash char(64)`);
    await queryRunner.query(`ALTER TABLE audit_event ADD COLUMN accession_number varchar(64)`);
    await queryRunner.query(`ALTER TABLE audit_event ADD COLUMN patient_id varchar(64)`);

    await chainExistingRows(queryRunner);

    await queryRunner.query(`ALTER TABLE audit_event ALTER COLUMN seq SET NOT NULL`);
    await queryRunner.query(`ALTER TABLE audit_event ALTER COLUMN prev_hash SET NOT NULL`);
    await queryRunner.query(`ALTER TABLE audit_event ALTER COLUMN row_hash SET NOT NULL`);
    await queryRunner.query(`CREATE UNIQUE INDEX audit_event_seq_idx ON audit_event (seq)`);
    await queryRunner.query(`CREATE INDEX audit_event_study_idx ON audit_event (study_instance_uid, occurred_at)`);
    await queryRunner.query(`CREATE INDEX audit_event_accession_idx ON audit_event (accession_number, occurred_at)`);
    await queryRunner.query(`CREATE INDEX audit_event_patient_idx ON audit_event (patient_id, occurred_at)`);
    await queryRunner.query(`CREATE INDEX audit_event_action_idx ON audit_event (action, occurred_at)`);
    await queryRunner.query(`CREATE INDEX audit_event_actor_idx ON audit_event (actor, occurred_at)`);

    await queryRunner.query(`
      CREATE FUNCTION audit_event_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_event is append-only: % is not allowed', TG_OP
          USING ERRCODE = 'insufficient_privilege';
      END
      $$`);
    await queryRunner.query(`
      CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
        FOR EACH ROW EXECUTE FUNCTION audit_event_reject_change()`);
    await queryRunner.query(`
      CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
        FOR EACH STATEMENT EXECUTE FUNCTION audit_event_reject_change()`);

    await queryRunner.query(`
      CREATE TABLE audit_export_cursor (
        target varchar(64) PRIMARY KEY,
        last_seq bigint NOT NULL,
        lease_owner varchar(128),
        lease_until timestamptz,
        updated_at timestamptz NOT NULL
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE audit_export_cursor`);
    await queryRunner.query(`DROP TRIGGER audit_event_no_truncate ON audit_event`);
    await queryRunner.query(`DROP TRIGGER audit_event_append_only ON audit_event`);
    await queryRunner.query(`DROP FUNCTION audit_event_reject_change()`);
    for (const index of ['seq', 'study', 'accession', 'patient', 'action', 'actor']) {
      await queryRunner.query(`DROP INDEX audit_event_${index}_idx`);
    }
    for (const column of ['patient_id', 'accession_number', 'row_hash', 'prev_hash', 'seq']) {
      await queryRunner.query(`ALTER TABLE audit_event DROP COLUMN ${column}`);
    }
  }
}

interface LegacyAuditRow {
  id: string;
  occurred_at: Date;
  actor_type: string;
  actor: string;
  action: string;
  outcome: string;
  source_address: string | null;
  study_instance_uid: string | null;
  series_instance_uid: string | null;
  report_id: string | null;
  delivery_id: string | null;
  correlation_id: string | null;
  details: unknown;
}

/** Rows read and chained per statement. */
const CHAIN_PAGE_SIZE = 1000;

/** Gives every row written before the chain existed its place in the chain, oldest first. */
async function chainExistingRows(queryRunner: QueryRunner): Promise<void> {
  let seq = 0;
  let prevHash = GENESIS_HASH;
  for (;;) {
    const result = (await queryRunner.query(
      `SELECT id, occurred_at, actor_type, actor, action, outcome, source_address, study_instance_uid,
              series_instance_uid, report_id, delivery_id, correlation_id, details
         FROM audit_event WHERE seq IS NULL ORDER BY occurred_at, id LIMIT ${CHAIN_PAGE_SIZE}`,
      [],
      true,
    )) as { records?: LegacyAuditRow[] };
    const rows = result.records ?? [];
    for (const row of rows) {
      seq += 1;
      const rowHash = computeRowHash({
        seq,
        id: row.id,
        occurredAt: new Date(row.occurred_at),
        actorType: row.actor_type,
        actor: row.actor,
        action: row.action,
        outcome: row.outcome,
        sourceAddress: row.source_address,
        studyInstanceUid: row.study_instance_uid,
        seriesInstanceUid: row.series_instance_uid,
        accessionNumber: null,
        patientId: null,
        reportId: row.report_id,
        deliveryId: row.delivery_id,
        correlationId: row.correlation_id,
        details: row.details,
        prevHash,
      });
      // Rows of earlier versions have millisecond timestamps, because they came from a JavaScript Date;
      // the truncation makes sure that the stored value is the one that was hashed.
      await queryRunner.query(
        `UPDATE audit_event SET seq = $1, prev_hash = $2, row_hash = $3, occurred_at = date_trunc('milliseconds', occurred_at) WHERE id = $4`,
        [seq, prevHash, rowHash, row.id],
      );
      prevHash = rowHash;
    }
    if (rows.length < CHAIN_PAGE_SIZE) return;
  }
}
