/**
 * Reading CT Part 10 files into CtSlices: one per frame, with the header attributes that volume
 * assembly needs and the decoded stored values. Single-frame CT Image Storage, Enhanced CT and Legacy
 * Converted Enhanced CT are read, in every transfer syntax of transfer-syntax.ts. Rescale is not
 * applied here, so that assembly applies each slice's own RescaleSlope and RescaleIntercept.
 */
import { readFile } from 'node:fs/promises';

import {
  hasAttribute,
  optionalNumber,
  optionalText,
  requireNumber,
  requireText,
  ATTRIBUTES,
} from './attributes.ts';
import { DicomParseError, DicomTruncatedError, parsePart10, type DicomDataset } from './dicom-parser.ts';
import { splitFrames } from './encapsulated-frames.ts';
import { readFrameAttributes, type FrameAttributes } from './frame-attributes.ts';
import { decodeCompressedFrame } from './frame-codecs.ts';
import { findPixelFormatProblem, swapWordBytes, toStoredValues, type PixelFormat, type StoredValues } from './pixel-values.ts';
import { lookupTransferSyntax, type TransferSyntaxInfo } from './transfer-syntax.ts';
import { VolumeError } from './volume-error.ts';

export const CT_IMAGE_STORAGE_UID = '1.2.840.10008.5.1.4.1.1.2';
export const ENHANCED_CT_IMAGE_STORAGE_UID = '1.2.840.10008.5.1.4.1.1.2.1';
export const LEGACY_CONVERTED_ENHANCED_CT_IMAGE_STORAGE_UID = '1.2.840.10008.5.1.4.1.1.2.2';

/** SOP classes whose frames can be slices of a CT volume. */
export const CT_IMAGE_SOP_CLASSES: ReadonlySet<string> = new Set([
  CT_IMAGE_STORAGE_UID,
  ENHANCED_CT_IMAGE_STORAGE_UID,
  LEGACY_CONVERTED_ENHANCED_CT_IMAGE_STORAGE_UID,
]);

/** Elscint private element (07A1,1011) naming the private pixel compression. */
const ELSCINT_COMPRESSION_TAG = 0x07a11011;

const MULTI_FRAME_SOP_CLASSES: ReadonlySet<string> = new Set([
  ENHANCED_CT_IMAGE_STORAGE_UID,
  LEGACY_CONVERTED_ENHANCED_CT_IMAGE_STORAGE_UID,
]);

export interface CtSlice extends FrameAttributes {
  filePath: string;
  sopInstanceUid: string;
  sopClassUid: string;
  seriesInstanceUid: string | undefined;
  /** Kept for messages only: slices are ordered by position, never by InstanceNumber. */
  instanceNumber: number | undefined;
  transferSyntaxUid: string;
  /** True when the pixel data went through lossy compression, now or earlier (LossyImageCompression 01). */
  lossyCompression: boolean;
  rows: number;
  columns: number;
  bitsStored: number;
  pixelRepresentation: number;
  /** PixelPaddingValue as a stored value, sign-corrected for PixelRepresentation 1. */
  pixelPaddingValue: number | undefined;
  /** PixelPaddingRangeLimit as a stored value: with PixelPaddingValue it bounds a range of padding values. */
  pixelPaddingRangeLimit: number | undefined;
  /** Rows x Columns stored values, row by row, masked to BitsStored and sign-extended. */
  storedValues: StoredValues;
}

/**
 * Reads every frame of a CT Part 10 file as a slice. Throws VolumeError with a stable code for a file
 * that cannot be read, is not a CT image, uses a transfer syntax that cannot be decoded, or lacks the
 * attributes that geometry needs.
 */
