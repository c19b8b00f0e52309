/**
 * One canonical volume: the same anatomy gives the same voxel array whatever the InstanceNumbers,
 * SpacingBetweenSlices, Patient Position or arrival order. Every variant is written from one
 * phantom in patient coordinates, so only the DICOM description differs.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { assembleVolume, lpsAffine, readSeriesSlices, type AssembledVolume, type Vector3 } from '../../src/volume/index.ts';
import { axialSlices, filesIn, phantomHu, writeSeries, type SeriesSpec, type SliceSpec } from './synthetic-series.ts';

const COLUMNS = 40;
const ROWS = 36;
const PIXEL_SPACING: [number, number] = [2, 2];
const ZS = Array.from({ length: 12 }, (_, index) => -10 + index * 2.5);
/** Two spheres off every axis of symmetry, so a flipped or permuted volume cannot look the same. */
const PHANTOM: SeriesSpec['phantom'] = {
  background: -1000,
  spheres: [
    { center: [12, -8, 0], radius: 9, hu: 60 },
    { center: [-15, 10, 8], radius: 5, hu: 300 },
  ],
};
const OPTIONS = { minSlices: 3, orientationTolerance: 0.5, spacingTolerance: 0.1 };

/** Feet-first supine: the image's row direction points to the patient's right, the first pixel is at the patient's left. */
function feetFirstSlices(): SliceSpec[] {
  const x0 = ((COLUMNS - 1) / 2) * PIXEL_SPACING[1];
  const y0 = (-(ROWS - 1) / 2) * PIXEL_SPACING[0];
  return [...ZS].reverse().map((z) => ({
    imagePositionPatient: [x0, y0, z],
    imageOrientationPatient: [-1, 0, 0, 0, 1, 0],
    patientPosition: 'FFS',
  }));
}

describe('one canonical volume', () => {
  let workDir: string;
  const volumes = new Map<string, AssembledVolume>();

  before(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), 'argus-volume-canonical-'));
    const base = axialSlices(COLUMNS, ROWS, PIXEL_SPACING, ZS);
    const variants: Record<string, SliceSpec[]> = {
      reference: base,
      'no InstanceNumber': base.map((slice) => ({ ...slice, instanceNumber: null })),
      'reversed InstanceNumbers': base.map((slice, index) => ({ ...slice, instanceNumber: ZS.length - index })),
      'SpacingBetweenSlices with the wrong sign': base.map((slice) => ({ ...slice, spacingBetweenSlices: -2.5 })),
      'feet-first Patient Position': feetFirstSlices(),
    };
    const specs = Object.entries(variants).map(([name, slices], index) => ({
      directory: path.join(workDir, `variant-${index}`),
      rows: ROWS,
      columns: COLUMNS,
      pixelSpacing: PIXEL_SPACING,
      phantom: PHANTOM,
      slices,
      name,
    }));
    await writeSeries(...specs);
    for (const spec of specs) {
      const { slices } = await readSeriesSlices(await filesIn(spec.directory));
      volumes.set(spec.name, assembleVolume(slices, OPTIONS));
    }
    const referenceFiles = await filesIn(specs[0]!.directory);
    const shuffled = [...referenceFiles].sort(() => Math.random() - 0.5);
    const { slices } = await readSeriesSlices(shuffled);
    volumes.set('random arrival order', assembleVolume(slices, OPTIONS));
  });

  after(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  it('reference volume is LPS with exact HU', () => {
    const { volume, voxelType } = volumes.get('reference')!;
    assert.equal(voxelType, 'int16');
    assert.deepEqual(volume.dimensions, [COLUMNS, ROWS, ZS.length]);
    assert.deepEqual(volume.direction, [[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
    assert.deepEqual(volume.spacing, [2, 2, 2.5]);
    const affine = lpsAffine(volume);
    let checked = 0;
    for (let k = 0; k < volume.dimensions[2]; k++) {
      for (let j = 0; j < volume.dimensions[1]; j++) {
        for (let i = 0; i < volume.dimensions[0]; i++) {
          const point = [0, 1, 2].map((axis) => affine[axis]![0]! * i + affine[axis]![1]! * j + affine[axis]![2]! * k + affine[axis]![3]!) as Vector3;
          const index = i + j * volume.dimensions[0] + k * volume.dimensions[0] * volume.dimensions[1];
          assert.equal(volume.voxels[index], phantomHu(PHANTOM, point), `voxel (${i}, ${j}, ${k}) at ${point.join(', ')}`);
          checked++;
        }
      }
    }
    assert.equal(checked, COLUMNS * ROWS * ZS.length);
  });

  for (const variant of [
    'no InstanceNumber',
    'reversed InstanceNumbers',
    'SpacingBetweenSlices with the wrong sign',
    'feet-first Patient Position',
    'random arrival order',
  ]) {
    it(`${variant} gives the reference volume`, () => {
      const reference = volumes.get('reference')!.volume;
      const { volume } = volumes.get(variant)!;
      assert.deepEqual(volume.dimensions, reference.dimensions);
      assert.deepEqual(volume.spacing, reference.spacing);
      assert.deepEqual(volume.direction, reference.direction);
      volume.origin.forEach((value, axis) => assert.ok(Math.abs(value - reference.origin[axis]!) < 1e-6, `origin ${volume.origin} vs ${reference.origin}`));
      assert.equal(volume.voxels.constructor, reference.voxels.constructor);
      let differing = 0;
      for (let index = 0; index < reference.voxels.length; index++) if (volume.voxels[index] !== reference.voxels[index]) differing++;
      assert.equal(differing, 0, `${differing} voxels differ`);
    });
  }

  it('feet-first series is recorded as reoriented', () => {
    const check = volumes.get('feet-first Patient Position')!.checks.find((candidate) => candidate.name === 'canonical_orientation');
    assert.equal(check?.action, 'reoriented');
  });
});
