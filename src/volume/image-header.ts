/**
 * Header-only reading of an image file, for series selection: the attributes that the selection rules
 * look at, per frame for multi-frame images, without decoding pixel data. Only the start of the file is
 * read; the length grows until the header up to PixelData has been seen.
 */
import { open } from 'node:fs/promises';

import { optionalNumber, optionalText, optionalTexts } from './attributes.ts';
import { CT_IMAGE_SOP_CLASSES, ENHANCED_CT_IMAGE_STORAGE_UID, LEGACY_CONVERTED_ENHANCED_CT_IMAGE_STORAGE_UID } from './ct-slice.ts';
import { DicomParseError, DicomTruncatedError, parsePart10, type Part10File } from './dicom-parser.ts';
import { readFrameAttributes, type FrameAttributes } from './frame-attributes.ts';
import { VolumeError } from './volume-error.ts';

/** Bytes read first: a single-frame CT header is a few kilobytes, so one read usually suffices. */
const FIRST_READ_BYTES = 64 * 1024;
/** Each further read is this many times larger, so that a multi-frame header of any size takes few reads. */
const READ_GROWTH = 8;

export interface ImageHeader {
  filePath: string;
  transferSyntaxUid: string;
  sopClassUid: string;
  sopInstanceUid: string;
  seriesInstanceUid: string | undefined;
  modality: string | undefined;
  seriesDescription: string | undefined;
  imageType: string[];
  rows: number | undefined;
  columns: number | undefined;
  numberOfFrames: number;
  /** Geometry and type of every frame, for CT images; undefined when an attribute is missing or invalid. */
  frames: FrameAttributes[] | undefined;
  /** Reason that `frames` is undefined: the message of the VolumeError raised. */
  geometryProblem: string | undefined;
}

/** Reads the header of a Part 10 file. Throws VolumeError when the file cannot be read or parsed. */
export async function readImageHeader(filePath: string): Promise<ImageHeader> {
  const { transferSyntaxUid, dataset } = await parseHeader(filePath);
  const sopClassUid = optionalText(dataset, 'SOPClassUID') ?? '';
  const multiFrame = sopClassUid === ENHANCED_CT_IMAGE_STORAGE_UID || sopClassUid === LEGACY_CONVERTED_ENHANCED_CT_IMAGE_STORAGE_UID;

  let numberOfFrames = 1;
  let frames: FrameAttributes[] | undefined;
  let geometryProblem: string | undefined;
  try {
    numberOfFrames = optionalNumber(dataset, 'NumberOfFrames', filePath) ?? 1;
    if (CT_IMAGE_SOP_CLASSES.has(sopClassUid)) frames = readFrameAttributes(dataset, numberOfFrames, multiFrame, filePath);
  } catch (error) {
    if (!(error instanceof VolumeError)) throw error;
    geometryProblem = error.message;
  }

  return {
    filePath,
    transferSyntaxUid,
    sopClassUid,
    sopInstanceUid: optionalText(dataset, 'SOPInstanceUID') ?? '',
    seriesInstanceUid: optionalText(dataset, 'SeriesInstanceUID'),
    modality: optionalText(dataset, 'Modality'),
    seriesDescription: optionalText(dataset, 'SeriesDescription'),
    imageType: optionalTexts(dataset, 'ImageType') ?? [],
    rows: optionalNumber(dataset, 'Rows', filePath),
    columns: optionalNumber(dataset, 'Columns', filePath),
    numberOfFrames,
    frames,
    geometryProblem,
  };
}

async function parseHeader(filePath: string): Promise<Part10File> {
  let handle;
  try {
    handle = await open(filePath, 'r');
  } catch (error) {
    const errorCode = (error as NodeJS.ErrnoException).code;
    throw new VolumeError('file_read_failed', `The image file could not be read (${errorCode ?? 'unknown error'}).`, {
      filePath,
      retryable: errorCode !== 'ENOENT',
      cause: error,
    });
  }
  try {
    const { size } = await handle.stat();
    for (let length = Math.min(FIRST_READ_BYTES, size); ; length = Math.min(length * READ_GROWTH, size)) {
      const bytes = new Uint8Array(length);
      const { bytesRead } = await handle.read(bytes, 0, length, 0);
      const complete = bytesRead >= size;
      try {
        const parsed = parsePart10(bytes.subarray(0, bytesRead), { stopAtPixelData: true });
        if (parsed.reachedPixelData || complete) return parsed;
      } catch (error) {
        if (!(error instanceof DicomTruncatedError) || complete) throw toVolumeError(error, filePath);
      }
    }
  } finally {
    await handle.close();
  }
}

function toVolumeError(error: unknown, filePath: string): unknown {
  if (error instanceof DicomParseError || error instanceof DicomTruncatedError) {
    return new VolumeError('unreadable_dataset', `The DICOM header could not be parsed (${error.message}).`, { filePath, cause: error });
  }
  return error;
}
