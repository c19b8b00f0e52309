/**
 * The attributes that volume assembly reads, by keyword, with their tags and VRs from PS3.6, and typed
 * access that raises a coded VolumeError naming the attribute. The VR matters in Implicit VR files,
 * where the file does not say how a value is stored.
 */
import type { DicomDataset } from './dicom-parser.ts';
import { VolumeError } from './volume-error.ts';

type NumericVr = 'US' | 'SS' | 'DS' | 'IS' | 'FD';
type TextVr = 'CS' | 'LO' | 'SH' | 'UI' | 'TM' | 'DT';
type BulkVr = 'OB' | 'OW' | 'OF' | 'OD' | 'OV';

export const ATTRIBUTES = {
  ImageType: [0x00080008, 'CS'],
  SOPClassUID: [0x00080016, 'UI'],
  SOPInstanceUID: [0x00080018, 'UI'],
  AcquisitionTime: [0x00080032, 'TM'],
  Modality: [0x00080060, 'CS'],
  SeriesDescription: [0x0008103e, 'LO'],
  FrameType: [0x00089007, 'CS'],
  SliceThickness: [0x00180050, 'DS'],
  SpacingBetweenSlices: [0x00180088, 'DS'],
  GantryDetectorTilt: [0x00181120, 'DS'],
  ConvolutionKernel: [0x00181210, 'SH'],
  PatientPosition: [0x00185100, 'CS'],
  StudyInstanceUID: [0x0020000d, 'UI'],
  SeriesInstanceUID: [0x0020000e, 'UI'],
  AcquisitionNumber: [0x00200012, 'IS'],
  InstanceNumber: [0x00200013, 'IS'],
  ImagePositionPatient: [0x00200032, 'DS'],
  ImageOrientationPatient: [0x00200037, 'DS'],
  StackID: [0x00209056, 'SH'],
  InStackPositionNumber: [0x00209057, 'US'],
  TemporalPositionIndex: [0x00209128, 'US'],
  FrameAcquisitionNumber: [0x00209156, 'US'],
  SamplesPerPixel: [0x00280002, 'US'],
  PhotometricInterpretation: [0x00280004, 'CS'],
  NumberOfFrames: [0x00280008, 'IS'],
  Rows: [0x00280010, 'US'],
  Columns: [0x00280011, 'US'],
  PixelSpacing: [0x00280030, 'DS'],
  BitsAllocated: [0x00280100, 'US'],
  BitsStored: [0x00280101, 'US'],
  HighBit: [0x00280102, 'US'],
  PixelRepresentation: [0x00280103, 'US'],
  PixelPaddingValue: [0x00280120, 'US'],
  PixelPaddingRangeLimit: [0x00280121, 'US'],
  RescaleIntercept: [0x00281052, 'DS'],
  RescaleSlope: [0x00281053, 'DS'],
  LossyImageCompression: [0x00282110, 'CS'],
  ExtendedOffsetTable: [0x7fe00001, 'OV'],
  ExtendedOffsetTableLengths: [0x7fe00002, 'OV'],
  FloatPixelData: [0x7fe00008, 'OF'],
  DoubleFloatPixelData: [0x7fe00009, 'OD'],
  PixelData: [0x7fe00010, 'OW'],
} as const satisfies Record<string, readonly [number, NumericVr | TextVr | BulkVr]>;

export const SEQUENCES = {
  CTAcquisitionDetailsSequence: 0x00189304,
  CTReconstructionSequence: 0x00189314,
  CTImageFrameTypeSequence: 0x00189329,
  FrameContentSequence: 0x00209111,
  PlanePositionSequence: 0x00209113,
  PlaneOrientationSequence: 0x00209116,
  UnassignedSharedConvertedAttributesSequence: 0x00209170,
  UnassignedPerFrameConvertedAttributesSequence: 0x00209171,
  PixelMeasuresSequence: 0x00289110,
  PixelValueTransformationSequence: 0x00289145,
  SharedFunctionalGroupsSequence: 0x52009229,
  PerFrameFunctionalGroupsSequence: 0x52009230,
} as const;

export type Keyword = keyof typeof ATTRIBUTES;
export type SequenceKeyword = keyof typeof SEQUENCES;

function missing(keyword: string, filePath: string): VolumeError {
  return new VolumeError('missing_attribute', `The image has no ${keyword}, which is needed to build the volume.`, {
    filePath,
  });
}

function invalid(keyword: string, value: unknown, filePath: string): VolumeError {
  return new VolumeError('invalid_attribute', `The image has an invalid ${keyword}: ${JSON.stringify(value)}.`, {
    filePath,
  });
}

const NUMERIC_VRS: ReadonlySet<string> = new Set<NumericVr>(['US', 'SS', 'DS', 'IS', 'FD']);

/** Returns the VR to assume for `keyword` in Implicit VR. Text attributes read as numbers are decimal strings. */
function numericVr(keyword: Keyword): NumericVr {
  const vr: string = ATTRIBUTES[keyword][1];
  return NUMERIC_VRS.has(vr) ? (vr as NumericVr) : 'DS';
}

export function hasAttribute(dataset: DicomDataset, keyword: Keyword): boolean {
  return dataset.has(ATTRIBUTES[keyword][0]);
}

export function optionalText(dataset: DicomDataset, keyword: Keyword): string | undefined {
  return dataset.text(ATTRIBUTES[keyword][0]);
}

export function optionalTexts(dataset: DicomDataset, keyword: Keyword): string[] | undefined {
  return dataset.texts(ATTRIBUTES[keyword][0]);
}

export function requireText(dataset: DicomDataset, keyword: Keyword, filePath: string): string {
  const value = optionalText(dataset, keyword);
  if (value === undefined || value === '') throw missing(keyword, filePath);
  return value;
}

export function optionalNumber(dataset: DicomDataset, keyword: Keyword, filePath: string): number | undefined {
  const values = dataset.numbers(ATTRIBUTES[keyword][0], numericVr(keyword));
  if (values === undefined || values.length === 0) return undefined;
  const value = values[0]!;
  if (!Number.isFinite(value)) throw invalid(keyword, optionalTexts(dataset, keyword) ?? values, filePath);
  return value;
}

export function requireNumber(dataset: DicomDataset, keyword: Keyword, filePath: string): number {
  const value = optionalNumber(dataset, keyword, filePath);
  if (value === undefined) throw missing(keyword, filePath);
  return value;
}

/** Reads a multi-valued numeric attribute that must have exactly `count` values. */
export function requireNumbers(dataset: DicomDataset, keyword: Keyword, count: number, filePath: string): number[] {
  const values = dataset.numbers(ATTRIBUTES[keyword][0], numericVr(keyword));
  if (values === undefined) throw missing(keyword, filePath);
  if (values.length !== count || values.some((value) => !Number.isFinite(value))) {
    throw invalid(keyword, optionalTexts(dataset, keyword) ?? values, filePath);
  }
  return values;
}

/** Returns the first item of a sequence, or undefined. */
export function sequenceItem(dataset: DicomDataset | undefined, keyword: SequenceKeyword): DicomDataset | undefined {
  return dataset?.item(SEQUENCES[keyword]);
}

export function sequenceItems(dataset: DicomDataset, keyword: SequenceKeyword): DicomDataset[] {
  return dataset.sequence(SEQUENCES[keyword]);
}
