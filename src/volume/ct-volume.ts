/**
 * The CT volume that every later stage reads: Hounsfield units on a regular grid with its position in
 * patient space. Assembly writes it in one canonical orientation. The axes i, j and k point as closely
 * as the acquisition allows to the patient's left, posterior and superior (LPS), whatever the Patient
 * Position, the slice order or the row and column directions of the images.
 */

export type Vector3 = [number, number, number];

/**
 * The voxel types a volume may have. Assembly picks the narrowest that represents every HU value exactly:
 * Int16Array for the usual integer rescale, Int32Array when the values exceed it, Float32Array for
 * fractional values that float32 represents exactly and for resampled volumes, Float64Array otherwise.
 */
export type VoxelArray = Int16Array | Int32Array | Float32Array | Float64Array;

/** A HU volume. The voxel type defaults to Float32Array, the type that model preprocessing reads. */
export interface CtVolume<V extends VoxelArray = Float32Array> {
  /** Voxel values in HU, index = i + j * dimensions[0] + k * dimensions[0] * dimensions[1]. */
  readonly voxels: V;
  /** Number of voxels along i, j and k. */
  readonly dimensions: Vector3;
  /** Voxel spacing in mm along i, j and k. */
  readonly spacing: Vector3;
  /** LPS position in mm of the centre of voxel (0, 0, 0). */
  readonly origin: Vector3;
  /** LPS unit vectors of the i, j and k axes; they are orthogonal. */
  readonly direction: [Vector3, Vector3, Vector3];
}

/** Returns the 4x4 row-major matrix that maps voxel indices (i, j, k, 1) to LPS millimetres. */
export function lpsAffine(volume: CtVolume<VoxelArray>): number[][] {
  const [di, dj, dk] = volume.direction;
  const [si, sj, sk] = volume.spacing;
  const rows: number[][] = [];
  for (let axis = 0; axis < 3; axis++) {
    rows.push([di[axis]! * si, dj[axis]! * sj, dk[axis]! * sk, volume.origin[axis]!]);
  }
  rows.push([0, 0, 0, 1]);
  return rows;
}

/** Returns the 4x4 row-major voxel-to-RAS matrix, as NIfTI tools such as dcm2niix write it. */
export function rasAffine(volume: CtVolume<VoxelArray>): number[][] {
  const lps = lpsAffine(volume);
  // LPS to RAS negates the first two patient axes.
  return lps.map((row, axis) => (axis < 2 ? row.map((value) => -value) : row));
}

/** Returns the volume with Float32Array voxels, copying them unless they already are. */
export function toFloat32Volume(volume: CtVolume<VoxelArray>): CtVolume<Float32Array> {
  if (volume.voxels instanceof Float32Array) return volume as CtVolume<Float32Array>;
  return { ...volume, voxels: Float32Array.from(volume.voxels) };
}
