/**
 * Splitting encapsulated pixel data into frames (PS3.5 A.4). A frame may span several fragments. The
 * Extended Offset Table or the Basic Offset Table gives the start of each frame. Without either, a
 * single-frame image owns every fragment, and a multi-frame image is split at the start marker of each
 * codestream. RLE has no start marker, but PS3.5 G.1 puts each RLE frame in exactly one fragment.
 */
import type { PixelEncoding } from './transfer-syntax.ts';
import { VolumeError } from './volume-error.ts';

export interface EncapsulatedPixelData {
  basicOffsetTable: Uint8Array;
  fragments: Uint8Array[];
}

/** Size of a fragment's item header (tag and length) in the offsets of the offset tables. */
const ITEM_HEADER_BYTES = 8;

/** Returns the compressed bytes of each frame, in frame order. */
export function splitFrames(
  pixelData: EncapsulatedPixelData,
  frameCount: number,
  encoding: PixelEncoding,
  filePath: string,
  extendedOffsets?: number[],
): Uint8Array[] {
  const { fragments } = pixelData;
  if (fragments.length === 0) {
    throw new VolumeError('pixel_data_truncated', 'The encapsulated pixel data contains no fragments.', { filePath });
  }
  if (frameCount === 1) return [concatenate(fragments)];

  const offsets = extendedOffsets ?? readBasicOffsetTable(pixelData.basicOffsetTable);
  if (offsets.length > 0) return splitAtOffsets(fragments, offsets, frameCount, filePath);
  if (fragments.length === frameCount) return fragments;
  if (encoding !== 'rle') return splitAtStartMarkers(fragments, frameCount, encoding, filePath);

  throw new VolumeError(
    'invalid_pixel_data',
    `The RLE pixel data has ${fragments.length} fragments for ${frameCount} frames, but each RLE frame must be ` +
      'one fragment.',
    { filePath },
  );
}

function readBasicOffsetTable(table: Uint8Array): number[] {
  const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
  const offsets: number[] = [];
  for (let offset = 0; offset + 4 <= table.byteLength; offset += 4) offsets.push(view.getUint32(offset, true));
  return offsets;
}

/** Groups fragments by the frame offsets, which count bytes from the first fragment's item header. */
function splitAtOffsets(fragments: Uint8Array[], offsets: number[], frameCount: number, filePath: string): Uint8Array[] {
  if (offsets.length !== frameCount) {
    throw new VolumeError(
      'invalid_pixel_data',
      `The pixel data offset table lists ${offsets.length} frames, but NumberOfFrames is ${frameCount}.`,
      { filePath },
    );
  }
  const frames: Uint8Array[][] = offsets.map(() => []);
  let position = 0;
  let frame = -1;
  for (const fragment of fragments) {
    while (frame + 1 < offsets.length && offsets[frame + 1]! <= position) frame++;
    if (frame < 0) {
      throw new VolumeError('invalid_pixel_data', 'The pixel data offset table does not start at the first fragment.', {
        filePath,
      });
    }
    frames[frame]!.push(fragment);
    position += ITEM_HEADER_BYTES + fragment.byteLength;
  }
  const empty = frames.findIndex((parts) => parts.length === 0);
  if (empty >= 0) {
    throw new VolumeError('invalid_pixel_data', `The pixel data offset table gives frame ${empty + 1} no fragment.`, {
      filePath,
    });
  }
  return frames.map(concatenate);
}

/** True when `fragment` begins a codestream of `encoding`: SOI for JPEG and JPEG-LS, SOC or a JP2 signature box for JPEG 2000. */
function startsCodestream(fragment: Uint8Array, encoding: PixelEncoding): boolean {
  if (encoding === 'jpeg' || encoding === 'jpeg-ls') return fragment[0] === 0xff && fragment[1] === 0xd8;
  const soc = fragment[0] === 0xff && fragment[1] === 0x4f && fragment[2] === 0xff && fragment[3] === 0x51;
  const jp2 = fragment[4] === 0x6a && fragment[5] === 0x50 && fragment[6] === 0x20 && fragment[7] === 0x20;
  return soc || jp2;
}

function splitAtStartMarkers(
  fragments: Uint8Array[],
  frameCount: number,
  encoding: PixelEncoding,
  filePath: string,
): Uint8Array[] {
  const frames: Uint8Array[][] = [];
  for (const fragment of fragments) {
    if (startsCodestream(fragment, encoding) || frames.length === 0) frames.push([fragment]);
    else frames.at(-1)!.push(fragment);
  }
  if (frames.length !== frameCount) {
    throw new VolumeError(
      'invalid_pixel_data',
      `The pixel data has no offset table and ${frames.length} codestreams in ${fragments.length} fragments, ` +
        `but NumberOfFrames is ${frameCount}.`,
      { filePath },
    );
  }
  return frames.map(concatenate);
}

function concatenate(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const total = parts.reduce((sum, part) => sum + part.byteLength, 0);
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.byteLength;
  }
  return joined;
}
