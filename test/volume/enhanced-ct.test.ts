/**
 * Enhanced CT and Legacy Converted Enhanced CT: frames read from their per-frame and shared functional
 * groups give the same volume as the single-frame series they were converted from, in any frame order.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import {
  assembleVolume,
  readCtSlices,
  readSeriesSlices,
  type AssembledVolume,
  type AssemblyOptions,
  type CtSlice,
} from '../../src/volume/index.ts';
import { sharedData } from '../helpers/shared-data.ts';
import { filesIn } from './synthetic-series.ts';

const run = promisify(execFile);

const LCE_DIR = sharedData('converted/pixelmed_LCE_CT_from_dcm_qa_ct');
const PHILIPS_S2010 = sharedData('dcm_qa_ct/Philips_Ingenuity_study_S21570/S2010');
const GE_DIR = sharedData('dcm_qa_ct/GE_HiSpeedDual_tilt_irregular');
const DCMQI_LCE = sharedData('dcmqi_testdata/legacy_converted_enhanced_ct_23x38x3');
const OPTIONS: AssemblyOptions = { minSlices: 3, orientationTolerance: 1, spacingTolerance: 0.1 };

function assertSameVolume(actual: AssembledVolume, expected: AssembledVolume): void {
  assert.deepEqual(actual.volume.dimensions, expected.volume.dimensions);
  assert.deepEqual(actual.volume.spacing, expected.volume.spacing);
  assert.deepEqual(actual.volume.direction, expected.volume.direction);
  assert.deepEqual(actual.volume.origin, expected.volume.origin);
  assert.equal(actual.voxelType, expected.voxelType);
  let differing = 0;
  for (let index = 0; index < expected.volume.voxels.length; index++) {
    if (actual.volume.voxels[index] !== expected.volume.voxels[index]) differing++;
  }
  assert.equal(differing, 0, `${differing} voxels differ`);
}

/** Returns the single-frame files whose ImagePositionPatient matches a frame of `frames`. */
async function sourcesOf(frames: CtSlice[], directory: string): Promise<string[]> {
  const key = (slice: CtSlice) => slice.imagePositionPatient.map((value) => value.toFixed(3)).join('\\');
  const expected = new Set(frames.map(key));
  const { slices } = await readSeriesSlices(await filesIn(directory));
  const matching = slices.filter((slice) => expected.has(key(slice)));
  assert.equal(matching.length, frames.length, 'every frame has a single-frame source');
  return matching.map((slice) => slice.filePath);
}

describe('multi-frame CT against single-frame sources', () => {
  for (const name of ['Philips_S21570_S2010_LCE_28frames_EVRLE.dcm', 'Philips_S21570_S2010_LCE_28frames_JPEGLS.dcm']) {
    it(`${name} equals the Philips series`, async () => {
      const frames = await readCtSlices(path.join(LCE_DIR, name));
      assert.equal(frames.length, 28);
      const { slices } = await readSeriesSlices(await filesIn(PHILIPS_S2010));
      assertSameVolume(assembleVolume(frames, OPTIONS), assembleVolume(slices, OPTIONS));
    });
  }

  for (const name of ['GE_tilt_LCE_stack1_14frames_JPEGLS.dcm', 'GE_tilt_LCE_stack2_14frames_JPEGLS.dcm']) {
    it(`${name} equals its tilted GE slices`, async () => {
      const frames = await readCtSlices(path.join(LCE_DIR, name));
      assert.equal(frames.length, 14);
      const { slices } = await readSeriesSlices(await sourcesOf(frames, GE_DIR));
      const fromFrames = assembleVolume(frames, OPTIONS);
      assert.equal(fromFrames.checks.find((check) => check.name === 'gantry_tilt')?.action, 'resampled');
      assertSameVolume(fromFrames, assembleVolume(slices, OPTIONS));
    });
  }

  it('dcmqi Legacy Converted Enhanced CT equals its 3 slices', async () => {
    const frames = await readCtSlices(path.join(DCMQI_LCE, 'multiframe/mf.dcm'));
    const { slices } = await readSeriesSlices(await filesIn(path.join(DCMQI_LCE, 'image')));
    assertSameVolume(assembleVolume(frames, OPTIONS), assembleVolume(slices, OPTIONS));
  });
});

