/**
 * CT volume in HU -> pixel_values [1, 1, D, H, W], following the package's preprocessing settings.
 *
 * The order of steps is part of the package contract and matches tools/model/preprocess.py:
 * orientation, trilinear resampling (to input_size, or to target_spacing and then a centred crop/pad
 * with pad_value_hu), clamp to hu_window, then scaling. Resampling runs in the volume's own axis order
 * and the reorientation is folded into the final copy, which gives torch's result (reorient first,
 * then resample) because flipping or permuting axes commutes with per-axis linear interpolation.
 */
import type { CtVolume } from '../volume/ct-volume.ts';
import { VolumeNotSupportedError } from './errors.ts';
import { planOrientation, type OrientationPlan } from './orientation.ts';
import type { PreprocessingConfig } from './package-config.ts';
import { axisStride, resampleTrilinear, type Grid } from './resample.ts';

export interface PixelValues {
  data: Float32Array;
  /** [batch = 1, channels = 1, D, H, W]. */
  shape: [1, 1, number, number, number];
}

/** Voxel count along an axis after resampling to `target` mm; floor(x + 0.5) as in the Python tool. */
export function resampledSize(size: number, spacing: number, target: number): number {
  return Math.max(1, Math.floor((size * spacing) / target + 0.5));
}

export function preprocessVolume(volume: CtVolume, config: PreprocessingConfig): PixelValues {
  validateVolume(volume);
  const plan = planOrientation(volume.direction, config.orientation);

  // Model axes go in the order W, H, D here, while input_size and target_spacing list [D, H, W].
  const resampled = plan.map((source, t) => {
    const size = volume.dimensions[source.volumeAxis];
    const target = config.target_spacing;
    return target === null ? config.input_size[2 - t]! : resampledSize(size, volume.spacing[source.volumeAxis], target[2 - t]!);
  });
  const nativeSize: [number, number, number] = [0, 0, 0];
  plan.forEach((source, t) => (nativeSize[source.volumeAxis] = resampled[t]!));
  const grid = resampleTrilinear({ data: volume.voxels, dims: [...volume.dimensions] }, nativeSize);

  const [depth, height, width] = config.input_size;
  const data = new Float32Array(depth * height * width);
  const offsetsW = axisOffsets(grid, plan, 0, resampled[0]!, width);
  const offsetsH = axisOffsets(grid, plan, 1, resampled[1]!, height);
  const offsetsD = axisOffsets(grid, plan, 2, resampled[2]!, depth);
  const scale = scalingFunction(config);
  const [low, high] = config.hu_window;
  const padValue = scale(clamp(config.pad_value_hu, low, high));

  let out = 0;
  for (let d = 0; d < depth; d++) {
    const offsetD = offsetsD[d]!;
    for (let h = 0; h < height; h++) {
      const offsetH = offsetsH[h]!;
      for (let w = 0; w < width; w++) {
        const offsetW = offsetsW[w]!;
        if (offsetD < 0 || offsetH < 0 || offsetW < 0) {
          data[out++] = padValue;
        } else {
          data[out++] = scale(clamp(grid.data[offsetD + offsetH + offsetW]!, low, high));
        }
      }
    }
  }
  return { data, shape: [1, 1, depth, height, width] };
}

/**
 * For each output index along model axis t, returns the offset into the resampled native grid, or -1
 * where the output lies in padding. The resampled axis is centred in the output: an odd excess is
 * cropped or padded one more at the end.
 */
function axisOffsets(grid: Grid, plan: OrientationPlan, t: number, resampled: number, output: number): Int32Array {
  const { volumeAxis, flip } = plan[t]!;
  const stride = axisStride(grid.dims, volumeAxis);
  const start = resampled >= output ? Math.floor((resampled - output) / 2) : -Math.floor((output - resampled) / 2);
  const offsets = new Int32Array(output);
  for (let o = 0; o < output; o++) {
    const oriented = o + start;
    if (oriented < 0 || oriented >= resampled) {
      offsets[o] = -1;
      continue;
    }
    offsets[o] = (flip ? resampled - 1 - oriented : oriented) * stride;
  }
  return offsets;
}

function scalingFunction(config: PreprocessingConfig): (hu: number) => number {
  const scaling = config.scaling;
  if (scaling.kind === 'standardize') {
    return (hu) => (hu - scaling.mean) / scaling.std;
  }
  const [low, high] = config.hu_window;
  const [outLow, outHigh] = scaling.output_range;
  const factor = (outHigh - outLow) / (high - low);
  return (hu) => (hu - low) * factor + outLow;
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(Math.max(value, low), high);
}

function validateVolume(volume: CtVolume): void {
  const [columns, rows, slices] = volume.dimensions;
  if (![columns, rows, slices].every((n) => Number.isInteger(n) && n > 0)) {
    throw new VolumeNotSupportedError(`volume dimensions ${volume.dimensions.join('x')} are not positive integers`);
  }
  if (volume.voxels.length !== columns * rows * slices) {
    throw new VolumeNotSupportedError(`volume has ${volume.voxels.length} voxels, dimensions give ${columns * rows * slices}`);
  }
  if (!volume.spacing.every((s) => Number.isFinite(s) && s > 0)) {
    throw new VolumeNotSupportedError(`volume spacing ${volume.spacing.join(', ')} mm is not positive`);
  }
}
