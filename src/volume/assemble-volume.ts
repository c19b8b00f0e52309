/**
 * Assembly of one series of CT slices into a CtVolume in Hounsfield units. The order of the input is
 * ignored: slices are sorted by their position along the slice normal. Localizers and repeated
 * instances are dropped with a note. Geometry that does not form a regular grid is rejected with a
 * coded VolumeError, or, where the configuration allows it (irregular gaps up to a limit, gantry tilt),
 * resampled onto a rectangular grid and recorded as such.
 */
import { planCanonicalGrid } from './canonical-orientation.ts';
import type { CtSlice } from './ct-slice.ts';
import type { CtVolume, VoxelArray } from './ct-volume.ts';
import { chooseVoxelType, countPadding, sliceRescale, type SliceRescale, type VoxelType } from './hounsfield.ts';
import { resolveRepeatedPositions, type RepeatedPositionPolicy } from './repeated-positions.ts';
import { buildStack, checkSingleOrientation, CheckRecorder, describeGroups, formatMm } from './slice-geometry.ts';
import {
  checkCollinearPositions,
  checkGantryTilt,
  checkSliceSpacing,
  type SpacingPolicy,
  type TiltPolicy,
} from './stack-spacing.ts';
import type { SliceGap, VolumeCheck } from './volume-check.ts';
import { writeResampled, writeSlices } from './volume-writer.ts';

/** A volume needs at least two slices to have a slice spacing. */
const MIN_SLICES_FOR_SPACING = 2;

export interface AssemblyOptions {
  /** Minimum number of slices, below which `too_few_slices` is raised. Values below 2 act as 2. */
  minSlices: number;
  /** Maximum angle in degrees between the row or column direction of any slice and of the reference slice. */
  orientationTolerance: number;
  /**
   * Maximum distance in mm by which geometry may disagree: a gap from the median gap, a slice position
   * from the line through the stack, an in-plane shift before it counts as gantry tilt, and the image
   * edge as placed by different PixelSpacing values. Slices closer than this along the normal are at one position.
   */
  spacingTolerance: number;
  /** `reject` (default) fails on irregular gaps; `resample` interpolates onto the median gap when no gap exceeds maxGapMm. */
  spacingPolicy?: SpacingPolicy;
  /** Largest gap in mm that `resample` bridges (default 10). */
  maxGapMm?: number;
  /** `correct` (default) resamples a tilted stack onto a rectangular grid; `reject` fails with `gantry_tilt`. */
  tiltPolicy?: TiltPolicy;
  /** `reject` (default) fails when different images share a position; `split` keeps the largest acquisition. */
  repeatedPositionPolicy?: RepeatedPositionPolicy;
  /** HU written for padding (PixelPaddingValue) and for voxels outside the field of view after resampling (default -1000). */
  airHu?: number;
}

/** An instance of the series that is not a CT image and was left out, with the reason. */
export interface SkippedInstance {
  filePath: string;
  sopInstanceUid?: string;
  reason: string;
}

export interface AssembledVolume {
  volume: CtVolume<VoxelArray>;
  /** The checks made, all passed; corrections carry an `action`. A failed check throws a VolumeError that carries the checks instead. */
  checks: VolumeCheck[];
  /** Irregular gaps accepted by the `resample` policy; empty for a regular series. */
  gaps: SliceGap[];
  /** The slices the volume was made from, in order along the slice normal. */
  slices: CtSlice[];
  voxelType: VoxelType;
}

const DEFAULT_MAX_GAP_MM = 10;
const DEFAULT_AIR_HU = -1000;

