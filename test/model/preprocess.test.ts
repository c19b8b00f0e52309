import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { VolumeNotSupportedError } from '../../src/model/errors.ts';
import type { PreprocessingConfig } from '../../src/model/package-config.ts';
import { preprocessVolume, type PixelValues } from '../../src/model/preprocess.ts';
import type { CtVolume, Vector3 } from '../../src/volume/ct-volume.ts';
import { caseVolume, maxAbsDifference, preprocessingCases, readFloat32 } from './fixtures.ts';

// torch resamples in float32. On the machine that made the fixture the largest differences were
// 1.8e-7 (outputs in [0, 1] and [-1, 1]) and 1.9e-6 (standardized outputs up to 2.6), a few float32
// steps of HU values near 1000. A flipped axis, or align_corners=True sample positions, change some
// output of every case by more than 0.1.
const TOLERANCE = 1e-5;

describe('preprocessing against torch', () => {
  for (const testCase of preprocessingCases()) {
    it(`matches ${testCase.name}`, () => {
      const result = preprocessVolume(caseVolume(testCase), testCase.preprocessing);
      assert.deepEqual(result.shape, testCase.pixel_values.shape);
      const difference = maxAbsDifference(result.data, readFloat32(testCase.pixel_values.file));
      assert.ok(difference <= TOLERANCE, `max |difference| ${difference}`);
    });
  }
});

/** A value of 1 HU per mm keeps patient coordinates readable in the output. */
const IDENTITY_SCALING: Pick<PreprocessingConfig, 'hu_window' | 'scaling'> = {
  hu_window: [-10000, 10000],
  scaling: { kind: 'window_linear', output_range: [-10000, 10000] },
};

/** Builds a volume whose every voxel contains one LPS coordinate (0 = x, 1 = y, 2 = z) of its centre in mm. */
function coordinateVolume(patientAxis: number, direction: [Vector3, Vector3, Vector3]): CtVolume {
  const dimensions: Vector3 = [12, 10, 8];
  const spacing: Vector3 = [2, 3, 4];
  const origin: Vector3 = [5, -7, 11];
  const voxels = new Float32Array(dimensions[0] * dimensions[1] * dimensions[2]);
  for (let k = 0; k < dimensions[2]; k++) {
    for (let j = 0; j < dimensions[1]; j++) {
      for (let i = 0; i < dimensions[0]; i++) {
        const index = [i, j, k];
        let position = origin[patientAxis]!;
        for (let axis = 0; axis < 3; axis++) position += direction[axis]![patientAxis]! * index[axis]! * spacing[axis]!;
        voxels[i + j * dimensions[0] + k * dimensions[0] * dimensions[1]] = position;
      }
    }
  }
  return { voxels, dimensions, spacing, origin, direction };
}

function at(pixels: PixelValues, d: number, h: number, w: number): number {
  const [, , , height, width] = pixels.shape;
  return pixels.data[w + h * width + d * width * height]!;
}

