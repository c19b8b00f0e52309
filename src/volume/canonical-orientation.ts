/**
 * The canonical axis order of a volume: i, j and k are the stack's row, column and normal directions,
 * permuted and flipped so that they point as closely as possible to the patient's left, posterior and
 * superior (LPS). A head-first and a feet-first acquisition of the same anatomy, or an axial and a
 * reversed stack, then give the same voxel array. Only whole axes are permuted or flipped, so no value
 * is interpolated; an oblique stack keeps its obliquity in the direction vectors.
 */
import type { Vector3 } from './ct-volume.ts';
import { add, scale } from './vector.ts';

export interface SourceGrid {
  /** Voxel counts along the source axes: columns (row direction), rows (column direction), slices. */
  dimensions: Vector3;
  spacing: Vector3;
  /** Unit vectors of the source axes in LPS. */
  direction: [Vector3, Vector3, Vector3];
  /** LPS position of source voxel (0, 0, 0). */
  origin: Vector3;
}

export interface CanonicalGrid extends SourceGrid {
  /** Output index of source voxel (i, j, k) is base + i * strides[0] + j * strides[1] + k * strides[2]. */
  base: number;
  strides: Vector3;
  /** True when any axis was permuted or flipped. */
  reoriented: boolean;
}

/**
 * Maps the source axes onto LPS. When two axes are nearest to the same patient axis (possible only at
 * 45° obliquity) the source order is kept.
 */
export function planCanonicalGrid(source: SourceGrid): CanonicalGrid {
  const nearest = source.direction.map((vector) => {
    let patientAxis = 0;
    for (let axis = 1; axis < 3; axis++) if (Math.abs(vector[axis]!) > Math.abs(vector[patientAxis]!)) patientAxis = axis;
    return { patientAxis, flip: vector[patientAxis]! < 0 };
  });
  const mapping = new Set(nearest.map(({ patientAxis }) => patientAxis)).size === 3
    ? nearest
    : [0, 1, 2].map((axis) => ({ patientAxis: axis, flip: false }));

  const dimensions: Vector3 = [0, 0, 0];
  const spacing: Vector3 = [0, 0, 0];
  const direction: [Vector3, Vector3, Vector3] = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  mapping.forEach(({ patientAxis, flip }, axis) => {
    dimensions[patientAxis] = source.dimensions[axis]!;
    spacing[patientAxis] = source.spacing[axis]!;
    // Adding 0 turns the -0 of a negated zero component into 0, so equal directions compare equal.
    direction[patientAxis] = (flip ? scale(source.direction[axis]!, -1) : source.direction[axis]!).map((value) => value + 0) as Vector3;
  });

  const outputStrides: Vector3 = [1, dimensions[0], dimensions[0] * dimensions[1]];
  const strides: Vector3 = [0, 0, 0];
  let base = 0;
  let origin: Vector3 = [...source.origin];
  mapping.forEach(({ patientAxis, flip }, axis) => {
    const stride = outputStrides[patientAxis]!;
    const last = source.dimensions[axis]! - 1;
    strides[axis] = flip ? -stride : stride;
    if (flip) {
      base += last * stride;
      origin = add(origin, scale(source.direction[axis]!, last * source.spacing[axis]!));
    }
  });

  const reoriented = mapping.some(({ patientAxis, flip }, axis) => flip || patientAxis !== axis);
  return { dimensions, spacing, direction, origin, base, strides, reoriented };
}
