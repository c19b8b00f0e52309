/**
 * DICOM Upper Layer PDUs on the receiving side (PS3.8 9.3): splitting the TCP byte stream into PDUs,
 * reading the PDVs of a P-DATA-TF, and writing the few PDUs the Storage SCP sends itself.
 *
 * dcmjs-dimse 0.3.3 copies every incoming chunk into a growing buffer until a PDU is complete, copies
 * it again while reading it, and dispatches each PDU through an async event emitter. Profiling showed
 * that as the largest CPU cost of a C-STORE. The reader here passes dataset bytes on as views of the
 * chunks they arrived in.
 */

export const PduType = {
  AssociateRq: 0x01,
  AssociateAc: 0x02,
  AssociateRj: 0x03,
  PDataTf: 0x04,
  ReleaseRq: 0x05,
  ReleaseRp: 0x06,
  Abort: 0x07,
} as const;

/** PS3.8 9.3.8 (Table 9-26) A-ABORT source and reason values that we send. */
export const AbortSource = { ServiceUser: 0, ServiceProvider: 2 } as const;
export const AbortReason = {
  NotSpecified: 0,
  UnrecognizedPdu: 1,
  UnexpectedPdu: 2,
  UnrecognizedPduParameter: 4,
  UnexpectedPduParameter: 5,
  InvalidPduParameterValue: 6,
} as const;

const ABORT_REASON_NAMES: Record<number, string> = {
  [AbortReason.NotSpecified]: 'reason not specified',
  [AbortReason.UnrecognizedPdu]: 'unrecognized PDU',
  [AbortReason.UnexpectedPdu]: 'unexpected PDU',
  [AbortReason.UnrecognizedPduParameter]: 'unrecognized PDU parameter',
  [AbortReason.UnexpectedPduParameter]: 'unexpected PDU parameter',
  [AbortReason.InvalidPduParameterValue]: 'invalid PDU parameter value',
};

/**
 * Describes the Source and Reason/Diag. fields of an A-ABORT in the words of PS3.8 Table 9-26. A
 * service user's abort carries no reason, so only the source is named then.
 */
export function describeAbort(source: number, reason: number): string {
  if (source === AbortSource.ServiceUser) return 'service user (the peer application)';
  if (source === AbortSource.ServiceProvider) return `service provider: ${ABORT_REASON_NAMES[reason] ?? `reason ${reason}`}`;
  return `source ${source}, reason ${reason}`;
}

/** Type byte, reserved byte and the 4-byte big-endian length (PS3.8 9.3.1). */
const PDU_HEADER_BYTES = 6;

export class PduError extends Error {
  constructor(
    readonly code: 'unrecognized_pdu' | 'pdu_too_large' | 'invalid_pdv',
    message: string,
    /** A-ABORT reason to send for this error. */
    readonly abortReason: number,
  ) {
    super(message);
    this.name = 'PduError';
  }
}

export interface PduLimits {
  /** Largest P-DATA-TF PDU length field we accept: the maximum length we announced in A-ASSOCIATE-AC. */
  maxPDataLength: number;
  /** Largest length of any other PDU. */
  maxOtherLength: number;
}

/** Header fields of one presentation data value (PS3.8 9.3.5.1, E.2). */
export interface PdvHeader {
  presentationContextId: number;
  isCommand: boolean;
  isLast: boolean;
  /** Length of the value in bytes. */
  length: number;
}

/** Receives what PduReader finds in the byte stream, in order. */
export interface PduHandler {
  /** A whole PDU other than P-DATA-TF, header included. */
  onControlPdu(pdu: Buffer): void;
  onPdvStart(header: PdvHeader): void;
  /** The next part of the current PDV's value: a view into the received chunk, never a copy. */
  onPdvData(data: Buffer): void;
  onPdvEnd(): void;
}

/**
 * Reads PDUs from a byte stream as it arrives. Control PDUs (association, release, abort) are collected
 * whole. P-DATA-TF PDUs are not: each PDV's value is handed on in the pieces the chunks contain, so a
 * dataset reaches the spool file without being copied. Throws PduError on an unknown PDU type, a length
 * above the limits or a PDV that does not fit its PDU; the association must then be aborted. stop()
 * makes it ignore the rest of the current chunk.
 */
export class PduReader {
  private readonly header = Buffer.alloc(PDU_HEADER_BYTES);
  private headerLength = 0;
  private state: 'pdu_header' | 'control_body' | 'pdv_header' | 'pdv_value' = 'pdu_header';
  private controlParts: Buffer[] = [];
  private controlRemaining = 0;
  /** Bytes of the current P-DATA-TF PDU not yet read. */
  private pduRemaining = 0;
  private valueRemaining = 0;
  private stopped = false;

  constructor(
    private readonly limits: PduLimits,
    private readonly handler: PduHandler,
  ) {}

  stop(): void {
    this.stopped = true;
  }

