/**
 * Linear resampling of a 3D grid one axis at a time, with the sample positions of torch's
 * F.interpolate(mode="trilinear", align_corners=False) as of torch 1.13.
 *
 * Trilinear interpolation is separable, so three 1D passes give the same values as torch's 8-neighbour
 * kernel up to float rounding. Each pass reads contiguous runs, and when the model grid is smaller than
 * the volume every intermediate array is smaller than the input. Like torch, there is no antialiasing
 * filter, so downsampling by a large factor samples rather than averages.
 */

/** A dense 3D array with index = x + y * dims[0] + z * dims[0] * dims[1]. */
export interface Grid {
  data: Float32Array;
  dims: [number, number, number];
}

interface LinearTaps {
  index0: Int32Array;
  index1: Int32Array;
  weight1: Float64Array;
}

/**
 * Computes, for each output index, the two input neighbours and the weight of the second one.
 * torch maps output o to source (o + 0.5) * in / out - 0.5, clamps negatives to 0 and repeats the last
 * sample past the end.
 */
function linearTaps(inputSize: number, outputSize: number): LinearTaps {
  const scale = inputSize / outputSize;
  const taps: LinearTaps = {
    index0: new Int32Array(outputSize),
    index1: new Int32Array(outputSize),
    weight1: new Float64Array(outputSize),
  };
  for (let o = 0; o < outputSize; o++) {
    const source = Math.max(0, scale * (o + 0.5) - 0.5);
    const index0 = Math.floor(source);
    taps.index0[o] = index0;
    taps.index1[o] = index0 < inputSize - 1 ? index0 + 1 : index0;
    taps.weight1[o] = source - index0;
  }
  return taps;
}

/** Returns the distance in elements between neighbours along `axis`. */
export function axisStride(dims: readonly [number, number, number], axis: 0 | 1 | 2): number {
  if (axis === 0) return 1;
  if (axis === 1) return dims[0];
  return dims[0] * dims[1];
}

/** Resamples `grid` along one axis to `size` samples; the other axes are unchanged. */
export function resampleAxis(grid: Grid, axis: 0 | 1 | 2, size: number): Grid {
  const inputSize = grid.dims[axis];
  if (inputSize === size) return grid;

  const dims: [number, number, number] = [...grid.dims];
  dims[axis] = size;
  // The axes before `axis` form contiguous runs of `inner` elements; `outer` is the number of such
  // blocks along the axes after it.
  const inner = axisStride(grid.dims, axis);
  const outer = (grid.dims[0] * grid.dims[1] * grid.dims[2]) / (inner * inputSize);
  const taps = linearTaps(inputSize, size);
  const input = grid.data;
  const output = new Float32Array(dims[0] * dims[1] * dims[2]);

  for (let block = 0; block < outer; block++) {
    const inputBlock = block * inputSize * inner;
    const outputBlock = block * size * inner;
    for (let o = 0; o < size; o++) {
      const row0 = inputBlock + taps.index0[o]! * inner;
      const row1 = inputBlock + taps.index1[o]! * inner;
      const weight1 = taps.weight1[o]!;
      const weight0 = 1 - weight1;
      const target = outputBlock + o * inner;
      for (let x = 0; x < inner; x++) {
        output[target + x] = weight0 * input[row0 + x]! + weight1 * input[row1 + x]!;
      }
    }
  }
  return { data: output, dims };
}

/** Resamples all three axes to `size`. */
export function resampleTrilinear(grid: Grid, size: [number, number, number]): Grid {
  // Shrinking axes go first so that later passes touch fewer voxels; the order changes only rounding.
  const axes = ([0, 1, 2] as const).slice().sort((a, b) => size[a] / grid.dims[a] - size[b] / grid.dims[b]);
  let result = grid;
  for (const axis of axes) {
    result = resampleAxis(result, axis, size[axis]);
  }
  return result;
}
