/**
 * Turns one received MLLP frame into stored orders and the ACK to send back. Every outcome has an ACK.
 * AA follows once the orders are committed, or when the same MSH-10 was accepted before. AR goes to a
 * message this listener does not take (unreadable, wrong type, version or processing ID). AE goes to an
 * order with a missing or unsupported value, and to a failure of this service, so that the RIS sends it
 * again.
 */
import { randomBytes } from 'node:crypto';

import { getLogger } from '../logging/logger.ts';
import { buildOrderAck, type AckError, type AckRequest } from './order-ack.ts';
import { Hl7MessageError, decodeHl7Bytes, parseHl7Message, type Hl7Message } from './hl7-message.ts';
import {
  OrderMessageError,
  readOrderHeader,
  readOrders,
  type OrderMessageHeader,
  type ReceivedOrder,
} from './order-message.ts';

const log = getLogger('order-intake');

export interface StoredOrderMessage {
  header: OrderMessageHeader;
  orders: ReceivedOrder[];
  /** The decoded message, kept with the order for later review. */
  text: string;
  remoteAddress: string;
  receivedAt: Date;
}

export interface RejectedOrderMessage {
  messageControlId?: string;
  messageType?: string;
  ackCode: 'AE' | 'AR';
  error: AckError;
  remoteAddress: string;
  receivedAt: Date;
}

/** Storage for accepted orders; the service implements it on the database. */
export interface OrderRepository {
  /**
   * Stores the orders of one message atomically. Returns `duplicate: true`, storing nothing, when the
   * same sender's MSH-10 was accepted before.
   */
  storeOrders(message: StoredOrderMessage): Promise<{ duplicate: boolean; orderIds: string[] }>;
  /** Records a rejected message for the audit trail. */
  recordRejection(rejection: RejectedOrderMessage): Promise<void>;
}

export interface OrderIntakeOptions {
  /** MSH-11 values accepted; others get AR. */
  acceptedProcessingIds: readonly string[];
}

export class OrderIntake {
  constructor(
    private readonly repository: OrderRepository,
    private readonly options: OrderIntakeOptions,
  ) {}

  /** Returns the ACK for `frame`, the payload of one MLLP frame from `remoteAddress`. */
  async handleFrame(frame: Buffer, remoteAddress: string, receivedAt = new Date()): Promise<string> {
    let message: Hl7Message | undefined;
    let header: OrderMessageHeader | undefined;
    try {
      const { text } = decodeHl7Bytes(frame);
      message = parseHl7Message(text);
      header = readOrderHeader(message, this.options.acceptedProcessingIds);
      const orders = readOrders(message, header.messageType);

      const stored = await this.repository.storeOrders({ header, orders, text, remoteAddress, receivedAt });
      log.info(stored.duplicate ? 'HL7 order message was received before; acknowledged again' : 'HL7 order message stored', {
        messageControlId: header.messageControlId,
        messageType: header.messageType,
        count: stored.orderIds.length,
        remoteAddress,
      });
      return this.ack(message, 'AA', undefined, receivedAt);
    } catch (error) {
      const { ackCode, ackError } = describeFailure(error);
      const messageControlId = header?.messageControlId ?? (message ? message.msh.value(10) : undefined);
      log.warn('HL7 order message rejected', {
        messageControlId,
        ackCode,
        code: ackError.hl7ErrorCode,
        reason: ackError.text,
        remoteAddress,
        ...(ackError.hl7ErrorCode === '207' ? { err: error } : {}),
      });
      await this.repository
        .recordRejection({ messageControlId, messageType: header?.messageType, ackCode, error: ackError, remoteAddress, receivedAt })
        .catch((auditError: unknown) => log.error('recording a rejected HL7 order message failed', { err: auditError }));
      return this.ack(message, ackCode, ackError, receivedAt);
    }
  }

  private ack(message: Hl7Message | undefined, ackCode: AckRequest['ackCode'], error: AckError | undefined, createdAt: Date): string {
    const msh = message?.msh;
    return buildOrderAck({
      ackCode,
      error,
      createdAt,
      // 20 hexadecimal characters: the ST length limit of MSH-10 in HL7 v2.5.1.
      messageControlId: randomBytes(10).toString('hex').toUpperCase(),
      received:
        msh === undefined
          ? undefined
          : {
              sendingApplication: msh.value(3),
              sendingFacility: msh.value(4),
              receivingApplication: msh.value(5),
              receivingFacility: msh.value(6),
              messageControlId: msh.value(10),
              triggerEvent: msh.value(9, 2),
              processingId: msh.value(11, 1),
              version: msh.value(12, 1),
            },
    });
  }
}

function describeFailure(error: unknown): { ackCode: 'AE' | 'AR'; ackError: AckError } {
  if (error instanceof OrderMessageError) {
    return { ackCode: error.ackCode, ackError: { hl7ErrorCode: error.hl7ErrorCode, location: error.location, text: error.message } };
  }
  if (error instanceof Hl7MessageError) {
    return { ackCode: 'AR', ackError: { hl7ErrorCode: error.hl7ErrorCode, location: error.location, text: error.message } };
  }
  return {
    ackCode: 'AE',
    ackError: { hl7ErrorCode: '207', location: { segment: 'MSH' }, text: 'the order could not be stored; send the message again' },
  };
}
