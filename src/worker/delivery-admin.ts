/**
 * Administrator actions on a delivery: approving a held one, and replaying a dead or delivered one.
 * Each action changes the row and writes its audit row in one transaction, under a row lock, so a sender
 * that finishes an attempt at the same moment cannot overwrite it.
 */
import type { EntityManager } from 'typeorm';

import type { Database } from '../db/database.ts';
import { findDeliveredSuccessor, lockDelivery, releaseHeldDelivery, requeueDelivery } from '../db/queries/delivery.ts';
import { recordAudit } from '../audit/record-audit.ts';
import { renewMessageHeader } from '../delivery/hl7/message-header.ts';
import { getLogger } from '../logging/logger.ts';
import { newMessageControlId } from './build-deliveries.ts';

const logger = getLogger('delivery-admin');

export type DeliveryAdminErrorCode = 'delivery_not_found' | 'delivery_state_invalid' | 'delivery_superseded' | 'delivery_has_no_message';

export class DeliveryAdminError extends Error {
  constructor(
    readonly code: DeliveryAdminErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DeliveryAdminError';
  }
}

/** Delivery ids are UUIDs; anything else cannot name a delivery and would be a database type error. */
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function requireDeliveryId(id: string): void {
  if (!UUID_PATTERN.test(id)) {
    throw new DeliveryAdminError('delivery_not_found', `"${id}" is not a delivery id; use the id that deliveries list prints`);
  }
}

export interface DeliveryActionResult {
  id: string;
  state: 'pending';
  /** MSH-10 or SOPInstanceUID that the next attempt sends. */
  controlId: string;
  previousControlId: string;
}

/**
 * Wakes the sender of a destination in the transaction of the action, so the delivery job commits with
 * the change (see JobScheduling.wakeDestinations).
 */
export type WakeDestination = (manager: EntityManager, destination: string) => Promise<void>;

/** The requester of an action: an OS user of the CLI (a plain name) or an API token with the request's address. */
export type DeliveryActor = string | { actorType: 'user' | 'token'; actor: string; sourceAddress?: string };

function auditActor(actor: DeliveryActor): { actorType: 'user' | 'token'; actor: string; sourceAddress?: string } {
  return typeof actor === 'string' ? { actorType: 'user', actor } : actor;
}

/** Releases a held delivery: it becomes pending and is sent in its destination's order. */
export async function approveDelivery(database: Database, id: string, actor: DeliveryActor, wake?: WakeDestination): Promise<DeliveryActionResult> {
  requireDeliveryId(id);
  const result = await database.transaction(async (manager) => {
    const delivery = await lockDelivery(manager, id);
    if (delivery === undefined) throw new DeliveryAdminError('delivery_not_found', `delivery ${id} does not exist`);
    if (delivery.state !== 'held') {
      throw new DeliveryAdminError('delivery_state_invalid', `delivery ${id} is ${delivery.state}; only a held delivery can be approved`);
    }

    await releaseHeldDelivery(manager, id, new Date());
    await recordAudit(manager, {
      action: 'delivery_approved',
      outcome: 'success',
      ...auditActor(actor),
      studyInstanceUid: delivery.studyInstanceUid,
      accessionNumber: delivery.accessionNumber ?? undefined,
      patientId: delivery.patientId ?? undefined,
      reportId: delivery.reportId,
      deliveryId: id,
      correlationId: delivery.controlId,
      details: { kind: delivery.kind, destination: delivery.destination },
    });
    await wake?.(manager, delivery.destination);
    return { id, state: 'pending' as const, controlId: delivery.controlId, previousControlId: delivery.controlId };
  });
  logger.info('delivery approved', { deliveryId: id });
  return result;
}

/**
 * Sends a dead or delivered delivery again, as a new message at the end of its destination's queue.
 * An ORU^R01 gets a new MSH-10, so the receiver does not drop it as a duplicate. An SR keeps its
 * SOPInstanceUID, because it is the same document. Without `force` a replay is rejected when a later
 * report of the study was delivered to the same destination, because it would put outdated text last.
 */
export async function replayDelivery(
  database: Database,
  id: string,
  actor: DeliveryActor,
  options: { force?: boolean; wake?: WakeDestination } = {},
): Promise<DeliveryActionResult> {
  requireDeliveryId(id);
  const result = await database.transaction(async (manager) => {
    const delivery = await lockDelivery(manager, id);
    if (delivery === undefined) throw new DeliveryAdminError('delivery_not_found', `delivery ${id} does not exist`);
    if (delivery.state !== 'dead' && delivery.state !== 'delivered') {
      throw new DeliveryAdminError(
        'delivery_state_invalid',
        `delivery ${id} is ${delivery.state}; only a dead or delivered delivery can be replayed`,
      );
    }
    if (delivery.payload.length === 0) {
      throw new DeliveryAdminError('delivery_has_no_message', `delivery ${id} has no message to send: ${delivery.lastError ?? 'it was never built'}`);
    }
    const successor = await findDeliveredSuccessor(manager, delivery);
    if (successor !== undefined && !options.force) {
      throw new DeliveryAdminError(
        'delivery_superseded',
        `delivery ${successor} of a later report of this study was delivered to ${delivery.destination}; replaying ${id} would put outdated text last (use --force to replay anyway)`,
      );
    }

    const now = new Date();
    const renewed =
      delivery.kind === 'hl7_oru'
        ? (() => {
            const controlId = newMessageControlId();
            const message = renewMessageHeader(delivery.payload.toString('utf8'), controlId, now);
            return { controlId, payload: Buffer.from(message, 'utf8') };
          })()
        : { controlId: delivery.controlId, payload: delivery.payload };
    await requeueDelivery(manager, id, renewed, now);
    await recordAudit(manager, {
      action: 'delivery_replayed',
      outcome: 'success',
      ...auditActor(actor),
      studyInstanceUid: delivery.studyInstanceUid,
      accessionNumber: delivery.accessionNumber ?? undefined,
      patientId: delivery.patientId ?? undefined,
      reportId: delivery.reportId,
      deliveryId: id,
      correlationId: renewed.controlId,
      details: {
        kind: delivery.kind,
        destination: delivery.destination,
        previousState: delivery.state,
        previousControlId: delivery.controlId,
        forced: options.force === true && successor !== undefined,
      },
    });
    await options.wake?.(manager, delivery.destination);
    return { id, state: 'pending' as const, controlId: renewed.controlId, previousControlId: delivery.controlId };
  });
  logger.info('delivery replayed', { deliveryId: id, messageControlId: result.controlId });
  return result;
}
