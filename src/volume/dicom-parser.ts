/**
 * A lean reader of DICOM Part 10 files for volume assembly. dcmjs converts every element of a file,
 * which takes about 0.7 ms for a CT header, so a 300-slice series would spend more time there than
 * dcm2niix spends on the whole conversion. This reader only records where each element lies and
 * decodes the few values that assembly reads. Pixel data is never copied: native pixel data is a
 * view into the file's bytes and encapsulated pixel data a list of views, one per fragment.
 *
 * It reads Implicit VR Little Endian, Explicit VR Little and Big Endian, and Deflated Explicit VR Little
 * Endian (PS3.5 section 7 and Annex A). Sequences of defined and undefined length are parsed into
 * nested datasets.
 */
import { inflateRawSync } from 'node:zlib';

/** Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 section 7.1.2). */
const LONG_LENGTH_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

const UNDEFINED_LENGTH = 0xffffffff;
const ITEM = 0xfffee000;
const ITEM_DELIMITATION = 0xfffee00d;
const SEQUENCE_DELIMITATION = 0xfffee0dd;
const PIXEL_DATA = 0x7fe00010;
const PREAMBLE_LENGTH = 128;

export const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';
export const EXPLICIT_VR_BIG_ENDIAN = '1.2.840.10008.1.2.2';
export const DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1.99';

/**
 * Sequences that assembly reads. In Implicit VR a sequence of defined length cannot be distinguished from
 * other data, so these tags are parsed as sequences whatever their VR says.
 */
const KNOWN_SEQUENCES = new Set([
  0x00189304, // CTAcquisitionDetailsSequence
  0x00189314, // CTReconstructionSequence
  0x00189329, // CTImageFrameTypeSequence
  0x00209111, // FrameContentSequence
  0x00209113, // PlanePositionSequence
  0x00209116, // PlaneOrientationSequence
  0x00209170, // UnassignedSharedConvertedAttributesSequence
  0x00209171, // UnassignedPerFrameConvertedAttributesSequence
  0x00289110, // PixelMeasuresSequence
  0x00289145, // PixelValueTransformationSequence
  0x52009229, // SharedFunctionalGroupsSequence
  0x52009230, // PerFrameFunctionalGroupsSequence
]);

/** Thrown when the bytes end inside an element; the header reader then reads more of the file. */
export class DicomTruncatedError extends Error {
  override readonly name = 'DicomTruncatedError';
}

/** A structural problem: the bytes are not a DICOM dataset in the declared transfer syntax. */
export class DicomParseError extends Error {
  override readonly name = 'DicomParseError';
}

export interface DicomElement {
  /** The explicit VR, or undefined in Implicit VR. */
  vr: string | undefined;
  /** The value's bytes (a view, not a copy). Empty for sequences and encapsulated pixel data. */
  value: Uint8Array;
  /** Parsed items of a sequence. */
  items?: DicomDataset[];
  /** Encapsulated pixel data: the Basic Offset Table item, then one view per fragment. */
  encapsulated?: { basicOffsetTable: Uint8Array; fragments: Uint8Array[] };
}

const latin1 = new TextDecoder('latin1');

/** One dataset or sequence item: its elements by tag (group << 16 | element) and how to read them. */
export class DicomDataset {
  constructor(
    readonly elements: Map<number, DicomElement>,
    readonly littleEndian: boolean,
    readonly explicitVr: boolean,
  ) {}

  has(tag: number): boolean {
    return this.elements.has(tag);
  }

  /** Returns the first value of a text element (CS, DS, IS, LO, SH, UI ...) without padding, or undefined. */
  text(tag: number): string | undefined {
    return this.texts(tag)?.[0];
  }

  /** Returns the values of a text element split at backslashes, trimmed; undefined when absent or empty. */
  texts(tag: number): string[] | undefined {
    const element = this.elements.get(tag);
    if (element === undefined || element.value.byteLength === 0) return undefined;
    const raw = latin1.decode(element.value).replace(/[\0 ]+$/, '');
    if (raw.trim() === '') return undefined;
    return raw.split('\\').map((part) => part.trim());
  }

