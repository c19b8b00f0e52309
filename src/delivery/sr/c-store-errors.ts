/**
 * Errors of the C-STORE SCU, one class per outcome that a delivery retry policy treats differently.
 * Each has a stable `code` and a `retryable` flag so that the outbox decides without reading messages.
 */

export type CStoreStage = 'connecting' | 'associating' | 'storing' | 'releasing';

export type CStoreErrorCode =
  | 'dicom_association_rejected'
  | 'dicom_connection_failed'
  | 'dicom_timeout'
  | 'dicom_store_failed'
  | 'dicom_invalid_dataset';

export abstract class CStoreError extends Error {
  abstract readonly code: CStoreErrorCode;
  abstract readonly retryable: boolean;
}

/** Fields of the A-ASSOCIATE-RJ PDU (PS3.8 9.3.4). */
export interface AssociateRejection {
  result: number;
  source: number;
  reason: number;
}

/** PS3.8 9.3.4: A-ASSOCIATE-RJ result 2 is "rejected-transient". */
const REJECTED_TRANSIENT = 2;

/**
 * The peer would not let the SR through: it sent A-ASSOCIATE-RJ (`rejection` set), or it accepted the
 * association but no presentation context for the SR's SOP class (`rejection` undefined). Only a
 * transient rejection is worth retrying; a permanent one or a missing SOP class needs configuration.
 */
export class AssociationRejectedError extends CStoreError {
  readonly code = 'dicom_association_rejected';
  readonly retryable: boolean;

  constructor(
    message: string,
    readonly rejection?: AssociateRejection,
  ) {
    super(message);
    this.name = 'AssociationRejectedError';
    this.retryable = rejection?.result === REJECTED_TRANSIENT;
  }
}

/** The TCP connection could not be opened, or broke or was closed before the C-STORE response. */
export class ConnectionFailedError extends CStoreError {
  readonly code = 'dicom_connection_failed';
  readonly retryable = true;

  constructor(
    message: string,
    readonly stage: CStoreStage,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ConnectionFailedError';
  }
}

/** No C-STORE response arrived within the caller's time limit. An open association is aborted. */
export class CStoreTimeoutError extends CStoreError {
  readonly code = 'dicom_timeout';
  readonly retryable = true;

  constructor(
    readonly stage: CStoreStage,
    readonly timeoutMs: number,
  ) {
    super(`C-STORE timed out after ${timeoutMs} ms while ${stage}`);
    this.name = 'CStoreTimeoutError';
  }
}

/**
 * The peer returned a C-STORE Failure status; the SCU resolves Success and Warning statuses instead.
 * Retryable are only statuses that describe a passing condition on the peer: "Refused: Out of
 * Resources" (0xA7xx, PS3.4 Table B.2-1) and "Resource limitation" (0x0213, PS3.7 Annex C). A warning
 * status (0xB000 coercion, 0xB006 elements discarded, 0xB007 data set does not match SOP class) given
 * to this class counts as not retryable, because resending the same dataset gets the same status.
 */
export class StoreFailedError extends CStoreError {
  readonly code = 'dicom_store_failed';
  readonly retryable: boolean;

  /**
   * `errorComment` is the peer's free text (0000,0902). It stays out of the message, which is logged,
   * because a PACS may quote patient data in it.
   */
  constructor(
    readonly status: number,
    readonly errorComment: string | undefined,
  ) {
    super(`C-STORE failed with status ${formatStatus(status)}`);
    this.name = 'StoreFailedError';
    this.retryable = (status & 0xff00) === 0xa700 || status === 0x0213;
  }
}

/** The Part 10 buffer could not be decoded into a dataset to send; resending it cannot succeed. */
export class InvalidDatasetError extends CStoreError {
  readonly code = 'dicom_invalid_dataset';
  readonly retryable = false;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InvalidDatasetError';
  }
}

/** The status classes of PS3.7 Annex C that a C-STORE response can carry. */
export type StatusClass = 'success' | 'warning' | 'failure';

/**
 * Returns the class of a C-STORE response status (PS3.7 C.1 to C.4, PS3.4 Table B.2-1). 0x0000 is
 * Success, and 0x0001, 0x0107, 0x0116 and 0xBxxx are Warnings. Everything else is a Failure, including
 * Cancel (0xFE00) and Pending (0xFFxx), which a C-STORE must not return.
 */
export function statusClass(status: number): StatusClass {
  if (status === 0x0000) return 'success';
  if (status === 0x0001 || status === 0x0107 || status === 0x0116 || (status & 0xf000) === 0xb000) return 'warning';
  return 'failure';
}

/** Formats a DIMSE status the way PS3.7 writes it, e.g. 0xA700. */
export function formatStatus(status: number): string {
  return `0x${status.toString(16).toUpperCase().padStart(4, '0')}`;
}
