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
 * The peer returned a C-STORE status other than Success (0x0000). The warnings of PS3.4
 * Table B.2-1 (0xB000 coercion of data elements, 0xB006 elements discarded, 0xB007 data set does not
 * match SOP class) land here too: the peer stored the SR but changed it or found it non-conformant, so
 * the delivery needs a person's review, and resending the same dataset would get the same status.
 * Retryable are only statuses that describe a passing condition on the peer: "Refused: Out of
 * Resources" (0xA7xx, PS3.4 Table B.2-1) and "Resource limitation" (0x0213, PS3.7 Annex C).
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

/** Formats a DIMSE status the way PS3.7 writes it, e.g. 0xA700. */
export function formatStatus(status: number): string {
  return `0x${status.toString(16).toUpperCase().padStart(4, '0')}`;
}
