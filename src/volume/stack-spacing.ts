/**
 * The spacing and shear of a stack: positions on one straight line, uniform gaps along the normal, and
 * gantry tilt. Each deviation is either rejected or, where the policy allows, turned into a plan for
 * resampling onto a rectangular grid. Nothing is fixed silently: every gap is listed, and every
 * correction is recorded as a check with action `resampled`.
 */
import { describeSlice, formatMm, type CheckRecorder, type SliceStack } from './slice-geometry.ts';
import type { SliceGap } from './volume-check.ts';

export type SpacingPolicy = 'reject' | 'resample';
export type TiltPolicy = 'correct' | 'reject';

/** Maximum number of gaps listed in one message, to keep it readable. The count of the others follows. */
const MAX_LISTED_GAPS = 5;

/** The output grid along the normal: `count` slices `spacing` mm apart, starting at the first slice. */
export interface NormalGrid {
  count: number;
  spacing: number;
  /** True when slices must be interpolated because the input gaps are not uniform. */
  resample: boolean;
}

/**
 * Checks that every in-plane offset lies within `toleranceMm` of the straight line from the first to
 * the last slice, so that the slices form one stack (straight, or sheared by a constant gantry tilt).
 * Returns the largest in-plane offset of any slice.
 */
export function checkCollinearPositions(stack: SliceStack, toleranceMm: number, recorder: CheckRecorder): number {
  const slices = stack.slices;
  const last = slices.at(-1)!;
  let largestDeviation = 0;
  let largestOffset = 0;
  let worst = slices[0]!;
  for (const entry of slices) {
    const fraction = last.distance === 0 ? 0 : entry.distance / last.distance;
    const deviation = Math.hypot(entry.rowOffset - fraction * last.rowOffset, entry.columnOffset - fraction * last.columnOffset);
    largestOffset = Math.max(largestOffset, Math.hypot(entry.rowOffset, entry.columnOffset));
    if (deviation > largestDeviation) {
      largestDeviation = deviation;
      worst = entry;
    }
  }

  const check = { name: 'collinear_positions', measured: largestDeviation, limit: toleranceMm, unit: 'mm' } as const;
  if (largestDeviation > toleranceMm) {
    recorder.fail(
      'positions_not_collinear',
      `The slices are not stacked on one straight line: ${describeSlice(worst.slice)} is ${formatMm(largestDeviation)} ` +
        'away from the line through the first and last slice. The table or the field of view may have moved ' +
        'between slices.',
      check,
    );
  }
  recorder.pass({ ...check, detail: `All slice positions lie within ${formatMm(largestDeviation)} of one straight line.` });
  return largestOffset;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Returns the number of slices that fit into `gap` at `expected` spacing, or 0 when it is not a multiple. */
function countMissingSlices(gap: number, expected: number, toleranceMm: number): number {
  const multiple = Math.round(gap / expected);
  if (multiple < 2 || Math.abs(gap - multiple * expected) > toleranceMm * multiple) return 0;
  return multiple - 1;
}

/** Lists every gap that differs from the median gap by more than `toleranceMm`. */
export function findIrregularGaps(stack: SliceStack, toleranceMm: number): { expected: number; gaps: SliceGap[]; largestDeviation: number } {
  const slices = stack.slices;
  const steps = slices.slice(1).map((entry, index) => entry.distance - slices[index]!.distance);
  const expected = median(steps);
  const gaps: SliceGap[] = [];
  let largestDeviation = 0;
  steps.forEach((gap, index) => {
    const deviation = Math.abs(gap - expected);
    largestDeviation = Math.max(largestDeviation, deviation);
    if (deviation <= toleranceMm) return;
    const below = slices[index]!;
    const above = slices[index + 1]!;
    gaps.push({
      below: describeSlice(below.slice),
      above: describeSlice(above.slice),
      belowPositionMm: below.position,
      abovePositionMm: above.position,
      gapMm: gap,
      expectedMm: expected,
      missingSlices: countMissingSlices(gap, expected, toleranceMm),
    });
  });
  return { expected, gaps, largestDeviation };
}

function describeGap(gap: SliceGap): string {
  let missing = '';
  if (gap.missingSlices === 1) missing = ' (one slice missing)';
  else if (gap.missingSlices > 1) missing = ` (${gap.missingSlices} slices missing)`;
  return (
    `${formatMm(gap.gapMm)} between ${gap.below} at ${formatMm(gap.belowPositionMm)} and ${gap.above} at ` +
    `${formatMm(gap.abovePositionMm)}${missing}`
  );
}

/**
 * Checks that the gaps between neighbouring slices are uniform within `toleranceMm` and returns the
 * grid along the normal. Irregular gaps are rejected, or under the `resample` policy accepted when no
 * gap exceeds `maxGapMm`. The grid then keeps the median gap as spacing from the first slice onwards.
 */
export function checkSliceSpacing(
  stack: SliceStack,
  policy: SpacingPolicy,
  toleranceMm: number,
  maxGapMm: number,
  recorder: CheckRecorder,
): NormalGrid {
  const slices = stack.slices;
  const length = slices.at(-1)!.distance;
  const { expected, gaps, largestDeviation } = findIrregularGaps(stack, toleranceMm);
  const check = { name: 'slice_spacing', measured: largestDeviation, limit: toleranceMm, unit: 'mm', gaps } as const;

  if (gaps.length === 0) {
    // The mean step is more precise than the median when positions are rounded in the files.
    const spacing = length / (slices.length - 1);
    recorder.pass({ ...check, detail: `All ${slices.length - 1} gaps are ${formatMm(spacing)} within ${formatMm(toleranceMm)}.` });
    return { count: slices.length, spacing, resample: false };
  }

  const listed = gaps.slice(0, MAX_LISTED_GAPS).map(describeGap).join('; ');
  const more = gaps.length > MAX_LISTED_GAPS ? `; and ${gaps.length - MAX_LISTED_GAPS} more` : '';
  const found =
    `The slice spacing is not uniform: the median gap is ${formatMm(expected)}, but ${gaps.length} gap(s) differ ` +
    `by more than ${formatMm(toleranceMm)}: ${listed}${more}. Positions are measured along the slice normal.`;
  const largestGap = Math.max(...gaps.map((gap) => gap.gapMm));
  if (policy === 'reject') {
    recorder.fail('non_uniform_spacing', `${found} Irregular spacing is rejected by the configuration.`, check);
  }
  if (largestGap > maxGapMm) {
    recorder.fail(
      'non_uniform_spacing',
      `${found} The largest gap, ${formatMm(largestGap)}, is more than the ${formatMm(maxGapMm)} that may be bridged by interpolation.`,
      check,
    );
  }

  const count = Math.floor((length + toleranceMm) / expected) + 1;
  const uncovered = length - (count - 1) * expected;
  recorder.pass({
    ...check,
    detail:
      `${found} The ${slices.length} slices were resampled by linear interpolation onto ${count} slices ` +
      `${formatMm(expected)} apart${uncovered > toleranceMm ? `; the last ${formatMm(uncovered)} of the series lie beyond the grid` : ''}.`,
    action: 'resampled',
  });
  return { count, spacing: expected, resample: true };
}

/**
 * Checks for gantry tilt: slices that are shifted in their own plane in proportion to their position,
 * so that the stack is sheared. A shift of at most `toleranceMm` over the whole stack counts as none.
 * Returns true when the tilt must be corrected by resampling.
 */
export function checkGantryTilt(
  stack: SliceStack,
  largestOffset: number,
  policy: TiltPolicy,
  toleranceMm: number,
  recorder: CheckRecorder,
): boolean {
  const last = stack.slices.at(-1)!;
  const shear = Math.hypot(last.rowOffset, last.columnOffset);
  const degrees = (Math.atan2(shear, last.distance) * 180) / Math.PI;
  const recorded = stack.slices.map((entry) => entry.slice.gantryDetectorTilt).find((value) => value !== undefined);
  const header = recorded === undefined ? 'no GantryDetectorTilt is recorded' : `GantryDetectorTilt is ${recorded}°`;
  const check = { name: 'gantry_tilt', measured: degrees, unit: 'degrees' } as const;

  if (largestOffset <= toleranceMm) {
    recorder.pass({ ...check, detail: `The slices are stacked along their normal (no gantry tilt; ${header}).` });
    return false;
  }
  const found =
    `The slices are stacked ${degrees.toFixed(2)}° off their normal, a gantry tilt that shifts the last slice by ` +
    `${formatMm(shear)} in its plane (${header}).`;
  if (policy === 'reject') {
    recorder.fail('gantry_tilt', `${found} Tilted series are rejected by the configuration.`, check);
  }
  recorder.pass({
    ...check,
    detail: `${found} Each slice was shifted back in its plane by linear interpolation onto a rectangular grid.`,
    action: 'resampled',
  });
  return true;
}
