/**
 * Transfer syntax handling for Part 10 files. The TransferSyntaxUID is read from the File Meta
 * Information before the dataset is parsed, so that a compressed or big-endian file is rejected with a
 * precise code instead of whatever the parser makes of its pixel data.
 */
import { VolumeError } from './volume-error.ts';

export const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';
export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

/** Transfer syntaxes whose pixel data this module decodes: native (uncompressed) little-endian only. */
export const SUPPORTED_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set([
  IMPLICIT_VR_LITTLE_ENDIAN,
  EXPLICIT_VR_LITTLE_ENDIAN,
]);

/** Names from PS3.6 Annex A, so that a rejection names the syntax the file used. */
const TRANSFER_SYNTAX_NAMES: ReadonlyMap<string, string> = new Map([
  [IMPLICIT_VR_LITTLE_ENDIAN, 'Implicit VR Little Endian'],
  [EXPLICIT_VR_LITTLE_ENDIAN, 'Explicit VR Little Endian'],
  ['1.2.840.10008.1.2.1.99', 'Deflated Explicit VR Little Endian'],
  ['1.2.840.10008.1.2.2', 'Explicit VR Big Endian'],
  ['1.2.840.10008.1.2.4.50', 'JPEG Baseline (Process 1)'],
  ['1.2.840.10008.1.2.4.51', 'JPEG Extended (Process 2 & 4)'],
  ['1.2.840.10008.1.2.4.57', 'JPEG Lossless, Non-Hierarchical (Process 14)'],
  ['1.2.840.10008.1.2.4.70', 'JPEG Lossless, Non-Hierarchical, First-Order Prediction'],
  ['1.2.840.10008.1.2.4.80', 'JPEG-LS Lossless'],
  ['1.2.840.10008.1.2.4.81', 'JPEG-LS Lossy (Near-Lossless)'],
  ['1.2.840.10008.1.2.4.90', 'JPEG 2000 Image Compression (Lossless Only)'],
  ['1.2.840.10008.1.2.4.91', 'JPEG 2000 Image Compression'],
  ['1.2.840.10008.1.2.5', 'RLE Lossless'],
]);

export function describeTransferSyntax(uid: string): string {
  const name = TRANSFER_SYNTAX_NAMES.get(uid);
  return name === undefined ? uid : `${name} (${uid})`;
}

/** Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 section 7.1.2). */
const LONG_LENGTH_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

const PREAMBLE_LENGTH = 128;
const MAGIC = 'DICM';

/**
 * Returns the TransferSyntaxUID (0002,0010) of a Part 10 file. The File Meta Information is always
 * Explicit VR Little Endian (PS3.10 section 7.1), so it can be walked without the dataset's syntax.
 * Throws VolumeError `not_part10_file` when the preamble, the DICM prefix or the element is missing.
 */
export function readTransferSyntaxUid(bytes: Uint8Array, filePath: string): string {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = new TextDecoder('latin1').decode(bytes.subarray(PREAMBLE_LENGTH, PREAMBLE_LENGTH + 4));
  if (magic !== MAGIC) {
    throw new VolumeError(
      'not_part10_file',
      `The file is not a DICOM Part 10 file: there is no "DICM" prefix after the 128-byte preamble.`,
      { filePath },
    );
  }

  let offset = PREAMBLE_LENGTH + MAGIC.length;
  while (offset + 8 <= bytes.byteLength) {
    const group = view.getUint16(offset, true);
    if (group !== 0x0002) break;
    const element = view.getUint16(offset + 2, true);
    const vr = String.fromCharCode(view.getUint8(offset + 4), view.getUint8(offset + 5));
    const longLength = LONG_LENGTH_VRS.has(vr);
    if (longLength && offset + 12 > bytes.byteLength) break;
    const valueLength = longLength ? view.getUint32(offset + 8, true) : view.getUint16(offset + 6, true);
    const valueOffset = offset + (longLength ? 12 : 8);

    if (element === 0x0010) {
      const raw = new TextDecoder('latin1').decode(bytes.subarray(valueOffset, valueOffset + valueLength));
      // UI values are padded to even length with a NUL byte, but some writers pad with a space instead.
      return raw.replace(/[\0 ]+$/, '');
    }
    offset = valueOffset + valueLength;
  }

  throw new VolumeError(
    'not_part10_file',
    'The file has no TransferSyntaxUID (0002,0010) in its File Meta Information.',
    { filePath },
  );
}
