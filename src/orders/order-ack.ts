/**
 * Builds the original-mode acknowledgment (ACK) that the order listener returns: MSH, MSA and, for AE and
 * AR, an ERR segment. ERR is written both ways receivers read it: ERR-1 (the HL7 v2.3/v2.4 form, kept for
 * backward compatibility in v2.5.1) and ERR-2, ERR-3, ERR-4 and ERR-8 (the v2.5 form). MSA-3 repeats the
 * text for receivers that only show MSA.
 */
import { escapeHl7Text } from '../delivery/hl7/escape.ts';
import { formatHl7DateTime } from '../delivery/hl7/hl7-datetime.ts';

/** HL7 table 0357 meanings of the codes this listener sends. */
const ERROR_CODE_TEXT: Record<string, string> = {
  '100': 'Segment sequence error',
  '101': 'Required field missing',
  '102': 'Data type error',
  '103': 'Table value not found',
  '200': 'Unsupported message type',
  '201': 'Unsupported event code',
  '202': 'Unsupported processing id',
  '203': 'Unsupported version id',
  '207': 'Application internal error',
};

export interface AckError {
  hl7ErrorCode: string;
  location: { segment: string; sequence?: number; field?: number };
  /** Plain-language reason for ERR-8 and MSA-3; it must not contain patient data. */
  text: string;
}

export interface AckRequest {
  /** MSH-3 to MSH-6 of the received message, when it could be read; the ACK swaps sender and receiver. */
  received?: {
    sendingApplication: string;
    sendingFacility: string;
    receivingApplication: string;
    receivingFacility: string;
    /** MSH-10 of the received message, unescaped; MSA-2 writes it escaped with the ACK's delimiters. */
    messageControlId: string;
    triggerEvent: string;
    processingId: string;
    version: string;
  };
  ackCode: 'AA' | 'AE' | 'AR';
  error?: AckError;
  /** MSH-10 of the ACK itself. */
  messageControlId: string;
  createdAt: Date;
}

/** Returns the ACK as CR-terminated segments. */
export function buildOrderAck(request: AckRequest): string {
  const received = request.received;
  const version = received?.version || '2.5.1';
  const msh = [
    'MSH',
    '^~\\&',
    escapeHl7Text(received?.receivingApplication ?? ''),
    escapeHl7Text(received?.receivingFacility ?? ''),
    escapeHl7Text(received?.sendingApplication ?? ''),
    escapeHl7Text(received?.sendingFacility ?? ''),
    formatHl7DateTime(request.createdAt),
    '',
    received?.triggerEvent ? `ACK^${escapeHl7Text(received.triggerEvent)}^ACK` : 'ACK',
    request.messageControlId,
    escapeHl7Text(received?.processingId || 'P'),
    escapeHl7Text(version),
  ];
  const error = request.error;
  const msa = ['MSA', request.ackCode, escapeHl7Text(received?.messageControlId ?? ''), ...(error ? [escapeHl7Text(error.text)] : [])];

  const segments = [msh.join('|'), msa.join('|')];
  if (error !== undefined) segments.push(errSegment(error));
  return segments.map((segment) => `${segment}\r`).join('');
}

function errSegment(error: AckError): string {
  const codeText = ERROR_CODE_TEXT[error.hl7ErrorCode] ?? '';
  const { segment, sequence, field } = error.location;
  const position = [segment, sequence === undefined ? '' : String(sequence), field === undefined ? '' : String(field)];
  const errorCode = [error.hl7ErrorCode, codeText, 'HL70357'];
  return [
    'ERR',
    // ERR-1 (ELD): segment ^ sequence ^ field ^ code & text & coding system.
    [...position, errorCode.join('&')].join('^'),
    // ERR-2 (ERL): segment ^ sequence ^ field.
    position.join('^').replace(/\^+$/, ''),
    // ERR-3 (CWE): HL7 error code.
    errorCode.join('^'),
    // ERR-4: severity E (error).
    'E',
    '',
    '',
    '',
    escapeHl7Text(error.text),
  ].join('|');
}
