/**
 * Errors of ORU^R01 building and MLLP delivery. Each has a stable machine `code` and a `retryable` flag,
 * so the outbox decides between retry and dead letter without reading messages. No message text contains
 * HL7 bodies or patient data: they carry ids (MSH-10), host and port, and the failed step.
 */

export type Hl7ErrorCode =
  | 'hl7_input_invalid'
  | 'hl7_ack_invalid'
  | 'mllp_timeout'
  | 'mllp_connection_failed'
  | 'mllp_tls_failed'
  | 'mllp_closed'
  | 'mllp_frame_too_large';

export abstract class Hl7Error extends Error {
  abstract readonly code: Hl7ErrorCode;
  /** Whether sending the same message again (same MSH-10) may succeed. */
  abstract readonly retryable: boolean;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The ORU^R01 input is missing a required value or has one HL7 v2.5.1 cannot carry. */
export class OruR01InputError extends Hl7Error {
  readonly code = 'hl7_input_invalid';
  readonly retryable = false;
}

/**
 * A frame from the receiver is not a usable ACK: no MSH or MSA segment, no MSA-2, or an MSA-1 outside
 * HL7 table 0008. Retryable: the receiver may not have processed the message, resending it with the same
 * MSH-10 lets it drop a duplicate, and a receiver that keeps answering garbage makes the delivery dead
 * once its attempts are used up.
 */
export class Hl7AckInvalidError extends Hl7Error {
  readonly code = 'hl7_ack_invalid';
  readonly retryable = true;
}

/** No ACK with our MSA-2 arrived before the deadline. The receiver may or may not have processed the message. */
export class MllpTimeoutError extends Hl7Error {
  readonly code = 'mllp_timeout';
  readonly retryable = true;
}

/** The TCP connection to the receiver could not be opened (refused, unreachable, DNS failure). */
export class MllpConnectionError extends Hl7Error {
  readonly code = 'mllp_connection_failed';
  readonly retryable = true;
}

/**
 * The TLS handshake failed: the receiver's certificate did not verify, or it rejected ours. Retryable,
 * because the fix (a renewed certificate, a corrected trust store) usually happens on the other side.
 */
export class MllpTlsError extends Hl7Error {
  readonly code = 'mllp_tls_failed';
  readonly retryable = true;
}

/** The receiver closed or reset the connection before our ACK arrived. */
export class MllpClosedError extends Hl7Error {
  readonly code = 'mllp_closed';
  readonly retryable = true;
}

/** A peer sent more bytes than the frame limit without an end-of-frame byte (FS). */
export class MllpFrameTooLargeError extends Hl7Error {
  readonly code = 'mllp_frame_too_large';
  readonly retryable = false;
}
