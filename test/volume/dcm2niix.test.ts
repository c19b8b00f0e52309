/**
 * Compares the assembled Philips 28-slice series with dcm2niix, an independent DICOM-to-NIfTI converter:
 * same HU in every voxel and the same voxel-to-RAS affine once the axis flips dcm2niix applies are
 * undone. Also checks that file order has no influence on the volume.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { readNifti, type NiftiImage } from '../helpers/nifti.ts';
import { assembleVolume, rasAffine, readCtSlice, type AssembledVolume } from '../../src/volume/index.ts';
import { sharedData } from '../helpers/shared-data.ts';

const run = promisify(execFile);

const SERIES_DIR = sharedData('dcm_qa_ct/Philips_Ingenuity_study_S21570/S2010');
const OPTIONS = { minSlices: 10, orientationTolerance: 1, spacingTolerance: 0.1 };
/** NIfTI stores the affine as float32, about 7 significant digits, so 1e-3 mm is well above its rounding. */
const AFFINE_TOLERANCE_MM = 1e-3;

async function assembleDirectory(directory: string): Promise<AssembledVolume> {
  const files = (await readdir(directory)).map((name) => path.join(directory, name));
  return assembleVolume(await Promise.all(files.map(readCtSlice)), OPTIONS);
}

function multiply(a: number[][], b: number[][]): number[][] {
  return a.map((row) => b[0]!.map((_, column) => row.reduce((sum, value, k) => sum + value * b[k]![column]!, 0)));
}

/** Inverts a 4x4 matrix by Gauss-Jordan elimination with partial pivoting. */
function invert(matrix: number[][]): number[][] {
  const augmented = matrix.map((row, r) => [...row, ...[0, 1, 2, 3].map((c) => (c === r ? 1 : 0))]);
  for (let column = 0; column < 4; column++) {
    let pivot = column;
    for (let r = column + 1; r < 4; r++) {
      if (Math.abs(augmented[r]![column]!) > Math.abs(augmented[pivot]![column]!)) pivot = r;
    }
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

describe('volume against dcm2niix', () => {
  let workDir: string;
  let nifti: NiftiImage;
  let assembled: AssembledVolume;
  /** Maps NIfTI voxel indices (a, b, c, 1) to our (i, j, k, 1). */
  let indexMap: number[][];

  before(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), 'argus-volume-dcm2niix-'));
    await run('dcm2niix', ['-z', 'n', '-b', 'n', '-o', workDir, SERIES_DIR]);
    const outputs = (await readdir(workDir)).filter((name) => name.endsWith('.nii'));
    assert.equal(outputs.length, 1, `dcm2niix wrote ${outputs.join(', ')}`);
    nifti = await readNifti(path.join(workDir, outputs[0]!));
    assembled = await assembleDirectory(SERIES_DIR);
    indexMap = multiply(invert(rasAffine(assembled.volume)), nifti.affine).map((row) => row.map(Math.round));
  });

  after(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  it('has the same grid size', () => {
    nifti.dimensions.forEach((size, niftiAxis) => {
      const axis = indexMap.findIndex((row) => row[niftiAxis] !== 0);
      assert.equal(assembled.volume.dimensions[axis], size, `NIfTI axis ${niftiAxis} maps to axis ${axis}`);
    });
  });

  it('maps axes by a signed permutation', () => {
    const linear = indexMap.slice(0, 3).map((row) => row.slice(0, 3));
    for (const row of linear) {
      assert.equal(row.filter((value) => value !== 0).length, 1, `row ${row} is not a permutation row`);
      assert.ok(row.every((value) => Math.abs(value) <= 1), `row ${row} scales an axis`);
    }
  });

  it('has the same RAS affine within 1e-3 mm', () => {
    const ours = multiply(rasAffine(assembled.volume), indexMap);
    ours.forEach((row, r) =>
      row.forEach((value, c) => {
        const expected = nifti.affine[r]![c]!;
        assert.ok(
          Math.abs(value - expected) <= AFFINE_TOLERANCE_MM,
          `affine[${r}][${c}] is ${value}, dcm2niix has ${expected}`,
        );
      }),
    );
  });

  it('has the same HU in every voxel', () => {
    const [nx, ny, nz] = nifti.dimensions;
    const [columns, rows] = assembled.volume.dimensions;
    const { voxels } = assembled.volume;
    let mismatches = 0;
    let firstMismatch = '';
    for (let c = 0; c < nz; c++) {
      for (let b = 0; b < ny; b++) {
        for (let a = 0; a < nx; a++) {
          const [i, j, k] = indexMap.slice(0, 3).map((row) => row[0]! * a + row[1]! * b + row[2]! * c + row[3]!);
          const ours = voxels[i! + j! * columns + k! * columns * rows]!;
          const theirs = nifti.values[a + b * nx + c * nx * ny]!;
          if (ours === theirs) continue;
          mismatches++;
          if (firstMismatch === '') {
            firstMismatch = `NIfTI (${a},${b},${c}) = ${theirs}, volume (${i},${j},${k}) = ${ours}`;
          }
        }
      }
    }
    assert.equal(mismatches, 0, `${mismatches} voxels differ, first: ${firstMismatch}`);
  });

  it('ignores file order and names', async () => {
    const shuffledDir = path.join(workDir, 'shuffled');
    await mkdir(shuffledDir);
    const names = await readdir(SERIES_DIR);
    for (const name of names.sort(() => Math.random() - 0.5)) {
      await copyFile(path.join(SERIES_DIR, name), path.join(shuffledDir, `${randomUUID()}.dcm`));
    }

    const shuffled = await assembleDirectory(shuffledDir);
    const reversed = assembleVolume(
      (await Promise.all(names.map((name) => readCtSlice(path.join(SERIES_DIR, name))))).reverse(),
      OPTIONS,
    );

    for (const other of [shuffled, reversed]) {
      assert.deepEqual(other.volume.dimensions, assembled.volume.dimensions);
      assert.deepEqual(other.volume.origin, assembled.volume.origin);
      assert.deepEqual(other.volume.direction, assembled.volume.direction);
      assert.deepEqual(other.volume.spacing, assembled.volume.spacing);
      assert.ok(Buffer.from(other.volume.voxels.buffer).equals(Buffer.from(assembled.volume.voxels.buffer)));
    }
  });
});
