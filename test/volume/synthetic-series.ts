/**
 * Synthetic CT series for volume tests: a phantom of spheres in patient coordinates, sampled at the
 * pixel centres of each slice's geometry and written as CT Image Storage files by pydicom
 * (write-series.py). Tests state the geometry and attributes slice by slice, so expected values are exact.
 */
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import type { Vector3 } from '../../src/volume/index.ts';

const run = promisify(execFile);
const WRITER = fileURLToPath(new URL('./write-series.py', import.meta.url));

export const AXIAL: number[] = [1, 0, 0, 0, 1, 0];

export interface Sphere {
  center: Vector3;
  radius: number;
  hu: number;
}

export interface SliceSpec {
  imagePositionPatient: number[];
  imageOrientationPatient: number[];
  /** null writes no InstanceNumber; absent writes the 1-based index. */
  instanceNumber?: number | null;
  rescaleSlope?: number;
  rescaleIntercept?: number;
  pixelRepresentation?: 0 | 1;
  bitsStored?: number;
  junkHighBits?: boolean;
  patientPosition?: string;
  spacingBetweenSlices?: number;
  sliceThickness?: number;
  imageType?: string[];
  acquisitionNumber?: number;
  pixelPaddingValue?: number;
  pixelPaddingRangeLimit?: number;
  paddingOutsideRadiusMm?: number;
  sopInstanceUid?: string;
  fileName?: string;
}

export interface SeriesSpec {
  directory: string;
  rows: number;
  columns: number;
  pixelSpacing: [number, number];
  phantom: { background: number; spheres: Sphere[] };
  slices: SliceSpec[];
  seriesInstanceUid?: string;
}

/** Writes every series with one pydicom process. */
export async function writeSeries(...series: SeriesSpec[]): Promise<void> {
  const child = run('/usr/bin/python3', [WRITER], { maxBuffer: 16 * 1024 * 1024 });
  child.child.stdin!.end(JSON.stringify(series));
  await child;
}

export async function filesIn(directory: string): Promise<string[]> {
  return (await readdir(directory)).sort().map((name) => path.join(directory, name));
}

/** Axial slices at the given z positions, centred on x = y = 0, with `extra` attributes on every slice. */
export function axialSlices(columns: number, rows: number, pixelSpacing: [number, number], zs: number[], extra: Partial<SliceSpec> = {}): SliceSpec[] {
  const x0 = (-(columns - 1) / 2) * pixelSpacing[1];
  const y0 = (-(rows - 1) / 2) * pixelSpacing[0];
  return zs.map((z) => ({ imagePositionPatient: [x0, y0, z], imageOrientationPatient: AXIAL, ...extra }));
}

/** Returns the phantom's HU at an LPS point, computed the way write-series.py does. */
export function phantomHu(phantom: SeriesSpec['phantom'], point: Vector3): number {
  let hu = phantom.background;
  for (const sphere of phantom.spheres) {
    const distance = Math.hypot(point[0] - sphere.center[0], point[1] - sphere.center[1], point[2] - sphere.center[2]);
    if (distance <= sphere.radius) hu = sphere.hu;
  }
  return hu;
}
