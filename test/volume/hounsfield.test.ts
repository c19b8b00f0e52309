/**
 * HU values of single slices and assembled volumes against pydicom (pixel_array * RescaleSlope +
 * RescaleIntercept, padding set to the air value), for signed GE data, unsigned 12-bit Philips data and
 * an Implicit VR Little Endian series. Synthetic series give exact HU for per-slice rescale, padding and
 * masked 12-bit data.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import {
  assembleVolume,
  lpsAffine,
  readCtSlice,
  readSeriesSlices,
  type AssembledVolume,
  type AssemblyOptions,
  type CtSlice,
  type CtVolume,
  type Vector3,
  type VoxelArray,
} from '../../src/volume/index.ts';
import { SHARED_DATA } from '../helpers/shared-data.ts';
import { axialSlices, filesIn as syntheticFiles, phantomHu, writeSeries, type SliceSpec } from './synthetic-series.ts';

const run = promisify(execFile);

const DATA = SHARED_DATA;
const GE_DIR = `${DATA}/dcm_qa_ct/GE_HiSpeedDual_tilt_irregular`;
const PHILIPS_DIR = `${DATA}/dcm_qa_ct/Philips_Ingenuity_study_S21570/S2010`;
const IMPLICIT_DIR = `${DATA}/dcmqi_testdata/ct-3slice`;
const REFERENCE_SCRIPT = fileURLToPath(new URL('./pydicom-reference.py', import.meta.url));
const AIR_HU = -1000;
const OPTIONS = { minSlices: 3, orientationTolerance: 1, spacingTolerance: 0.1, airHu: AIR_HU };

interface Reference {
  path: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  imagePositionPatient: [number, number, number];
  pixelRepresentation: number;
  bitsStored: number;
  samples: { row: number; column: number; hu: number }[];
  huSum: number;
  huMin: number;
  huMax: number;
}

async function pydicomReference(files: string[]): Promise<Reference[]> {
  const { stdout } = await run('/usr/bin/python3', [REFERENCE_SCRIPT, String(AIR_HU), ...files], { maxBuffer: 16 * 1024 * 1024 });
  return stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Reference);
}

async function filesIn(directory: string): Promise<string[]> {
  return (await readdir(directory)).sort().map((name) => path.join(directory, name));
}

function sliceHu(slice: CtSlice, row: number, column: number): number {
  const stored = slice.storedValues[row * slice.columns + column]!;
  return stored === slice.pixelPaddingValue ? AIR_HU : stored * slice.rescaleSlope + slice.rescaleIntercept;
}

function assertSliceMatches(slice: CtSlice, reference: Reference): void {
  assert.equal(slice.sopInstanceUid, reference.sopInstanceUid);
  for (const { row, column, hu } of reference.samples) {
    assert.equal(sliceHu(slice, row, column), hu, `${path.basename(reference.path)} pixel (${row}, ${column})`);
  }
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let index = 0; index < slice.storedValues.length; index++) {
    const hu = sliceHu(slice, Math.floor(index / slice.columns), index % slice.columns);
    sum += hu;
    min = Math.min(min, hu);
    max = Math.max(max, hu);
  }
  assert.equal(sum, reference.huSum, `${path.basename(reference.path)} HU sum`);
  assert.equal(min, reference.huMin, `${path.basename(reference.path)} HU minimum`);
  assert.equal(max, reference.huMax, `${path.basename(reference.path)} HU maximum`);
}

/** Returns the k index of the slice at `position` by projecting onto the volume's k axis. */
function sliceIndexAt(volume: CtVolume<VoxelArray>, position: [number, number, number]): number {
  const offset = position.map((value, axis) => value - volume.origin[axis]!);
  const along = offset.reduce((sum, value, axis) => sum + value * volume.direction[2][axis]!, 0);
  return Math.round(along / volume.spacing[2]);
}

function assertVolumeMatches(volume: CtVolume<VoxelArray>, references: Reference[]): void {
  const [columns, rows] = volume.dimensions;
  for (const reference of references) {
    const k = sliceIndexAt(volume, reference.imagePositionPatient);
    for (const { row, column, hu } of reference.samples) {
      const voxel = volume.voxels[column + row * columns + k * columns * rows];
      assert.equal(voxel, hu, `${path.basename(reference.path)} at (i ${column}, j ${row}, k ${k})`);
    }
  }
}

