/**
 * Reading the files of one series. Instances that are not CT images (a Secondary Capture dose sheet,
 * a presentation state, an SR that a PACS filed into the image series) are left out and listed with
 * the reason, for assembly to record. Every other failure rejects the series, because a CT image that
 * cannot be read would leave a hole in the volume.
 */
import { readCtSlices, type CtSlice } from './ct-slice.ts';
import type { SkippedInstance } from './assemble-volume.ts';
import { readImageHeader } from './image-header.ts';
import type { SliceReaderPool } from './slice-reader-pool.ts';
import { lookupTransferSyntax, SUPPORTED_TRANSFER_SYNTAXES } from './transfer-syntax.ts';
import { VolumeError } from './volume-error.ts';

/** Files read at once per thread: enough to keep the disk busy while a slice is decoded, few enough to bound memory. */
const READS_PER_THREAD = 4;

export interface SeriesSlices {
  /** Slices of every CT image file, in the order of the files (frames in frame order). */
  slices: CtSlice[];
  skipped: SkippedInstance[];
}

/**
 * Reads the files of a series. A compressed series is decoded on the pool's threads when a pool is
 * given. An uncompressed one is always read on this thread, because moving its slices between threads
 * costs more than the little decoding it needs. The first file's transfer syntax decides.
 */
export async function readSeriesSlices(files: string[], pool?: SliceReaderPool): Promise<SeriesSlices> {
  const usePool = pool !== undefined && files.length > 0 && (await isCompressed(files[0]!));
  const read = usePool ? (file: string) => pool.read(file) : readCtSlices;
  const results: (CtSlice[] | SkippedInstance)[] = new Array(files.length);
  let next = 0;
  const reader = async (): Promise<void> => {
    while (next < files.length) {
      const index = next++;
      results[index] = await readOrSkip(files[index]!, read);
    }
  };
  const concurrency = READS_PER_THREAD * (usePool ? pool.size : 1);
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, reader));

  const slices: CtSlice[] = [];
  const skipped: SkippedInstance[] = [];
  for (const result of results) {
    if (Array.isArray(result)) slices.push(...result);
    else skipped.push(result);
  }
  return { slices, skipped };
}

async function isCompressed(file: string): Promise<boolean> {
  try {
    const { transferSyntaxUid } = await readImageHeader(file);
    return SUPPORTED_TRANSFER_SYNTAXES.has(transferSyntaxUid) && lookupTransferSyntax(transferSyntaxUid, file).encoding !== 'native';
  } catch {
    // The file is read again below, where its error is reported.
    return false;
  }
}

async function readOrSkip(filePath: string, read: (file: string) => Promise<CtSlice[]>): Promise<CtSlice[] | SkippedInstance> {
  try {
    return await read(filePath);
  } catch (error) {
    if (error instanceof VolumeError && error.code === 'unsupported_sop_class') {
      return { filePath, reason: error.message };
    }
    throw error;
  }
}
