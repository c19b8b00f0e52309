/**
 * The stack of slices in patient space: one orthonormal image frame for the series, every slice's
 * position along the slice normal and its in-plane offset from the first slice. Slices are ordered by
 * their position along the normal only. File order, InstanceNumber, SpacingBetweenSlices and Patient
 * Position play no part, so that every arrival order and numbering gives the same stack.
 *
 * The checks of the stack record a VolumeCheck each and throw a VolumeError whose message names the
 * slices, positions and sizes involved, so a radiographer can tell a missing slice from a mixed-up series.
 */
import type { Vector3 } from './ct-volume.ts';
import type { CtSlice } from './ct-slice.ts';
import { angleDegrees, cross, dot, norm, normalize, scale, sliceNormal, subtract } from './vector.ts';
import type { VolumeCheck } from './volume-check.ts';
import { VolumeError, type VolumeErrorCode } from './volume-error.ts';

export interface PositionedSlice {
  slice: CtSlice;
  /** Position in mm along the stack's normal: ImagePositionPatient projected onto it, as shown in messages. */
  position: number;
  /** Distance in mm along the normal from the first slice. */
  distance: number;
  /** Offset in mm of the slice's ImagePositionPatient from the first slice's, along the row direction. */
  rowOffset: number;
  /** The same along the column direction. Gantry tilt shows here, growing with position. */
  columnOffset: number;
}

export interface SliceStack {
  /** Slices in ascending position along `normal`. */
  slices: PositionedSlice[];
  /** ImagePositionPatient of the first slice. */
  origin: Vector3;
  /** Unit row direction (i), column direction (j) and normal (row x column), orthonormal. */
  row: Vector3;
  column: Vector3;
  normal: Vector3;
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
  const name = slice.instanceNumber === undefined ? `SOPInstanceUID ${slice.sopInstanceUid}` : `InstanceNumber ${slice.instanceNumber}`;
  return slice.frameNumber === undefined ? name : `frame ${slice.frameNumber} of ${name}`;
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

/** Orders slices by SOPInstanceUID and frame, a key that does not depend on arrival order. */
export function compareIdentity(a: CtSlice, b: CtSlice): number {
  if (a.sopInstanceUid !== b.sopInstanceUid) return a.sopInstanceUid < b.sopInstanceUid ? -1 : 1;
  return (a.frameNumber ?? 0) - (b.frameNumber ?? 0);
}

/** Returns the slice whose orientation defines the stack: the first by SOPInstanceUID and frame. */
export function referenceSlice(slices: CtSlice[]): CtSlice {
  return slices.reduce((best, slice) => (compareIdentity(slice, best) < 0 ? slice : best));
}

/** Returns the angle in degrees between the slice plane's normal and the patient's feet-head axis. */
export function planeTiltDegrees(slice: CtSlice): number {
  const angle = angleDegrees(sliceNormal(slice.imageOrientationPatient), [0, 0, 1]);
  return Math.min(angle, 180 - angle);
}

function orientationDifference(a: CtSlice, b: CtSlice): number {
  return Math.max(angleDegrees(rowDirection(a), rowDirection(b)), angleDegrees(columnDirection(a), columnDirection(b)));
}

/** Checks that every slice has the reference slice's ImageOrientationPatient within `toleranceDegrees`. */
export function checkSingleOrientation(slices: CtSlice[], toleranceDegrees: number, recorder: CheckRecorder): void {
  const reference = referenceSlice(slices);
  for (const slice of slices) {
    if (norm(sliceNormal(slice.imageOrientationPatient)) > 0) continue;
    recorder.fail(
      'invalid_attribute',
      `The ImageOrientationPatient of ${describeSlice(slice)} is invalid: its row and column directions are zero or parallel.`,
      { name: 'orientation' },
    );
  }

  let largest = 0;
  for (const slice of slices) largest = Math.max(largest, orientationDifference(reference, slice));
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

  const groups = new Map<string, CtSlice[]>();
  for (const slice of slices) {
    const key = slice.imageOrientationPatient.map((value) => value.toFixed(3)).join('\\');
    groups.set(key, [...(groups.get(key) ?? []), slice]);
  }
  const described = [...groups.values()].map((members) => {
    const tilt = planeTiltDegrees(members[0]!).toFixed(1);
    return `${members.length} slice(s) with ImageOrientationPatient ${members[0]!.imageOrientationPatient.join('\\')} (plane ${tilt}° from axial)`;
  });
  recorder.fail(
    'mixed_orientation',
    `The slices do not share one orientation: ${described.join(', ')}. The orientations differ by up to ` +
      `${largest.toFixed(1)}°, more than the ${toleranceDegrees}° allowed, so the series probably mixes ` +
      'different acquisitions.',
    { name: 'orientation', measured: largest, limit: toleranceDegrees, unit: 'degrees' },
  );
}

/**
 * Builds the stack: an orthonormal frame from the reference slice's orientation (the column direction
 * is made exactly perpendicular to the row direction), the slices sorted by position along its normal,
 * and each slice's in-plane offset from the first.
 */
export function buildStack(slices: CtSlice[]): SliceStack {
  const reference = referenceSlice(slices);
  const row = normalize(rowDirection(reference));
  const rawColumn = columnDirection(reference);
  const column = normalize(subtract(rawColumn, scale(row, dot(rawColumn, row))));
  const normal = normalize(cross(row, column));

  const sorted = [...slices].sort(
    (a, b) => dot(a.imagePositionPatient, normal) - dot(b.imagePositionPatient, normal) || compareIdentity(a, b),
  );
  const origin = sorted[0]!.imagePositionPatient;
  const start = dot(origin, normal);
  const positioned = sorted.map((slice) => {
    const offset = subtract(slice.imagePositionPatient, origin);
    const distance = dot(offset, normal);
    return { slice, position: start + distance, distance, rowOffset: dot(offset, row), columnOffset: dot(offset, column) };
  });
  return { slices: positioned, origin: [...origin], row, column, normal };
}

/** Summarises how many slices have each value of `key`, naming the slices of the rarer values. */
export function describeGroups(slices: CtSlice[], key: (slice: CtSlice) => string): string {
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