  /**
   * Returns the numeric values of an element. Text VRs (DS, IS) are parsed as decimal strings; binary
   * VRs are read in the dataset's byte order. In Implicit VR the VR is unknown, so `implicitVr` gives
   * how the element is stored. A value that does not parse becomes NaN, for the caller to reject.
   */
  numbers(tag: number, implicitVr: 'US' | 'SS' | 'DS' | 'IS' | 'FD'): number[] | undefined {
    const element = this.elements.get(tag);
    if (element === undefined || element.value.byteLength === 0) return undefined;
    const vr = element.vr ?? implicitVr;
    const view = new DataView(element.value.buffer, element.value.byteOffset, element.value.byteLength);
    const le = this.littleEndian;
    const read = (size: number, get: (offset: number) => number): number[] => {
      const values: number[] = [];
      for (let offset = 0; offset + size <= view.byteLength; offset += size) values.push(get(offset));
      return values;
    };
    switch (vr) {
      case 'US':
        return read(2, (offset) => view.getUint16(offset, le));
      case 'SS':
        return read(2, (offset) => view.getInt16(offset, le));
      case 'UL':
        return read(4, (offset) => view.getUint32(offset, le));
      case 'SL':
        return read(4, (offset) => view.getInt32(offset, le));
      case 'FL':
        return read(4, (offset) => view.getFloat32(offset, le));
      case 'FD':
        return read(8, (offset) => view.getFloat64(offset, le));
      default: {
        const values = this.texts(tag);
        return values?.map((value) => (value === '' ? Number.NaN : Number(value)));
      }
    }
  }

  number(tag: number, implicitVr: 'US' | 'SS' | 'DS' | 'IS' | 'FD'): number | undefined {
    return this.numbers(tag, implicitVr)?.[0];
  }

  /** Returns the items of a sequence; an absent or empty sequence gives an empty list. */
  sequence(tag: number): DicomDataset[] {
    return this.elements.get(tag)?.items ?? [];
  }

  /** Returns the first item of a sequence, or undefined. */
  item(tag: number): DicomDataset | undefined {
    return this.sequence(tag)[0];
  }
}

export interface Part10File {
  transferSyntaxUid: string;
  dataset: DicomDataset;
  /** True when a header-only parse stopped at PixelData, so no element of the header is missing. */
  reachedPixelData: boolean;
}

export interface ParseOptions {
  /** Stop at PixelData without reading it, for header-only reads of part of a file. */
  stopAtPixelData?: boolean;
}

/**
 * Parses a Part 10 file: the File Meta Information (always Explicit VR Little Endian, PS3.10 section
 * 7.1), then the dataset in its transfer syntax. Throws DicomParseError when there is no DICM prefix
 * or no TransferSyntaxUID, and DicomTruncatedError when the bytes end inside an element.
 */
export function parsePart10(bytes: Uint8Array, options: ParseOptions = {}): Part10File {
  if (bytes.byteLength < PREAMBLE_LENGTH + 4 || latin1.decode(bytes.subarray(PREAMBLE_LENGTH, PREAMBLE_LENGTH + 4)) !== 'DICM') {
    throw new DicomParseError('there is no "DICM" prefix after the 128-byte preamble');
  }
  const meta = new Parser(bytes, true, true, options);
  const metaElements = new Map<number, DicomElement>();
  let offset = meta.readElements(PREAMBLE_LENGTH + 4, bytes.byteLength, metaElements, (tag) => tag >>> 16 !== 0x0002);
  const transferSyntaxUid = new DicomDataset(metaElements, true, true).text(0x00020010);
  if (transferSyntaxUid === undefined) throw new DicomParseError('the File Meta Information has no TransferSyntaxUID (0002,0010)');

  let body = bytes;
  if (transferSyntaxUid === DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN) {
    try {
      body = inflateRawSync(bytes.subarray(offset));
    } catch (error) {
      throw new DicomParseError('the deflated dataset cannot be inflated', { cause: error });
    }
    offset = 0;
  }
  const littleEndian = transferSyntaxUid !== EXPLICIT_VR_BIG_ENDIAN;
  const explicitVr = transferSyntaxUid !== IMPLICIT_VR_LITTLE_ENDIAN;
  const elements = new Map<number, DicomElement>();
  const parser = new Parser(body, littleEndian, explicitVr, options);
  parser.readElements(offset, body.byteLength, elements);
  return {
    transferSyntaxUid,
    dataset: new DicomDataset(elements, littleEndian, explicitVr),
    reachedPixelData: parser.reachedPixelData,
  };
}

class Parser {
  private readonly view: DataView;
  reachedPixelData = false;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly littleEndian: boolean,
    private readonly explicitVr: boolean,
    private readonly options: ParseOptions,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private need(offset: number, length: number): void {
    if (offset + length > this.bytes.byteLength) {
      throw new DicomTruncatedError(`the data ends at byte ${this.bytes.byteLength}, inside an element at byte ${offset}`);
    }
  }

  private readTag(offset: number): number {
    this.need(offset, 4);
    return ((this.view.getUint16(offset, this.littleEndian) << 16) | this.view.getUint16(offset + 2, this.littleEndian)) >>> 0;
  }

