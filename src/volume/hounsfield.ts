/**
 * Stored values to Hounsfield units, per slice: HU = stored x RescaleSlope + RescaleIntercept (PS3.3
 * C.11.1.1.2), except that padding becomes the configured air value. Padding is PixelPaddingValue, or
 * every value from PixelPaddingValue to PixelPaddingRangeLimit inclusive (PS3.3 C.7.5.1.1.2); both are
 * stored values, compared before rescale.
 *
 * The voxel type is the narrowest that contains every HU value exactly, decided before the volume is
 * allocated: from the range that BitsStored allows where that settles it, otherwise from the values.
 */
import type { CtSlice } from './ct-slice.ts';
import type { StoredValues } from './pixel-values.ts';

export type VoxelType = 'int16' | 'int32' | 'float32' | 'float64';

export interface SliceRescale {
  slope: number;
  intercept: number;
  /** Inclusive range of stored padding values; low > high when the slice has no padding. */
  paddingLow: number;
  paddingHigh: number;
  airHu: number;
}

export function sliceRescale(slice: CtSlice, airHu: number): SliceRescale {
  const value = slice.pixelPaddingValue;
  const limit = slice.pixelPaddingRangeLimit ?? value;
  const padded = value !== undefined && limit !== undefined;
  return {
    slope: slice.rescaleSlope,
    intercept: slice.rescaleIntercept,
    paddingLow: padded ? Math.min(value, limit) : 1,
    paddingHigh: padded ? Math.max(value, limit) : 0,
    airHu,
  };
}

export function hasPadding(rescale: SliceRescale): boolean {
  return rescale.paddingLow <= rescale.paddingHigh;
}

/** Counts the stored values of a slice that are padding. */
export function countPadding(values: StoredValues, rescale: SliceRescale): number {
  if (!hasPadding(rescale)) return 0;
  let count = 0;
  for (let index = 0; index < values.length; index++) {
    const value = values[index]!;
    if (value >= rescale.paddingLow && value <= rescale.paddingHigh) count++;
  }
  return count;
}

/** Writes the HU of a whole slice into `target`, row by row. */
export function sliceToHu(values: StoredValues, rescale: SliceRescale, target: Float32Array): void {
  const { slope, intercept, paddingLow, paddingHigh, airHu } = rescale;
  for (let index = 0; index < values.length; index++) {
    const value = values[index]!;
    target[index] = value >= paddingLow && value <= paddingHigh ? airHu : value * slope + intercept;
  }
}

const INT16 = { min: -32768, max: 32767 };
const INT32 = { min: -2147483648, max: 2147483647 };

/** Range of HU that `values` can produce, from BitsStored alone or, when `scan` is set, from the values. */
function huRange(slice: CtSlice, rescale: SliceRescale, scan: boolean): { min: number; max: number } {
  let low: number;
  let high: number;
  if (scan) {
    low = Infinity;
    high = -Infinity;
    const values = slice.storedValues;
    for (let index = 0; index < values.length; index++) {
      const value = values[index]!;
      if (value >= rescale.paddingLow && value <= rescale.paddingHigh) continue;
      if (value < low) low = value;
      if (value > high) high = value;
    }
    if (low > high) return { min: rescale.airHu, max: rescale.airHu };
  } else {
    low = slice.pixelRepresentation === 1 ? -(2 ** (slice.bitsStored - 1)) : 0;
    high = slice.pixelRepresentation === 1 ? 2 ** (slice.bitsStored - 1) - 1 : 2 ** slice.bitsStored - 1;
  }
  const a = low * rescale.slope + rescale.intercept;
  const b = high * rescale.slope + rescale.intercept;
  const withAir = hasPadding(rescale) ? [rescale.airHu] : [];
  return { min: Math.min(a, b, ...withAir), max: Math.max(a, b, ...withAir) };
}

function fits(range: { min: number; max: number }, type: { min: number; max: number }): boolean {
  return range.min >= type.min && range.max <= type.max;
}

/** Returns true when float32 represents every HU of the slice exactly. */
function float32Exact(slice: CtSlice, rescale: SliceRescale): boolean {
  if (!Number.isInteger(rescale.airHu) && Math.fround(rescale.airHu) !== rescale.airHu) return false;
  const values = slice.storedValues;
  for (let index = 0; index < values.length; index++) {
    const value = values[index]!;
    if (value >= rescale.paddingLow && value <= rescale.paddingHigh) continue;
    const hu = value * rescale.slope + rescale.intercept;
    if (Math.fround(hu) !== hu) return false;
  }
  return true;
}

/** Picks the narrowest voxel type that represents the HU of every slice exactly. */
export function chooseVoxelType(slices: CtSlice[], rescales: SliceRescale[]): VoxelType {
  const integral = rescales.every(
    (rescale) => Number.isInteger(rescale.slope) && Number.isInteger(rescale.intercept) && (!hasPadding(rescale) || Number.isInteger(rescale.airHu)),
  );
  if (integral) {
    if (slices.every((slice, index) => fits(huRange(slice, rescales[index]!, false), INT16))) return 'int16';
    const ranges = slices.map((slice, index) => huRange(slice, rescales[index]!, true));
    if (ranges.every((range) => fits(range, INT16))) return 'int16';
    if (ranges.every((range) => fits(range, INT32))) return 'int32';
    return 'float64';
  }
  return slices.every((slice, index) => float32Exact(slice, rescales[index]!)) ? 'float32' : 'float64';
}

export function allocateVoxels(type: VoxelType, length: number): Int16Array | Int32Array | Float32Array | Float64Array {
  switch (type) {
    case 'int16':
      return new Int16Array(length);
    case 'int32':
      return new Int32Array(length);
    case 'float32':
      return new Float32Array(length);
    case 'float64':
      return new Float64Array(length);
  }
}
