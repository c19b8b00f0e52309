/**
 * The one funnel from a receiver's reply to what the outbox does with the delivery. An attempt either
 * delivered the message or failed, and a failure is retryable or not. The table below is the
 * whole HL7 ACK policy; docs/hl7-interface.md repeats it for interface engineers.
 *
 * | answer                                   | outcome                                     |
 * |------------------------------------------|---------------------------------------------|
 * | MSA-1 AA or CA with MSA-2 = our MSH-10   | delivered                                   |
 * | MSA-1 AE or CE                           | failed, retryable (`hl7_ack_error`)         |
 * | MSA-1 AR or CR                           | failed, retryable if the destination's      |
 * |                                          | rejectPolicy is `retry` (`hl7_ack_rejected`) |
 * | no ACK in time, reset, refused, garbage  | failed as the typed error says (retryable)  |
 * | C-STORE Success                          | delivered                                   |
 * | C-STORE Warning                          | delivered, or parked (warningPolicy `park`) |
 * | C-STORE Failure, association rejected    | failed as the typed error says              |
 */
import type { HL7Ack } from './hl7/ack.ts';
import { formatStatus, type StatusClass } from './sr/c-store-errors.ts';

export type AttemptOutcome =
  | { result: 'delivered'; response: string }
  | { result: 'failed'; retryable: boolean; code: string; message: string; response: string | null };

export type RejectPolicy = 'retry' | 'park';
export type WarningPolicy = 'delivered' | 'park';

/** Returns the outcome of an ACK whose MSA-2 already matched the sent MSH-10. */
export function outcomeOfAck(ack: HL7Ack, rejectPolicy: RejectPolicy): AttemptOutcome {
  if (ack.code === 'AA' || ack.code === 'CA') return { result: 'delivered', response: ack.raw };

  const rejected = ack.code === 'AR' || ack.code === 'CR';
  // The ACK text goes to the delivery row only. It can quote message content, so it is not part of
  // anything that is logged.
  const text = ack.text === undefined ? '' : `: ${ack.text}`;
  return {
    result: 'failed',
    retryable: rejected ? rejectPolicy === 'retry' : true,
    code: rejected ? 'hl7_ack_rejected' : 'hl7_ack_error',
    message: `the receiver returned MSA-1 ${ack.code}${text}`,
    response: ack.raw,
  };
}

/** Returns the outcome of a C-STORE that ended with a Success or Warning status. */
export function outcomeOfStoreStatus(
  result: { status: number; statusClass: Extract<StatusClass, 'success' | 'warning'>; errorComment?: string },
  warningPolicy: WarningPolicy,
): AttemptOutcome {
  const comment = result.errorComment === undefined ? '' : ` (${result.errorComment})`;
  const response = `C-STORE status ${formatStatus(result.status)}${comment}`;
  if (result.statusClass === 'success' || warningPolicy === 'delivered') return { result: 'delivered', response };
  return {
    result: 'failed',
    retryable: false,
    code: 'dicom_store_warning',
    message: `the PACS stored the SR with warning status ${formatStatus(result.status)}, and the destination parks warnings`,
    response,
  };
}

/**
 * Returns the outcome of a thrown error. Typed errors of the HL7 and DICOM senders carry `code` and
 * `retryable`. Anything else is a fault of this service and is retried until the attempts run out.
 */
export function outcomeOfError(error: unknown): AttemptOutcome {
  const typed = error as { code?: unknown; retryable?: unknown };
  const message = error instanceof Error ? error.message : String(error);
  if (typeof typed?.code === 'string' && typeof typed.retryable === 'boolean') {
    return { result: 'failed', retryable: typed.retryable, code: typed.code, message, response: null };
  }
  return { result: 'failed', retryable: true, code: 'internal_error', message, response: null };
}
