/**
 * The delivery job: claims due outbox rows, sends them (ORU^R01 over MLLP, SR over C-STORE) and records
 * the outcome. A delivery counts as delivered only on an accepting ACK (MSA-1 AA or CA with MSA-2 equal
 * to our MSH-10) or a C-STORE Success status. A Warning status counts too where the destination accepts
 * warnings, and attempt-outcome.ts has the whole table. A failure is retried with capped, jittered exponential backoff
 * until the attempts or the deadline are used up, and a failure not worth retrying ends the delivery at
 * once. Both end in `dead`, from where an administrator can replay it.
 *
 * Up to delivery.maxConcurrentSends deliveries are sent at once, never two to the same destination,
 * because the claim query keeps each destination's queue in order. A slow destination therefore takes
 * one send slot, and the others keep serving the other destinations.
 */
import type { EntityManager } from 'typeorm';

import type { AppConfig } from '../config/load.ts';
import type { Database } from '../db/database.ts';
import { claimDueDelivery, markAttemptFailed, markDelivered, type ClaimedDelivery } from '../db/queries/delivery.ts';
import { recordAudit, type AuditEntry } from '../audit/record-audit.ts';
import type { AttemptOutcome } from '../delivery/attempt-outcome.ts';
import { DestinationSenders } from '../delivery/destination-senders.ts';
import { decideAfterFailure, type RetryPolicy } from '../delivery/retry-policy.ts';
import { getLogger } from '../logging/logger.ts';

const logger = getLogger('delivery');

export interface DeliveryJobHooks {
  /**
   * `delivered`: seconds from the report's commit to the start of the attempt that succeeded;
   * `acknowledged`: seconds from that start to the accepting ACK or C-STORE response.
   */
  observeStage?(stage: 'delivered' | 'acknowledged', seconds: number): void;
  /** Runs in the transaction that schedules a retry, so the destination's next job commits with it. */
  afterRetryScheduled?(manager: EntityManager, retry: { destination: string; nextAttemptAt: Date }): Promise<void>;
}

/** Added to twice the longest attempt for the lease, so a slow commit never makes a live send look dead. */
const LEASE_MARGIN_SECONDS = 60;

/**
 * Seconds a row may stay in `sending` before it counts as abandoned by a sender that died: twice the
 * longest attempt (an association or ACK timeout) plus a margin.
 */
export function outboxLeaseSeconds(config: AppConfig): number {
  const longestAttempt = Math.max(config.dicom.timeoutSeconds, ...config.hl7.destinations.map((destination) => destination.ackTimeoutSeconds));
  return longestAttempt * 2 + LEASE_MARGIN_SECONDS;
}

export class DeliveryJob {
  private readonly senders: DestinationSenders;
  private readonly leaseSeconds: number;
  private readonly policy: RetryPolicy;
  private readonly blockingDestinations: string[];
  private readonly inFlight = new Set<Promise<void>>();
  private pumping: Promise<void> | undefined;
  private stopping = false;

  /** Throws DestinationConfigError when a configured TLS file cannot be read. */
  constructor(
    private readonly database: Database,
    private readonly config: AppConfig,
    private readonly hooks: DeliveryJobHooks = {},
  ) {
    this.senders = new DestinationSenders(config);
    this.leaseSeconds = outboxLeaseSeconds(config);
    this.policy = {
      maxAttempts: config.delivery.maxAttempts,
      baseSeconds: config.delivery.retryBaseSeconds,
      maxSeconds: config.delivery.retryMaxSeconds,
      deadlineMs: config.delivery.deadlineHours * 3600 * 1000,
    };
    this.blockingDestinations = [...config.hl7.destinations, ...config.dicom.destinations]
      .filter((destination) => destination.blockOnDead)
      .map((destination) => destination.name);
  }

  /**
   * Claims due deliveries until every send slot is busy or none is due, and starts sending them without
   * waiting. A finished send pumps again, so the next message of its destination leaves at once.
   */
  pump(): Promise<void> {
    // One claim loop at a time: a second caller waits for the running one instead of claiming past the limit.
    this.pumping ??= this.claimUntilFull().finally(() => {
      this.pumping = undefined;
    });
    return this.pumping;
  }

  /** Sends due deliveries until none is due and no send is in progress. */
  async runDue(): Promise<void> {
    for (;;) {
      await this.pump();
      if (this.inFlight.size === 0) return;
      await Promise.race(this.inFlight);
    }
  }

  /**
   * Sends the due deliveries of one destination, one after the other, until none is due, the signal is
   * aborted or the job is stopping. The delivery queue runs one such drain per destination at a time.
   */
  async drainDestination(destination: string, signal: AbortSignal): Promise<{ sent: number }> {
    let sent = 0;
    while (!this.stopping && !signal.aborted) {
      const delivery = await this.claim(destination);
      if (!delivery) break;
      await this.sendAndRecord(delivery);
      sent++;
    }
    return { sent };
  }

  /** Sends one due delivery and waits for its outcome; returns false when none was due. */
  async runOnce(): Promise<boolean> {
    const delivery = await this.claim();
    if (!delivery) return false;
    await this.sendAndRecord(delivery);
    return true;
  }

