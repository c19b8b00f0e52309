/**
 * Reads an inbound HL7 v2 message: decodes its bytes in the character set MSH-18 names, splits it into
 * segments, fields, repetitions, components and subcomponents with the delimiters of MSH-1 and MSH-2,
 * and unescapes values on access. Field numbers are 1-based as HL7 writes them, so MSH-9 is
 * `segment.value(9)`, and MSH-1 is the field separator itself.
 */
import { unescapeHl7Text, type Hl7Delimiters } from '../delivery/hl7/escape.ts';

/** An inbound message that cannot be read; `hl7ErrorCode` is the HL7 table 0357 code for the ERR segment. */
export class Hl7MessageError extends Error {
  readonly code = 'hl7_message_invalid';

  constructor(
    message: string,
    readonly hl7ErrorCode: string,
    readonly location: { segment: string; field?: number },
  ) {
    super(message);
    this.name = 'Hl7MessageError';
  }
}

/** HL7 table 0211 names and the WHATWG encoding labels under which Node's TextDecoder accepts them. */
const CHARACTER_SETS = new Map<string, string>([
  ['UNICODE UTF-8', 'utf-8'],
  ['ASCII', 'utf-8'],
  ['8859/1', 'iso-8859-1'],
  ['8859/2', 'iso-8859-2'],
  ['8859/3', 'iso-8859-3'],
  ['8859/4', 'iso-8859-4'],
  ['8859/5', 'iso-8859-5'],
  ['8859/6', 'iso-8859-6'],
  ['8859/7', 'iso-8859-7'],
  ['8859/8', 'iso-8859-8'],
  ['8859/9', 'iso-8859-9'],
  ['8859/15', 'iso-8859-15'],
  ['GB 18030-2000', 'gb18030'],
  ['BIG-5', 'big5'],
  ['KS X 1001', 'euc-kr'],
]);

/**
 * Decodes a frame. MSH-18 is read from the bytes first (the MSH segment is ASCII). Without MSH-18 the
 * text is read as UTF-8 when it is valid UTF-8, and as ISO 8859-1 otherwise, because senders that leave
 * MSH-18 empty use one of the two in practice. Throws Hl7MessageError (table 0357 code 103) for a
 * character set this service cannot decode.
 */
export function decodeHl7Bytes(bytes: Buffer): { text: string; characterSet: string } {
  const latin1 = bytes.toString('latin1');
  const msh = latin1.split(/\r\n|\r|\n/, 1)[0] ?? '';
  const fieldSeparator = msh.charAt(3) || '|';
  const declared = msh.startsWith('MSH') ? (msh.split(fieldSeparator)[17] ?? '').split(msh.charAt(4) || '^')[0]!.trim() : '';

  if (declared === '') {
    try {
      return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), characterSet: 'UNICODE UTF-8' };
    } catch {
      return { text: latin1, characterSet: '8859/1' };
    }
  }

  const label = CHARACTER_SETS.get(declared.toUpperCase());
  if (label === undefined) {
    throw new Hl7MessageError(`MSH-18 character set "${declared}" is not supported`, '103', { segment: 'MSH', field: 18 });
  }
  // Invalid bytes become U+FFFD instead of failing the message; the stored text shows where they were.
  return { text: new TextDecoder(label).decode(bytes), characterSet: declared };
}

export class Hl7Segment {
  constructor(
    readonly name: string,
    /** Raw (escaped) fields; index n is field n. */
    private readonly fields: string[],
    private readonly delimiters: Hl7Delimiters,
  ) {}

  /** Returns field `n` as it appears in the message, escape sequences included. */
  raw(fieldNumber: number): string {
    return this.fields[fieldNumber] ?? '';
  }

  /** Returns one unescaped value: field `n`, its repetition, component and subcomponent (all 1-based). */
  value(fieldNumber: number, component = 1, repetition = 1, subcomponent = 1): string {
    const { repetition: repetitionSeparator, component: componentSeparator, subcomponent: subcomponentSeparator } =
      this.delimiters;
    // MSH-2 contains the delimiters themselves and is never split.
    if (this.name === 'MSH' && fieldNumber <= 2) return this.raw(fieldNumber);

    const repetitionText = this.raw(fieldNumber).split(repetitionSeparator)[repetition - 1] ?? '';
    const componentText = repetitionText.split(componentSeparator)[component - 1] ?? '';
    const subcomponentText = componentText.split(subcomponentSeparator)[subcomponent - 1] ?? '';
    return unescapeHl7Text(subcomponentText, this.delimiters);
  }

  /** Number of repetitions of field `n` (0 when the field is empty). */
  repetitions(fieldNumber: number): number {
    const text = this.raw(fieldNumber);
    return text === '' ? 0 : text.split(this.delimiters.repetition).length;
  }
}

export class Hl7Message {
  constructor(
    readonly delimiters: Hl7Delimiters,
    readonly segments: Hl7Segment[],
  ) {}

  get msh(): Hl7Segment {
    return this.segments[0]!;
  }
}

/**
 * Splits `text` into segments. Segments end in CR; LF and CR LF are accepted too, because some senders
 * write them. Throws Hl7MessageError (table 0357 code 100) when the text does not start with MSH.
 */
export function parseHl7Message(text: string): Hl7Message {
  const lines = text.split(/\r\n|\r|\n/).filter((line) => line.trim() !== '');
  const first = lines[0];
  if (first === undefined || !first.startsWith('MSH') || first.length < 8) {
    throw new Hl7MessageError('the message does not start with an MSH segment', '100', { segment: 'MSH' });
  }

  const field = first.charAt(3);
  const encoding = first.slice(4).split(field)[0] ?? '';
  if (encoding.length < 3 || /[A-Za-z0-9]/.test(field + encoding)) {
    throw new Hl7MessageError('MSH-1 and MSH-2 do not declare usable delimiters', '102', { segment: 'MSH', field: 2 });
  }
  const delimiters: Hl7Delimiters = {
    field,
    component: encoding.charAt(0),
    repetition: encoding.charAt(1),
    escape: encoding.charAt(2),
    subcomponent: encoding.charAt(3) || '&',
  };

  const segments = lines.map((line) => {
    const parts = line.split(field);
    const name = parts[0] ?? '';
    // In MSH the field separator is MSH-1, so the first split part after the name is MSH-2.
    const fields = name === 'MSH' ? [name, field, ...parts.slice(1)] : parts;
    return new Hl7Segment(name, fields, delimiters);
  });
  return new Hl7Message(delimiters, segments);
}
