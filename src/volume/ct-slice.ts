/**
 * Reading one CT Image Storage Part 10 file into a CtSlice: the header attributes that volume assembly
 * needs plus the stored pixel values. Rescale is not applied here, so that assembly applies each
 * slice's own RescaleSlope and RescaleIntercept and can report them.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

import type { Vector3 } from './ct-volume.ts';
import {
  optionalNumber,
  optionalString,
  requireNumber,
  requireNumbers,
  requireString,
  type NaturalizedDataset,
} from './dataset-fields.ts';
import { decodeStoredValues, findPixelFormatProblem } from './pixel-values.ts';
import { describeTransferSyntax, readTransferSyntaxUid, SUPPORTED_TRANSFER_SYNTAXES } from './transfer-syntax.ts';
import { VolumeError } from './volume-error.ts';

export const CT_IMAGE_STORAGE_UID = '1.2.840.10008.5.1.4.1.1.2';

export interface CtSlice {
  filePath: string;
  sopInstanceUid: string;
  seriesInstanceUid: string | undefined;
  /** Kept for messages only: slices are ordered by position, never by InstanceNumber. */
  instanceNumber: number | undefined;
  transferSyntaxUid: string;
  rows: number;
  columns: number;
  /** PixelSpacing in mm: the distance between adjacent rows, then between adjacent columns. */
  pixelSpacing: [number, number];
  /** Row direction cosines followed by column direction cosines, in LPS. */
  imageOrientationPatient: [number, number, number, number, number, number];
  /** LPS position in mm of the centre of the first transmitted pixel. */
  imagePositionPatient: Vector3;
  sliceThickness: number | undefined;
  gantryDetectorTilt: number | undefined;
  rescaleSlope: number;
  rescaleIntercept: number;
  bitsStored: number;
  pixelRepresentation: number;
  /** PixelPaddingValue as a stored value, sign-corrected for PixelRepresentation 1. */
  pixelPaddingValue: number | undefined;
  /** Rows x Columns stored values, row by row, masked to BitsStored and sign-extended. */
  storedValues: Int32Array;
}

interface DcmjsModule {
  data: {
    DicomMessage: {
      readFile(buffer: ArrayBuffer, options: Record<string, unknown>): { dict: Record<string, unknown> };
    };
    DicomMetaDictionary: { naturalizeDataset(dict: Record<string, unknown>): NaturalizedDataset };
  };
}

// dcmjs 0.50.3 ships no TypeScript declarations, so it is loaded untyped and narrowed to the two calls used.
const dcmjs = createRequire(import.meta.url)('dcmjs') as DcmjsModule;

/**
 * Reads a CT slice from a Part 10 file in Implicit or Explicit VR Little Endian. Throws VolumeError
 * with code `unsupported_transfer_syntax` for any other syntax, and other codes for files that are not
 * single-frame monochrome CT Image Storage instances or lack the attributes needed for geometry.
 */
export async function readCtSlice(filePath: string): Promise<CtSlice> {
  const bytes = await readBytes(filePath);

  const transferSyntaxUid = readTransferSyntaxUid(bytes, filePath);
  if (!SUPPORTED_TRANSFER_SYNTAXES.has(transferSyntaxUid)) {
    throw new VolumeError(
      'unsupported_transfer_syntax',
      `The image uses the transfer syntax ${describeTransferSyntax(transferSyntaxUid)}, which cannot be ` +
        'decoded yet. Only uncompressed Implicit and Explicit VR Little Endian images are supported; ' +
        'ask for the series to be sent in Explicit VR Little Endian.',
      { filePath },
    );
  }

  const dataset = parseDataset(bytes, filePath);
  checkSupportedImage(dataset, filePath);
  return buildSlice(dataset, transferSyntaxUid, filePath);
}

async function readBytes(filePath: string): Promise<Uint8Array> {
  try {
    return await readFile(filePath);
  } catch (error) {
    // A missing file stays missing. Other I/O errors, such as a shared store that is briefly unreachable, may pass.
    const errorCode = (error as NodeJS.ErrnoException).code;
    const missingFile = errorCode === 'ENOENT';
    throw new VolumeError('file_read_failed', `The image file could not be read (${errorCode ?? 'unknown error'}).`, {
      filePath,
      retryable: !missingFile,
      cause: error,
    });
  }
}

function parseDataset(bytes: Uint8Array, filePath: string): NaturalizedDataset {
  // dcmjs needs an ArrayBuffer of exactly the file, but a Node Buffer may be a view into a larger pool.
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  try {
    const parsed = dcmjs.data.DicomMessage.readFile(buffer, {
      ignoreErrors: false,
      untilTag: null,
      includeUntilTagValue: false,
      noCopy: false,
      forceStoreRaw: false,
    });
    return dcmjs.data.DicomMetaDictionary.naturalizeDataset(parsed.dict);
  } catch (error) {
    const message =
      'The DICOM dataset could not be parsed. The file may be truncated or corrupt, ' +
      'so ask the PACS to resend the instance.';
    throw new VolumeError('unreadable_dataset', message, {
      filePath,
      cause: error,
    });
  }
}

