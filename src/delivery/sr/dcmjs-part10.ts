/**
 * Writes and reads DICOM Part 10 files with dcmjs for the SR path. dcmjs ships no type declarations, so
 * it is loaded through require() and used through the small typed surface below. An ambient
 * `declare module 'dcmjs'` here could clash with a declaration elsewhere in the project.
 */
import { createRequire } from 'node:module';

import dimse from 'dcmjs-dimse';

import '../../dicom/implementation.ts';

/** A dataset in dcmjs's naturalized form: DICOM keywords as keys, sequences as arrays of datasets. */
export type NaturalizedDataset = Record<string, unknown>;

/** A dataset in dcmjs's denaturalized form, keyed by tag; opaque to this module. */
type DenaturalizedDataset = Record<string, unknown>;

interface DicomDictInstance {
  meta: DenaturalizedDataset;
  dict: DenaturalizedDataset;
  write(): ArrayBuffer;
}

interface ReadBufferStreamInstance {
  decoder: unknown;
  setDecoder(decoder: unknown): void;
}

interface DcmjsData {
  DicomMetaDictionary: {
    naturalizeDataset(dataset: DenaturalizedDataset): NaturalizedDataset;
    denaturalizeDataset(dataset: NaturalizedDataset): DenaturalizedDataset;
  };
  DicomDict: new (meta: DenaturalizedDataset) => DicomDictInstance;
  DicomMessage: {
    readFile(buffer: ArrayBuffer, options?: { ignoreErrors?: boolean }): DicomDictInstance;
  };
  ReadBufferStream: {
    prototype: { more(this: ReadBufferStreamInstance, length: number): ReadBufferStreamInstance };
  };
}

const require = createRequire(import.meta.url);
const dcmjs = require('dcmjs') as { data: DcmjsData };

export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

/**
 * Encodes `dataset` as a Part 10 file: preamble, "DICM", file meta (PS3.10 7.1) and the dataset in
 * Explicit VR Little Endian. The Implementation Class UID and Version Name are dcmjs-dimse's current
 * ones, so the file and the associations that carry it name the same implementation. String values
 * are written as UTF-8, which is correct only for datasets whose SpecificCharacterSet is ISO_IR 192.
 */
export function writePart10(
  dataset: NaturalizedDataset & { SOPClassUID: string; SOPInstanceUID: string },
): Buffer {
  const meta: NaturalizedDataset = {
    FileMetaInformationVersion: new Uint8Array([0x00, 0x01]).buffer,
    MediaStorageSOPClassUID: dataset.SOPClassUID,
    MediaStorageSOPInstanceUID: dataset.SOPInstanceUID,
    TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
    ImplementationClassUID: dimse.Implementation.getImplementationClassUid(),
    ImplementationVersionName: dimse.Implementation.getImplementationVersion(),
  };
  const { DicomDict, DicomMetaDictionary } = dcmjs.data;
  const file = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  file.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
  return Buffer.from(file.write());
}

export interface Part10Contents {
  transferSyntaxUid: string;
  dataset: NaturalizedDataset;
}

/**
 * Decodes a Part 10 file into its transfer syntax and naturalized dataset. Throws on a malformed file
 * or a SpecificCharacterSet that dcmjs cannot decode, because re-encoding a dataset that was read
 * with the wrong character set would corrupt its text.
 */
export function readPart10(part10: Buffer): Part10Contents {
  const { buffer, byteOffset, byteLength } = part10;
  const arrayBuffer = buffer.slice(byteOffset, byteOffset + byteLength) as ArrayBuffer;
  const file = withSequenceItemsInheritingCharacterSet(() =>
    dcmjs.data.DicomMessage.readFile(arrayBuffer, { ignoreErrors: false }),
  );

  const meta = dcmjs.data.DicomMetaDictionary.naturalizeDataset(file.meta);
  const transferSyntaxUid = meta.TransferSyntaxUID;
  if (typeof transferSyntaxUid !== 'string') throw new Error('Part 10 file meta has no TransferSyntaxUID');
  return { transferSyntaxUid, dataset: dcmjs.data.DicomMetaDictionary.naturalizeDataset(file.dict) };
}

/**
 * Runs `read` while sub-streams created for sequence items keep their parent's text decoder.
 *
 * NOTE: dcmjs 0.50.3 gives every sequence item a fresh stream that decodes text as windows-1252, so
 * UTF-8 text nested in a sequence (all SR content) is read as mojibake even when SpecificCharacterSet
 * is ISO_IR 192. The patch lasts for one synchronous read and is removed before any other code runs.
 * An item with its own SpecificCharacterSet still sets its own decoder. Drop the patch once dcmjs
 * passes the decoder to item streams itself.
 */
function withSequenceItemsInheritingCharacterSet<T>(read: () => T): T {
  const prototype = dcmjs.data.ReadBufferStream.prototype;
  const originalMore = prototype.more;
  if (typeof originalMore !== 'function') {
    throw new Error('dcmjs ReadBufferStream.more() not found; the character set workaround needs updating');
  }

  prototype.more = function moreWithParentDecoder(this: ReadBufferStreamInstance, length: number) {
    const itemStream = originalMore.call(this, length);
    itemStream.setDecoder(this.decoder);
    return itemStream;
  };
  try {
    return read();
  } finally {
    prototype.more = originalMore;
  }
}
