/**
 * Walks a dataset's element structure while its bytes arrive (PS3.5 7.1 to 7.5): element headers in
 * Implicit or Explicit VR, little or big endian, sequences and items of undefined length, and
 * encapsulated Pixel Data fragments. Values of defined length are skipped without being read, so a 500 MB
 * multi-frame object costs as much as its headers. The scan proves that the dataset ends exactly after
 * its last element, which a truncated transfer does not, and it keeps the raw values of the top-level
 * attributes the caller asked for, so that indexing an instance needs no second read of the file.
 *
 * Values inside a sequence of defined length are skipped as a whole and not checked.
 */

/** Explicit VRs whose length field is 4 bytes after 2 reserved bytes (PS3.5 Table 7.1-1). */
const LONG_LENGTH_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const SHORT_LENGTH_VRS = new Set(['AE', 'AS', 'AT', 'CS', 'DA', 'DS', 'DT', 'FD', 'FL', 'IS', 'LO', 'LT', 'PN', 'SH', 'SL', 'SS', 'ST', 'TM', 'UI', 'UL', 'US']);

const UNDEFINED_LENGTH = 0xffffffff;
const ITEM = 0xfffee000;
const ITEM_DELIMITATION = 0xfffee00d;
const SEQUENCE_DELIMITATION = 0xfffee0dd;

/** Longest value kept for a requested attribute; header attributes are far shorter (an LO is 64 characters). */
const MAX_CAPTURED_VALUE_BYTES = 64 * 1024;

export class DatasetStructureError extends Error {
  readonly code = 'dataset_malformed';

  constructor(
    message: string,
    /** Offset in the dataset where the problem was found. */
    readonly offset: number,
  ) {
    super(`${message} (dataset byte ${offset})`);
    this.name = 'DatasetStructureError';
  }
}

export interface CapturedValue {
  /** The explicit VR, or the VR the caller gave for Implicit VR datasets. */
  vr: string;
  value: Buffer;
  littleEndian: boolean;
}

interface Frame {
  /** `dataset` and `item` hold data elements, `sequence` holds items, `fragments` holds Pixel Data fragments. */
  kind: 'dataset' | 'item' | 'sequence' | 'fragments';
  explicitVr: boolean;
  littleEndian: boolean;
}

export class DatasetScanner {
  readonly captured = new Map<number, CapturedValue>();
  private readonly stack: Frame[];
  private offset = 0;
  private readonly header = Buffer.alloc(12);
  private headerLength = 0;
  private skipRemaining = 0;
  private capture: { tag: number; vr: string; parts: Buffer[]; remaining: number; littleEndian: boolean } | undefined;
  /** Tag and offset of the element whose value is being read, for error messages. */
  private current = { tag: 0, offset: 0 };

  constructor(
    encoding: { explicitVr: boolean; littleEndian: boolean },
    /** Top-level tags to keep, with the VR to assume when the dataset is Implicit VR. */
    private readonly wanted: ReadonlyMap<number, string>,
  ) {
    this.stack = [{ kind: 'dataset', ...encoding }];
  }

  get bytesScanned(): number {
    return this.offset;
  }

  /** Consumes the next bytes; throws DatasetStructureError at the first element that cannot be read. */
  write(chunk: Buffer): void {
    let position = 0;
    while (position < chunk.length) {
      if (this.skipRemaining > 0) {
        const taken = Math.min(this.skipRemaining, chunk.length - position);
        this.skipRemaining -= taken;
        position += taken;
        this.offset += taken;
        continue;
      }
      if (this.capture) {
        const taken = Math.min(this.capture.remaining, chunk.length - position);
        this.capture.parts.push(Buffer.from(chunk.subarray(position, position + taken)));
        this.capture.remaining -= taken;
        position += taken;
        this.offset += taken;
        if (this.capture.remaining === 0) this.finishCapture();
        continue;
      }
      position = this.readHeader(chunk, position);
    }
  }

  /** Confirms that the dataset ended after a whole element, outside any sequence; throws otherwise. */
  end(): void {
    if (this.skipRemaining > 0 || this.capture) {
      const missing = this.skipRemaining || this.capture!.remaining;
      throw new DatasetStructureError(`dataset ends inside the value of ${formatTag(this.current.tag)}: ${missing} bytes missing`, this.offset);
    }
    if (this.headerLength > 0) throw new DatasetStructureError('dataset ends inside an element header', this.offset);
    if (this.stack.length > 1) {
      throw new DatasetStructureError(`dataset ends inside ${this.stack.length - 1} undefined-length sequence or item level(s)`, this.offset);
    }
    if (this.offset === 0) throw new DatasetStructureError('dataset is empty', 0);
  }

  private get frame(): Frame {
    return this.stack[this.stack.length - 1]!;
  }

  /** Collects header bytes and handles the element once its header is complete; returns the new position. */
  private readHeader(chunk: Buffer, position: number): number {
    const needed = this.headerSize();
    const taken = Math.min(needed - this.headerLength, chunk.length - position);
    chunk.copy(this.header, this.headerLength, position, position + taken);
    this.headerLength += taken;
    position += taken;
    if (this.headerLength < needed) return position;
    // The size can grow from 8 to 12 once the VR is known.
    if (this.headerSize() > this.headerLength) return position;

    const elementOffset = this.offset;
    this.offset += this.headerLength;
    this.headerLength = 0;
    this.handleElement(elementOffset);
    return position;
  }