export async function readCtSlices(filePath: string): Promise<CtSlice[]> {
  const bytes = await readBytes(filePath);
  const { transferSyntaxUid, dataset } = parseFile(bytes, filePath);
  const syntax = lookupTransferSyntax(transferSyntaxUid, filePath);

  const sopClassUid = requireText(dataset, 'SOPClassUID', filePath);
  checkSupportedImage(dataset, sopClassUid, filePath);
  const multiFrame = MULTI_FRAME_SOP_CLASSES.has(sopClassUid);
  const frameCount = optionalNumber(dataset, 'NumberOfFrames', filePath) ?? 1;
  if (!Number.isInteger(frameCount) || frameCount < 1 || (!multiFrame && frameCount !== 1)) {
    throw new VolumeError('unsupported_pixel_format', `The image has NumberOfFrames ${frameCount}; a CT Image Storage instance has one frame.`, {
      filePath,
    });
  }

  const rows = requireNumber(dataset, 'Rows', filePath);
  const columns = requireNumber(dataset, 'Columns', filePath);
  const format = readPixelFormat(dataset, filePath);
  const frames = readFrameAttributes(dataset, frameCount, multiFrame, filePath);
  const pixels = await decodeFrames(dataset, syntax, { rows, columns, format, frameCount }, filePath);

  const pixelRepresentation = format.pixelRepresentation;
  const common = {
    filePath,
    sopInstanceUid: requireText(dataset, 'SOPInstanceUID', filePath),
    sopClassUid,
    seriesInstanceUid: optionalText(dataset, 'SeriesInstanceUID'),
    instanceNumber: optionalNumber(dataset, 'InstanceNumber', filePath),
    transferSyntaxUid,
    lossyCompression: syntax.lossy || optionalText(dataset, 'LossyImageCompression') === '01',
    rows,
    columns,
    bitsStored: format.bitsStored,
    pixelRepresentation,
    pixelPaddingValue: readPaddingValue(dataset, 'PixelPaddingValue', pixelRepresentation, filePath),
    pixelPaddingRangeLimit: readPaddingValue(dataset, 'PixelPaddingRangeLimit', pixelRepresentation, filePath),
  };
  return frames.map((frame, index) => ({ ...common, ...frame, storedValues: pixels[index]! }));
}

/** Reads a single-frame CT image. A multi-frame file is rejected here; read it with readCtSlices. */
export async function readCtSlice(filePath: string): Promise<CtSlice> {
  const slices = await readCtSlices(filePath);
  if (slices.length !== 1) {
    throw new VolumeError('unsupported_pixel_format', `The image has ${slices.length} frames, but one was expected.`, { filePath });
  }
  return slices[0]!;
}

async function readBytes(filePath: string): Promise<Uint8Array> {
  try {
    return await readFile(filePath);
  } catch (error) {
    // A missing file stays missing. Other I/O errors, such as a shared store that is briefly unreachable, may pass.
    const errorCode = (error as NodeJS.ErrnoException).code;
    throw new VolumeError('file_read_failed', `The image file could not be read (${errorCode ?? 'unknown error'}).`, {
      filePath,
      retryable: errorCode !== 'ENOENT',
      cause: error,
    });
  }
}

function parseFile(bytes: Uint8Array, filePath: string): ReturnType<typeof parsePart10> {
  try {
    return parsePart10(bytes);
  } catch (error) {
    if (error instanceof DicomParseError && /DICM/.test(error.message)) {
      throw new VolumeError('not_part10_file', `The file is not a DICOM Part 10 file: ${error.message}.`, { filePath, cause: error });
    }
    if (error instanceof DicomParseError || error instanceof DicomTruncatedError) {
      throw new VolumeError(
        'unreadable_dataset',
        `The DICOM dataset could not be parsed (${error.message}). The file may be truncated or corrupt, so ask the PACS to resend the instance.`,
        { filePath, cause: error },
      );
    }
    throw error;
  }
}

function checkSupportedImage(dataset: DicomDataset, sopClassUid: string, filePath: string): void {
  if (!CT_IMAGE_SOP_CLASSES.has(sopClassUid)) {
    throw new VolumeError(
      'unsupported_sop_class',
      `The instance is of SOP class ${sopClassUid}, not CT Image Storage, Enhanced CT Image Storage or Legacy ` +
        'Converted Enhanced CT Image Storage.',
      { filePath },
    );
  }
  if (hasAttribute(dataset, 'FloatPixelData') || hasAttribute(dataset, 'DoubleFloatPixelData')) {
    throw new VolumeError('unsupported_pixel_format', 'The image has float pixel data, which a CT image cannot have.', { filePath });
  }
  const samplesPerPixel = requireNumber(dataset, 'SamplesPerPixel', filePath);
  const photometric = requireText(dataset, 'PhotometricInterpretation', filePath);
  if (samplesPerPixel !== 1 || !photometric.startsWith('MONOCHROME')) {
    throw new VolumeError(
      'unsupported_pixel_format',
      `The image has ${samplesPerPixel} sample(s) per pixel and photometric interpretation ${photometric}; only ` +
        'MONOCHROME1 or MONOCHROME2 images with one sample per pixel are supported.',
      { filePath },
    );
  }
}

function readPixelFormat(dataset: DicomDataset, filePath: string): PixelFormat & { photometricInterpretation: string } {
  const format = {
    bitsAllocated: requireNumber(dataset, 'BitsAllocated', filePath),
    bitsStored: requireNumber(dataset, 'BitsStored', filePath),
    highBit: requireNumber(dataset, 'HighBit', filePath),
    pixelRepresentation: requireNumber(dataset, 'PixelRepresentation', filePath),
    photometricInterpretation: requireText(dataset, 'PhotometricInterpretation', filePath),
  };
  const problem = findPixelFormatProblem(format);
  if (problem !== undefined) throw new VolumeError('unsupported_pixel_format', problem, { filePath });
  return format;
}

