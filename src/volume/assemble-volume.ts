/**
 * Assembly of one series of CT slices into a CtVolume in Hounsfield units. The order of the input is
 * ignored: slices are sorted by their position along the slice normal, because file order and
 * InstanceNumber are not reliable. Any geometry that does not form a regular grid is rejected with a
 * coded VolumeError instead of being resampled or patched.
 */
import type { CtSlice } from './ct-slice.ts';
import type { CtVolume, Vector3 } from './ct-volume.ts';
import {
  CheckRecorder,
  checkCollinearPositions,
  checkSingleOrientation,
  checkUniformSpacing,
  checkUniquePositions,
  describeSlice,
  formatMm,
  sortByPosition,
  type PositionedSlice,
} from './slice-geometry.ts';
import { norm, normalize } from './vector.ts';
import type { VolumeCheck } from './volume-check.ts';

/** A volume needs at least two slices to have a slice spacing. */
const MIN_SLICES_FOR_SPACING = 2;

export interface AssemblyOptions {
  /** Minimum number of slices, below which `too_few_slices` is raised. Values below 2 act as 2. */
  minSlices: number;
  /** Maximum angle in degrees between the row or column direction of any slice and of the first slice. */
  orientationTolerance: number;
  /**
   * Maximum distance in mm by which geometry may disagree: a gap from the median gap, a slice position
   * from the line through the stack, and the image edge as placed by different PixelSpacing values.
   * Slices closer than this along the normal are at one position.
   */
  spacingTolerance: number;
}

export interface AssembledVolume {
  volume: CtVolume;
  /** The checks made, all passed. A failed check throws a VolumeError that carries the checks instead. */
  checks: VolumeCheck[];
}

/** Assembles slices of one series into a HU volume. Throws VolumeError when they do not form a regular grid. */
export function assembleVolume(slices: CtSlice[], options: AssemblyOptions): AssembledVolume {
  const recorder = new CheckRecorder();

  const unique = dropRepeatedInstances(slices, recorder);
  checkSliceCount(unique, options.minSlices, recorder);
  // Orientation goes first because slices of two acquisitions usually differ in it, the clearest message.
  checkSingleOrientation(unique, options.orientationTolerance, recorder);
  checkDimensions(unique, recorder);
  checkPixelSpacing(unique, options.spacingTolerance, recorder);

  const sorted = sortByPosition(unique);
  checkUniquePositions(sorted, options.spacingTolerance, recorder);
  checkUniformSpacing(sorted, options.spacingTolerance, recorder);
  const step = checkCollinearPositions(sorted, options.spacingTolerance, recorder);

  recordRescale(sorted, recorder);
  recordPixelPadding(sorted, recorder);
  return { volume: buildVolume(sorted, step), checks: recorder.checks };
}

/**
 * Keeps the first copy of each SOPInstanceUID: a PACS that resends an instance must not make it look
 * like two images at one position.
 */
function dropRepeatedInstances(slices: CtSlice[], recorder: CheckRecorder): CtSlice[] {
  const byUid = new Map<string, CtSlice>();
  for (const slice of slices) {
    if (!byUid.has(slice.sopInstanceUid)) byUid.set(slice.sopInstanceUid, slice);
  }
  const repeated = slices.length - byUid.size;
  recorder.pass({
    name: 'duplicate_instances',
    detail:
      repeated === 0
        ? 'Every SOPInstanceUID occurs once.'
        : `${repeated} repeated copies of an instance (same SOPInstanceUID) were ignored.`,
    measured: repeated,
    unit: 'slices',
  });
  return [...byUid.values()];
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

/** Summarises how many slices have each value of `key`, naming the slices of the rarer values. */
function describeGroups(slices: CtSlice[], key: (slice: CtSlice) => string): string {
  const groups = new Map<string, CtSlice[]>();
  for (const slice of slices) groups.set(key(slice), [...(groups.get(key(slice)) ?? []), slice]);
  const ordered = [...groups.entries()].sort((a, b) => b[1].length - a[1].length);
  return ordered
    .map(([value, members], index) => {
      const names = index === 0 ? '' : ` (${members.slice(0, 3).map(describeSlice).join(', ')})`;
      return `${members.length} slice(s) with ${value}${names}`;
    })
    .join(', ');
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
    detail:
      `All slices have PixelSpacing ${firstRow}\\${firstColumn} mm ` +
      `(image edges agree within ${formatMm(largestShift)}).`,
  });
}

function recordRescale(sorted: PositionedSlice[], recorder: CheckRecorder): void {
  const pairs = new Set(sorted.map(({ slice }) => `${slice.rescaleSlope}/${slice.rescaleIntercept}`));
  recorder.pass({
    name: 'rescale',
    detail: `RescaleSlope/RescaleIntercept applied per slice; values found: ${[...pairs].join(', ')}.`,
  });
}

// NOTE: padded pixels keep their rescaled value, far below air for padding values such as -1500 or
// -2000. No padding mask is built, so preprocessing has to clip them with its HU window.
function recordPixelPadding(sorted: PositionedSlice[], recorder: CheckRecorder): void {
  let padded = 0;
  const paddingValues = new Set<number>();
  for (const { slice } of sorted) {
    if (slice.pixelPaddingValue === undefined) continue;
    paddingValues.add(slice.pixelPaddingValue);
    for (const value of slice.storedValues) if (value === slice.pixelPaddingValue) padded++;
  }
  recorder.pass({
    name: 'pixel_padding',
    detail:
      paddingValues.size === 0
        ? 'No PixelPaddingValue is set.'
        : `${padded} voxels equal PixelPaddingValue ${[...paddingValues].join(', ')} and keep their rescaled value.`,
    measured: padded,
    unit: 'voxels',
  });
}

function buildVolume(sorted: PositionedSlice[], step: Vector3): CtVolume {
  const first = sorted[0]!.slice;
  const { rows, columns } = first;
  const sliceLength = rows * columns;
  const voxels = new Float32Array(sliceLength * sorted.length);

  sorted.forEach(({ slice }, k) => {
    const { rescaleSlope, rescaleIntercept, storedValues } = slice;
    const offset = k * sliceLength;
    for (let index = 0; index < sliceLength; index++) {
      voxels[offset + index] = storedValues[index]! * rescaleSlope + rescaleIntercept;
    }
  });

  const [rx, ry, rz, cx, cy, cz] = first.imageOrientationPatient;
  const [rowSpacing, columnSpacing] = first.pixelSpacing;
  return {
    voxels,
    dimensions: [columns, rows, sorted.length],
    // Along i (a row) neighbouring pixels are one column apart, hence PixelSpacing's second value.
    spacing: [columnSpacing, rowSpacing, norm(step)],
    origin: [...first.imagePositionPatient],
    direction: [normalize([rx, ry, rz]), normalize([cx, cy, cz]), normalize(step)],
  };
}
