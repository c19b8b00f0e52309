/** Small 3-vector arithmetic for slice geometry, in LPS millimetres or unit direction cosines. */
import type { Vector3 } from './ct-volume.ts';

export function add(a: Vector3, b: Vector3): Vector3 {
  return [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
}

export function subtract(a: Vector3, b: Vector3): Vector3 {
  return [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
}

export function scale(a: Vector3, factor: number): Vector3 {
  return [a[0] * factor, a[1] * factor, a[2] * factor];
}

export function dot(a: Vector3, b: Vector3): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

export function cross(a: Vector3, b: Vector3): Vector3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

export function norm(a: Vector3): number {
  return Math.sqrt(dot(a, a));
}

/** Returns `a` scaled to unit length. A zero vector stays zero so that callers can detect it. */
export function normalize(a: Vector3): Vector3 {
  const length = norm(a);
  return length === 0 ? [0, 0, 0] : scale(a, 1 / length);
}

/** Returns the angle between two vectors in degrees (0 to 180). */
export function angleDegrees(a: Vector3, b: Vector3): number {
  const cosine = dot(normalize(a), normalize(b));
  // Rounding can push the cosine of parallel unit vectors slightly past 1.
  return (Math.acos(Math.min(1, Math.max(-1, cosine))) * 180) / Math.PI;
}

/**
 * Returns the unit normal (row x column) of an image plane from ImageOrientationPatient, which lists
 * the row direction cosines and then the column direction cosines. A zero vector means the two
 * directions were missing or parallel.
 */
export function sliceNormal(imageOrientationPatient: readonly number[]): Vector3 {
  const [rx = 0, ry = 0, rz = 0, cx = 0, cy = 0, cz = 0] = imageOrientationPatient;
  return normalize(cross([rx, ry, rz], [cx, cy, cz]));
}