describe('HU from stored values', () => {
  it('signed 16-bit GE slices match pydicom', async () => {
    const files = (await filesIn(GE_DIR)).slice(0, 4);
    const references = await pydicomReference(files);
    for (const [index, file] of files.entries()) {
      const slice = await readCtSlice(file);
      assert.equal(slice.pixelRepresentation, 1);
      assert.equal(slice.pixelPaddingValue, -1500);
      assertSliceMatches(slice, references[index]!);
    }
    assert.ok(references.some((reference) => reference.huMin < 0), 'GE reference has negative stored values');
  });

  it('unsigned 12-bit Philips volume matches pydicom', async () => {
    const files = await filesIn(PHILIPS_DIR);
    const picked = [files[0]!, files[9]!, files[17]!, files[27]!];
    const references = await pydicomReference(picked);
    const { volume } = assembleVolume(await Promise.all(files.map(readCtSlice)), OPTIONS);
    assert.equal(references[0]!.bitsStored, 12);
    assert.equal(references[0]!.pixelRepresentation, 0);
    assertVolumeMatches(volume, references);
  });

  it('Implicit VR Little Endian volume matches pydicom', async () => {
    const files = await filesIn(IMPLICIT_DIR);
    const references = await pydicomReference(files);
    const slices = await Promise.all(files.map(readCtSlice));
    assert.ok(slices.every((slice) => slice.transferSyntaxUid === '1.2.840.10008.1.2'));
    // PixelPaddingValue is US-or-SS; in Implicit VR it must still come out negative for signed data.
    assert.equal(slices[0]!.pixelPaddingValue, -2000);
    const { volume } = assembleVolume(slices, OPTIONS);
    assertVolumeMatches(volume, references);
  });
});


describe('HU of synthetic series', () => {
  let workDir: string;
  const COLUMNS = 32;
  const ROWS = 32;
  const SPACING: [number, number] = [1.5, 1.5];
  const ZS = [0, 2, 4, 6, 8, 10];
  const PHANTOM = { background: -1000, spheres: [{ center: [3, -2, 5] as [number, number, number], radius: 10, hu: 45 }] };

  before(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), 'argus-volume-hu-'));
  });

  after(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  async function assemble(name: string, slices: SliceSpec[], options: Partial<AssemblyOptions> = {}): Promise<AssembledVolume> {
    const directory = path.join(workDir, name);
    await writeSeries({ directory, rows: ROWS, columns: COLUMNS, pixelSpacing: SPACING, phantom: PHANTOM, slices });
    const { slices: read } = await readSeriesSlices(await syntheticFiles(directory));
    return assembleVolume(read, { ...OPTIONS, ...options });
  }

  /** Counts voxels whose HU differs from `expected(point)`, where point is the voxel centre in LPS. */
  function countMismatches(assembled: AssembledVolume, expected: (point: Vector3) => number): number {
    const { volume } = assembled;
    const affine = lpsAffine(volume);
    const [nx, ny, nz] = volume.dimensions;
    let mismatches = 0;
    for (let k = 0; k < nz; k++) {
      for (let j = 0; j < ny; j++) {
        for (let i = 0; i < nx; i++) {
          const point = [0, 1, 2].map((axis) => affine[axis]![0]! * i + affine[axis]![1]! * j + affine[axis]![2]! * k + affine[axis]![3]!) as Vector3;
          if (volume.voxels[i + j * nx + k * nx * ny] !== expected(point)) mismatches++;
        }
      }
    }
    return mismatches;
  }

  it('RescaleIntercept -1024 and 0 on alternate slices gives one HU', async () => {
    const slices = axialSlices(COLUMNS, ROWS, SPACING, ZS).map((slice, index) => ({
      ...slice,
      rescaleIntercept: index % 2 === 0 ? -1024 : 0,
    }));
    const assembled = await assemble('alternating-intercept', slices);
    assert.equal(assembled.voxelType, 'int16');
    assert.equal(countMismatches(assembled, (point) => phantomHu(PHANTOM, point)), 0);
    const rescale = assembled.checks.find((check) => check.name === 'rescale')!;
    assert.match(rescale.detail, /1\/-1024/);
    assert.match(rescale.detail, /1\/0/);
  });

  for (const airHu of [-1000, -1024]) {
    it(`PixelPaddingValue -2000 outside a disk becomes ${airHu} HU`, async () => {
      const radius = 18;
      const slices = axialSlices(COLUMNS, ROWS, SPACING, ZS, { pixelPaddingValue: -2000, paddingOutsideRadiusMm: radius, rescaleIntercept: -1024 });
      const assembled = await assemble(`padding${airHu}`, slices, { airHu });
      // The disk is centred on the image, which is centred on x = y = 0.
      const expected = (point: Vector3) => (Math.hypot(point[0], point[1]) > radius + 1e-9 ? airHu : phantomHu(PHANTOM, point));
      assert.equal(countMismatches(assembled, expected), 0);
      const padding = assembled.checks.find((check) => check.name === 'pixel_padding')!;
      assert.ok(padding.measured! > 0, padding.detail);
      assert.match(padding.detail, new RegExp(`air value ${airHu} HU`));
    });
  }

  it('PixelPaddingRangeLimit pads a whole range', async () => {
    const radius = 18;
    const slices = axialSlices(COLUMNS, ROWS, SPACING, ZS, {
      pixelPaddingValue: -2000,
      pixelPaddingRangeLimit: -1100,
      paddingOutsideRadiusMm: radius,
      rescaleIntercept: 0,
    });
    const assembled = await assemble('padding-range', slices);
    const expected = (point: Vector3) => (Math.hypot(point[0], point[1]) > radius + 1e-9 ? AIR_HU : phantomHu(PHANTOM, point));
    assert.equal(countMismatches(assembled, expected), 0);
    assert.match(assembled.checks.find((check) => check.name === 'pixel_padding')!.detail, /stored value -2000 to -1100/);
  });

  it('signed 12-bit stored values with stray high bits are masked', async () => {
    const slices = axialSlices(COLUMNS, ROWS, SPACING, ZS, { bitsStored: 12, pixelRepresentation: 1, rescaleIntercept: 0, junkHighBits: true });
    const assembled = await assemble('signed-12-bit', slices);
    assert.equal(countMismatches(assembled, (point) => phantomHu(PHANTOM, point)), 0);
    const [slice] = (await readSeriesSlices(await syntheticFiles(path.join(workDir, 'signed-12-bit')))).slices;
    assert.equal(slice!.storedValues[0], -1000);
  });

  it('fractional RescaleSlope keeps every value in float64', async () => {
    const slices = axialSlices(COLUMNS, ROWS, SPACING, ZS, { rescaleSlope: 0.3, rescaleIntercept: -1000.1 });
    const assembled = await assemble('fractional-slope', slices);
    assert.equal(assembled.voxelType, 'float64');
    const [slice] = (await readSeriesSlices(await syntheticFiles(path.join(workDir, 'fractional-slope')))).slices;
    const stored = slice!.storedValues[0]!;
    const first = assembled.volume.voxels[0]!;
    assert.equal(first, stored * 0.3 - 1000.1);
  });
});

