/**
 * DIMSE command sets (PS3.7 E.1): group 0000 elements, always Implicit VR Little Endian. The Storage SCP
 * reads C-STORE-RQ and C-ECHO-RQ and writes their responses here, because encoding a response through
 * dcmjs-dimse's command classes cost as much CPU as storing the instance.
 */

export const CommandField = {
  CStoreRq: 0x0001,
  CStoreRsp: 0x8001,
  CEchoRq: 0x0030,
  CEchoRsp: 0x8030,
  CCancelRq: 0x0fff,
} as const;

/** Command Data Set Type (0000,0800) value that means "no dataset follows" (PS3.7 E.1-1). */
export const NO_DATASET = 0x0101;

const Tag = {
  AffectedSopClassUid: 0x00000002,
  CommandField: 0x00000100,
  MessageId: 0x00000110,
  MessageIdBeingRespondedTo: 0x00000120,
  Priority: 0x00000700,
  CommandDataSetType: 0x00000800,
  Status: 0x00000900,
  ErrorComment: 0x00000902,
  AffectedSopInstanceUid: 0x00001000,
} as const;

export class CommandSetError extends Error {
  readonly code = 'invalid_command_set';

  constructor(message: string) {
    super(message);
    this.name = 'CommandSetError';
  }
}

export interface CommandSet {
  commandField: number;
  messageId: number;
  affectedSopClassUid: string;
  affectedSopInstanceUid: string;
  hasDataset: boolean;
}

/** Reads the elements a C-STORE-RQ or C-ECHO-RQ needs; throws CommandSetError on a malformed set. */
export function readCommandSet(bytes: Buffer): CommandSet {
  const values = new Map<number, Buffer>();
  let offset = 0;
  while (offset < bytes.length) {
    if (bytes.length - offset < 8) throw new CommandSetError('command set ends inside an element header');
    const tag = ((bytes.readUInt16LE(offset) << 16) | bytes.readUInt16LE(offset + 2)) >>> 0;
    const length = bytes.readUInt32LE(offset + 4);
    if (offset + 8 + length > bytes.length) throw new CommandSetError(`element (0000,${hex4(tag & 0xffff)}) runs past the end of the command set`);
    values.set(tag, bytes.subarray(offset + 8, offset + 8 + length));
    offset += 8 + length;
  }

  const commandField = uint16(values, Tag.CommandField);
  if (commandField === undefined) throw new CommandSetError('command set has no Command Field (0000,0100)');
  return {
    commandField,
    messageId: uint16(values, Tag.MessageId) ?? 0,
    affectedSopClassUid: text(values, Tag.AffectedSopClassUid),
    affectedSopInstanceUid: text(values, Tag.AffectedSopInstanceUid),
    hasDataset: (uint16(values, Tag.CommandDataSetType) ?? NO_DATASET) !== NO_DATASET,
  };
}

export interface ResponseFields {
  commandField: number;
  messageIdBeingRespondedTo: number;
  affectedSopClassUid: string;
  /** Absent for C-ECHO-RSP. */
  affectedSopInstanceUid?: string;
  status: number;
  /** Error Comment (0000,0902), LO: at most 64 characters, never patient data. */
  errorComment?: string;
}

/** Writes a response command set with its Command Group Length, elements in ascending tag order. */
export function encodeResponse(fields: ResponseFields): Buffer {
  const elements = [
    element(Tag.AffectedSopClassUid, uidBytes(fields.affectedSopClassUid)),
    element(Tag.CommandField, uint16Bytes(fields.commandField)),
    element(Tag.MessageIdBeingRespondedTo, uint16Bytes(fields.messageIdBeingRespondedTo)),
    element(Tag.CommandDataSetType, uint16Bytes(NO_DATASET)),
    element(Tag.Status, uint16Bytes(fields.status)),
  ];
  if (fields.errorComment) elements.push(element(Tag.ErrorComment, textBytes(fitLongString(fields.errorComment))));
  if (fields.affectedSopInstanceUid !== undefined) elements.push(element(Tag.AffectedSopInstanceUid, uidBytes(fields.affectedSopInstanceUid)));
  const body = Buffer.concat(elements);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(body.length);
  return Buffer.concat([element(0x00000000, groupLength), body]);
}

function element(tag: number, value: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt16LE(tag >>> 16, 0);
  header.writeUInt16LE(tag & 0xffff, 2);
  header.writeUInt32LE(value.length, 4);
  return Buffer.concat([header, value]);
}

function uint16(values: Map<number, Buffer>, tag: number): number | undefined {
  const value = values.get(tag);
  return value && value.length >= 2 ? value.readUInt16LE(0) : undefined;
}

function text(values: Map<number, Buffer>, tag: number): string {
  return values.get(tag)?.toString('latin1').replace(/[\0 ]+$/, '') ?? '';
}

function uint16Bytes(value: number): Buffer {
  const bytes = Buffer.alloc(2);
  bytes.writeUInt16LE(value);
  return bytes;
}

/** UI values are padded to even length with NUL (PS3.5 6.2). */
function uidBytes(uid: string): Buffer {
  const bytes = Buffer.from(uid, 'latin1');
  return bytes.length % 2 === 0 ? bytes : Buffer.concat([bytes, Buffer.from([0])]);
}

/** Text values are padded to even length with a space (PS3.5 6.2). */
/** Maximum length of an LO value (PS3.5 6.2): 64 characters. */
const MAX_LONG_STRING = 64;

/** Shortens a text to an LO value: cut after the last whole word that fits, and marked with "...". */
function fitLongString(text: string): string {
  if (text.length <= MAX_LONG_STRING) return text;
  const room = text.slice(0, MAX_LONG_STRING - 3);
  const lastSpace = room.lastIndexOf(' ');
  return `${lastSpace > 0 ? room.slice(0, lastSpace) : room}...`;
}

function textBytes(value: string): Buffer {
  const bytes = Buffer.from(value.replace(/[^\x20-\x7e]/g, '?'), 'latin1');
  return bytes.length % 2 === 0 ? bytes : Buffer.concat([bytes, Buffer.from(' ', 'latin1')]);
}

function hex4(value: number): string {
  return value.toString(16).toUpperCase().padStart(4, '0');
}
