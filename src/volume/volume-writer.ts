/**
 * Writing the HU voxels of a stack into the canonical grid. A regular, untilted stack is copied slice
 * by slice with its exact HU. A stack with irregular gaps or gantry tilt is resampled onto a rectangular
 * grid along the stack's normal. Each output voxel is interpolated linearly between the two nearest
 * slices, each of them shifted back in its plane first when the stack is tilted.
 * Samples outside a slice's field of view get the air value.
 */
import type { CanonicalGrid } from './canonical-orientation.ts';
import type { VoxelArray } from './ct-volume.ts';
import { allocateVoxels, sliceToHu, type SliceRescale, type VoxelType } from './hounsfield.ts';
import type { StoredValues } from './pixel-values.ts';
import type { SliceStack } from './slice-geometry.ts';

/** Copies each slice's HU into the grid; slice k of the stack becomes source plane k. */
export function writeSlices(stack: SliceStack, grid: CanonicalGrid, rescales: SliceRescale[], type: VoxelType): VoxelArray {
  const { columns, rows } = stack.slices[0]!.slice;
  const voxels = allocateVoxels(type, grid.dimensions[0] * grid.dimensions[1] * grid.dimensions[2]);
  const [strideI, strideJ, strideK] = grid.strides;

  // When the output keeps the source's row order, a slice is one contiguous run of the volume.
  const contiguous = strideI === 1 && strideJ === columns;
  stack.slices.forEach(({ slice }, k) => {
    const values = slice.storedValues;
    const { slope, intercept, paddingLow, paddingHigh, airHu } = rescales[k]!;
    const padded = paddingLow <= paddingHigh;
    if (contiguous && slope === 1 && !padded) {
      copyWithOffset(values, voxels, grid.base + k * strideK, intercept);
      return;
    }
    for (let j = 0; j < rows; j++) {
      let out = grid.base + j * strideJ + k * strideK;
      const rowStart = j * columns;
      const rowEnd = rowStart + columns;
      if (!padded) {
        for (let index = rowStart; index < rowEnd; index++, out += strideI) voxels[out] = values[index]! * slope + intercept;
        continue;
      }
      for (let index = rowStart; index < rowEnd; index++, out += strideI) {
        const value = values[index]!;
        voxels[out] = value >= paddingLow && value <= paddingHigh ? airHu : value * slope + intercept;
      }
    }
  });
  return voxels;
}

/**
 * Writes values + offset into `target` from `start`. TypedArray.set copies at memory speed. Into an
 * integer array it wraps values modulo the type's range, and adding the offset with the same wrap gives
 * the exact sum, because the caller has checked that every sum fits the type.
 */
function copyWithOffset(values: StoredValues, target: VoxelArray, start: number, offset: number): void {
  if (offset === 0) {
    target.set(values, start);
    return;
  }
  if (target instanceof Int16Array && Number.isInteger(offset) && addPairs(values, target, start, offset)) return;
  const end = start + values.length;
  target.set(values, start);
  for (let index = start; index < end; index++) target[index]! += offset;
}

/**
 * Adds `offset` to 16-bit values two at a time, each 32-bit word containing two lanes. Clearing the top
 * bit of each lane before the add keeps a carry from crossing into the next lane, and the XOR restores
 * that bit. Each lane thus gets (value + offset) mod 2^16, which the caller has checked to be the exact sum.
 * Returns false when the arrays are not 4-byte aligned or the count is odd.
 */
function addPairs(values: StoredValues, target: Int16Array, start: number, offset: number): boolean {
  const byteStart = target.byteOffset + start * 2;
  if (values.byteOffset % 4 !== 0 || byteStart % 4 !== 0 || values.length % 2 !== 0) return false;
  const source = new Int32Array(values.buffer, values.byteOffset, values.length >>> 1);
  const destination = new Int32Array(target.buffer, byteStart, values.length >>> 1);
  const both = (offset & 0xffff) | (offset << 16);
  const low = both & 0x7fff7fff;
  for (let index = 0; index < source.length; index++) {
    const pair = source[index]!;
    destination[index] = ((pair & 0x7fff7fff) + low) ^ ((pair ^ both) & 0x80008000);
  }
  return true;
}

export interface ResamplingPlan {
  /** Number of output slices and their spacing along the normal, from the first slice's position. */
  count: number;
  spacing: number;
  /** Shift each slice back in its plane by its in-plane offset (gantry tilt correction). */
  correctTilt: boolean;
  airHu: number;
}

/** Per-output-index taps along one in-plane axis of one source slice: the lower neighbour and its weight, or -1 outside. */
interface AxisTaps {
  index: Int32Array;
  weight: Float32Array;
}