describe('preprocessing orientation', () => {
  // Coronal acquisition: i toward patient left, j toward inferior, slices toward anterior.
  const coronal: [Vector3, Vector3, Vector3] = [
    [1, 0, 0],
    [0, 0, -1],
    [0, -1, 0],
  ];
  const config = (orientation: string): PreprocessingConfig => ({
    input_size: [6, 7, 8],
    target_spacing: null,
    orientation,
    resampling: 'trilinear',
    pad_value_hu: -1024,
    ...IDENTITY_SCALING,
  });

  it('LPS puts left, posterior and superior at increasing W, H, D', () => {
    const x = preprocessVolume(coordinateVolume(0, coronal), config('LPS'));
    const y = preprocessVolume(coordinateVolume(1, coronal), config('LPS'));
    const z = preprocessVolume(coordinateVolume(2, coronal), config('LPS'));
    assert.ok(at(x, 2, 3, 7) > at(x, 2, 3, 0), 'x grows along W');
    assert.ok(at(y, 2, 6, 4) > at(y, 2, 0, 4), 'y grows along H');
    assert.ok(at(z, 5, 3, 4) > at(z, 0, 3, 4), 'z grows along D');
    assert.equal(at(x, 0, 0, 5), at(x, 5, 6, 5), 'x is constant across H and D');
  });

  it('RAS reverses the first two axes', () => {
    const x = preprocessVolume(coordinateVolume(0, coronal), config('RAS'));
    const y = preprocessVolume(coordinateVolume(1, coronal), config('RAS'));
    assert.ok(at(x, 2, 3, 7) < at(x, 2, 3, 0), 'x falls along W');
    assert.ok(at(y, 2, 6, 4) < at(y, 2, 0, 4), 'y falls along H');
  });

  it('native keeps the volume axes', () => {
    const z = preprocessVolume(coordinateVolume(2, coronal), config('native'));
    // j runs toward inferior, so z falls along H.
    assert.ok(at(z, 2, 6, 4) < at(z, 2, 0, 4));
  });

  it('rejects axes 45 degrees between patient axes', () => {
    const r = Math.SQRT1_2;
    const diagonal: [Vector3, Vector3, Vector3] = [
      [r, r, 0],
      [-r, r, 0],
      [0, 0, 1],
    ];
    assert.throws(() => preprocessVolume(coordinateVolume(0, diagonal), config('LPS')), (error: unknown) => {
      assert.ok(error instanceof VolumeNotSupportedError);
      assert.equal(error.code, 'volume_not_supported');
      return true;
    });
  });
});

describe('preprocessing with target spacing', () => {
  const axial: [Vector3, Vector3, Vector3] = [
    [1, 0, 0],
    [0, 1, 0],
    [0, 0, 1],
  ];

  it('pads a small volume with pad_value_hu', () => {
    // 12 x 2 mm = 24 mm at 4 mm gives 6 voxels along W inside an input width of 10: 2 padded each side.
    const volume = coordinateVolume(0, axial);
    const result = preprocessVolume(volume, {
      input_size: [8, 8, 10],
      target_spacing: [4, 3.75, 4],
      orientation: 'LPS',
      resampling: 'trilinear',
      pad_value_hu: -1024,
      ...IDENTITY_SCALING,
    });
    assert.equal(at(result, 4, 4, 0), -1024);
    assert.equal(at(result, 4, 4, 1), -1024);
    assert.notEqual(at(result, 4, 4, 2), -1024);
    assert.notEqual(at(result, 4, 4, 7), -1024);
    assert.equal(at(result, 4, 4, 8), -1024);
  });

  it('crops a large volume around its centre', () => {
    // 12 voxels of 2 mm at 1 mm give 24 along W, at x = 4.5..27.5 mm. A width of 4 keeps resampled
    // indices 10..13 (x = 14.5..17.5 mm), so the middle two straddle the volume centre at x = 16 mm.
    const volume = coordinateVolume(0, axial);
    const result = preprocessVolume(volume, {
      input_size: [8, 10, 4],
      target_spacing: [4, 3, 1],
      orientation: 'LPS',
      resampling: 'trilinear',
      pad_value_hu: -1024,
      ...IDENTITY_SCALING,
    });
    const centre = 5 + (12 - 1);
    assert.ok(Math.abs(at(result, 4, 5, 1) - (centre - 0.5)) < 1e-3, `got ${at(result, 4, 5, 1)}`);
    assert.ok(Math.abs(at(result, 4, 5, 2) - (centre + 0.5)) < 1e-3, `got ${at(result, 4, 5, 2)}`);
  });
});

describe('preprocessing input checks', () => {
  it('rejects a voxel count that does not match the dimensions', () => {
    const volume: CtVolume = {
      voxels: new Float32Array(10),
      dimensions: [3, 3, 3],
      spacing: [1, 1, 1],
      origin: [0, 0, 0],
      direction: [
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
      ],
    };
    const config = preprocessingCases()[0]!.preprocessing;
    assert.throws(() => preprocessVolume(volume, config), VolumeNotSupportedError);
  });
});
