/**
 * Volume previews: valid PNG files (decoded by Pillow), square millimetres, the soft-tissue window, and
 * the radiological orientation of each plane, checked with markers at known patient positions.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { renderPreviews, type CtVolume, type Preview } from '../../src/volume/index.ts';

const run = promisify(execFile);

interface Decoded {
  width: number;
  height: number;
  mode: string;
  /** Mean x and y of pixels brighter than 200, or null when there are none. */
  bright: [number, number] | null;
  /** Value of the pixel in the top left corner. */
  corner: number;
}

/** Decodes PNG files with Pillow, independently of the encoder under test. */
async function decode(files: string[]): Promise<Decoded[]> {
  const script = `
import sys, json
from PIL import Image
out = []
for name in sys.argv[1:]:
    image = Image.open(name)
    image.load()
    pixels = image.load()
    bright = [(x, y) for y in range(image.height) for x in range(image.width) if pixels[x, y] > 200]
    centre = None if not bright else [sum(p[0] for p in bright) / len(bright), sum(p[1] for p in bright) / len(bright)]
    out.append({'width': image.width, 'height': image.height, 'mode': image.mode, 'bright': centre, 'corner': pixels[0, 0]})
print(json.dumps(out))
`;
  const { stdout } = await run('/usr/bin/python3', ['-c', script, ...files]);
  return JSON.parse(stdout) as Decoded[];
}

/**
 * Builds an LPS volume of air with three 300 HU markers, each cut by one middle plane. The axial marker
 * is at the patient's left and anterior, the coronal one at left and superior, and the sagittal one at
 * anterior and superior.
 */
function markerVolume(spacing: [number, number, number]): CtVolume<Int16Array> {
  const dimensions: [number, number, number] = [41, 41, 41].map((size, axis) => Math.round((size - 1) / spacing[axis]!) + 1) as [number, number, number];
  const origin: [number, number, number] = [-20, -20, -20];
  const voxels = new Int16Array(dimensions[0] * dimensions[1] * dimensions[2]).fill(-1000);
  const markers: [number, number, number][] = [
    [10, -10, 0],
    [10, 0, 10],
    [0, -10, 10],
  ];
  for (let k = 0; k < dimensions[2]; k++) {
    for (let j = 0; j < dimensions[1]; j++) {
      for (let i = 0; i < dimensions[0]; i++) {
        const point = [origin[0] + i * spacing[0], origin[1] + j * spacing[1], origin[2] + k * spacing[2]];
        if (markers.some((marker) => Math.hypot(point[0]! - marker[0], point[1]! - marker[1], point[2]! - marker[2]) <= 4)) {
          voxels[i + j * dimensions[0] + k * dimensions[0] * dimensions[1]] = 300;
        }
      }
    }
  }
  return { voxels, dimensions, spacing, origin, direction: [[1, 0, 0], [0, 1, 0], [0, 0, 1]] };
}

describe('volume previews', () => {
  let workDir: string;

  before(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), 'argus-volume-preview-'));
  });

  after(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  async function decodePreviews(previews: Preview[]): Promise<Map<string, Decoded>> {
    const files = await Promise.all(
      previews.map(async (preview) => {
        const file = path.join(workDir, `${preview.plane}-${Math.random().toString(36).slice(2)}.png`);
        await writeFile(file, preview.png);
        return file;
      }),
    );
    const decoded = await decode(files);
    return new Map(previews.map((preview, index) => [preview.plane, decoded[index]!]));
  }

  it('planes are shown the radiological way', async () => {
    const decoded = await decodePreviews(renderPreviews(markerVolume([1, 1, 1])));
    assert.deepEqual([...decoded.keys()], ['axial', 'coronal', 'sagittal']);
    const axial = decoded.get('axial')!;
    const coronal = decoded.get('coronal')!;
    const sagittal = decoded.get('sagittal')!;
    for (const image of [axial, coronal, sagittal]) {
      assert.equal(image.mode, 'L');
      assert.deepEqual([image.width, image.height], [41, 41]);
      // Air is below the soft-tissue window (-160 to 240 HU), so it is black.
      assert.equal(image.corner, 0);
    }
    // Axial: patient's left on the viewer's right (x 30), anterior at the top (y 10).
    assert.deepEqual(axial.bright?.map(Math.round), [30, 10]);
    // Coronal: left on the right, superior at the top.
    assert.deepEqual(coronal.bright?.map(Math.round), [30, 10]);
    // Sagittal: anterior on the left, superior at the top.
    assert.deepEqual(sagittal.bright?.map(Math.round), [10, 10]);
  });

  it('pixels are square in millimetres', async () => {
    const decoded = await decodePreviews(renderPreviews(markerVolume([0.5, 0.5, 2])));
    assert.deepEqual([decoded.get('axial')!.width, decoded.get('axial')!.height], [81, 81]);
    // 81 columns 0.5 mm apart, and 21 slices 2 mm apart shown at 0.5 mm per pixel: 84 rows for 42 mm.
    assert.deepEqual([decoded.get('coronal')!.width, decoded.get('coronal')!.height], [81, 84]);
    // The marker at x 10 mm is column (10 + 20) / 0.5 = 60; at z 10 mm it is slice 15, the 6th from the top, rows 20 to 23.
    assert.deepEqual(decoded.get('coronal')!.bright?.map(Math.round), [60, 22]);
  });
});