  /** Stops claiming; sends in progress go on. */
  stopClaiming(): void {
    this.stopping = true;
  }

  /** Waits for the sends in progress to be recorded. */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Stops claiming and closes kept connections; call after drain(). */
  close(): void {
    this.stopping = true;
    this.senders.close();
  }

  private async claimUntilFull(): Promise<void> {
    while (!this.stopping && this.inFlight.size < this.config.delivery.maxConcurrentSends) {
      const delivery = await this.claim();
      if (!delivery) return;
      const work: Promise<void> = this.sendAndRecord(delivery)
        .catch((error: unknown) => logger.error('recording a delivery attempt failed', { deliveryId: delivery.id, err: error }))
        .finally(() => {
          this.inFlight.delete(work);
          this.pump().catch((error: unknown) => logger.error('claiming the next delivery failed', { err: error }));
        });
      this.inFlight.add(work);
    }
  }

  private claim(destination?: string): Promise<ClaimedDelivery | undefined> {
    return this.database.transaction((manager) => claimDueDelivery(manager, new Date(), this.leaseSeconds, this.blockingDestinations, destination));
  }

  private async sendAndRecord(delivery: ClaimedDelivery): Promise<void> {
    const sendStarted = Date.now();
    const outcome = await this.senders.send(delivery);
    if (outcome.result === 'delivered') {
      await this.recordDelivered(delivery, outcome.response);
      this.hooks.observeStage?.('delivered', (sendStarted - delivery.createdAt.getTime()) / 1000);
      this.hooks.observeStage?.('acknowledged', (Date.now() - sendStarted) / 1000);
    } else {
      await this.recordFailed(delivery, outcome);
    }
  }

  private async recordDelivered(delivery: ClaimedDelivery, response: string): Promise<void> {
    const recorded = await this.database.transaction(async (manager) => {
      if (!(await markDelivered(manager, delivery.id, response, new Date()))) return false;
      await recordAudit(manager, this.auditEntry(delivery, 'delivery_succeeded', 'success', {}));
      return true;
    });
    this.logOutcome(delivery, recorded, 'delivered', {});
  }

  private async recordFailed(delivery: ClaimedDelivery, outcome: Extract<AttemptOutcome, { result: 'failed' }>): Promise<void> {
    const now = new Date();
    const decision = decideAfterFailure(
      { attemptsMade: delivery.attempts, firstAttemptAt: delivery.firstAttemptAt, retryable: outcome.retryable },
      this.policy,
      now,
    );
    const deadReason = decision.state === 'dead' ? decision.reason : null;
    const recorded = await this.database.transaction(async (manager) => {
      const failure = {
        state: decision.state,
        nextAttemptAt: decision.state === 'failed' ? decision.nextAttemptAt : null,
        error: outcome.message,
        code: outcome.code,
        response: outcome.response,
      };
      if (!(await markAttemptFailed(manager, delivery.id, failure, now))) return false;
      if (decision.state === 'failed') await this.hooks.afterRetryScheduled?.(manager, { destination: delivery.destination, nextAttemptAt: decision.nextAttemptAt });
      await recordAudit(
        manager,
        this.auditEntry(delivery, 'delivery_failed', 'failure', { code: outcome.code, final: deadReason !== null, deadReason }),
      );
      return true;
    });
    // The message of a failure that carries the receiver's reply can quote it, so only its code is logged.
    const detail = outcome.response === null ? { err: Object.assign(new Error(outcome.message), { code: outcome.code }) } : {};
    this.logOutcome(delivery, recorded, decision.state, { code: outcome.code, reason: deadReason ?? undefined, ...detail });
  }

  private logOutcome(delivery: ClaimedDelivery, recorded: boolean, state: string, fields: Record<string, unknown>): void {
    const idField = delivery.kind === 'hl7_oru' ? { messageControlId: delivery.controlId } : { sopInstanceUid: delivery.controlId };
    const base = { deliveryId: delivery.id, destination: delivery.destination, attempt: delivery.attempts, state, ...idField, ...fields };
    if (!recorded) {
      // Another process took the row over (the lease ran out) or an administrator replayed it meanwhile.
      logger.warn('delivery outcome not recorded: the row is no longer in sending', base);
    } else if (state === 'delivered') {
      logger.info('delivery succeeded', base);
    } else if (state === 'failed') {
      logger.warn('delivery attempt failed; will retry', base);
    } else {
      logger.error('delivery is dead; it needs an administrator', base);
    }
  }

  private auditEntry(
    delivery: ClaimedDelivery,
    action: 'delivery_succeeded' | 'delivery_failed',
    outcome: 'success' | 'failure',
    details: Record<string, string | number | boolean | null>,
  ): AuditEntry {
    return {
      action,
      outcome,
      actorType: 'system',
      actor: 'sender',
      studyInstanceUid: delivery.studyInstanceUid,
      accessionNumber: delivery.accessionNumber ?? undefined,
      patientId: delivery.patientId ?? undefined,
      reportId: delivery.reportId,
      deliveryId: delivery.id,
      correlationId: delivery.controlId,
      details: { kind: delivery.kind, destination: delivery.destination, attempt: delivery.attempts, ...details },
    };
  }
}
