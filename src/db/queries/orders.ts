/** SQL of orders received from the RIS and of the HL7 messages that carried them. */
import { randomUUID } from 'node:crypto';

import type { EntityManager } from 'typeorm';

import type { OrderMessageHeader, ReceivedOrder } from '../../orders/order-message.ts';
import { queryRows } from '../sql.ts';

/** An order as stored; the fields an ORU^R01 and an SR take from it. */
export interface OrderRow {
  id: string;
  placerOrderNumber: string | null;
  placerOrderNamespace: string | null;
  fillerOrderNumber: string | null;
  fillerOrderNamespace: string | null;
  accessionNumber: string | null;
  requestedProcedureId: string | null;
  studyInstanceUid: string | null;
  patientId: string;
  patientIdIssuer: string | null;
  patientFamilyName: string | null;
  patientGivenName: string | null;
  patientBirthDate: string | null;
  patientSex: string | null;
  procedureCode: string | null;
  procedureText: string | null;
  procedureCodingSystem: string | null;
  status: 'active' | 'cancelled';
  updatedAt: Date;
}

const ORDER_COLUMNS = `id, placer_order_number, placer_order_namespace, filler_order_number, filler_order_namespace,
  accession_number, requested_procedure_id, study_instance_uid, patient_id, patient_id_issuer, patient_family_name,
  patient_given_name, patient_birth_date, patient_sex, procedure_code, procedure_text, procedure_coding_system, status,
  updated_at`;

/** Returns true when the sender's MSH-10 was accepted before. */
export async function inboundMessageSeen(manager: EntityManager, header: OrderMessageHeader): Promise<boolean> {
  const rows = await queryRows(
    manager,
    `SELECT 1 FROM hl7_inbound_message WHERE sending_application = $1 AND sending_facility = $2 AND message_control_id = $3`,
    [header.sendingApplication, header.sendingFacility, header.messageControlId],
  );
  return rows.length > 0;
}

export async function insertInboundMessage(
  manager: EntityManager,
  header: OrderMessageHeader,
  message: { text: string; orderId: string | null; receivedAt: Date },
): Promise<void> {
  await queryRows(
    manager,
    `INSERT INTO hl7_inbound_message (id, sending_application, sending_facility, message_control_id, message_type, ack_code, order_id,
       message, received_at)
     VALUES ($1, $2, $3, $4, $5, 'AA', $6, $7, $8)`,
    [
      randomUUID(),
      header.sendingApplication,
      header.sendingFacility,
      header.messageControlId,
      header.messageType,
      message.orderId,
      message.text,
      message.receivedAt,
    ],
  );
}

/**
 * Inserts the order, or updates the order with the same placer order number (or, without one, the same
 * filler order number) from the same sending application. A value the new message leaves empty keeps
 * the stored one. Returns the order id.
 */
