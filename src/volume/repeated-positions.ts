/**
 * Slices that lie at the same position. Identical images (same pixels and rescale, as when a PACS
 * resends an instance under a new SOPInstanceUID) are kept once. Different images at one position come
 * from different acquisitions or reconstructions: the policy either rejects the series or splits it by
 * an attribute that distinguishes the acquisitions and keeps the largest part.
 */
import type { CtSlice } from './ct-slice.ts';
import { compareIdentity, describeSlice, formatMm, type CheckRecorder, type SliceStack } from './slice-geometry.ts';

export type RepeatedPositionPolicy = 'reject' | 'split';

/** Maximum number of positions named in one message, to keep it readable. */
const MAX_LISTED_POSITIONS = 3;

/** Attributes that may distinguish acquisitions at one position, tried in this order. */
const SPLIT_KEYS: { name: string; key: (slice: CtSlice) => string | undefined }[] = [
  { name: 'AcquisitionNumber', key: (slice) => slice.acquisitionNumber?.toString() },
  { name: 'TemporalPositionIndex', key: (slice) => slice.temporalPositionIndex?.toString() },
  { name: 'ConvolutionKernel', key: (slice) => slice.convolutionKernel },
  { name: 'SliceThickness', key: (slice) => slice.sliceThickness?.toString() },
  { name: 'ImageType', key: (slice) => (slice.imageType.length > 0 ? slice.imageType.join('\\') : undefined) },
];

function identical(a: CtSlice, b: CtSlice): boolean {
  if (a.rows !== b.rows || a.columns !== b.columns) return false;
  if (a.rescaleSlope !== b.rescaleSlope || a.rescaleIntercept !== b.rescaleIntercept) return false;
  const x = a.storedValues;
  const y = b.storedValues;
  if (x.length !== y.length) return false;
  for (let index = 0; index < x.length; index++) if (x[index] !== y[index]) return false;
  return true;
}

/** Groups the stack's slices by position: neighbours closer than `toleranceMm` along the normal share one. */
function clusterByPosition(stack: SliceStack, toleranceMm: number): { position: number; slices: CtSlice[] }[] {
  const clusters: { position: number; slices: CtSlice[] }[] = [];
  let previous = Number.NEGATIVE_INFINITY;
  for (const entry of stack.slices) {
    if (entry.position - previous < toleranceMm) clusters.at(-1)!.slices.push(entry.slice);
    else clusters.push({ position: entry.position, slices: [entry.slice] });
    previous = entry.position;
  }
  return clusters;
}

/**
 * Returns the slices to keep: one of each set of identical images, and under the `split` policy only the
 * largest acquisition. Throws `duplicate_position` when different images share a position and the
 * policy is `reject` or no attribute distinguishes them.
 */
export function resolveRepeatedPositions(
  stack: SliceStack,
  policy: RepeatedPositionPolicy,
  toleranceMm: number,
  recorder: CheckRecorder,
): CtSlice[] {
  const kept: CtSlice[] = [];
  const conflicts: { position: number; slices: CtSlice[] }[] = [];
  let repeated = 0;

  for (const cluster of clusterByPosition(stack, toleranceMm)) {
    const distinct: CtSlice[] = [];
    for (const slice of [...cluster.slices].sort(compareIdentity)) {
      if (distinct.some((other) => identical(other, slice))) repeated++;
      else distinct.push(slice);
    }
    kept.push(...distinct);
    if (distinct.length > 1) conflicts.push({ position: cluster.position, slices: distinct });
  }

  const check = { name: 'repeated_positions', measured: conflicts.length, unit: 'slices' } as const;
  if (conflicts.length === 0) {
    recorder.pass({
      ...check,
      detail:
        repeated === 0
          ? `All ${kept.length} slices lie at different positions.`
          : `${repeated} identical repeated image(s) at an occupied position were dropped; the other ${kept.length} slices lie at different positions.`,
      ...(repeated > 0 ? { action: 'deduplicated' as const } : {}),
    });
    return kept;
  }

  const listed = conflicts
    .slice(0, MAX_LISTED_POSITIONS)
    .map(({ position, slices }) => `${slices.map(describeSlice).join(' and ')} at ${formatMm(position)}`)
    .join('; ');
  const more = conflicts.length > MAX_LISTED_POSITIONS ? `; and ${conflicts.length - MAX_LISTED_POSITIONS} more positions` : '';
  const summary = `Different images lie at the same position along the slice normal at ${conflicts.length} position(s): ${listed}${more}.`;
  if (policy === 'reject') {
    recorder.fail(
      'duplicate_position',
      `${summary} The series may contain a repeated scan or a second reconstruction; send a series with one image per position.`,
      check,
    );
  }
  return splitAcquisitions(kept, conflicts, summary, recorder);
}

function splitAcquisitions(
  slices: CtSlice[],
  conflicts: { position: number; slices: CtSlice[] }[],
  summary: string,
  recorder: CheckRecorder,
): CtSlice[] {
  for (const { name, key } of SPLIT_KEYS) {
    const separates = conflicts.every(({ slices: together }) => {
      const values = together.map(key);
      return values.every((value) => value !== undefined) && new Set(values).size === values.length;
    });
    if (!separates) continue;

    const groups = new Map<string, CtSlice[]>();
    for (const slice of slices) {
      const value = key(slice) ?? '';
      groups.set(value, [...(groups.get(value) ?? []), slice]);
    }
    // The largest acquisition wins; a tie goes to the value that sorts first, so the choice is repeatable.
    const [chosenValue, chosen] = [...groups.entries()].sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1))[0]!;
    recorder.pass({
      name: 'repeated_positions',
      detail:
        `${summary} The series was split by ${name} into ${groups.size} parts; the part with ${name} ${chosenValue} ` +
        `(${chosen.length} slices) was kept and ${slices.length - chosen.length} slices were dropped.`,
      measured: conflicts.length,
      unit: 'slices',
      action: 'split',
    });
    return chosen;
  }

  return recorder.fail(
    'duplicate_position',
    `${summary} No attribute (${SPLIT_KEYS.map(({ name }) => name).join(', ')}) distinguishes the images at one position, ` +
      'so the series cannot be split; send a series with one image per position.',
    { name: 'repeated_positions', measured: conflicts.length, unit: 'slices' },
  );
}
