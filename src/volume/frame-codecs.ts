/**
 * Decoding of one compressed frame through the WebAssembly codecs of dcmjs-codecs 0.0.8 (libjpeg-turbo
 * for JPEG, CharLS for JPEG-LS, OpenJPEG for JPEG 2000, and its own RLE decoder). The output is the
 * frame's 16-bit words in little-endian order, as native pixel data would hold them, so that masking
 * and sign extension are the same for every transfer syntax.
 */
import { createRequire } from 'node:module';

import type { PixelEncoding } from './transfer-syntax.ts';
import { VolumeError } from './volume-error.ts';

interface CodecContext {
  getDecodedBuffer(): Uint8Array | undefined;
}

interface CodecsModule {
  Context: new (attributes: Record<string, unknown>) => CodecContext;
  NativeCodecs: {
    initializeAsync(options?: Record<string, unknown>): Promise<void>;
    isInitialized(): boolean;
    decodeRle(context: CodecContext, parameters?: Record<string, unknown>): CodecContext;
    decodeJpeg(context: CodecContext, parameters?: Record<string, unknown>): CodecContext;
    decodeJpegLs(context: CodecContext, parameters?: Record<string, unknown>): CodecContext;
    decodeJpeg2000(context: CodecContext, parameters?: Record<string, unknown>): CodecContext;
  };
}

// The package's main entry is a UMD bundle, so it is loaded through require like dcmjs.
const codecs = createRequire(import.meta.url)('dcmjs-codecs') as CodecsModule;

let initialization: Promise<void> | undefined;

/** Loads the WebAssembly module once per process; later calls return the same promise. */
export function initializeCodecs(): Promise<void> {
  initialization ??= codecs.NativeCodecs.initializeAsync({ logCodecsInfo: false, logCodecsTrace: false });
  return initialization;
}

export interface FrameFormat {
  rows: number;
  columns: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: number;
  photometricInterpretation: string;
}

/**
 * Decodes one compressed frame to Rows x Columns little-endian 16-bit words. Throws VolumeError
 * `pixel_decoding_failed` when the codec rejects the data or returns another size.
 */
export async function decodeCompressedFrame(
  encoded: Uint8Array,
  encoding: Exclude<PixelEncoding, 'native'>,
  format: FrameFormat,
  filePath: string,
): Promise<Uint8Array> {
  await initializeCodecs();
  const context = new codecs.Context({
    width: format.columns,
    height: format.rows,
    bitsAllocated: format.bitsAllocated,
    bitsStored: format.bitsStored,
    samplesPerPixel: 1,
    pixelRepresentation: format.pixelRepresentation,
    photometricInterpretation: format.photometricInterpretation,
    encodedBuffer: encoded,
  });

  let decoded: Uint8Array | undefined;
  try {
    decoded = decode(context, encoding).getDecodedBuffer();
  } catch (error) {
    throw new VolumeError('pixel_decoding_failed', `The ${describeEncoding(encoding)} pixel data cannot be decoded; the file may be corrupt.`, {
      filePath,
      cause: error,
    });
  }

  const expected = format.rows * format.columns * 2;
  if (decoded === undefined || decoded.byteLength !== expected) {
    throw new VolumeError(
      'pixel_decoding_failed',
      `The ${describeEncoding(encoding)} decoder returned ${decoded?.byteLength ?? 0} bytes, but ${format.rows} x ` +
        `${format.columns} pixels of 16 bits need ${expected}.`,
      { filePath },
    );
  }
  return decoded;
}

function decode(context: CodecContext, encoding: Exclude<PixelEncoding, 'native'>): CodecContext {
  switch (encoding) {
    case 'rle':
      return codecs.NativeCodecs.decodeRle(context, {});
    case 'jpeg':
      // CT frames are grayscale; no colour conversion applies.
      return codecs.NativeCodecs.decodeJpeg(context, { convertColorspaceToRgb: false });
    case 'jpeg-ls':
      return codecs.NativeCodecs.decodeJpegLs(context, {});
    case 'jpeg-2000':
      return codecs.NativeCodecs.decodeJpeg2000(context, {});
  }
}

function describeEncoding(encoding: Exclude<PixelEncoding, 'native'>): string {
  return { rle: 'RLE', jpeg: 'JPEG', 'jpeg-ls': 'JPEG-LS', 'jpeg-2000': 'JPEG 2000' }[encoding];
}
