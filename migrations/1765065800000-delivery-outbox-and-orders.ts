import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The delivery outbox as integration engines run it, and orders received from the RIS.
 *
 * Delivery states become pending, held, sending, delivered, failed (an attempt failed and a retry is
 * scheduled) and dead (no further automatic attempt). Rows left in the old terminal `failed` state are
 * dead in the new meaning. `sequence_number` orders the deliveries of one destination, and
 * `first_attempt_at` starts the deadline clock.
 */
export class DeliveryOutboxAndOrders1765065800000 implements MigrationInterface {
  name = 'DeliveryOutboxAndOrders1765065800000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE imaging_order (
        id uuid PRIMARY KEY,
        placer_order_number varchar(199),
        placer_order_namespace varchar(199),
        filler_order_number varchar(199),
        filler_order_namespace varchar(199),
        accession_number varchar(199),
        requested_procedure_id varchar(199),
        study_instance_uid varchar(64),
        patient_id varchar(199) NOT NULL,
        patient_id_issuer varchar(199),
        patient_family_name varchar(194),
        patient_given_name varchar(194),
        patient_birth_date varchar(24),
        patient_sex varchar(16),
        procedure_code varchar(199),
        procedure_text varchar(199),
        procedure_coding_system varchar(64),
        order_control varchar(2) NOT NULL,
        status varchar(16) NOT NULL CHECK (status IN ('active', 'cancelled')),
        message_type varchar(16) NOT NULL,
        sending_application varchar(227),
        sending_facility varchar(227),
        received_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      )`);
    await queryRunner.query(`CREATE INDEX imaging_order_accession_idx ON imaging_order (accession_number)`);
    await queryRunner.query(`CREATE INDEX imaging_order_placer_idx ON imaging_order (placer_order_number)`);
    await queryRunner.query(`CREATE INDEX imaging_order_filler_idx ON imaging_order (filler_order_number)`);

    // One row per received HL7 message, so that a resent MSH-10 is acknowledged without a second update.
    await queryRunner.query(`
      CREATE TABLE hl7_inbound_message (
        id uuid PRIMARY KEY,
        sending_application varchar(227) NOT NULL,
        sending_facility varchar(227) NOT NULL,
        message_control_id varchar(199) NOT NULL,
        message_type varchar(16) NOT NULL,
        ack_code varchar(2) NOT NULL,
        order_id uuid REFERENCES imaging_order (id),
        message text NOT NULL,
        received_at timestamptz NOT NULL,
        UNIQUE (sending_application, sending_facility, message_control_id)
      )`);

    await queryRunner.query(`ALTER TABLE delivery DROP CONSTRAINT IF EXISTS delivery_state_check`);
    await queryRunner.query(`UPDATE delivery SET state = 'dead' WHERE state = 'failed'`);
    await queryRunner.query(`
      ALTER TABLE delivery ADD CONSTRAINT delivery_state_check
        CHECK (state IN ('pending', 'held', 'sending', 'delivered', 'failed', 'dead'))`);
    await queryRunner.query(`ALTER TABLE delivery ADD COLUMN sequence_number bigserial`);
    await queryRunner.query(`ALTER TABLE delivery ADD COLUMN first_attempt_at timestamptz`);
    await queryRunner.query(`ALTER TABLE delivery ADD COLUMN last_error_code varchar(64)`);
    await queryRunner.query(`ALTER TABLE delivery ADD COLUMN order_id uuid REFERENCES imaging_order (id)`);
    await queryRunner.query(`CREATE INDEX delivery_destination_sequence_idx ON delivery (destination, sequence_number)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX delivery_destination_sequence_idx`);
    for (const column of ['order_id', 'last_error_code', 'first_attempt_at', 'sequence_number']) {
      await queryRunner.query(`ALTER TABLE delivery DROP COLUMN ${column}`);
    }
    await queryRunner.query(`ALTER TABLE delivery DROP CONSTRAINT delivery_state_check`);
    // A scheduled retry was `pending` before; a dead or held row is kept from being sent as `failed`.
    await queryRunner.query(`UPDATE delivery SET state = 'pending' WHERE state = 'failed'`);
    await queryRunner.query(`UPDATE delivery SET state = 'failed' WHERE state IN ('dead', 'held')`);
    await queryRunner.query(`
      ALTER TABLE delivery ADD CONSTRAINT delivery_state_check
        CHECK (state IN ('pending', 'sending', 'delivered', 'failed'))`);
    await queryRunner.query(`DROP TABLE hl7_inbound_message`);
    await queryRunner.query(`DROP TABLE imaging_order`);
  }
}
