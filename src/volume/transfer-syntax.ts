/**
 * The transfer syntaxes whose pixel data volume assembly decodes, and how. Each compressed syntax here
 * was checked to decode bit for bit like DCMTK (dcmdjpeg, dcmdjpls, dcmdrle) and GDCM (gdcmconv --raw)
 * on the public test images. A file in any other syntax, including private compression such as
 * Elscint's, is rejected with `unsupported_transfer_syntax` and the syntax's name.
 */
import { VolumeError } from './volume-error.ts';

export const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';
export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

/** Storage of a syntax's pixel data: native words, or compressed by one codec family. */
export type PixelEncoding = 'native' | 'rle' | 'jpeg' | 'jpeg-ls' | 'jpeg-2000';

export interface TransferSyntaxInfo {
  uid: string;
  /** The name in PS3.6 Annex A. */
  name: string;
  encoding: PixelEncoding;
  /** True for syntaxes whose compression may change pixel values. */
  lossy: boolean;
  /** True for Explicit VR Big Endian, whose native 16-bit words are byte-swapped. */
  bigEndian: boolean;
}

function syntax(uid: string, name: string, encoding: PixelEncoding, lossy = false, bigEndian = false): TransferSyntaxInfo {
  return { uid, name, encoding, lossy, bigEndian };
}

const DECODABLE: ReadonlyMap<string, TransferSyntaxInfo> = new Map(
  [
    syntax(IMPLICIT_VR_LITTLE_ENDIAN, 'Implicit VR Little Endian', 'native'),
    syntax(EXPLICIT_VR_LITTLE_ENDIAN, 'Explicit VR Little Endian', 'native'),
    syntax('1.2.840.10008.1.2.1.99', 'Deflated Explicit VR Little Endian', 'native'),
    syntax('1.2.840.10008.1.2.2', 'Explicit VR Big Endian', 'native', false, true),
    syntax('1.2.840.10008.1.2.4.50', 'JPEG Baseline (Process 1)', 'jpeg', true),
    syntax('1.2.840.10008.1.2.4.51', 'JPEG Extended (Process 2 & 4)', 'jpeg', true),
    syntax('1.2.840.10008.1.2.4.53', 'JPEG Spectral Selection, Non-Hierarchical (Process 6 & 8)', 'jpeg', true),
    syntax('1.2.840.10008.1.2.4.55', 'JPEG Full Progression, Non-Hierarchical (Process 10 & 12)', 'jpeg', true),
    syntax('1.2.840.10008.1.2.4.57', 'JPEG Lossless, Non-Hierarchical (Process 14)', 'jpeg'),
    syntax('1.2.840.10008.1.2.4.70', 'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])', 'jpeg'),
    syntax('1.2.840.10008.1.2.4.80', 'JPEG-LS Lossless Image Compression', 'jpeg-ls'),
    syntax('1.2.840.10008.1.2.4.81', 'JPEG-LS Lossy (Near-Lossless) Image Compression', 'jpeg-ls', true),
    syntax('1.2.840.10008.1.2.4.90', 'JPEG 2000 Image Compression (Lossless Only)', 'jpeg-2000'),
    syntax('1.2.840.10008.1.2.4.91', 'JPEG 2000 Image Compression', 'jpeg-2000', true),
    syntax('1.2.840.10008.1.2.5', 'RLE Lossless', 'rle'),
  ].map((info) => [info.uid, info]),
);

/** Syntaxes that are known but not decoded, named in the rejection. */
const KNOWN_UNSUPPORTED: ReadonlyMap<string, string> = new Map([
  ['1.2.840.10008.1.2.4.100', 'MPEG2 Main Profile / Main Level'],
  ['1.2.840.10008.1.2.4.102', 'MPEG-4 AVC/H.264 High Profile / Level 4.1'],
  ['1.2.840.10008.1.2.4.110', 'JPEG XL Lossless'],
  ['1.2.840.10008.1.2.4.112', 'JPEG XL'],
  ['1.2.840.10008.1.2.4.201', 'High-Throughput JPEG 2000 Image Compression (Lossless Only)'],
  ['1.2.840.10008.1.2.4.202', 'High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)'],
  ['1.2.840.10008.1.2.4.203', 'High-Throughput JPEG 2000 Image Compression'],
]);

/** The UIDs of every transfer syntax whose pixel data can be decoded. */
export const SUPPORTED_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set(DECODABLE.keys());

export function describeTransferSyntax(uid: string): string {
  const name = DECODABLE.get(uid)?.name ?? KNOWN_UNSUPPORTED.get(uid);
  return name === undefined ? uid : `${name} (${uid})`;
}

/** Returns how to decode `uid`, or throws `unsupported_transfer_syntax` with a reason a radiographer can act on. */
export function lookupTransferSyntax(uid: string, filePath: string): TransferSyntaxInfo {
  const info = DECODABLE.get(uid);
  if (info !== undefined) return info;
  const known = KNOWN_UNSUPPORTED.has(uid);
  throw new VolumeError(
    'unsupported_transfer_syntax',
    `The image uses the transfer syntax ${describeTransferSyntax(uid)}, ` +
      (known ? 'which cannot be decoded here. ' : 'which is private or unknown, so its pixel data cannot be decoded. ') +
      'Ask the PACS to send the series uncompressed (Explicit VR Little Endian) or in JPEG Lossless, JPEG-LS, ' +
      'JPEG 2000 or RLE.',
    { filePath },
  );
}
