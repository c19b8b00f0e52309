/**
 * Reference comparison with dcm2niix (Debian package) on every CT series of the shared test data that it
 * converts. Files are grouped by folder and SeriesInstanceUID, as a PACS would send them.
 *
 * - A group that dcm2niix converts to one volume without warnings must give the same voxels and the
 *   same RAS affine (within 0.01 mm) once the axis flips of NIfTI are undone.
 * - A group where dcm2niix reports gantry tilt or varying slice distance must be corrected explicitly
 *   (a check with action `resampled`) or rejected.
 * - A group that dcm2niix does not turn into one volume must be rejected; its files are then compared
 *   one by one, like single-image series.
 *
 * dcm2niix is a reference, not an oracle. Where it contradicts the DICOM standard, the standard's value
 * is asserted and a comment gives the reason.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import {
  assembleVolume,
  CT_IMAGE_SOP_CLASSES,
  lpsAffine,
  rasAffine,
  readCtSlices,
  readImageHeader,
  readSeriesSlices,
  VolumeError,
  type AssembledVolume,
  type AssemblyOptions,
  type CtSlice,
} from '../../src/volume/index.ts';
import { readNifti, type NiftiImage } from '../helpers/nifti.ts';
import { SHARED_DATA } from '../helpers/shared-data.ts';

const run = promisify(execFile);

/** The service's defaults (config/schema.ts), so the comparison covers what the service does. */
const OPTIONS: AssemblyOptions = { minSlices: 2, orientationTolerance: 0.5, spacingTolerance: 0.2, airHu: -1000 };
const AFFINE_TOLERANCE_MM = 0.01;

interface Group {
  name: string;
  files: string[];
}

interface Conversion {
  images: NiftiImage[];
  /** dcm2niix reported gantry tilt or varying slice distance. */
  tiltOrIrregular: boolean;
  /** dcm2niix printed that all images lie in one slice, so its output is not a volume. */
  singleSlice: boolean;
}

async function walk(directory: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) files.push(...(await walk(full)));
    else if (!/\.(md|txt|hl7)$/i.test(entry.name)) files.push(full);
  }
  return files;
}