  /**
   * Reads elements from `offset` until `end`, an item delimitation, or a tag for which `stop` returns
   * true. Returns the offset after the last element read (after the delimitation item, if any).
   */
  readElements(offset: number, end: number, into: Map<number, DicomElement>, stop?: (tag: number) => boolean): number {
    while (offset < end) {
      const tag = this.readTag(offset);
      if (tag === ITEM_DELIMITATION) return offset + 8;
      if (stop?.(tag)) return offset;
      if (tag === PIXEL_DATA && this.options.stopAtPixelData) {
        this.reachedPixelData = true;
        return end;
      }

      let vr: string | undefined;
      let length: number;
      let header: number;
      if (this.explicitVr) {
        this.need(offset, 8);
        vr = String.fromCharCode(this.bytes[offset + 4]!, this.bytes[offset + 5]!);
        if (LONG_LENGTH_VRS.has(vr)) {
          this.need(offset, 12);
          length = this.view.getUint32(offset + 8, this.littleEndian);
          header = 12;
        } else {
          length = this.view.getUint16(offset + 6, this.littleEndian);
          header = 8;
        }
      } else {
        this.need(offset, 8);
        length = this.view.getUint32(offset + 4, this.littleEndian);
        header = 8;
      }
      const valueOffset = offset + header;

      if (length === UNDEFINED_LENGTH) {
        if (tag === PIXEL_DATA) {
          const { encapsulated, next } = this.readEncapsulated(valueOffset);
          into.set(tag, { vr, value: this.bytes.subarray(valueOffset, valueOffset), encapsulated });
          offset = next;
          continue;
        }
        // An undefined-length UN element is a sequence encoded in Implicit VR Little Endian (PS3.5 6.2.2).
        const reader = vr === 'UN' ? new Parser(this.bytes, true, false, this.options) : this;
        const { items, next } = reader.readSequence(valueOffset, undefined);
        into.set(tag, { vr, value: this.bytes.subarray(valueOffset, valueOffset), items });
        offset = next;
        continue;
      }

      this.need(valueOffset, length);
      if (vr === 'SQ' || (!this.explicitVr && KNOWN_SEQUENCES.has(tag))) {
        const { items } = this.readSequence(valueOffset, valueOffset + length);
        into.set(tag, { vr, value: this.bytes.subarray(valueOffset, valueOffset), items });
      } else {
        into.set(tag, { vr, value: this.bytes.subarray(valueOffset, valueOffset + length) });
      }
      offset = valueOffset + length;
    }
    return offset;
  }

  /** Reads sequence items until `end` (defined length) or the sequence delimitation item. */
  private readSequence(offset: number, end: number | undefined): { items: DicomDataset[]; next: number } {
    const items: DicomDataset[] = [];
    const limit = end ?? this.bytes.byteLength;
    while (offset < limit) {
      const tag = this.readTag(offset);
      this.need(offset, 8);
      const length = this.view.getUint32(offset + 4, this.littleEndian);
      if (tag === SEQUENCE_DELIMITATION) return { items, next: offset + 8 };
      if (tag !== ITEM) throw new DicomParseError(`expected an item tag in a sequence at byte ${offset}`);

      const elements = new Map<number, DicomElement>();
      const itemStart = offset + 8;
      if (length === UNDEFINED_LENGTH) {
        offset = this.readElements(itemStart, limit, elements);
      } else {
        this.need(itemStart, length);
        this.readElements(itemStart, itemStart + length, elements);
        offset = itemStart + length;
      }
      items.push(new DicomDataset(elements, this.littleEndian, this.explicitVr));
    }
    if (end === undefined) throw new DicomTruncatedError('the data ends inside a sequence of undefined length');
    return { items, next: offset };
  }

  /** Reads the items of encapsulated pixel data (PS3.5 A.4): the Basic Offset Table, then fragments. */
  private readEncapsulated(offset: number): {
    encapsulated: NonNullable<DicomElement['encapsulated']>;
    next: number;
  } {
    const fragments: Uint8Array[] = [];
    let basicOffsetTable: Uint8Array | undefined;
    for (;;) {
      const tag = this.readTag(offset);
      this.need(offset, 8);
      const length = this.view.getUint32(offset + 4, this.littleEndian);
      if (tag === SEQUENCE_DELIMITATION) {
        if (basicOffsetTable === undefined) throw new DicomParseError('encapsulated pixel data has no Basic Offset Table item');
        return { encapsulated: { basicOffsetTable, fragments }, next: offset + 8 };
      }
      if (tag !== ITEM || length === UNDEFINED_LENGTH) {
        throw new DicomParseError(`expected a pixel data item at byte ${offset}`);
      }
      this.need(offset + 8, length);
      const value = this.bytes.subarray(offset + 8, offset + 8 + length);
      if (basicOffsetTable === undefined) basicOffsetTable = value;
      else fragments.push(value);
      offset += 8 + length;
    }
  }
}
