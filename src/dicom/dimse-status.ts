/**
 * The C-STORE statuses this service sends, each with its PS3.4 or PS3.7 reference, and the one function
 * that maps a failure to a status. The Storage SCP sends either Success or the status returned by
 * statusForStoreFailure().
 */

export const StoreStatus = {
  /** PS3.4 Table B.2-1: the instance is stored. */
  Success: 0x0000,
  /** PS3.7 Annex C general failure "Invalid SOP Instance" (0117): a UID violates the UID construction rules (PS3.5 9.1). */
  InvalidSopInstance: 0x0117,
  /** PS3.7 Annex C general failure "SOP Class Not Supported" (0122): the command's SOP class is not the context's abstract syntax. */
  SopClassNotSupported: 0x0122,
  /** PS3.7 Annex C general failure "Unrecognized Operation" (0211): a DIMSE service other than C-STORE and C-ECHO. */
  UnrecognizedOperation: 0x0211,
  /** PS3.4 Table B.2-1 "Refused: Out of Resources" (A7xx): disk or database could not take the instance, or the store is above its disk-use watermark. */
  OutOfResources: 0xa700,
  /** PS3.4 Table B.2-1 "Error: Data Set does not match SOP Class" (A9xx); also used when the dataset's SOP Class or Instance UID differs from the command's. */
  DataSetDoesNotMatchSopClass: 0xa900,
  /** PS3.4 Table B.2-1 "Error: Cannot understand" (Cxxx): the dataset cannot be parsed. */
  CannotUnderstand: 0xc000,
} as const;

export type StoreStatusCode = (typeof StoreStatus)[keyof typeof StoreStatus];

/** Cause of a failed C-STORE; each kind maps to exactly one status. */
export type StoreFailureKind =
  | 'dataset_mismatch'
  | 'dataset_unparseable'
  | 'invalid_uid'
  | 'sop_class_not_supported'
  | 'storage_failed'
  | 'storage_unavailable';

export class StoreFailure extends Error {
  constructor(
    readonly kind: StoreFailureKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreFailure';
  }

  get code(): StoreFailureKind {
    return this.kind;
  }

  /** The sender may succeed by sending the same instance again later. */
  get retryable(): boolean {
    return this.kind === 'storage_failed' || this.kind === 'storage_unavailable';
  }
}

const STATUS_BY_KIND: Record<StoreFailureKind, StoreStatusCode> = {
  dataset_mismatch: StoreStatus.DataSetDoesNotMatchSopClass,
  dataset_unparseable: StoreStatus.CannotUnderstand,
  invalid_uid: StoreStatus.InvalidSopInstance,
  sop_class_not_supported: StoreStatus.SopClassNotSupported,
  storage_failed: StoreStatus.OutOfResources,
  storage_unavailable: StoreStatus.OutOfResources,
};

/**
 * Maps any error thrown while storing an instance to the status we send. Errors that are not a
 * StoreFailure are unexpected (a bug, a lost database connection); the safe status is Out of Resources,
 * which tells the sender to try again later instead of dropping the instance.
 */
export function statusForStoreFailure(error: unknown): StoreStatusCode {
  if (error instanceof StoreFailure) return STATUS_BY_KIND[error.kind];
  return StoreStatus.OutOfResources;
}

export function formatStatus(status: number): string {
  return `0x${status.toString(16).toUpperCase().padStart(4, '0')}`;
}
