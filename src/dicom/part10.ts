/**
 * DICOM Part 10 files: the file meta header we put in front of a received dataset, and a header reader
 * that stops before Pixel Data so that indexing a slice does not load its pixels.
 */
import { open } from 'node:fs/promises';
import { createRequire } from 'node:module';

import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from './uids.ts';

export interface FileMetaInformation {
  mediaStorageSopClassUid: string;
  mediaStorageSopInstanceUid: string;
  transferSyntaxUid: string;
  sourceApplicationEntityTitle?: string;
}

/**
 * Returns the 128-byte preamble, the "DICM" prefix and the group 0002 elements (PS3.10 7.1), always in
 * Explicit VR Little Endian. The dataset that follows keeps the transfer syntax it was received in.
 */
export function encodeFileMetaHeader(meta: FileMetaInformation): Buffer {
  const elements = [
    encodeElement(0x0001, 'OB', Buffer.from([0x00, 0x01])),
    encodeElement(0x0002, 'UI', uidValue(meta.mediaStorageSopClassUid)),
    encodeElement(0x0003, 'UI', uidValue(meta.mediaStorageSopInstanceUid)),
    encodeElement(0x0010, 'UI', uidValue(meta.transferSyntaxUid)),
    encodeElement(0x0012, 'UI', uidValue(IMPLEMENTATION_CLASS_UID)),
    encodeElement(0x0013, 'SH', textValue(IMPLEMENTATION_VERSION_NAME)),
  ];
  if (meta.sourceApplicationEntityTitle) {
    elements.push(encodeElement(0x0016, 'AE', textValue(meta.sourceApplicationEntityTitle)));
  }
  const body = Buffer.concat(elements);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(body.length);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'ascii'), encodeElement(0x0000, 'UL', groupLength), body]);
}

/** UI values are padded to even length with NUL (PS3.5 6.2). */
function uidValue(uid: string): Buffer {
  const bytes = Buffer.from(uid, 'ascii');
  return bytes.length % 2 === 0 ? bytes : Buffer.concat([bytes, Buffer.from([0x00])]);
}

/** Text values are padded to even length with a space (PS3.5 6.2). */
function textValue(text: string): Buffer {
  const bytes = Buffer.from(text, 'ascii');
  return bytes.length % 2 === 0 ? bytes : Buffer.concat([bytes, Buffer.from(' ', 'ascii')]);
}

/** Group 0002 element in Explicit VR Little Endian; OB uses the 4-byte length form (PS3.5 7.1.2). */
function encodeElement(element: number, vr: string, value: Buffer): Buffer {
  const longForm = vr === 'OB';
  const header = Buffer.alloc(longForm ? 12 : 8);
  header.writeUInt16LE(0x0002, 0);
  header.writeUInt16LE(element, 2);
  header.write(vr, 4, 'ascii');
  if (longForm) header.writeUInt32LE(value.length, 8);
  else header.writeUInt16LE(value.length, 6);
  return Buffer.concat([header, value]);
}

export type NaturalDataset = Record<string, unknown>;

/** The part of dcmjs used here; dcmjs ships no type declarations. */
interface DcmjsData {
  DicomMessage: {
    readFile(buffer: ArrayBuffer, options: { untilTag?: string; includeUntilTagValue?: boolean; ignoreErrors?: boolean }): {
      meta: Record<string, unknown>;
      dict: Record<string, unknown>;
    };
  };
  DicomMetaDictionary: { naturalizeDataset(dataset: Record<string, unknown>): NaturalDataset };
}

const dcmjs = createRequire(import.meta.url)('dcmjs') as { data: DcmjsData };

export interface DicomHeader {
  /** File meta information (group 0002), naturalized: TransferSyntaxUID, MediaStorageSOPInstanceUID, ... */
  meta: NaturalDataset;
  /** The dataset up to, not including, Pixel Data, naturalized by dcmjs (keyword names). */
  dataset: NaturalDataset;
}

/** First read size: most CT headers fit in 64 KiB; larger headers are read in doubling steps. */
const FIRST_HEADER_READ_BYTES = 64 * 1024;

/**
 * Reads the file meta and the dataset up to Pixel Data. Reading starts with the first 64 KiB and doubles
 * until dcmjs parses the header, so a 500 MB multi-frame file costs as much as its header.
 */
export async function readDicomHeader(filePath: string): Promise<DicomHeader> {
  const handle = await open(filePath, 'r');
  try {
    const { size } = await handle.stat();
    let length = Math.min(size, FIRST_HEADER_READ_BYTES);
    for (;;) {
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, 0);
      const wholeFile = length >= size;
      try {
        const header = parseHeader(buffer);
        // A read that ends between two elements parses without error, so a partial read counts only once
        // it reached Pixel Data.
        if (wholeFile || 'PixelData' in header.dataset) return header;
      } catch (error) {
        if (wholeFile) throw error;
      }
      length = Math.min(size, length * 2);
    }
  } finally {
    await handle.close();
  }
}

function parseHeader(buffer: Buffer): DicomHeader {
  const arrayBuffer = buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength) as ArrayBuffer;
  const dicomData = dcmjs.data.DicomMessage.readFile(arrayBuffer, {
    untilTag: '7FE00010',
    includeUntilTagValue: false,
    ignoreErrors: false,
  });
  const { DicomMetaDictionary } = dcmjs.data;
  return {
    meta: DicomMetaDictionary.naturalizeDataset(dicomData.meta),
    dataset: DicomMetaDictionary.naturalizeDataset(dicomData.dict),
  };
}