  private headerSize(): number {
    if (this.headerLength < 8) return 8;
    const frame = this.frame;
    if (frame.kind === 'sequence' || frame.kind === 'fragments' || !frame.explicitVr) return 8;
    if (this.readTag(frame) >>> 16 === 0xfffe) return 8;
    return LONG_LENGTH_VRS.has(this.header.toString('latin1', 4, 6)) ? 12 : 8;
  }

  private readTag(frame: Frame): number {
    const group = frame.littleEndian ? this.header.readUInt16LE(0) : this.header.readUInt16BE(0);
    const element = frame.littleEndian ? this.header.readUInt16LE(2) : this.header.readUInt16BE(2);
    return ((group << 16) | element) >>> 0;
  }

  private readUint32(frame: Frame, at: number): number {
    return frame.littleEndian ? this.header.readUInt32LE(at) : this.header.readUInt32BE(at);
  }

  private handleElement(elementOffset: number): void {
    const frame = this.frame;
    const tag = this.readTag(frame);
    this.current = { tag, offset: elementOffset };

    if (frame.kind === 'sequence' || frame.kind === 'fragments') {
      this.handleItem(frame, tag, elementOffset);
      return;
    }
    if (tag === ITEM_DELIMITATION && frame.kind === 'item') {
      this.stack.pop();
      return;
    }
    if (tag >>> 16 === 0xfffe) {
      throw new DatasetStructureError(`unexpected ${formatTag(tag)} among data elements`, elementOffset);
    }

    let vr: string | undefined;
    let length: number;
    if (frame.explicitVr) {
      vr = this.header.toString('latin1', 4, 6);
      if (LONG_LENGTH_VRS.has(vr)) length = this.readUint32(frame, 8);
      else if (SHORT_LENGTH_VRS.has(vr)) length = frame.littleEndian ? this.header.readUInt16LE(6) : this.header.readUInt16BE(6);
      else throw new DatasetStructureError(`invalid VR "${printable(vr)}" in ${formatTag(tag)}`, elementOffset);
    } else {
      length = this.readUint32(frame, 4);
    }

    if (length === UNDEFINED_LENGTH) {
      this.openUndefinedLength(frame, tag, vr, elementOffset);
      return;
    }
    const wantedVr = this.stack.length === 1 ? this.wanted.get(tag) : undefined;
    if (wantedVr !== undefined && length <= MAX_CAPTURED_VALUE_BYTES) {
      this.capture = { tag, vr: vr ?? wantedVr, parts: [], remaining: length, littleEndian: frame.littleEndian };
      if (length === 0) this.finishCapture();
      return;
    }
    this.skipRemaining = length;
  }

  private handleItem(frame: Frame, tag: number, elementOffset: number): void {
    const length = this.readUint32(frame, 4);
    if (tag === SEQUENCE_DELIMITATION) {
      this.stack.pop();
      return;
    }
    if (tag !== ITEM) {
      const container = frame.kind === 'fragments' ? 'encapsulated Pixel Data' : 'a sequence';
      throw new DatasetStructureError(`expected an item in ${container}, found ${formatTag(tag)}`, elementOffset);
    }
    if (length !== UNDEFINED_LENGTH) {
      this.skipRemaining = length;
      return;
    }
    if (frame.kind === 'fragments') throw new DatasetStructureError('Pixel Data fragment of undefined length', elementOffset);
    this.stack.push({ kind: 'item', explicitVr: frame.explicitVr, littleEndian: frame.littleEndian });
  }

  private openUndefinedLength(frame: Frame, tag: number, vr: string | undefined, elementOffset: number): void {
    if (vr === undefined || vr === 'SQ') {
      // In Implicit VR only a sequence may have undefined length.
      this.stack.push({ kind: 'sequence', explicitVr: frame.explicitVr, littleEndian: frame.littleEndian });
    } else if (vr === 'UN') {
      // PS3.5 6.2.2: an undefined-length UN is a sequence encoded in Implicit VR Little Endian.
      this.stack.push({ kind: 'sequence', explicitVr: false, littleEndian: true });
    } else if (vr === 'OB' || vr === 'OW') {
      this.stack.push({ kind: 'fragments', explicitVr: frame.explicitVr, littleEndian: frame.littleEndian });
    } else {
      throw new DatasetStructureError(`${formatTag(tag)} with VR ${vr} has undefined length`, elementOffset);
    }
  }

  private finishCapture(): void {
    const capture = this.capture!;
    this.capture = undefined;
    this.captured.set(capture.tag, { vr: capture.vr, value: Buffer.concat(capture.parts), littleEndian: capture.littleEndian });
  }
}

export function formatTag(tag: number): string {
  const hex = (value: number) => value.toString(16).toUpperCase().padStart(4, '0');
  return `(${hex(tag >>> 16)},${hex(tag & 0xffff)})`;
}

function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?');
}
