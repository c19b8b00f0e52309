/**
 * Axial, coronal and sagittal previews of a volume: the middle slice of each plane in a soft-tissue
 * window, as PNG, for the web console. The volume is in canonical LPS order, so the planes are shown
 * the radiological way: the patient's right on the viewer's left in axial and coronal views, anterior
 * on the left in the sagittal view, and superior at the top. Pixels are square in millimetres.
 */
import type { CtVolume, VoxelArray } from './ct-volume.ts';
import { encodeGrayscalePng } from './png.ts';

export type PreviewPlane = 'axial' | 'coronal' | 'sagittal';

export interface Preview {
  plane: PreviewPlane;
  width: number;
  height: number;
  png: Uint8Array;
}

export interface PreviewWindow {
  /** Window centre and width in HU (PS3.3 C.11.2.1.2). */
  center: number;
  width: number;
}

/** Soft-tissue window, W 400 / L 40, the usual abdominal and mediastinal setting. */
export const SOFT_TISSUE_WINDOW: PreviewWindow = { center: 40, width: 400 };

/** Maximum preview side in pixels; larger planes are sampled down to keep the files small. */
const MAX_PREVIEW_PIXELS = 512;

interface PlaneAxes {
  /** Volume axis shown left to right and top to bottom, and whether each runs reversed. */
  horizontal: 0 | 1 | 2;
  vertical: 0 | 1 | 2;
  flipVertical: boolean;
  /** The volume axis cut through at its middle. */
  normal: 0 | 1 | 2;
}

const PLANES: Record<PreviewPlane, PlaneAxes> = {
  // i runs to the patient's left and j to posterior: left to right and top to bottom on screen.
  axial: { horizontal: 0, vertical: 1, flipVertical: false, normal: 2 },
  // k runs to superior, which is the top of the screen.
  coronal: { horizontal: 0, vertical: 2, flipVertical: true, normal: 1 },
  sagittal: { horizontal: 1, vertical: 2, flipVertical: true, normal: 0 },
};

export function renderPreviews(volume: CtVolume<VoxelArray>, window: PreviewWindow = SOFT_TISSUE_WINDOW): Preview[] {
  return (Object.keys(PLANES) as PreviewPlane[]).map((plane) => renderPlane(volume, plane, window));
}

function renderPlane(volume: CtVolume<VoxelArray>, plane: PreviewPlane, window: PreviewWindow): Preview {
  const axes = PLANES[plane];
  const { dimensions, spacing, voxels } = volume;
  const strides = [1, dimensions[0], dimensions[0] * dimensions[1]] as const;
  const extentH = dimensions[axes.horizontal] * spacing[axes.horizontal];
  const extentV = dimensions[axes.vertical] * spacing[axes.vertical];
  const pixelMm = Math.max(Math.min(spacing[axes.horizontal], spacing[axes.vertical]), Math.max(extentH, extentV) / MAX_PREVIEW_PIXELS);
  const width = Math.max(1, Math.round(extentH / pixelMm));
  const height = Math.max(1, Math.round(extentV / pixelMm));

  const base = Math.floor(dimensions[axes.normal] / 2) * strides[axes.normal];
  const low = window.center - window.width / 2;
  const pixels = new Uint8Array(width * height);
  const columnOffsets = sampleOffsets(width, dimensions[axes.horizontal], false, strides[axes.horizontal]);
  const rowOffsets = sampleOffsets(height, dimensions[axes.vertical], axes.flipVertical, strides[axes.vertical]);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const hu = voxels[base + rowOffsets[y]! + columnOffsets[x]!]!;
      pixels[y * width + x] = Math.round(Math.min(1, Math.max(0, (hu - low) / window.width)) * 255);
    }
  }
  return { plane, width, height, png: encodeGrayscalePng(width, height, pixels) };
}

/** Nearest-neighbour source offsets for `output` pixels spread over `size` voxels along one axis. */
function sampleOffsets(output: number, size: number, flip: boolean, stride: number): Int32Array {
  const offsets = new Int32Array(output);
  for (let o = 0; o < output; o++) {
    const index = Math.min(size - 1, Math.floor(((o + 0.5) * size) / output));
    offsets[o] = (flip ? size - 1 - index : index) * stride;
  }
  return offsets;
}