export async function upsertOrder(
  manager: EntityManager,
  order: ReceivedOrder,
  header: OrderMessageHeader,
  now: Date,
): Promise<string> {
  const existing = await queryRows<{ id: string }>(
    manager,
    `SELECT id FROM imaging_order
      WHERE sending_application IS NOT DISTINCT FROM $1
        AND (($2::varchar IS NOT NULL AND placer_order_number = $2 AND placer_order_namespace IS NOT DISTINCT FROM $3)
          OR ($2::varchar IS NULL AND $4::varchar IS NOT NULL AND filler_order_number = $4
              AND filler_order_namespace IS NOT DISTINCT FROM $5))
      ORDER BY updated_at DESC LIMIT 1
      FOR UPDATE`,
    [
      header.sendingApplication,
      order.placerOrderNumber ?? null,
      order.placerOrderNamespace ?? null,
      order.fillerOrderNumber ?? null,
      order.fillerOrderNamespace ?? null,
    ],
  );

  const values = [
    order.placerOrderNumber ?? null,
    order.placerOrderNamespace ?? null,
    order.fillerOrderNumber ?? null,
    order.fillerOrderNamespace ?? null,
    order.accessionNumber ?? null,
    order.requestedProcedureId ?? null,
    order.studyInstanceUid ?? null,
    order.patient.id,
    order.patient.issuer ?? null,
    order.patient.familyName ?? null,
    order.patient.givenName ?? null,
    order.patient.birthDate ?? null,
    order.patient.sex ?? null,
    order.procedureCode ?? null,
    order.procedureText ?? null,
    order.procedureCodingSystem ?? null,
    order.orderControl,
    order.status,
    header.messageType,
    header.sendingApplication,
    header.sendingFacility,
    now,
  ];

  const current = existing[0];
  if (current !== undefined) {
    await queryRows(
      manager,
      `UPDATE imaging_order SET
         placer_order_number = COALESCE($2, placer_order_number), placer_order_namespace = COALESCE($3, placer_order_namespace),
         filler_order_number = COALESCE($4, filler_order_number), filler_order_namespace = COALESCE($5, filler_order_namespace),
         accession_number = COALESCE($6, accession_number), requested_procedure_id = COALESCE($7, requested_procedure_id),
         study_instance_uid = COALESCE($8, study_instance_uid), patient_id = $9, patient_id_issuer = COALESCE($10, patient_id_issuer),
         patient_family_name = COALESCE($11, patient_family_name), patient_given_name = COALESCE($12, patient_given_name),
         patient_birth_date = COALESCE($13, patient_birth_date), patient_sex = COALESCE($14, patient_sex),
         procedure_code = COALESCE($15, procedure_code), procedure_text = COALESCE($16, procedure_text),
         procedure_coding_system = COALESCE($17, procedure_coding_system), order_control = $18, status = $19,
         message_type = $20, sending_application = $21, sending_facility = $22, updated_at = $23
       WHERE id = $1 RETURNING id`,
      [current.id, ...values],
    );
    await setOrderPriority(manager, current.id, order.priority);
    return current.id;
  }

  const id = randomUUID();
  await queryRows(
    manager,
    `INSERT INTO imaging_order (id, placer_order_number, placer_order_namespace, filler_order_number, filler_order_namespace,
       accession_number, requested_procedure_id, study_instance_uid, patient_id, patient_id_issuer, patient_family_name,
       patient_given_name, patient_birth_date, patient_sex, procedure_code, procedure_text, procedure_coding_system,
       order_control, status, message_type, sending_application, sending_facility, received_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $23)`,
    [id, ...values],
  );
  await setOrderPriority(manager, id, order.priority);
  return id;
}

/** Keeps the order's priority; an update without one keeps the earlier value. */
async function setOrderPriority(manager: EntityManager, id: string, priority: string | undefined): Promise<void> {
  if (priority === undefined) return;
  await queryRows(manager, `UPDATE imaging_order SET priority = $2 WHERE id = $1 RETURNING id`, [id, priority.slice(0, 8)]);
}

/** Returns every order with this accession number, the most recently updated first. */
export async function findOrdersByAccession(manager: EntityManager, accessionNumber: string): Promise<OrderRow[]> {
  const rows = await queryRows<Record<string, unknown>>(
    manager,
    `SELECT ${ORDER_COLUMNS} FROM imaging_order WHERE accession_number = $1 ORDER BY updated_at DESC`,
    [accessionNumber],
  );
  return rows.map(toOrderRow);
}

export async function findOrder(manager: EntityManager, id: string): Promise<OrderRow | undefined> {
  const rows = await queryRows<Record<string, unknown>>(manager, `SELECT ${ORDER_COLUMNS} FROM imaging_order WHERE id = $1`, [id]);
  return rows[0] === undefined ? undefined : toOrderRow(rows[0]);
}

function toOrderRow(row: Record<string, unknown>): OrderRow {
  const text = (key: string) => (row[key] as string | null) ?? null;
  return {
    id: row.id as string,
    placerOrderNumber: text('placer_order_number'),
    placerOrderNamespace: text('placer_order_namespace'),
    fillerOrderNumber: text('filler_order_number'),
    fillerOrderNamespace: text('filler_order_namespace'),
    accessionNumber: text('accession_number'),
    requestedProcedureId: text('requested_procedure_id'),
    studyInstanceUid: text('study_instance_uid'),
    patientId: row.patient_id as string,
    patientIdIssuer: text('patient_id_issuer'),
    patientFamilyName: text('patient_family_name'),
    patientGivenName: text('patient_given_name'),
    patientBirthDate: text('patient_birth_date'),
    patientSex: text('patient_sex'),
    procedureCode: text('procedure_code'),
    procedureText: text('procedure_text'),
    procedureCodingSystem: text('procedure_coding_system'),
    status: row.status as OrderRow['status'],
    updatedAt: new Date(row.updated_at as string),
  };
}
