/**
 * The per-frame attributes that volume assembly needs, for single-frame CT images from the top level of
 * the dataset, and for Enhanced CT and Legacy Converted Enhanced CT from their functional groups
 * (PS3.3 C.7.6.16). A per-frame group wins over the shared group. Legacy converters put attributes
 * without a functional group into the Unassigned Converted Attributes sequences, and some writers keep
 * them at the top level, so both are consulted last.
 */
import type { Vector3 } from './ct-volume.ts';
import {
  optionalNumber,
  optionalText,
  optionalTexts,
  requireNumber,
  requireNumbers,
  sequenceItem,
  sequenceItems,
  type Keyword,
  type SequenceKeyword,
} from './attributes.ts';
import type { DicomDataset } from './dicom-parser.ts';
import { VolumeError } from './volume-error.ts';

export interface FrameAttributes {
  /** 1-based frame number in a multi-frame instance; undefined for a single-frame image. */
  frameNumber: number | undefined;
  /** LPS position in mm of the centre of the first transmitted pixel. */
  imagePositionPatient: Vector3;
  /** Row direction cosines followed by column direction cosines, in LPS. */
  imageOrientationPatient: [number, number, number, number, number, number];
  /** PixelSpacing in mm: the distance between adjacent rows, then between adjacent columns. */
  pixelSpacing: [number, number];
  sliceThickness: number | undefined;
  rescaleSlope: number;
  rescaleIntercept: number;
  /** ImageType of a single-frame image, or the FrameType of a frame. */
  imageType: string[];
  /** AcquisitionNumber, or FrameAcquisitionNumber of a frame; distinguishes acquisitions at one position. */
  acquisitionNumber: number | undefined;
  /** TemporalPositionIndex of a frame, also used to tell acquisitions apart. */
  temporalPositionIndex: number | undefined;
  convolutionKernel: string | undefined;
  gantryDetectorTilt: number | undefined;
}

/** Reads the attributes of every frame, in frame order. */
export function readFrameAttributes(dataset: DicomDataset, frameCount: number, multiFrame: boolean, filePath: string): FrameAttributes[] {
  if (!multiFrame) return [readSingleFrame(dataset, filePath)];

  const shared = sequenceItem(dataset, 'SharedFunctionalGroupsSequence');
  const perFrame = sequenceItems(dataset, 'PerFrameFunctionalGroupsSequence');
  if (perFrame.length !== frameCount) {
    throw new VolumeError(
      'invalid_attribute',
      `The multi-frame image has ${perFrame.length} items in PerFrameFunctionalGroupsSequence, but NumberOfFrames is ${frameCount}.`,
      { filePath },
    );
  }
  const sharedUnassigned = sequenceItem(shared, 'UnassignedSharedConvertedAttributesSequence');
  return perFrame.map((frame, index) => readFunctionalGroups(dataset, frame, shared, sharedUnassigned, index + 1, filePath));
}

function readSingleFrame(dataset: DicomDataset, filePath: string): FrameAttributes {
  const [rowSpacing, columnSpacing] = requireNumbers(dataset, 'PixelSpacing', 2, filePath) as [number, number];
  return {
    frameNumber: undefined,
    imagePositionPatient: requireNumbers(dataset, 'ImagePositionPatient', 3, filePath) as Vector3,
    imageOrientationPatient: requireNumbers(dataset, 'ImageOrientationPatient', 6, filePath) as FrameAttributes['imageOrientationPatient'],
    pixelSpacing: [rowSpacing, columnSpacing],
    sliceThickness: optionalNumber(dataset, 'SliceThickness', filePath),
    rescaleSlope: requireNumber(dataset, 'RescaleSlope', filePath),
    rescaleIntercept: requireNumber(dataset, 'RescaleIntercept', filePath),
    imageType: optionalTexts(dataset, 'ImageType') ?? [],
    acquisitionNumber: optionalNumber(dataset, 'AcquisitionNumber', filePath),
    temporalPositionIndex: undefined,
    convolutionKernel: optionalTexts(dataset, 'ConvolutionKernel')?.join('\\'),
    gantryDetectorTilt: optionalNumber(dataset, 'GantryDetectorTilt', filePath),
  };
}

