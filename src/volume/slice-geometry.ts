/**
 * Geometry checks over the slices of one series: a single orientation, slices ordered by their position
 * along the slice normal, one image per position, uniform gaps and positions on one straight line.
 * Each check records a VolumeCheck and throws a VolumeError whose message names the slices, positions
 * and sizes involved, so a radiographer can tell a missing slice from a mixed-up series.
 */
import type { Vector3 } from './ct-volume.ts';
import type { CtSlice } from './ct-slice.ts';
import { add, angleDegrees, dot, norm, scale, sliceNormal, subtract } from './vector.ts';
import type { VolumeCheck } from './volume-check.ts';
import { VolumeError, type VolumeErrorCode } from './volume-error.ts';

/** Maximum number of gaps listed in one message, to keep it readable. The count of the others follows. */
const MAX_LISTED_GAPS = 5;

/**
 * Stacks less than this far off their normal are reported as untilted, because ImagePositionPatient is
 * often rounded to 0.01 mm. That alone tilts the line through a 10 mm stack by up to 0.06°.
 */
const NO_TILT_DEGREES = 0.1;

export interface PositionedSlice {
  slice: CtSlice;
  /** Position in mm along the slice normal of the first slice. */
  position: number;
}

/** Records checks and raises the failed one together with every check made before it. */
export class CheckRecorder {
  readonly checks: VolumeCheck[] = [];

  pass(check: Omit<VolumeCheck, 'passed'>): void {
    this.checks.push({ ...check, passed: true });
  }

  fail(code: VolumeErrorCode, message: string, check: Omit<VolumeCheck, 'passed' | 'detail'>): never {
    this.checks.push({ ...check, passed: false, detail: message });
    throw new VolumeError(code, message, { checks: [...this.checks] });
  }
}

export function describeSlice(slice: CtSlice): string {
  return slice.instanceNumber === undefined
    ? `SOPInstanceUID ${slice.sopInstanceUid}`
    : `InstanceNumber ${slice.instanceNumber}`;
}

export function formatMm(value: number): string {
  return `${value.toFixed(2)} mm`;
}

function rowDirection(slice: CtSlice): Vector3 {
  const [x, y, z] = slice.imageOrientationPatient;
  return [x, y, z];
}

function columnDirection(slice: CtSlice): Vector3 {
  const [, , , x, y, z] = slice.imageOrientationPatient;
  return [x, y, z];
}

/** Returns the angle in degrees between the slice plane's normal and the patient's feet-head axis. */
export function planeTiltDegrees(slice: CtSlice): number {
  const angle = angleDegrees(sliceNormal(slice.imageOrientationPatient), [0, 0, 1]);
  return Math.min(angle, 180 - angle);
}

function orientationDifference(a: CtSlice, b: CtSlice): number {
  return Math.max(angleDegrees(rowDirection(a), rowDirection(b)), angleDegrees(columnDirection(a), columnDirection(b)));
}

/** Checks that every slice has the first slice's ImageOrientationPatient within `toleranceDegrees`. */
export function checkSingleOrientation(slices: CtSlice[], toleranceDegrees: number, recorder: CheckRecorder): void {
  const first = slices[0]!;
  if (norm(sliceNormal(first.imageOrientationPatient)) === 0) {
    recorder.fail(
      'invalid_attribute',
      `The ImageOrientationPatient of ${describeSlice(first)} is invalid: its row and column directions are ` +
        'zero or parallel.',
      { name: 'orientation' },
    );
  }

  let largest = 0;
  for (const slice of slices) largest = Math.max(largest, orientationDifference(first, slice));
  if (largest <= toleranceDegrees) {
    recorder.pass({
      name: 'orientation',
      detail: `All ${slices.length} slices share one orientation (largest difference ${largest.toFixed(2)}°).`,
      measured: largest,
      limit: toleranceDegrees,
      unit: 'degrees',
    });
    return;
  }

  // Group the slices by orientation so the message names the acquisitions that were mixed.
  const groups: { representative: CtSlice; count: number }[] = [];
  for (const slice of slices) {
    const group = groups.find(
      (candidate) => orientationDifference(candidate.representative, slice) <= toleranceDegrees,
    );
    if (group === undefined) groups.push({ representative: slice, count: 1 });
    else group.count++;
  }
  const described = groups.map(({ representative, count }) => {
    const cosines = representative.imageOrientationPatient.map((value) => Number(value.toFixed(3))).join('\\');
    const tilt = planeTiltDegrees(representative).toFixed(1);
    return `${count} slice(s) with ImageOrientationPatient ${cosines} (plane ${tilt}° from axial)`;
  });
  recorder.fail(
    'mixed_orientation',
    `The slices do not share one orientation: ${described.join(', ')}. The orientations differ by up to ` +
      `${largest.toFixed(1)}°, more than the ${toleranceDegrees}° allowed, so the series probably mixes ` +
      'different acquisitions.',
    { name: 'orientation', measured: largest, limit: toleranceDegrees, unit: 'degrees' },
  );
}

/** Returns the slices sorted by position along the normal of the first slice's orientation. */
export function sortByPosition(slices: CtSlice[]): PositionedSlice[] {
  const normal = sliceNormal(slices[0]!.imageOrientationPatient);
  return slices
    .map((slice) => ({ slice, position: dot(slice.imagePositionPatient, normal) }))
    .sort((a, b) => a.position - b.position);
}