/** Assembles slices of one series into a HU volume. Throws VolumeError when they cannot form a correct volume. */
export function assembleVolume(slices: CtSlice[], options: AssemblyOptions, skipped: SkippedInstance[] = []): AssembledVolume {
  const airHu = options.airHu ?? DEFAULT_AIR_HU;
  const tolerance = options.spacingTolerance;
  const recorder = new CheckRecorder();

  recordSkipped(skipped, recorder);
  const images = dropRepeatedInstances(dropLocalizers(slices, recorder), recorder);
  checkSliceCount(images, options.minSlices, recorder);
  checkSingleOrientation(images, options.orientationTolerance, recorder);
  checkDimensions(images, recorder);
  checkPixelSpacing(images, tolerance, recorder);

  const kept = resolveRepeatedPositions(buildStack(images), options.repeatedPositionPolicy ?? 'reject', tolerance, recorder);
  if (kept.length !== images.length) checkSliceCount(kept, options.minSlices, recorder);
  const stack = buildStack(kept);
  const largestOffset = checkCollinearPositions(stack, tolerance, recorder);
  const grid = checkSliceSpacing(stack, options.spacingPolicy ?? 'reject', tolerance, options.maxGapMm ?? DEFAULT_MAX_GAP_MM, recorder);
  const correctTilt = checkGantryTilt(stack, largestOffset, options.tiltPolicy ?? 'correct', tolerance, recorder);

  const rescales = stack.slices.map(({ slice }) => sliceRescale(slice, airHu));
  recordRescale(stack.slices.map(({ slice }) => slice), recorder);
  recordPadding(stack.slices.map(({ slice }) => slice), rescales, airHu, recorder);
  recordLossyCompression(stack.slices.map(({ slice }) => slice), recorder);

  const first = stack.slices[0]!.slice;
  const canonical = planCanonicalGrid({
    dimensions: [first.columns, first.rows, grid.count],
    // Along i (a row) neighbouring pixels are one column apart, hence PixelSpacing's second value.
    spacing: [first.pixelSpacing[1], first.pixelSpacing[0], grid.spacing],
    direction: [stack.row, stack.column, stack.normal],
    origin: stack.origin,
  });
  recordCanonicalOrientation(canonical.reoriented, recorder);

  const resample = grid.resample || correctTilt;
  const voxelType: VoxelType = resample ? 'float32' : chooseVoxelType(kept, rescales);
  const voxels = resample
    ? writeResampled(stack, canonical, rescales, { count: grid.count, spacing: grid.spacing, correctTilt, airHu })
    : writeSlices(stack, canonical, rescales, voxelType);
  recorder.pass({ name: 'voxel_type', detail: describeVoxelType(voxelType, resample) });

  const { dimensions, spacing, origin, direction } = canonical;
  return {
    volume: { voxels, dimensions, spacing, origin, direction },
    checks: recorder.checks,
    gaps: grid.resample ? (recorder.checks.find((check) => check.name === 'slice_spacing')?.gaps ?? []) : [],
    slices: stack.slices.map(({ slice }) => slice),
    voxelType,
  };
}

function recordSkipped(skipped: SkippedInstance[], recorder: CheckRecorder): void {
  if (skipped.length === 0) return;
  const reasons = new Map<string, number>();
  for (const { reason } of skipped) reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  recorder.pass({
    name: 'skipped_instances',
    detail: `${skipped.length} instance(s) of the series are not CT images and were left out: ${[...reasons.entries()]
      .map(([reason, count]) => `${count} x ${reason}`)
      .join('; ')}.`,
    measured: skipped.length,
    unit: 'instances',
    action: 'dropped',
  });
}

/** Drops localizer images (ImageType or FrameType value LOCALIZER): they lie in another plane and are not slices of the volume. */
function dropLocalizers(slices: CtSlice[], recorder: CheckRecorder): CtSlice[] {
  const images = slices.filter((slice) => !slice.imageType.some((value) => value.toUpperCase() === 'LOCALIZER'));
  const dropped = slices.length - images.length;
  if (dropped > 0) {
    recorder.pass({
      name: 'localizers',
      detail: `${dropped} localizer image(s) (ImageType LOCALIZER) were dropped; they are not slices of the volume.`,
      measured: dropped,
      unit: 'slices',
      action: 'dropped',
    });
  }
  return images;
}

/**
 * Keeps the first copy of each SOPInstanceUID and frame: a PACS that resends an instance must not make
 * it look like two images at one position.
 */
function dropRepeatedInstances(slices: CtSlice[], recorder: CheckRecorder): CtSlice[] {
  const byIdentity = new Map<string, CtSlice>();
  for (const slice of slices) {
    const key = `${slice.sopInstanceUid}#${slice.frameNumber ?? 0}`;
    if (!byIdentity.has(key)) byIdentity.set(key, slice);
  }
  const repeated = slices.length - byIdentity.size;
  recorder.pass({
    name: 'duplicate_instances',
    detail:
      repeated === 0
        ? 'Every SOPInstanceUID (and frame) occurs once.'
        : `${repeated} repeated copies of an instance (same SOPInstanceUID) were ignored.`,
    measured: repeated,
    unit: 'slices',
    ...(repeated > 0 ? { action: 'deduplicated' as const } : {}),
  });
  return [...byIdentity.values()];
}

function checkSliceCount(slices: CtSlice[], minSlices: number, recorder: CheckRecorder): void {
  const required = Math.max(MIN_SLICES_FOR_SPACING, minSlices);
  const check = { name: 'slice_count', measured: slices.length, limit: required, unit: 'slices' } as const;
  if (slices.length < required) {
    recorder.fail(
      'too_few_slices',
      `The series has ${slices.length} slice(s), but at least ${required} are needed to build a volume.`,
      check,
    );
  }
  recorder.pass({ ...check, detail: `The series has ${slices.length} slices (at least ${required} needed).` });
}

