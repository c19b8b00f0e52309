/**
 * Reading the files of one series. Instances that are not CT images (a Secondary Capture dose sheet,
 * a presentation state, an SR that a PACS filed into the image series) are left out and listed with
 * the reason, for assembly to record. Every other failure rejects the series, because a CT image that
 * cannot be read would leave a hole in the volume.
 */
import { readCtSlices, type CtSlice } from './ct-slice.ts';
import type { SkippedInstance } from './assemble-volume.ts';
import { VolumeError } from './volume-error.ts';

/** Files read at once: enough to keep the disk busy while a slice is decoded, few enough to bound memory. */
const READ_CONCURRENCY = 4;

export interface SeriesSlices {
  /** Slices of every CT image file, in the order of the files (frames in frame order). */
  slices: CtSlice[];
  skipped: SkippedInstance[];
}

export async function readSeriesSlices(files: string[]): Promise<SeriesSlices> {
  const results: (CtSlice[] | SkippedInstance)[] = new Array(files.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const index = next++;
      results[index] = await readOrSkip(files[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, files.length) }, worker));

  const slices: CtSlice[] = [];
  const skipped: SkippedInstance[] = [];
  for (const result of results) {
    if (Array.isArray(result)) slices.push(...result);
    else skipped.push(result);
  }
  return { slices, skipped };
}

async function readOrSkip(filePath: string): Promise<CtSlice[] | SkippedInstance> {
  try {
    return await readCtSlices(filePath);
  } catch (error) {
    if (error instanceof VolumeError && error.code === 'unsupported_sop_class') {
      return { filePath, reason: error.message };
    }
    throw error;
  }
}
