/**
 * HL7 v2 acknowledgment (ACK) parsing: only MSH and MSA (plus ERR for the error text) are read, because
 * the sender needs the acknowledgment code and the MSA-2 that ties the ACK to the sent MSH-10. Receivers
 * differ in segment endings, so CR, LF and CR LF are all accepted.
 */
import { Hl7AckInvalidError } from './errors.ts';
import { unescapeHl7Text, type Hl7Delimiters } from './escape.ts';

/** HL7 table 0008: AA/AE/AR in original mode, CA/CE/CR for commit acknowledgments in enhanced mode. */
export const HL7_ACK_CODES = ['AA', 'AE', 'AR', 'CA', 'CE', 'CR'] as const;
export type HL7AckCode = (typeof HL7_ACK_CODES)[number];

export interface HL7Ack {
  /** MSA-1. */
  code: HL7AckCode;
  /** MSA-2: the MSH-10 of the message being acknowledged. */
  messageControlId: string;
  /** MSA-3, or the ERR-8 user message or ERR-3 error text when MSA-3 is empty (MSA-3 is deprecated in v2.5.1). */
  text?: string;
  /** The whole ACK as received, for storing with the delivery but never for logs. */
  raw: string;
}

/** Parses an ACK message. Throws Hl7AckInvalidError when MSH, MSA, MSA-2 or a table 0008 MSA-1 is missing. */
export function parseHl7Ack(raw: string): HL7Ack {
  const segments = raw.split(/\r\n|\r|\n/).filter((segment) => segment.length > 0);

  const msh = segments[0];
  if (msh === undefined || !msh.startsWith('MSH') || msh.length < 8) {
    throw new Hl7AckInvalidError('HL7 ACK is invalid: it does not start with an MSH segment');
  }
  const delimiters = readDelimiters(msh);

  const msa = findSegment(segments, 'MSA', delimiters);
  if (msa === undefined) throw new Hl7AckInvalidError('HL7 ACK is invalid: it has no MSA segment');

  const code = msa[1] ?? '';
  if (!isAckCode(code)) {
    throw new Hl7AckInvalidError(`HL7 ACK is invalid: MSA-1 "${code.slice(0, 8)}" is not an HL7 table 0008 code`);
  }

  const messageControlId = unescapeHl7Text(msa[2] ?? '', delimiters);
  if (messageControlId === '') throw new Hl7AckInvalidError('HL7 ACK is invalid: MSA-2 is empty');

  const text = readAckText(msa, findSegment(segments, 'ERR', delimiters), delimiters);
  return text === undefined ? { code, messageControlId, raw } : { code, messageControlId, text, raw };
}

/** MSH-1 is the character right after "MSH", and MSH-2 lists component, repetition, escape and subcomponent. */
function readDelimiters(msh: string): Hl7Delimiters {
  const field = msh.charAt(3);
  const encodingCharacters = msh.slice(4).split(field)[0] ?? '';
  return {
    field,
    component: encodingCharacters.charAt(0) || '^',
    repetition: encodingCharacters.charAt(1) || '~',
    escape: encodingCharacters.charAt(2) || '\\',
    subcomponent: encodingCharacters.charAt(3) || '&',
  };
}

/** Returns the fields of the first segment named `name`, indexed so that element 1 is field 1. */
function findSegment(segments: string[], name: string, delimiters: Hl7Delimiters): string[] | undefined {
  const segment = segments.find((candidate) => candidate.startsWith(name + delimiters.field));
  return segment?.split(delimiters.field);
}

function isAckCode(value: string): value is HL7AckCode {
  return (HL7_ACK_CODES as readonly string[]).includes(value);
}

function readAckText(msa: string[], err: string[] | undefined, delimiters: Hl7Delimiters): string | undefined {
  const candidates = [msa[3], err?.[8], err?.[3]?.split(delimiters.component)[1]];
  const text = candidates.find((candidate) => candidate !== undefined && candidate !== '');
  return text === undefined ? undefined : unescapeHl7Text(text, delimiters);
}
