/**
 * HU values of single slices and assembled volumes against pydicom (pixel_array * RescaleSlope +
 * RescaleIntercept), for signed GE data, unsigned 12-bit Philips data and an Implicit VR Little Endian
 * series. Files rewritten by pydicom with junk above BitsStored exercise masking and sign extension.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { assembleVolume, readCtSlice, type CtSlice, type CtVolume } from '../../src/volume/index.ts';
import { SHARED_DATA } from '../helpers/shared-data.ts';

const run = promisify(execFile);

const DATA = SHARED_DATA;
const GE_DIR = `${DATA}/dcm_qa_ct/GE_HiSpeedDual_tilt_irregular`;
const PHILIPS_DIR = `${DATA}/dcm_qa_ct/Philips_Ingenuity_study_S21570/S2010`;
const IMPLICIT_DIR = `${DATA}/dcmqi_testdata/ct-3slice`;
const REFERENCE_SCRIPT = fileURLToPath(new URL('./pydicom-reference.py', import.meta.url));
const OPTIONS = { minSlices: 3, orientationTolerance: 1, spacingTolerance: 0.1 };

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
  const { stdout } = await run('/usr/bin/python3', [REFERENCE_SCRIPT, ...files], { maxBuffer: 16 * 1024 * 1024 });
  return stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Reference);
}

async function filesIn(directory: string): Promise<string[]> {
  return (await readdir(directory)).sort().map((name) => path.join(directory, name));
}

function sliceHu(slice: CtSlice, row: number, column: number): number {
  return slice.storedValues[row * slice.columns + column]! * slice.rescaleSlope + slice.rescaleIntercept;
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
    const hu = slice.storedValues[index]! * slice.rescaleSlope + slice.rescaleIntercept;
    sum += hu;
    min = Math.min(min, hu);
    max = Math.max(max, hu);
  }
  assert.equal(sum, reference.huSum, `${path.basename(reference.path)} HU sum`);
  assert.equal(min, reference.huMin, `${path.basename(reference.path)} HU minimum`);
  assert.equal(max, reference.huMax, `${path.basename(reference.path)} HU maximum`);
}

/** Returns the k index of the slice at `position` by projecting onto the volume's k axis. */
function sliceIndexAt(volume: CtVolume, position: [number, number, number]): number {
  const offset = position.map((value, axis) => value - volume.origin[axis]!);
  const along = offset.reduce((sum, value, axis) => sum + value * volume.direction[2][axis]!, 0);
  return Math.round(along / volume.spacing[2]);
}

function assertVolumeMatches(volume: CtVolume, references: Reference[]): void {
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