function checkSupportedImage(dataset: NaturalizedDataset, filePath: string): void {
  const sopClassUid = requireString(dataset, 'SOPClassUID', filePath);
  if (sopClassUid !== CT_IMAGE_STORAGE_UID) {
    throw new VolumeError(
      'unsupported_sop_class',
      `The image is of SOP class ${sopClassUid}, not CT Image Storage (${CT_IMAGE_STORAGE_UID}).`,
      { filePath },
    );
  }

  const frames = optionalNumber(dataset, 'NumberOfFrames', filePath) ?? 1;
  const samplesPerPixel = requireNumber(dataset, 'SamplesPerPixel', filePath);
  const photometric = requireString(dataset, 'PhotometricInterpretation', filePath);
  if (frames !== 1 || samplesPerPixel !== 1 || !photometric.startsWith('MONOCHROME')) {
    throw new VolumeError(
      'unsupported_pixel_format',
      `The image has ${frames} frame(s), ${samplesPerPixel} sample(s) per pixel and photometric ` +
        `interpretation ${photometric}; only single-frame MONOCHROME1 or MONOCHROME2 images are supported.`,
      { filePath },
    );
  }
}

function buildSlice(dataset: NaturalizedDataset, transferSyntaxUid: string, filePath: string): CtSlice {
  const rows = requireNumber(dataset, 'Rows', filePath);
  const columns = requireNumber(dataset, 'Columns', filePath);
  const format = {
    bitsAllocated: requireNumber(dataset, 'BitsAllocated', filePath),
    bitsStored: requireNumber(dataset, 'BitsStored', filePath),
    highBit: requireNumber(dataset, 'HighBit', filePath),
    pixelRepresentation: requireNumber(dataset, 'PixelRepresentation', filePath),
  };
  const formatProblem = findPixelFormatProblem(format);
  if (formatProblem !== undefined) {
    throw new VolumeError('unsupported_pixel_format', formatProblem, { filePath });
  }

  const pixelBytes = pixelDataBytes(dataset, filePath);
  const pixelCount = rows * columns;
  if (pixelBytes.byteLength < pixelCount * 2) {
    throw new VolumeError(
      'pixel_data_truncated',
      `The pixel data has ${pixelBytes.byteLength} bytes, but ${rows} x ${columns} pixels of 16 bits ` +
        `need ${pixelCount * 2}.`,
      { filePath },
    );
  }

  const [rowSpacing, columnSpacing] = requireNumbers(dataset, 'PixelSpacing', 2, filePath) as [number, number];
  const orientation = requireNumbers(dataset, 'ImageOrientationPatient', 6, filePath);
  const position = requireNumbers(dataset, 'ImagePositionPatient', 3, filePath);

  return {
    filePath,
    sopInstanceUid: requireString(dataset, 'SOPInstanceUID', filePath),
    seriesInstanceUid: optionalString(dataset, 'SeriesInstanceUID'),
    instanceNumber: optionalNumber(dataset, 'InstanceNumber', filePath),
    transferSyntaxUid,
    rows,
    columns,
    pixelSpacing: [rowSpacing, columnSpacing],
    imageOrientationPatient: orientation as CtSlice['imageOrientationPatient'],
    imagePositionPatient: position as Vector3,
    sliceThickness: optionalNumber(dataset, 'SliceThickness', filePath),
    gantryDetectorTilt: optionalNumber(dataset, 'GantryDetectorTilt', filePath),
    rescaleSlope: requireNumber(dataset, 'RescaleSlope', filePath),
    rescaleIntercept: requireNumber(dataset, 'RescaleIntercept', filePath),
    bitsStored: format.bitsStored,
    pixelRepresentation: format.pixelRepresentation,
    pixelPaddingValue: readPixelPaddingValue(dataset, format.pixelRepresentation, filePath),
    storedValues: decodeStoredValues(pixelBytes, pixelCount, format),
  };
}

function pixelDataBytes(dataset: NaturalizedDataset, filePath: string): Uint8Array {
  const value = dataset['PixelData'];
  const first = Array.isArray(value) ? value[0] : value;
  if (first instanceof ArrayBuffer) return new Uint8Array(first);
  if (ArrayBuffer.isView(first)) return new Uint8Array(first.buffer, first.byteOffset, first.byteLength);
  throw new VolumeError('missing_attribute', 'The image has no PixelData.', { filePath });
}

/**
 * PixelPaddingValue has VR US or SS depending on PixelRepresentation. In Implicit VR files dcmjs cannot
 * tell and reads it as US, so a negative padding value of a signed image arrives as its unsigned twin.
 */
function readPixelPaddingValue(
  dataset: NaturalizedDataset,
  pixelRepresentation: number,
  filePath: string,
): number | undefined {
  const value = optionalNumber(dataset, 'PixelPaddingValue', filePath);
  if (value === undefined) return undefined;
  return pixelRepresentation === 1 && value > 0x7fff ? value - 0x10000 : value;
}