/** Checks that no two different images lie at one position (closer than `toleranceMm`). */
export function checkUniquePositions(sorted: PositionedSlice[], toleranceMm: number, recorder: CheckRecorder): void {
  for (let index = 1; index < sorted.length; index++) {
    const previous = sorted[index - 1]!;
    const current = sorted[index]!;
    if (current.position - previous.position >= toleranceMm) continue;
    recorder.fail(
      'duplicate_position',
      `Two different images lie at the same position (${formatMm(previous.position)} along the slice ` +
        `normal): ${describeSlice(previous.slice)} and ${describeSlice(current.slice)}. The series may contain a ` +
        'repeated scan or a second reconstruction; send a series with one image per position.',
      { name: 'unique_positions', measured: current.position - previous.position, limit: toleranceMm, unit: 'mm' },
    );
  }
  recorder.pass({ name: 'unique_positions', detail: `All ${sorted.length} slices lie at different positions.` });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Returns a hint when a gap is a whole multiple of the expected gap, as it is when slices are missing. */
function describeMissingSlices(gap: number, expected: number, toleranceMm: number): string {
  const multiple = Math.round(gap / expected);
  if (multiple < 2 || Math.abs(gap - multiple * expected) > toleranceMm * multiple) return '';
  return multiple === 2 ? ' (one slice missing)' : ` (${multiple - 1} slices missing)`;
}

/**
 * Checks that every gap between neighbouring slices is within `toleranceMm` of the median gap and
 * returns that gap. Irregular gaps are rejected rather than resampled because the model expects a
 * regular grid and a silent fix would hide a missing slice.
 */
export function checkUniformSpacing(sorted: PositionedSlice[], toleranceMm: number, recorder: CheckRecorder): number {
  const gaps = sorted.slice(1).map((current, index) => current.position - sorted[index]!.position);
  const expected = median(gaps);

  const irregular: string[] = [];
  let largestDeviation = 0;
  gaps.forEach((gap, index) => {
    const deviation = Math.abs(gap - expected);
    largestDeviation = Math.max(largestDeviation, deviation);
    if (deviation <= toleranceMm) return;
    const below = sorted[index]!;
    const above = sorted[index + 1]!;
    const hint = describeMissingSlices(gap, expected, toleranceMm);
    irregular.push(
      `${formatMm(gap)} between ${describeSlice(below.slice)} at ${formatMm(below.position)} and ` +
        `${describeSlice(above.slice)} at ${formatMm(above.position)}${hint}`,
    );
  });

  if (irregular.length > 0) {
    const listed = irregular.slice(0, MAX_LISTED_GAPS).join('; ');
    const more = irregular.length > MAX_LISTED_GAPS ? `; and ${irregular.length - MAX_LISTED_GAPS} more` : '';
    recorder.fail(
      'non_uniform_spacing',
      `The slice spacing is not uniform: the median gap is ${formatMm(expected)}, but ${irregular.length} ` +
        `gap(s) differ by more than ${formatMm(toleranceMm)}: ${listed}${more}. Positions are measured ` +
        'along the slice normal.',
      { name: 'slice_spacing', measured: largestDeviation, limit: toleranceMm, unit: 'mm' },
    );
  }

  recorder.pass({
    name: 'slice_spacing',
    detail: `All ${gaps.length} gaps are ${formatMm(expected)} within ${formatMm(toleranceMm)}.`,
    measured: largestDeviation,
    limit: toleranceMm,
    unit: 'mm',
  });
  return expected;
}

/**
 * Returns the step from one slice's ImagePositionPatient to the next, after checking that every
 * position lies within `toleranceMm` of the straight line from the first to the last slice. The step
 * is not along the normal when the gantry was tilted, and that is why it defines the k axis.
 */
export function checkCollinearPositions(
  sorted: PositionedSlice[],
  toleranceMm: number,
  recorder: CheckRecorder,
): Vector3 {
  const first = sorted[0]!.slice.imagePositionPatient;
  const last = sorted[sorted.length - 1]!.slice.imagePositionPatient;
  const step = scale(subtract(last, first), 1 / (sorted.length - 1));

  let largest = 0;
  let worst = sorted[0]!;
  sorted.forEach((entry, index) => {
    const deviation = norm(subtract(entry.slice.imagePositionPatient, add(first, scale(step, index))));
    if (deviation > largest) {
      largest = deviation;
      worst = entry;
    }
  });

  if (largest > toleranceMm) {
    recorder.fail(
      'positions_not_collinear',
      `The slices are not stacked on one straight line: ${describeSlice(worst.slice)} is ${formatMm(largest)} ` +
        'away from the line through the first and last slice. The table or the field of view may have moved ' +
        'between slices.',
      { name: 'collinear_positions', measured: largest, limit: toleranceMm, unit: 'mm' },
    );
  }
  recorder.pass({
    name: 'collinear_positions',
    detail: `All slice positions lie within ${formatMm(largest)} of one straight line.`,
    measured: largest,
    limit: toleranceMm,
    unit: 'mm',
  });

  const tilt = angleDegrees(step, sliceNormal(sorted[0]!.slice.imageOrientationPatient));
  recorder.pass({
    name: 'gantry_tilt',
    detail:
      tilt < NO_TILT_DEGREES
        ? 'The slices are stacked along their normal (no gantry tilt).'
        : `The slices are stacked ${tilt.toFixed(2)}° off their normal (gantry tilt); the affine keeps the shear.`,
    measured: tilt,
    unit: 'degrees',
  });
  return step;
}