function readFunctionalGroups(
  dataset: DicomDataset,
  frame: DicomDataset,
  shared: DicomDataset | undefined,
  sharedUnassigned: DicomDataset | undefined,
  frameNumber: number,
  filePath: string,
): FrameAttributes {
  const group = (sequence: SequenceKeyword) => sequenceItem(frame, sequence) ?? sequenceItem(shared, sequence);
  const frameUnassigned = sequenceItem(frame, 'UnassignedPerFrameConvertedAttributesSequence');
  // The items where an attribute without a functional group may be found, in order of precedence.
  const fallbacks = [frameUnassigned, sharedUnassigned, dataset].filter((item): item is DicomDataset => item !== undefined);
  const where = `frame ${frameNumber}`;

  const measures = inGroup(group('PixelMeasuresSequence'), 'PixelSpacing', fallbacks, 'PixelMeasuresSequence', where, filePath);
  const [rowSpacing, columnSpacing] = requireNumbers(measures, 'PixelSpacing', 2, filePath) as [number, number];
  const position = inGroup(group('PlanePositionSequence'), 'ImagePositionPatient', fallbacks, 'PlanePositionSequence', where, filePath);
  const orientation = inGroup(group('PlaneOrientationSequence'), 'ImageOrientationPatient', fallbacks, 'PlaneOrientationSequence', where, filePath);
  const transformation = inGroup(group('PixelValueTransformationSequence'), 'RescaleSlope', fallbacks, 'PixelValueTransformationSequence', where, filePath);
  const content = group('FrameContentSequence');
  const frameType = group('CTImageFrameTypeSequence');
  const reconstruction = group('CTReconstructionSequence');
  const acquisition = group('CTAcquisitionDetailsSequence');

  return {
    frameNumber,
    imagePositionPatient: requireNumbers(position, 'ImagePositionPatient', 3, filePath) as Vector3,
    imageOrientationPatient: requireNumbers(orientation, 'ImageOrientationPatient', 6, filePath) as FrameAttributes['imageOrientationPatient'],
    pixelSpacing: [rowSpacing, columnSpacing],
    sliceThickness: firstNumber([measures, ...fallbacks], 'SliceThickness', filePath),
    rescaleSlope: requireNumber(transformation, 'RescaleSlope', filePath),
    rescaleIntercept: requireNumber(transformation, 'RescaleIntercept', filePath),
    imageType: (frameType && optionalTexts(frameType, 'FrameType')) ?? optionalTexts(dataset, 'ImageType') ?? [],
    acquisitionNumber:
      (content && optionalNumber(content, 'FrameAcquisitionNumber', filePath)) ?? firstNumber(fallbacks, 'AcquisitionNumber', filePath),
    temporalPositionIndex: content && optionalNumber(content, 'TemporalPositionIndex', filePath),
    convolutionKernel: firstText([reconstruction, ...fallbacks], 'ConvolutionKernel'),
    gantryDetectorTilt: firstNumber([acquisition, ...fallbacks], 'GantryDetectorTilt', filePath),
  };
}

/** Returns the functional group item if it has `keyword`, else the first fallback that has it; throws when none does. */
function inGroup(
  item: DicomDataset | undefined,
  keyword: Keyword,
  fallbacks: DicomDataset[],
  sequence: SequenceKeyword,
  where: string,
  filePath: string,
): DicomDataset {
  const found = [item, ...fallbacks].find((candidate) => candidate !== undefined && optionalText(candidate, keyword) !== undefined);
  if (found !== undefined) return found;
  throw new VolumeError(
    'missing_attribute',
    `The multi-frame image has no ${keyword} for ${where}: neither ${sequence} in its per-frame or shared functional groups nor a converted attribute contains it.`,
    { filePath },
  );
}

function firstNumber(items: (DicomDataset | undefined)[], keyword: Keyword, filePath: string): number | undefined {
  for (const item of items) {
    const value = item && optionalNumber(item, keyword, filePath);
    if (value !== undefined) return value;
  }
  return undefined;
}

function firstText(items: (DicomDataset | undefined)[], keyword: Keyword): string | undefined {
  for (const item of items) {
    const value = item && optionalTexts(item, keyword);
    if (value !== undefined) return value.join('\\');
  }
  return undefined;
}