describe('multi-frame CT frame order', () => {
  let workDir: string;

  before(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), 'argus-volume-frames-'));
  });

  after(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  it('shuffled frames give the same volume', async () => {
    const source = path.join(LCE_DIR, 'Philips_S21570_S2010_LCE_28frames_EVRLE.dcm');
    const target = path.join(workDir, 'shuffled.dcm');
    // Reorders the per-frame functional groups and the pixel data frames together, with a fixed permutation.
    const script = `
import sys, random, pydicom
ds = pydicom.dcmread(sys.argv[1])
frames = int(ds.NumberOfFrames)
size = ds.Rows * ds.Columns * 2
order = list(range(frames))
random.Random(7).shuffle(order)
items = list(ds.PerFrameFunctionalGroupsSequence)
ds.PerFrameFunctionalGroupsSequence = pydicom.sequence.Sequence([items[i] for i in order])
data = ds.PixelData
ds.PixelData = b''.join(data[i * size:(i + 1) * size] for i in order)
ds.save_as(sys.argv[2])
print(order)
`;
    const { stdout } = await run('/usr/bin/python3', ['-c', script, source, target]);
    assert.notEqual(stdout.trim(), JSON.stringify([...Array(28).keys()]).replaceAll(',', ', '));

    const original = await readCtSlices(source);
    const shuffled = await readCtSlices(target);
    assert.notDeepEqual(
      shuffled.map((slice) => slice.imagePositionPatient[2]),
      original.map((slice) => slice.imagePositionPatient[2]),
    );
    assertSameVolume(assembleVolume(shuffled, OPTIONS), assembleVolume(original, OPTIONS));
  });
});

describe('Enhanced CT Image Storage', () => {
  /** Stored values of every frame as pydicom decodes them, for comparison. */
  async function pydicomFrames(file: string): Promise<number[][]> {
    const script = `
import sys, json, numpy, pydicom
ds = pydicom.dcmread(sys.argv[1])
frames = ds.pixel_array.reshape(int(ds.NumberOfFrames), -1)
print(json.dumps([[int(frames[f].min()), int(frames[f].max()), int(frames[f].astype(numpy.int64).sum())] for f in range(frames.shape[0])]))
`;
    const { stdout } = await run('/usr/bin/python3', ['-c', script, file], { maxBuffer: 16 * 1024 * 1024 });
    return JSON.parse(stdout) as number[][];
  }

  function summary(slice: CtSlice): number[] {
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    for (const value of slice.storedValues) {
      min = Math.min(min, value);
      max = Math.max(max, value);
      sum += value;
    }
    return [min, max, sum];
  }

  it('eCT_Supplemental frames match pydicom', async () => {
    const file = sharedData('pydicom_testfiles/ct/eCT_Supplemental.dcm');
    const frames = await readCtSlices(file);
    assert.equal(frames.length, 2);
    assert.deepEqual(frames.map(summary), await pydicomFrames(file));
    assert.deepEqual(frames.map((frame) => frame.frameNumber), [1, 2]);
    assert.equal(frames[0]!.rescaleIntercept, -1024);
  });

  it('JPEG frames without a Basic Offset Table match dcmdjpeg', async () => {
    const file = sharedData('cornerstone_wado_testimages/CT0012.fragmented_no_bot_jpeg_baseline.51.dcm');
    const workDir = await mkdtemp(path.join(tmpdir(), 'argus-volume-ct0012-'));
    try {
      const decoded = path.join(workDir, 'decoded.dcm');
      await run('dcmdjpeg', [file, decoded]);
      const frames = await readCtSlices(file);
      const reference = await readCtSlices(decoded);
      assert.equal(frames.length, 2);
      assert.equal(frames[0]!.lossyCompression, true);
      frames.forEach((frame, index) => assert.deepEqual([...frame.storedValues], [...reference[index]!.storedValues], `frame ${index + 1}`));
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  });
});
