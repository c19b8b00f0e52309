/**
 * Slice spacing, gaps, localizers and repeated positions: the exact gap list and what each policy does
 * with it, on synthetic series and on the real irregular series (GE tilt + 1.08/4/7 mm, dicom2nifti's
 * sliceincrement cases).
 */
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  assembleVolume,
  lpsAffine,
  readSeriesSlices,
  VolumeError,
  type AssembledVolume,
  type AssemblyOptions,
  type SliceGap,
  type VolumeErrorCode,
} from '../../src/volume/index.ts';
import { sharedData } from '../helpers/shared-data.ts';
import { AXIAL, axialSlices, filesIn, writeSeries, type SeriesSpec, type SliceSpec } from './synthetic-series.ts';

const GE_DIR = sharedData('dcm_qa_ct/GE_HiSpeedDual_tilt_irregular');
const SLICE_INCREMENT = sharedData('dicom2nifti_testdata/failing/sliceincrement');
const PHILIPS_STUDY = sharedData('dcm_qa_ct/Philips_Ingenuity_study_S21570');
const OPTIONS: AssemblyOptions = { minSlices: 3, orientationTolerance: 1, spacingTolerance: 0.1 };
const RESAMPLE: AssemblyOptions = { ...OPTIONS, spacingPolicy: 'resample', maxGapMm: 12 };

const COLUMNS = 24;
const ROWS = 20;
const PIXEL_SPACING: [number, number] = [2, 2];
const PHANTOM: SeriesSpec['phantom'] = { background: -1000, spheres: [{ center: [0, 0, 10], radius: 12, hu: 40 }] };

async function assembleFiles(files: string[], options: AssemblyOptions): Promise<AssembledVolume> {
  const { slices, skipped } = await readSeriesSlices(files);
  return assembleVolume(slices, options, skipped);
}

