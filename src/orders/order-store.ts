/**
 * Stores received orders in PostgreSQL: the orders, the message that carried them and an audit row per
 * order commit in one transaction. The commit is flushed to disk before storeOrders() returns, so an AA
 * is sent only for orders that are durable.
 */
import { recordAudit } from '../audit/record-audit.ts';
import type { Database } from '../db/database.ts';
import { inboundMessageSeen, insertInboundMessage, upsertOrder } from '../db/queries/orders.ts';
import type { OrderRepository, RejectedOrderMessage, StoredOrderMessage } from './order-intake.ts';

export class OrderStore implements OrderRepository {
  constructor(private readonly database: Database) {}

  async storeOrders(message: StoredOrderMessage): Promise<{ duplicate: boolean; orderIds: string[] }> {
    const { header, orders, receivedAt } = message;
    const stored = await this.database.transaction(async (manager) => {
      if (await inboundMessageSeen(manager, header)) return { duplicate: true, orderIds: [] };

      const orderIds: string[] = [];
      for (const order of orders) orderIds.push(await upsertOrder(manager, order, header, receivedAt));
      await insertInboundMessage(manager, header, { text: message.text, orderId: orderIds[0] ?? null, receivedAt });

      // The audit rows come last: recordAudit holds the chain lock until commit, and waiting for an
      // order row while holding it could deadlock with another message about the same orders.
      for (const [index, order] of orders.entries()) {
        const orderId = orderIds[index]!;
        await recordAudit(manager, {
          action: 'hl7_order_received',
          outcome: 'success',
          actorType: 'peer',
          actor: header.sendingApplication || 'unknown',
          sourceAddress: message.remoteAddress,
          accessionNumber: order.accessionNumber,
          patientId: order.patient.id,
          correlationId: header.messageControlId.slice(0, 64),
          details: { orderId, messageType: header.messageType, orderControl: order.orderControl, status: order.status },
        });
      }
      return { duplicate: false, orderIds };
    });
    await this.database.flushCommits();
    return stored;
  }

  async recordRejection(rejection: RejectedOrderMessage): Promise<void> {
    await this.database.transaction((manager) =>
      recordAudit(manager, {
        action: 'hl7_order_rejected',
        outcome: 'failure',
        actorType: 'peer',
        actor: 'unknown',
        sourceAddress: rejection.remoteAddress,
        correlationId: rejection.messageControlId?.slice(0, 64),
        details: {
          messageType: rejection.messageType ?? null,
          ackCode: rejection.ackCode,
          hl7ErrorCode: rejection.error.hl7ErrorCode,
          segment: rejection.error.location.segment,
          field: rejection.error.location.field ?? null,
        },
      }),
    );
  }
}