/** Taps for sampling a slice at output index o shifted by `shift` pixels, o - shift in source pixels. */
function axisTaps(size: number, shift: number): AxisTaps {
  const taps = { index: new Int32Array(size), weight: new Float32Array(size) };
  // Within a millionth of a pixel of a grid point the neighbour is taken as is, so an unshifted slice keeps exact values.
  const epsilon = 1e-6;
  for (let o = 0; o < size; o++) {
    const source = o - shift;
    const rounded = Math.round(source);
    const lower = Math.abs(source - rounded) < epsilon ? rounded : Math.floor(source);
    const weight = Math.abs(source - rounded) < epsilon ? 0 : source - lower;
    const valid = lower >= 0 && (lower < size - 1 || (lower === size - 1 && weight === 0));
    taps.index[o] = valid ? lower : -1;
    taps.weight[o] = weight;
  }
  return taps;
}

/** Samples one HU slice, shifted by the taps, into `target` (row-major, columns x rows). */
function sampleShifted(hu: Float32Array, columns: number, rows: number, taps: { i: AxisTaps; j: AxisTaps }, air: number, target: Float32Array): void {
  for (let j = 0; j < rows; j++) {
    const j0 = taps.j.index[j]!;
    const wj = taps.j.weight[j]!;
    for (let i = 0; i < columns; i++) {
      const i0 = taps.i.index[i]!;
      if (j0 < 0 || i0 < 0) {
        target[j * columns + i] = air;
        continue;
      }
      const wi = taps.i.weight[i]!;
      const at = j0 * columns + i0;
      const top = wi === 0 ? hu[at]! : hu[at]! * (1 - wi) + hu[at + 1]! * wi;
      if (wj === 0) {
        target[j * columns + i] = top;
        continue;
      }
      const below = at + columns;
      const bottom = wi === 0 ? hu[below]! : hu[below]! * (1 - wi) + hu[below + 1]! * wi;
      target[j * columns + i] = top * (1 - wj) + bottom * wj;
    }
  }
}

/** Resamples the stack onto `plan.count` slices `plan.spacing` apart and writes them into the grid. */
export function writeResampled(stack: SliceStack, grid: CanonicalGrid, rescales: SliceRescale[], plan: ResamplingPlan): Float32Array {
  const { columns, rows, pixelSpacing } = stack.slices[0]!.slice;
  const [rowSpacing, columnSpacing] = pixelSpacing;
  const pixels = columns * rows;
  const voxels = new Float32Array(grid.dimensions[0] * grid.dimensions[1] * grid.dimensions[2]);
  const [strideI, strideJ, strideK] = grid.strides;

  // Two source slices are needed at a time; each is converted to HU and shifted once and then reused.
  const cache = new Map<number, Float32Array>();
  const shiftedSlice = (k: number): Float32Array => {
    const cached = cache.get(k);
    if (cached !== undefined) return cached;
    const entry = stack.slices[k]!;
    const hu = new Float32Array(pixels);
    sliceToHu(entry.slice.storedValues, rescales[k]!, hu);
    let result = hu;
    if (plan.correctTilt) {
      result = new Float32Array(pixels);
      const taps = { i: axisTaps(columns, entry.rowOffset / columnSpacing), j: axisTaps(rows, entry.columnOffset / rowSpacing) };
      sampleShifted(hu, columns, rows, taps, plan.airHu, result);
    }
    for (const key of cache.keys()) if (key < k - 1) cache.delete(key);
    cache.set(k, result);
    return result;
  };

  const last = stack.slices.length - 1;
  let lower = 0;
  for (let m = 0; m < plan.count; m++) {
    const distance = m * plan.spacing;
    while (lower < last - 1 && stack.slices[lower + 1]!.distance <= distance) lower++;
    const below = stack.slices[lower]!;
    const above = stack.slices[Math.min(lower + 1, last)]!;
    const span = above.distance - below.distance;
    const weight = span <= 0 ? 0 : Math.min(1, Math.max(0, (distance - below.distance) / span));
    const first = shiftedSlice(lower);
    const second = weight > 0 ? shiftedSlice(Math.min(lower + 1, last)) : first;

    for (let j = 0; j < rows; j++) {
      let out = grid.base + j * strideJ + m * strideK;
      for (let i = j * columns; i < (j + 1) * columns; i++, out += strideI) {
        voxels[out] = weight === 0 ? first[i]! : first[i]! * (1 - weight) + second[i]! * weight;
      }
    }
  }
  return voxels;
}