/** Groups the CT image files of the shared data by folder and SeriesInstanceUID. */
async function findGroups(): Promise<Group[]> {
  const groups = new Map<string, Group>();
  for (const file of await walk(SHARED_DATA)) {
    let header;
    try {
      header = await readImageHeader(file);
    } catch {
      continue;
    }
    if (!CT_IMAGE_SOP_CLASSES.has(header.sopClassUid)) continue;
    const name = `${path.relative(SHARED_DATA, path.dirname(file))} ${header.seriesInstanceUid ?? ''}`;
    const group = groups.get(name) ?? { name, files: [] };
    group.files.push(file);
    groups.set(name, group);
  }
  return [...groups.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** Runs dcm2niix on exactly `files` (linked into a folder of their own). */
async function convert(files: string[], workDir: string): Promise<Conversion> {
  const input = path.join(workDir, 'in');
  const output = path.join(workDir, 'out');
  await mkdir(input, { recursive: true });
  await mkdir(output, { recursive: true });
  await Promise.all(files.map((file, index) => symlink(file, path.join(input, `${index}.dcm`))));
  let stdout = '';
  try {
    ({ stdout } = await run('dcm2niix', ['-z', 'n', '-b', 'n', '-f', 'volume', '-o', output, input], { maxBuffer: 16 * 1024 * 1024 }));
  } catch (error) {
    // dcm2niix exits non-zero when it converts nothing (unsupported compression); that is an empty result.
    stdout = (error as { stdout?: string }).stdout ?? '';
  }
  const names = (await readdir(output)).filter((name) => name.endsWith('.nii')).sort();
  return {
    images: await Promise.all(names.map((name) => readNifti(path.join(output, name)))),
    tiltOrIrregular: /gantry tilt|Interslice distance varies/i.test(stdout),
    singleSlice: /All images appear to be a single slice/.test(stdout),
  };
}

function multiply(a: number[][], b: number[][]): number[][] {
  return a.map((row) => b[0]!.map((_, column) => row.reduce((sum, value, k) => sum + value * b[k]![column]!, 0)));
}

/** Inverts a 4x4 matrix by Gauss-Jordan elimination with partial pivoting. */
function invert(matrix: number[][]): number[][] {
  const augmented = matrix.map((row, r) => [...row, ...[0, 1, 2, 3].map((c) => (c === r ? 1 : 0))]);
  for (let column = 0; column < 4; column++) {
    let pivot = column;
    for (let r = column + 1; r < 4; r++) if (Math.abs(augmented[r]![column]!) > Math.abs(augmented[pivot]![column]!)) pivot = r;
    [augmented[column], augmented[pivot]] = [augmented[pivot]!, augmented[column]!];
    const lead = augmented[column]![column]!;
    augmented[column] = augmented[column]!.map((value) => value / lead);
    for (let r = 0; r < 4; r++) {
      if (r === column) continue;
      const factor = augmented[r]![column]!;
      augmented[r] = augmented[r]!.map((value, c) => value - factor * augmented[column]![c]!);
    }
  }
  return augmented.map((row) => row.slice(4));
}

/**
 * Returns true when a difference between our value and dcm2niix's is what the DICOM standard requires
 * and the Debian dcm2niix (v1.0.20220720) does not do. dcm2niix does not apply PixelPaddingValue, and for signed data with BitsStored below
 * BitsAllocated it masks to BitsStored bits without sign extension, so a stored -1000 (HU -1000 with
 * intercept 0) comes out as 3096. PS3.5 8.1.1 makes the value two's complement in BitsStored bits, so
 * the test asserts the sign-extended value and accepts dcm2niix's only where that quirk explains it.
 */
function explainDifference(slice: CtSlice, stored: number, ours: number, theirs: number, airHu: number): boolean {
  const { rescaleSlope: slope, rescaleIntercept: intercept } = slice;
  const padding = slice.pixelPaddingValue;
  const limit = slice.pixelPaddingRangeLimit ?? padding;
  if (padding !== undefined && limit !== undefined && stored >= Math.min(padding, limit) && stored <= Math.max(padding, limit)) {
    return ours === airHu && theirs === stored * slope + intercept;
  }
  if (slice.pixelRepresentation === 1 && slice.bitsStored < 16 && stored < 0) {
    return theirs === (stored + 2 ** slice.bitsStored) * slope + intercept;
  }
  return false;
}

describe('volumes against dcm2niix', () => {
  let workRoot: string;
  let groups: Group[];
  /** Files of groups that were not compared as a volume, for the per-image comparison. */
  const singles: string[] = [];

  before(async () => {
    workRoot = await mkdtemp(path.join(tmpdir(), 'argus-volume-dcm2niix-'));
    groups = await findGroups();
  });

  after(async () => {
    await rm(workRoot, { recursive: true, force: true });
  });

  it('every CT series of the shared data', async (context) => {
    assert.ok(groups.length >= 20, `only ${groups.length} CT series found in ${SHARED_DATA}`);
    const outcomes: string[] = [];
    let compared = 0;

    for (const [index, group] of groups.entries()) {
      const { slices, skipped } = await readSeriesSlices(group.files).catch((error: unknown) => ({ error }) as never);
      const frames = slices?.length ?? 0;
      if (frames < 2) {
        singles.push(...group.files);
        continue;
      }
      const conversion = await convert(group.files, path.join(workRoot, `group-${index}`));
      let assembled: AssembledVolume | undefined;
      let rejection: VolumeError | undefined;
      try {
        assembled = assembleVolume(slices, OPTIONS, skipped);
      } catch (error) {
        if (!(error instanceof VolumeError)) throw error;
        rejection = error;
      }
      const corrected = assembled?.checks.some((check) => check.action === 'resampled') ?? false;

      if (conversion.images.length === 0) {
        outcomes.push(`${group.name}: not converted by dcm2niix`);
      } else if (conversion.tiltOrIrregular) {
        // NOTE: dcm2niix's own tilt-corrected output (_Tilt_1) lies on a grid of its own and is not compared.
        assert.ok(rejection !== undefined || corrected, `${group.name}: dcm2niix reports tilt or varying spacing, but the volume was neither corrected nor rejected`);
        outcomes.push(`${group.name}: ${rejection ? `rejected (${rejection.code})` : 'corrected'}`);
      } else if (conversion.images.length > 1 || conversion.images[0]!.volumes > 1 || conversion.singleSlice) {
        assert.ok(rejection !== undefined, `${group.name}: dcm2niix did not make one volume of it, but assembly did`);
        singles.push(...group.files);
        outcomes.push(`${group.name}: rejected (${rejection.code}), compared per image`);
      } else {
        assert.ok(assembled !== undefined, `${group.name}: dcm2niix made a volume, assembly rejected it: ${rejection?.message}`);
        assert.equal(corrected, false, `${group.name}: resampled although dcm2niix reports no tilt or irregular spacing`);
        compareVolume(group.name, assembled, conversion.images[0]!);
        compared++;
        outcomes.push(`${group.name}: equal`);
      }
    }
    context.diagnostic(outcomes.join('\n'));
    assert.ok(compared >= 6, `only ${compared} volumes compared:\n${outcomes.join('\n')}`);
  });

  it('every single image of the shared data', async (context) => {
    let compared = 0;
    for (const [index, file] of singles.entries()) {
      let frames: CtSlice[];
      try {
        frames = await readCtSlices(file);
      } catch (error) {
        assert.ok(error instanceof VolumeError, String(error));
        // 8-bit lossy JPEG (BitsAllocated 8) cannot be a CT image, and private compression cannot be decoded.
        assert.ok(['unsupported_pixel_format', 'private_compression'].includes(error.code), `${file}: ${error.code} ${error.message}`);
        continue;
      }
      if (frames.length !== 1) continue;
      const conversion = await convert([file], path.join(workRoot, `single-${index}`));
      if (conversion.images.length !== 1) continue;
      compareSlice(file, frames[0]!, conversion.images[0]!);
      compared++;
    }
    context.diagnostic(`${compared} of ${singles.length} single images compared`);
    assert.ok(compared >= 20, `only ${compared} single images compared`);
  });
});

function dot(a: readonly number[], b: readonly number[]): number {
  return a[0]! * b[0]! + a[1]! * b[1]! + a[2]! * b[2]!;
}

function compareVolume(name: string, assembled: AssembledVolume, nifti: NiftiImage): void {
  const { volume, slices } = assembled;
  // Maps NIfTI voxel indices (a, b, c, 1) to ours (i, j, k, 1); for equal grids it is a signed permutation.
  const indexMap = multiply(invert(rasAffine(volume)), nifti.affine);
  const rounded = indexMap.map((row) => row.map(Math.round));
  const linear = rounded.slice(0, 3).map((row) => row.slice(0, 3));
  for (const row of linear) {
    assert.equal(row.filter((value) => value !== 0).length, 1, `${name}: axes do not map one to one (${indexMap.map((r) => r.join(' ')).join('; ')})`);
  }
  nifti.dimensions.forEach((size, axis) => {
    const ours = linear.findIndex((row) => row[axis] !== 0);
    assert.equal(volume.dimensions[ours], size, `${name}: NIfTI axis ${axis} has ${size} voxels`);
  });
  const ours = multiply(rasAffine(volume), rounded);
  ours.forEach((row, r) =>
    row.forEach((value, c) => {
      const expected = nifti.affine[r]![c]!;
      assert.ok(Math.abs(value - expected) <= AFFINE_TOLERANCE_MM, `${name}: affine[${r}][${c}] is ${value}, dcm2niix has ${expected}`);
    }),
  );

  // The stored value behind a voxel, found from its LPS position, to explain the differences the standard requires.
  const lps = lpsAffine(volume);
  const normal = volume.direction[2];
  const byPosition = new Map(slices.map((slice) => [Math.round(dot(slice.imagePositionPatient, normal) * 100), slice]));
  const storedAt = (i: number, j: number, k: number): { slice: CtSlice; stored: number } => {
    const point = [0, 1, 2].map((r) => lps[r]![0]! * i + lps[r]![1]! * j + lps[r]![2]! * k + lps[r]![3]!) as [number, number, number];
    const slice = byPosition.get(Math.round(dot(point, normal) * 100));
    assert.ok(slice !== undefined, `${name}: no slice at voxel (${i}, ${j}, ${k})`);
    const offset = point.map((value, axis) => value - slice.imagePositionPatient[axis]!) as [number, number, number];
    const [rx, ry, rz, cx, cy, cz] = slice.imageOrientationPatient;
    const column = Math.round(dot(offset, [rx, ry, rz]) / slice.pixelSpacing[1]);
    const row = Math.round(dot(offset, [cx, cy, cz]) / slice.pixelSpacing[0]);
    return { slice, stored: slice.storedValues[row * slice.columns + column]! };
  };

  const [nx, ny, nz] = nifti.dimensions;
  const [columns, rows] = volume.dimensions;
  let unexplained = 0;
  let first = '';
  for (let c = 0; c < nz; c++) {
    for (let b = 0; b < ny; b++) {
      for (let a = 0; a < nx; a++) {
        const [i, j, k] = rounded.slice(0, 3).map((row) => row[0]! * a + row[1]! * b + row[2]! * c + row[3]!) as [number, number, number];
        const value = volume.voxels[i + j * columns + k * columns * rows]!;
        const theirs = nifti.values[a + b * nx + c * nx * ny]!;
        if (Math.fround(value) === Math.fround(theirs)) continue;
        const { slice, stored } = storedAt(i, j, k);
        if (explainDifference(slice, stored, value, theirs, OPTIONS.airHu!)) continue;
        unexplained++;
        if (first === '') first = `NIfTI (${a},${b},${c}) = ${theirs}, volume (${i},${j},${k}) = ${value}`;
      }
    }
  }
  assert.equal(unexplained, 0, `${name}: ${unexplained} voxels differ, first: ${first}`);
}

/**
 * Compares one image with dcm2niix's single-slice output. Where the header has a GantryDetectorTilt,
 * dcm2niix shears even a lone slice by it, so its affine no longer matches ImageOrientationPatient,
 * which alone defines the geometry (PS3.3 C.7.6.2.1.1). Then only the values are compared, with the
 * row and column order that dcm2niix used.
 */
function compareSlice(file: string, slice: CtSlice, nifti: NiftiImage): void {
  const [nx, ny] = nifti.dimensions;
  assert.equal(nifti.dimensions[2], 1, `${file}: dcm2niix wrote ${nifti.dimensions[2]} slices`);
  assert.deepEqual([nx, ny], [slice.columns, slice.rows], `${file}: dcm2niix wrote ${nx} x ${ny} pixels`);
  const sheared = (slice.gantryDetectorTilt ?? 0) !== 0;
  const mapping = sheared ? bestFlips(slice, nifti) : gridMapping(file, slice, nifti);

  let unexplained = 0;
  let first = '';
  for (let b = 0; b < ny; b++) {
    for (let a = 0; a < nx; a++) {
      const [i, j] = mapping(a, b);
      const stored = slice.storedValues[j * slice.columns + i]!;
      const ours = huOf(slice, stored);
      const theirs = nifti.values[a + b * nx]!;
      if (Math.fround(ours) === Math.fround(theirs) || explainDifference(slice, stored, ours, theirs, OPTIONS.airHu!)) continue;
      unexplained++;
      if (first === '') first = `NIfTI (${a},${b}) = ${theirs}, pixel (${i},${j}) = ${ours} (stored ${stored})`;
    }
  }
  assert.equal(unexplained, 0, `${file}: ${unexplained} pixels differ, first: ${first}`);
}

function huOf(slice: CtSlice, stored: number): number {
  return stored === slice.pixelPaddingValue ? OPTIONS.airHu! : stored * slice.rescaleSlope + slice.rescaleIntercept;
}

/** Maps NIfTI pixel (a, b) to the image's column and row through both affines, asserting that it lands on the pixel grid. */
function gridMapping(file: string, slice: CtSlice, nifti: NiftiImage): (a: number, b: number) => [number, number] {
  const [rowSpacing, columnSpacing] = slice.pixelSpacing;
  const [rx, ry, rz, cx, cy, cz] = slice.imageOrientationPatient;
  const [px, py, pz] = slice.imagePositionPatient;
  return (a, b) => {
    // NIfTI voxel (a, b, 0) to RAS, then to LPS relative to the first pixel, then along the row and column directions.
    const ras = [0, 1, 2].map((r) => nifti.affine[r]![0]! * a + nifti.affine[r]![1]! * b + nifti.affine[r]![3]!);
    const lps = [-ras[0]! - px, -ras[1]! - py, ras[2]! - pz];
    const iMm = lps[0]! * rx + lps[1]! * ry + lps[2]! * rz;
    const jMm = lps[0]! * cx + lps[1]! * cy + lps[2]! * cz;
    const i = Math.round(iMm / columnSpacing);
    const j = Math.round(jMm / rowSpacing);
    assert.ok(
      Math.abs(iMm - i * columnSpacing) <= AFFINE_TOLERANCE_MM && Math.abs(jMm - j * rowSpacing) <= AFFINE_TOLERANCE_MM,
      `${file}: NIfTI voxel (${a}, ${b}) lies ${iMm.toFixed(3)}, ${jMm.toFixed(3)} mm into the image, off the pixel grid`,
    );
    return [i, j];
  };
}

/** Of the four ways to flip rows and columns, returns the one under which the most pixels agree. */
function bestFlips(slice: CtSlice, nifti: NiftiImage): (a: number, b: number) => [number, number] {
  const [nx, ny] = nifti.dimensions;
  let best: { agree: number; map: (a: number, b: number) => [number, number] } | undefined;
  for (const flipColumns of [false, true]) {
    for (const flipRows of [false, true]) {
      const map = (a: number, b: number): [number, number] => [flipColumns ? nx - 1 - a : a, flipRows ? ny - 1 - b : b];
      let agree = 0;
      for (let b = 0; b < ny; b += 7) {
        for (let a = 0; a < nx; a += 7) {
          const [i, j] = map(a, b);
          const stored = slice.storedValues[j * slice.columns + i]!;
          const ours = huOf(slice, stored);
          const theirs = nifti.values[a + b * nx]!;
          if (Math.fround(ours) === Math.fround(theirs) || explainDifference(slice, stored, ours, theirs, OPTIONS.airHu!)) agree++;
        }
      }
      if (best === undefined || agree > best.agree) best = { agree, map };
    }
  }
  return best!.map;
}