async function expectVolumeError(code: VolumeErrorCode, action: () => Promise<unknown>): Promise<VolumeError> {
  try {
    await action();
  } catch (error) {
    assert.ok(error instanceof VolumeError, `expected a VolumeError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected VolumeError ${code}, but nothing was thrown`);
}

function gapsOf(error: VolumeError | AssembledVolume): SliceGap[] {
  const check = error.checks.find((candidate) => candidate.name === 'slice_spacing');
  assert.ok(check?.gaps !== undefined, 'no slice_spacing check with gaps');
  return check.gaps;
}

/** Rounds the numbers of a gap list to 3 decimals, the precision of the positions written. */
function rounded(gaps: SliceGap[]): SliceGap[] {
  const round = (value: number) => Math.round(value * 1000) / 1000;
  return gaps.map((gap) => ({
    ...gap,
    belowPositionMm: round(gap.belowPositionMm),
    abovePositionMm: round(gap.abovePositionMm),
    gapMm: round(gap.gapMm),
    expectedMm: round(gap.expectedMm),
  }));
}

describe('slice spacing on synthetic series', () => {
  let workDir: string;

  before(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), 'argus-volume-spacing-'));
  });

  after(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  async function write(name: string, slices: SliceSpec[]): Promise<string[]> {
    const directory = path.join(workDir, name);
    await writeSeries({ directory, rows: ROWS, columns: COLUMNS, pixelSpacing: PIXEL_SPACING, phantom: PHANTOM, slices });
    return filesIn(directory);
  }

  it('block of missing slices: exact gap list', async () => {
    // 2 mm spacing, with the slices at 12, 14, 16 and 18 mm missing.
    const files = await write('block', axialSlices(COLUMNS, ROWS, PIXEL_SPACING, [0, 2, 4, 6, 8, 10, 20, 22, 24, 26, 28, 30]));
    const error = await expectVolumeError('non_uniform_spacing', () => assembleFiles(files, OPTIONS));
    assert.deepEqual(rounded(gapsOf(error)), [
      { below: 'InstanceNumber 6', above: 'InstanceNumber 7', belowPositionMm: 10, abovePositionMm: 20, gapMm: 10, expectedMm: 2, missingSlices: 4 },
    ]);
    assert.match(error.message, /10\.00 mm between InstanceNumber 6 at 10\.00 mm and InstanceNumber 7 at 20\.00 mm \(4 slices missing\)/);
  });

  it('block of missing slices: resample policy fills the grid', async () => {
    const files = await write('block-resample', axialSlices(COLUMNS, ROWS, PIXEL_SPACING, [0, 2, 4, 6, 8, 10, 20, 22, 24, 26, 28, 30]));
    const assembled = await assembleFiles(files, RESAMPLE);
    assert.deepEqual(assembled.volume.dimensions, [COLUMNS, ROWS, 16]);
    assert.equal(assembled.volume.spacing[2], 2);
    assert.equal(assembled.voxelType, 'float32');
    assert.equal(rounded(assembled.gaps).length, 1);
    assert.equal(assembled.checks.find((check) => check.name === 'slice_spacing')?.action, 'resampled');
    // Slices at 0, 2, ... 10 mm and 20, ... 30 mm are copied; 12 to 18 mm are interpolated between 10 and 20 mm.
    const plane = COLUMNS * ROWS;
    const at = (k: number, index: number) => assembled.volume.voxels[k * plane + index]!;
    const centre = (ROWS / 2) * COLUMNS + COLUMNS / 2;
    for (const k of [6, 7, 8, 9]) {
      const weight = (k * 2 - 10) / 10;
      assert.ok(Math.abs(at(k, centre) - ((1 - weight) * at(5, centre) + weight * at(10, centre))) < 1e-3, `slice ${k}`);
    }
  });

  it('block of missing slices: gap above the limit is rejected', async () => {
    const files = await write('block-limit', axialSlices(COLUMNS, ROWS, PIXEL_SPACING, [0, 2, 4, 6, 8, 10, 20, 22, 24, 26, 28, 30]));
    const error = await expectVolumeError('non_uniform_spacing', () => assembleFiles(files, { ...RESAMPLE, maxGapMm: 8 }));
    assert.match(error.message, /largest gap, 10\.00 mm, is more than the 8\.00 mm that may be bridged/);
  });

  it('varying spacing: exact gap list', async () => {
    const files = await write('varying', axialSlices(COLUMNS, ROWS, PIXEL_SPACING, [0, 2.5, 5, 7.5, 9, 11.5, 14, 17.5, 20, 22.5]));
    const error = await expectVolumeError('non_uniform_spacing', () => assembleFiles(files, OPTIONS));
    assert.deepEqual(rounded(gapsOf(error)), [
      { below: 'InstanceNumber 4', above: 'InstanceNumber 5', belowPositionMm: 7.5, abovePositionMm: 9, gapMm: 1.5, expectedMm: 2.5, missingSlices: 0 },
      { below: 'InstanceNumber 7', above: 'InstanceNumber 8', belowPositionMm: 14, abovePositionMm: 17.5, gapMm: 3.5, expectedMm: 2.5, missingSlices: 0 },
    ]);
    const resampled = await assembleFiles(files, RESAMPLE);
    assert.deepEqual(resampled.volume.dimensions, [COLUMNS, ROWS, 10]);
    assert.equal(resampled.volume.spacing[2], 2.5);
  });

  it('coronal localizer in an axial series is dropped', async () => {
    const axial = axialSlices(COLUMNS, ROWS, PIXEL_SPACING, [0, 3, 6, 9, 12, 15]);
    const localizer: SliceSpec = {
      imagePositionPatient: [-23, 0, 30],
      imageOrientationPatient: [1, 0, 0, 0, 0, -1],
      imageType: ['ORIGINAL', 'PRIMARY', 'LOCALIZER'],
      instanceNumber: 1,
    };
    const files = await write('localizer', [localizer, ...axial.map((slice, index) => ({ ...slice, instanceNumber: index + 2 }))]);
    const assembled = await assembleFiles(files, OPTIONS);
    assert.equal(assembled.volume.spacing[2], 3);
    assert.equal(assembled.volume.dimensions[2], 6);
    const dropped = assembled.checks.find((check) => check.name === 'localizers');
    assert.equal(dropped?.measured, 1);
    assert.equal(dropped?.action, 'dropped');
  });

  it('identical image under a new SOPInstanceUID is kept once', async () => {
    const slices = axialSlices(COLUMNS, ROWS, PIXEL_SPACING, [0, 2, 4, 6, 8]);
    const files = await write('identical', [...slices, { ...slices[2]!, instanceNumber: 99 }]);
    const assembled = await assembleFiles(files, OPTIONS);
    assert.equal(assembled.volume.dimensions[2], 5);
    const check = assembled.checks.find((candidate) => candidate.name === 'repeated_positions');
    assert.equal(check?.action, 'deduplicated');
    assert.match(check!.detail, /1 identical repeated image/);
  });

  it('second acquisition at the same positions is split or rejected', async () => {
    const first = axialSlices(COLUMNS, ROWS, PIXEL_SPACING, [0, 2, 4, 6, 8, 10], { acquisitionNumber: 1 });
    const second = axialSlices(COLUMNS, ROWS, PIXEL_SPACING, [4, 6, 8], { acquisitionNumber: 2, rescaleIntercept: 0 });
    // Another intercept makes the second acquisition's stored values differ, so the images are not identical.
    const files = await write('acquisitions', [...first, ...second.map((slice, index) => ({ ...slice, instanceNumber: 10 + index }))]);

    const error = await expectVolumeError('duplicate_position', () => assembleFiles(files, OPTIONS));
    assert.match(error.message, /Different images lie at the same position along the slice normal at 3 position\(s\)/);

    const split = await assembleFiles(files, { ...OPTIONS, repeatedPositionPolicy: 'split' });
    assert.equal(split.volume.dimensions[2], 6);
    const check = split.checks.find((candidate) => candidate.name === 'repeated_positions');
    assert.equal(check?.action, 'split');
    assert.match(check!.detail, /split by AcquisitionNumber into 2 parts; the part with AcquisitionNumber 1 \(6 slices\) was kept/);
  });

  it('tilted series is corrected onto a rectangular grid', async () => {
    // Gantry tilted by 20°: the image plane's column direction leaves the coronal plane, the table moves along z.
    const tilt = (20 * Math.PI) / 180;
    const orientation = [1, 0, 0, 0, Math.cos(tilt), -Math.sin(tilt)];
    const slices: SliceSpec[] = [0, 1, 2, 3, 4, 5, 6, 7].map((index) => ({
      imagePositionPatient: [-23, -19 * Math.cos(tilt), -19 * -Math.sin(tilt) + index * 3],
      imageOrientationPatient: orientation,
    }));
    const files = await write('tilt', slices);
    const assembled = await assembleFiles(files, OPTIONS);
    const check = assembled.checks.find((candidate) => candidate.name === 'gantry_tilt');
    assert.equal(check?.action, 'resampled');
    assert.ok(Math.abs(check!.measured! - 20) < 1e-3, `tilt ${check!.measured}`);
    // The grid is rectangular: k is the plane normal, and the slices are 3 mm * cos(20°) apart along it.
    const [i, j, k] = assembled.volume.direction;
    assert.ok(Math.abs(i[0] * k[0] + i[1] * k[1] + i[2] * k[2]) < 1e-9);
    assert.ok(Math.abs(j[0] * k[0] + j[1] * k[1] + j[2] * k[2]) < 1e-9);
    assert.ok(Math.abs(assembled.volume.spacing[2] - 3 * Math.cos(tilt)) < 1e-5);

    // Voxels well inside the sphere are 40 HU and voxels well outside are air, wherever the affine puts them.
    const affine = lpsAffine(assembled.volume);
    const [nx, ny, nz] = assembled.volume.dimensions;
    const sphere = PHANTOM.spheres[0]!;
    let inside = 0;
    let wrong = 0;
    for (let z = 0; z < nz; z++) {
      for (let y = 0; y < ny; y++) {
        for (let x = 0; x < nx; x++) {
          const point = [0, 1, 2].map((axis) => affine[axis]![0]! * x + affine[axis]![1]! * y + affine[axis]![2]! * z + affine[axis]![3]!);
          const distance = Math.hypot(point[0]! - sphere.center[0], point[1]! - sphere.center[1], point[2]! - sphere.center[2]);
          const value = assembled.volume.voxels[x + y * nx + z * nx * ny]!;
          // 3 mm covers the interpolation across one slice gap and one pixel.
          if (distance < sphere.radius - 3) {
            inside++;
            if (Math.abs(value - sphere.hu) > 1e-3) wrong++;
          } else if (distance > sphere.radius + 3 && Math.abs(value - PHANTOM.background) > 1e-3) {
            wrong++;
          }
        }
      }
    }
    assert.ok(inside > 100, `${inside} voxels inside the sphere`);
    assert.equal(wrong, 0, `${wrong} voxels are not where the phantom puts them`);

    await expectVolumeError('gantry_tilt', () => assembleFiles(files, { ...OPTIONS, tiltPolicy: 'reject' }));
  });

  it('untilted oblique plane needs no tilt correction', async () => {
    const slices = axialSlices(COLUMNS, ROWS, PIXEL_SPACING, [0, 2, 4]).map((slice) => ({ ...slice, imageOrientationPatient: AXIAL }));
    const files = await write('untilted', slices);
    const assembled = await assembleFiles(files, OPTIONS);
    assert.equal(assembled.checks.find((check) => check.name === 'gantry_tilt')?.action, undefined);
    assert.equal(assembled.voxelType, 'int16');
  });
});