interface FrameLayout {
  rows: number;
  columns: number;
  format: PixelFormat & { photometricInterpretation: string };
  frameCount: number;
}

/** Returns the stored values of each frame, decoding compressed frames one after another. */
async function decodeFrames(dataset: DicomDataset, syntax: TransferSyntaxInfo, layout: FrameLayout, filePath: string): Promise<StoredValues[]> {
  const element = dataset.elements.get(ATTRIBUTES.PixelData[0]);
  if (element === undefined) throw missingPixelData(dataset, filePath);
  const pixelCount = layout.rows * layout.columns;
  const frameBytes = pixelCount * 2;

  if (syntax.encoding === 'native') {
    if (element.encapsulated !== undefined) {
      throw new VolumeError('invalid_pixel_data', `The pixel data is encapsulated, but ${syntax.name} stores it native.`, { filePath });
    }
    const needed = frameBytes * layout.frameCount;
    if (element.value.byteLength < needed) {
      throw new VolumeError(
        'pixel_data_truncated',
        `The pixel data has ${element.value.byteLength} bytes, but ${layout.frameCount} frame(s) of ${layout.rows} x ` +
          `${layout.columns} pixels of 16 bits need ${needed}.`,
        { filePath },
      );
    }
    return Array.from({ length: layout.frameCount }, (_, index) => {
      const bytes = element.value.subarray(index * frameBytes, (index + 1) * frameBytes);
      if (syntax.bigEndian) swapWordBytes(bytes);
      return toStoredValues(bytes, pixelCount, layout.format);
    });
  }

  if (element.encapsulated === undefined) {
    throw new VolumeError('invalid_pixel_data', `The pixel data is not encapsulated, but ${syntax.name} requires it.`, { filePath });
  }
  const extendedOffsets = hasAttribute(dataset, 'ExtendedOffsetTable') ? readExtendedOffsets(dataset) : undefined;
  const encoded = splitFrames(element.encapsulated, layout.frameCount, syntax.encoding, filePath, extendedOffsets);
  const values: StoredValues[] = [];
  for (const frame of encoded) {
    const words = await decodeCompressedFrame(frame, syntax.encoding, { ...layout.format, rows: layout.rows, columns: layout.columns }, filePath);
    values.push(toStoredValues(words, pixelCount, layout.format));
  }
  return values;
}

/**
 * Explains a missing PixelData. Elscint (later Philips) CT scanners could store the image compressed
 * in the private element (07A1,100A) and name the method in (07A1,1011), such as PMSCT_RLE1, while the
 * transfer syntax claims uncompressed data.
 */
function missingPixelData(dataset: DicomDataset, filePath: string): VolumeError {
  const privateCompression = dataset.text(ELSCINT_COMPRESSION_TAG);
  if (privateCompression !== undefined) {
    return new VolumeError(
      'private_compression',
      `The pixel data is compressed with the private method ${privateCompression} (Elscint) instead of a DICOM ` +
        'transfer syntax, so it cannot be decoded. Ask for the series to be exported uncompressed from the scanner or PACS.',
      { filePath },
    );
  }
  return new VolumeError('missing_attribute', 'The image has no PixelData.', { filePath });
}

/** Reads the Extended Offset Table (7FE0,0001), 64-bit unsigned offsets (VR OV). */
function readExtendedOffsets(dataset: DicomDataset): number[] {
  const value = dataset.elements.get(ATTRIBUTES.ExtendedOffsetTable[0])!.value;
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const offsets: number[] = [];
  for (let offset = 0; offset + 8 <= value.byteLength; offset += 8) offsets.push(Number(view.getBigUint64(offset, dataset.littleEndian)));
  return offsets;
}

/**
 * PixelPaddingValue and PixelPaddingRangeLimit have VR US or SS depending on PixelRepresentation. In
 * Implicit VR, or when a writer used US for signed data, a negative value arrives as its unsigned twin.
 */
function readPaddingValue(
  dataset: DicomDataset,
  keyword: 'PixelPaddingValue' | 'PixelPaddingRangeLimit',
  pixelRepresentation: number,
  filePath: string,
): number | undefined {
  const value = optionalNumber(dataset, keyword, filePath);
  if (value === undefined) return undefined;
  return pixelRepresentation === 1 && value > 0x7fff ? value - 0x10000 : value;
}
