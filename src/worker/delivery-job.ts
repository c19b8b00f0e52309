/**
 * The delivery job: sends due outbox rows (ORU^R01 over MLLP, SR over C-STORE) and records the result.
 * A delivery counts as delivered only on an accepting ACK (MSA-1 AA or CA with MSA-2 equal to our
 * MSH-10) or C-STORE status 0x0000. Anything else is retried with exponential backoff until the
 * configured number of attempts is used up, then the row stays `failed` with its last error.
 */
import type { AppConfig } from '../config/load.ts';
import type { Database } from '../db/database.ts';
import { claimDueDelivery, markAttemptFailed, markDelivered, type ClaimedDelivery } from '../db/queries/delivery.ts';
import { recordAudit } from '../audit/record-audit.ts';
import { sendMllpMessage } from '../delivery/hl7/mllp-client.ts';
import { sendCStore } from '../delivery/sr/c-store-scu.ts';
import { getLogger } from '../logging/logger.ts';

const logger = getLogger('delivery');

/** HL7 acknowledgement codes that mean the receiver accepted the message (HL7 v2.5.1 table 0008). */
const ACCEPTING_ACK_CODES = new Set(['AA', 'CA']);

export class DeliveryFailure extends Error {
  constructor(
    message: string,
    readonly response: string | null = null,
  ) {
    super(message);
    this.name = 'DeliveryFailure';
  }
}

export class DeliveryJob {
  private readonly leaseSeconds: number;

  constructor(
    private readonly database: Database,
    private readonly config: AppConfig,
  ) {
    // A send never takes longer than its timeout; twice the longest one plus a minute is a safe lease.
    const longestTimeout = Math.max(this.config.dicom.timeoutSeconds, ...this.config.hl7.destinations.map((destination) => destination.ackTimeoutSeconds));
    this.leaseSeconds = longestTimeout * 2 + 60;
  }

  /** Sends one due delivery; returns false when none was due. */
  async runOnce(): Promise<boolean> {
    const delivery = await this.database.transaction((manager) => claimDueDelivery(manager, new Date(), this.leaseSeconds));
    if (!delivery) return false;

    const fields = { deliveryId: delivery.id, destination: delivery.destination, attempt: delivery.attempts };
    try {
      const response = await this.send(delivery);
      await this.database.transaction(async (manager) => {
        await markDelivered(manager, delivery.id, response, new Date());
        await recordAudit(manager, this.auditEntry(delivery, 'delivery_succeeded', 'success'));
      });
      logger.info('delivery succeeded', { ...fields, messageControlId: delivery.controlId });
    } catch (error) {
      const nextAttemptAt = this.nextAttemptAt(delivery.attempts);
      const message = error instanceof Error ? error.message : String(error);
      const response = error instanceof DeliveryFailure ? error.response : null;
      await this.database.transaction(async (manager) => {
        await markAttemptFailed(manager, delivery.id, { error: message, response, nextAttemptAt }, new Date());
        await recordAudit(manager, {
          ...this.auditEntry(delivery, 'delivery_failed', 'failure'),
          details: { kind: delivery.kind, attempt: delivery.attempts, final: nextAttemptAt === null, code: (error as { code?: string }).code ?? null },
        });
      });
      logger.warn(nextAttemptAt ? 'delivery attempt failed; will retry' : 'delivery failed; attempts used up', { ...fields, err: error });
    }
    return true;
  }

  private async send(delivery: ClaimedDelivery): Promise<string> {
    if (delivery.kind === 'hl7_oru') {
      const destination = this.config.hl7.destinations.find((candidate) => candidate.name === delivery.destination);
      if (!destination) throw new DeliveryFailure(`HL7 destination "${delivery.destination}" is no longer configured`);
      const ack = await sendMllpMessage({ host: destination.host, port: destination.port }, delivery.payload.toString('utf8'), delivery.controlId, {
        timeoutMs: destination.ackTimeoutSeconds * 1000,
      });
      if (!ACCEPTING_ACK_CODES.has(ack.code)) {
        throw new DeliveryFailure(`the receiver returned MSA-1 ${ack.code}${ack.text ? `: ${ack.text}` : ''}`, ack.raw);
      }
      return ack.raw;
    }

    const destination = this.config.dicom.destinations.find((candidate) => candidate.name === delivery.destination);
    if (!destination) throw new DeliveryFailure(`DICOM destination "${delivery.destination}" is no longer configured`);
    const result = await sendCStore(
      { aeTitle: destination.aeTitle, host: destination.host, port: destination.port },
      this.config.dicom.callingAeTitle ?? this.config.dicom.listener.aeTitle,
      delivery.payload,
      { timeoutMs: this.config.dicom.timeoutSeconds * 1000 },
    );
    return `C-STORE status 0x${result.status.toString(16).padStart(4, '0')}`;
  }

  /** Exponential backoff: base, 2 x base, 4 x base, ...; null once the attempts are used up. */
  private nextAttemptAt(attemptsMade: number): Date | null {
    if (attemptsMade >= this.config.delivery.maxAttempts) return null;
    const delaySeconds = this.config.delivery.retryBaseSeconds * 2 ** (attemptsMade - 1);
    return new Date(Date.now() + delaySeconds * 1000);
  }

  private auditEntry(delivery: ClaimedDelivery, action: 'delivery_succeeded' | 'delivery_failed', outcome: 'success' | 'failure') {
    return {
      action,
      outcome,
      actorType: 'system' as const,
      actor: 'sender',
      studyInstanceUid: delivery.studyInstanceUid,
      reportId: delivery.reportId,
      deliveryId: delivery.id,
      correlationId: delivery.controlId,
      details: { kind: delivery.kind, destination: delivery.destination, attempt: delivery.attempts },
    };
  }
}