describe('slice spacing on real series', () => {
  it('GE tilt with 1.08/4/7 mm gaps: rejected by default', async () => {
    const error = await expectVolumeError('non_uniform_spacing', async () => assembleFiles(await filesIn(GE_DIR), OPTIONS));
    const gaps = gapsOf(error);
    assert.equal(gaps.length, 14);
    assert.deepEqual(
      { below: gaps[0]!.below, above: gaps[0]!.above, gapMm: gaps[0]!.gapMm.toFixed(3), expectedMm: gaps[0]!.expectedMm.toFixed(3) },
      { below: 'InstanceNumber 14', above: 'InstanceNumber 15', gapMm: '1.081', expectedMm: '4.002' },
    );
    assert.ok(gaps.slice(1).every((gap) => gap.gapMm.toFixed(3) === '6.999'), 'the other gaps are 6.999 mm');
    assert.match(error.message, /median gap is 4\.00 mm, but 14 gap\(s\) differ/);
  });

  it('GE tilt with 1.08/4/7 mm gaps: resampled and tilt-corrected', async () => {
    const assembled = await assembleFiles(await filesIn(GE_DIR), { ...OPTIONS, spacingPolicy: 'resample', maxGapMm: 7.5 });
    const length = 13 * 4.22 * Math.cos((18.5 * Math.PI) / 180);
    assert.equal(assembled.gaps.length, 14);
    assert.ok(Math.abs(assembled.volume.spacing[2] - 4.002) < 0.001, `spacing ${assembled.volume.spacing[2]}`);
    assert.equal(assembled.volume.dimensions[2], 37, `${length} mm of 4 mm slices plus 1.08 and 13 x 7 mm`);
    assert.equal(assembled.checks.find((check) => check.name === 'gantry_tilt')?.action, 'resampled');
    assert.equal(assembled.checks.find((check) => check.name === 'slice_spacing')?.action, 'resampled');
  });

  it('GE tilt with 1.08/4/7 mm gaps: tilt rejected when configured', async () => {
    await expectVolumeError('gantry_tilt', async () =>
      assembleFiles(await filesIn(GE_DIR), { ...OPTIONS, spacingPolicy: 'resample', maxGapMm: 7.5, tiltPolicy: 'reject' }),
    );
  });

  it('sliceincrement/001: missing slice with contiguous InstanceNumbers', async () => {
    const files = await filesIn(`${SLICE_INCREMENT}/001`);
    const error = await expectVolumeError('non_uniform_spacing', () => assembleFiles(files, OPTIONS));
    assert.deepEqual(
      rounded(gapsOf(error)).map(({ below, above, gapMm, missingSlices }) => ({ below, above, gapMm, missingSlices })),
      [{ below: 'InstanceNumber 9', above: 'InstanceNumber 10', gapMm: 10, missingSlices: 1 }],
    );
    assert.match(error.message, /10\.00 mm between InstanceNumber 9 at 28\.11 mm and InstanceNumber 10 at 38\.11 mm \(one slice missing\)/);
    const resampled = await assembleFiles(files, { ...RESAMPLE, maxGapMm: 10 });
    assert.equal(resampled.volume.dimensions[2], 5);
  });

  it('sliceincrement/002: tilted series with InstanceNumber 4 missing', async () => {
    const files = await filesIn(`${SLICE_INCREMENT}/002`);
    const error = await expectVolumeError('non_uniform_spacing', () => assembleFiles(files, OPTIONS));
    assert.deepEqual(
      rounded(gapsOf(error)).map(({ below, above, missingSlices }) => ({ below, above, missingSlices })),
      [{ below: 'InstanceNumber 3', above: 'InstanceNumber 5', missingSlices: 1 }],
    );
    const resampled = await assembleFiles(files, { ...RESAMPLE, maxGapMm: 2 });
    assert.equal(resampled.volume.dimensions[2], 5);
    assert.equal(resampled.checks.find((check) => check.name === 'gantry_tilt')?.action, 'resampled');
  });

  it('real localizer in the axial series is dropped', async () => {
    const workDir = await mkdtemp(path.join(tmpdir(), 'argus-volume-localizer-'));
    try {
      const axial = await filesIn(`${PHILIPS_STUDY}/S2010`);
      const files = [...axial, path.join(PHILIPS_STUDY, 'S1000/I10')];
      for (const file of files) await copyFile(file, path.join(workDir, `${path.basename(path.dirname(file))}-${path.basename(file)}`));
      const assembled = await assembleFiles(await filesIn(workDir), OPTIONS);
      const reference = await assembleFiles(axial, OPTIONS);
      assert.deepEqual(assembled.volume.spacing, reference.volume.spacing);
      assert.equal(assembled.volume.dimensions[2], 28);
      assert.equal(assembled.checks.find((check) => check.name === 'localizers')?.measured, 1);
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  });
});