function checkDimensions(slices: CtSlice[], recorder: CheckRecorder): void {
  const first = slices[0]!;
  if (slices.every((slice) => slice.rows === first.rows && slice.columns === first.columns)) {
    recorder.pass({ name: 'dimensions', detail: `All slices have ${first.rows} Rows and ${first.columns} Columns.` });
    return;
  }
  recorder.fail(
    'inconsistent_dimensions',
    `The slices differ in size: ${describeGroups(slices, (slice) => `${slice.rows} x ${slice.columns} pixels`)}.`,
    { name: 'dimensions' },
  );
}

/**
 * Compares PixelSpacing by its effect at the far edge of the image. A difference of 0.05 mm per pixel
 * looks small but moves the last of 512 columns by 25 mm, so the difference times (pixels - 1) must
 * stay within the tolerance.
 */
function checkPixelSpacing(slices: CtSlice[], toleranceMm: number, recorder: CheckRecorder): void {
  const first = slices[0]!;
  const [firstRow, firstColumn] = first.pixelSpacing;
  let largestDifference = 0;
  let largestShift = 0;
  for (const slice of slices) {
    const [row, column] = slice.pixelSpacing;
    const rowDifference = Math.abs(row - firstRow);
    const columnDifference = Math.abs(column - firstColumn);
    largestDifference = Math.max(largestDifference, rowDifference, columnDifference);
    largestShift = Math.max(largestShift, rowDifference * (first.rows - 1), columnDifference * (first.columns - 1));
  }

  const check = { name: 'pixel_spacing', measured: largestShift, limit: toleranceMm, unit: 'mm' } as const;
  if (largestShift > toleranceMm) {
    const spacing = (slice: CtSlice) => `PixelSpacing ${slice.pixelSpacing.join('\\')}`;
    recorder.fail(
      'inconsistent_pixel_spacing',
      `The slices differ in pixel spacing by up to ${largestDifference.toFixed(4)} mm, which moves the image ` +
        `edge by ${formatMm(largestShift)}: ${describeGroups(slices, spacing)}.`,
      check,
    );
  }
  recorder.pass({
    ...check,
    detail: `All slices have PixelSpacing ${firstRow}\\${firstColumn} mm (image edges agree within ${formatMm(largestShift)}).`,
  });
}

function recordRescale(slices: CtSlice[], recorder: CheckRecorder): void {
  const pairs = new Set(slices.map((slice) => `${slice.rescaleSlope}/${slice.rescaleIntercept}`));
  recorder.pass({
    name: 'rescale',
    detail: `RescaleSlope/RescaleIntercept applied per slice; values found: ${[...pairs].join(', ')}.`,
  });
}

function recordPadding(slices: CtSlice[], rescales: SliceRescale[], airHu: number, recorder: CheckRecorder): void {
  let padded = 0;
  const ranges = new Set<string>();
  slices.forEach((slice, index) => {
    const rescale = rescales[index]!;
    if (rescale.paddingLow > rescale.paddingHigh) return;
    ranges.add(rescale.paddingLow === rescale.paddingHigh ? `${rescale.paddingLow}` : `${rescale.paddingLow} to ${rescale.paddingHigh}`);
    padded += countPadding(slice.storedValues, rescale);
  });
  recorder.pass({
    name: 'pixel_padding',
    detail:
      ranges.size === 0
        ? 'No PixelPaddingValue is set.'
        : `${padded} voxels are padding (stored value ${[...ranges].join(', ')}) and were set to the air value ${airHu} HU.`,
    measured: padded,
    unit: 'voxels',
  });
}

function recordLossyCompression(slices: CtSlice[], recorder: CheckRecorder): void {
  const lossy = slices.filter((slice) => slice.lossyCompression).length;
  recorder.pass({
    name: 'lossy_compression',
    detail:
      lossy === 0
        ? 'No slice went through lossy compression.'
        : `${lossy} slice(s) went through lossy compression (transfer syntax or LossyImageCompression 01); their HU may differ from the scanner's.`,
    measured: lossy,
    unit: 'slices',
  });
}

function recordCanonicalOrientation(reoriented: boolean, recorder: CheckRecorder): void {
  recorder.pass({
    name: 'canonical_orientation',
    detail: reoriented
      ? 'The axes were permuted or flipped so that i, j and k point towards the patient\u2019s left, posterior and superior.'
      : 'The image axes already point towards the patient\u2019s left, posterior and superior.',
    ...(reoriented ? { action: 'reoriented' as const } : {}),
  });
}

function describeVoxelType(type: VoxelType, resampled: boolean): string {
  if (resampled) return 'Voxels are float32 because the volume was resampled.';
  const reasons: Record<VoxelType, string> = {
    int16: 'every HU value is an integer within the int16 range',
    int32: 'every HU value is an integer, but some lie outside the int16 range',
    float32: 'the rescale gives fractional HU values that float32 represents exactly',
    float64: 'the rescale gives HU values that only float64 represents exactly',
  };
  return `Voxels are ${type} because ${reasons[type]}.`;
}