describe('BitsStored masking and sign extension', () => {
  let workDir: string;

  before(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), 'argus-volume-bits-'));
  });

  after(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  /**
   * Rewrites a Philips slice with pydicom so that the same HU are encoded as 12-bit values (signed or
   * unsigned) with junk in the 4 bits above HighBit. A reader that ignores BitsStored or
   * PixelRepresentation gets other HU than the original file.
   */
  async function rewrite(source: string, target: string, signed: boolean): Promise<void> {
    const script = `
import sys, numpy, pydicom
source, target, signed = sys.argv[1], sys.argv[2], sys.argv[3] == '1'
ds = pydicom.dcmread(source)
assert ds.BitsStored == 12, ds.BitsStored
assert ds.PixelRepresentation == 0, ds.PixelRepresentation
assert float(ds.RescaleIntercept) == -1024, ds.RescaleIntercept
raw = ds.pixel_array.astype(numpy.int64)
junk = (numpy.arange(raw.size).reshape(raw.shape) * 7 % 16) << 12
if signed:
    stored = (raw - 1024) & 0xFFF
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = 0
else:
    stored = raw
ds.BitsStored = 12
ds.HighBit = 11
ds.PixelData = (stored | junk).astype('<u2').tobytes()
ds.save_as(target)
`;
    await run('/usr/bin/python3', ['-c', script, source, target, signed ? '1' : '0']);
  }

  for (const signed of [false, true]) {
    it(`${signed ? 'signed' : 'unsigned'} 12-bit values with junk high bits`, async () => {
      const source = path.join(PHILIPS_DIR, 'I100');
      const target = path.join(workDir, signed ? 'signed.dcm' : 'unsigned.dcm');
      await rewrite(source, target, signed);

      const [original, rewritten] = await Promise.all([readCtSlice(source), readCtSlice(target)]);
      assert.equal(rewritten.pixelRepresentation, signed ? 1 : 0);
      assert.ok(rewritten.storedValues.every((value) => value >= -2048 && value < 4096), 'values fit 12 bits');
      if (signed) assert.ok(rewritten.storedValues.some((value) => value < 0), 'some stored values are negative');
      let differing = 0;
      for (let index = 0; index < original.storedValues.length; index++) {
        const row = Math.floor(index / original.columns);
        const column = index % original.columns;
        if (sliceHu(original, row, column) !== sliceHu(rewritten, row, column)) differing++;
      }
      assert.equal(differing, 0, `${differing} pixels have other HU than the original file`);
    });
  }
});
