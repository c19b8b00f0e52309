/**
 * The CT volume that every later stage reads: Hounsfield units on a regular grid with its position in
 * patient space. Axes follow the DICOM image plane: i runs along a row (increasing column index), j runs
 * down the columns (increasing row index) and k runs from slice to slice along the slice normal.
 */

export type Vector3 = [number, number, number];

export interface CtVolume {
  /** Voxel values in HU, index = i + j * columns + k * columns * rows. */
  readonly voxels: Float32Array;
  /** Number of voxels along i (Columns), j (Rows) and k (slices). */
  readonly dimensions: Vector3;
  /** Voxel spacing in mm along i, j and k. */
  readonly spacing: Vector3;
  /** LPS position in mm of the centre of voxel (0, 0, 0): ImagePositionPatient of the first slice. */
  readonly origin: Vector3;
  /**
   * LPS unit vectors of the i, j and k axes. The first two are ImageOrientationPatient; the third is the
   * direction in which slices are ordered (their cross product for an untilted acquisition).
   */
  readonly direction: [Vector3, Vector3, Vector3];
}

/** Returns the 4x4 row-major matrix that maps voxel indices (i, j, k, 1) to LPS millimetres. */
export function lpsAffine(volume: CtVolume): number[][] {
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
export function rasAffine(volume: CtVolume): number[][] {
  const lps = lpsAffine(volume);
  // LPS to RAS negates the first two patient axes.
  return lps.map((row, axis) => (axis < 2 ? row.map((value) => -value) : row));
}