  push(chunk: Buffer): void {
    let position = 0;
    while (position < chunk.length && !this.stopped) {
      switch (this.state) {
        case 'pdu_header':
        case 'pdv_header': {
          const taken = Math.min(PDU_HEADER_BYTES - this.headerLength, chunk.length - position);
          chunk.copy(this.header, this.headerLength, position, position + taken);
          this.headerLength += taken;
          position += taken;
          if (this.headerLength === PDU_HEADER_BYTES) {
            this.headerLength = 0;
            if (this.state === 'pdu_header') this.startPdu();
            else this.startPdv();
          }
          break;
        }
        case 'control_body': {
          const taken = Math.min(this.controlRemaining, chunk.length - position);
          this.controlParts.push(chunk.subarray(position, position + taken));
          this.controlRemaining -= taken;
          position += taken;
          if (this.controlRemaining === 0) {
            const pdu = Buffer.concat(this.controlParts);
            this.controlParts = [];
            this.state = 'pdu_header';
            this.handler.onControlPdu(pdu);
          }
          break;
        }
        case 'pdv_value': {
          const taken = Math.min(this.valueRemaining, chunk.length - position);
          if (taken > 0) this.handler.onPdvData(chunk.subarray(position, position + taken));
          this.valueRemaining -= taken;
          position += taken;
          if (this.valueRemaining === 0) this.endPdv();
          break;
        }
      }
    }
  }

  private startPdu(): void {
    const type = this.header[0]!;
    const length = this.header.readUInt32BE(2);
    if (type < PduType.AssociateRq || type > PduType.Abort) {
      throw new PduError('unrecognized_pdu', `unrecognized PDU type 0x${type.toString(16).padStart(2, '0')}`, AbortReason.UnrecognizedPdu);
    }
    const limit = type === PduType.PDataTf ? this.limits.maxPDataLength : this.limits.maxOtherLength;
    if (length > limit) {
      throw new PduError('pdu_too_large', `PDU of type 0x0${type} has length ${length}, above the limit of ${limit}`, AbortReason.InvalidPduParameterValue);
    }
    if (type === PduType.PDataTf) {
      if (length < 6) throw new PduError('invalid_pdv', 'P-DATA-TF without a whole PDV item', AbortReason.InvalidPduParameterValue);
      this.pduRemaining = length;
      this.state = 'pdv_header';
      return;
    }
    if (length === 0) {
      this.handler.onControlPdu(Buffer.from(this.header));
      return;
    }
    this.controlParts = [Buffer.from(this.header)];
    this.controlRemaining = length;
    this.state = 'control_body';
  }

  private startPdv(): void {
    const itemLength = this.header.readUInt32BE(0);
    // The item length covers the context ID, the message control header and the value.
    if (this.pduRemaining < 6 || itemLength < 2 || itemLength + 4 > this.pduRemaining) {
      throw new PduError('invalid_pdv', `PDV item length ${itemLength} does not fit the P-DATA-TF PDU`, AbortReason.InvalidPduParameterValue);
    }
    this.pduRemaining -= itemLength + 4;
    const controlHeader = this.header[5]!;
    this.valueRemaining = itemLength - 2;
    this.state = 'pdv_value';
    this.handler.onPdvStart({
      presentationContextId: this.header[4]!,
      isCommand: (controlHeader & 0x01) !== 0,
      isLast: (controlHeader & 0x02) !== 0,
      length: this.valueRemaining,
    });
    if (this.valueRemaining === 0 && !this.stopped) this.endPdv();
  }

  private endPdv(): void {
    this.state = this.pduRemaining === 0 ? 'pdu_header' : 'pdv_header';
    if (this.state === 'pdv_header' && this.pduRemaining < 6) {
      throw new PduError('invalid_pdv', 'P-DATA-TF ends inside a PDV item header', AbortReason.InvalidPduParameterValue);
    }
    this.handler.onPdvEnd();
  }
}

/** Writes a P-DATA-TF PDU holding one PDV that is a whole command set. */
export function encodeCommandPDataTf(presentationContextId: number, commandSet: Buffer): Buffer {
  const pdu = Buffer.alloc(PDU_HEADER_BYTES + 6 + commandSet.length);
  pdu[0] = PduType.PDataTf;
  pdu.writeUInt32BE(6 + commandSet.length, 2);
  pdu.writeUInt32BE(2 + commandSet.length, 6);
  pdu[10] = presentationContextId;
  // Message control header: command (bit 0) and last fragment (bit 1).
  pdu[11] = 0x03;
  commandSet.copy(pdu, 12);
  return pdu;
}

export function encodeAAbort(source: number, reason: number): Buffer {
  return Buffer.from([PduType.Abort, 0, 0, 0, 0, 4, 0, 0, source, reason]);
}

/** Reads the Application Context Name item (PS3.8 9.3.2.1) of an A-ASSOCIATE-RQ, if present. */
export function readApplicationContextName(associateRq: Buffer): string | undefined {
  // Fixed fields: 6-byte PDU header, then protocol version, reserved, two AE titles and 32 reserved bytes.
  const itemOffset = PDU_HEADER_BYTES + 68;
  if (associateRq.length < itemOffset + 4 || associateRq[itemOffset] !== 0x10) return undefined;
  const length = associateRq.readUInt16BE(itemOffset + 2);
  if (associateRq.length < itemOffset + 4 + length) return undefined;
  return associateRq.toString('ascii', itemOffset + 4, itemOffset + 4 + length).replace(/[\0 ]+$/, '');
}
