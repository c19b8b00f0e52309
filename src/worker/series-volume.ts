/**
 * The selection and volume stages of the report job: selection summaries read from the stored files'
 * headers, the configured rules and assembly options, and the PNG previews of an assembled volume.
 * Header reads go through the files rather than the instance rows because the rules need attributes
 * that ingest does not store (SliceThickness, ConvolutionKernel, the frames of multi-frame images).
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

import type { AppConfig } from '../config/load.ts';
import type { InstanceRow } from '../db/queries/worker.ts';
import { getLogger } from '../logging/logger.ts';
import { summarizeHeader, type InstanceSummary, type SelectionRules, type SeriesSummary } from '../selection/index.ts';
import {
  assembleVolume,
  readImageHeader,
  readSeriesSlices,
  renderPreviews,
  SliceReaderPool,
  VolumeError,
  type AssembledVolume,
  type AssemblyOptions,
  type CtVolume,
  type VoxelArray,
} from '../volume/index.ts';

const logger = getLogger('report-worker');

/** Header files read at once: enough to hide file latency, few enough to stay far from the open-file limit. */
const HEADER_READ_CONCURRENCY = 8;

export function selectionRules(config: AppConfig): SelectionRules {
  const selection = config.selection;
  return {
    minSlices: selection.minSlices,
    modalities: selection.modalities,
    requiredImageType: selection.requiredImageType,
    excludedImageType: selection.excludedImageType,
    orientations: selection.orientations,
    sliceThicknessMm: selection.sliceThicknessMm,
    preferredKernels: selection.preferredKernels,
    seriesDescriptionPattern: selection.seriesDescriptionPattern,
    excludedSeriesDescriptionPattern: selection.excludedSeriesDescriptionPattern,
  };
}

export function assemblyOptions(config: AppConfig): AssemblyOptions {
  const volume = config.volume;
  return {
    minSlices: config.selection.minSlices,
    orientationTolerance: volume.orientationToleranceDegrees,
    spacingTolerance: volume.spacingToleranceMm,
    spacingPolicy: volume.spacingPolicy,
    maxGapMm: volume.maxGapMm,
    tiltPolicy: volume.tiltPolicy,
    repeatedPositionPolicy: volume.repeatedPositionPolicy,
    airHu: volume.airHu,
  };
}

/** Builds the summary of an instance from its row, for a file whose header cannot be read. Assembly then reports the file. */
function summarizeRow(row: InstanceRow): InstanceSummary {
  return {
    sopInstanceUid: row.sopInstanceUid,
    sopClassUid: row.sopClassUid,
    modality: row.modality ?? undefined,
    imageType: row.imageType ?? [],
    imageOrientationPatient: row.imageOrientationPatient ?? undefined,
    imagePositionPatient: row.imagePositionPatient ?? undefined,
    rows: row.rows ?? undefined,
    columns: row.columns ?? undefined,
  };
}

/** Builds one selection summary per series from the headers of its stored files. */
export async function summarizeSeries(bySeries: Map<string, InstanceRow[]>, absolutePath: (row: InstanceRow) => string): Promise<SeriesSummary[]> {
  const rows = [...bySeries.values()].flat();
  const summaries = new Map<InstanceRow, InstanceSummary>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < rows.length) {
      const row = rows[next++]!;
      try {
        summaries.set(row, summarizeHeader(await readImageHeader(absolutePath(row))));
      } catch (error) {
        if (!(error instanceof VolumeError)) throw error;
        logger.warn('image header unreadable, selecting from the stored row', { sopInstanceUid: row.sopInstanceUid, code: error.code });
        summaries.set(row, summarizeRow(row));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(HEADER_READ_CONCURRENCY, rows.length) }, worker));

  return [...bySeries.entries()].map(([seriesInstanceUid, seriesRows]) => ({
    seriesInstanceUid,
    modality: seriesRows[0]!.seriesModality ?? undefined,
    seriesDescription: seriesRows[0]!.seriesDescription ?? undefined,
    instances: seriesRows.map((row) => summaries.get(row)!),
  }));
}

/** One pool per process, started by the first compressed series; its idle threads do not keep the process alive. */
let readerPool: SliceReaderPool | undefined;

function sharedReaderPool(threads: number): SliceReaderPool | undefined {
  if (threads === 0) return undefined;
  readerPool ??= new SliceReaderPool(threads);
  return readerPool;
}

/** Reads the files of the selected series and assembles the volume. Throws VolumeError when it cannot be made right. */
export async function readAndAssemble(files: string[], options: AssemblyOptions, decodeThreads: number): Promise<AssembledVolume> {
  const { slices, skipped } = await readSeriesSlices(files, sharedReaderPool(decodeThreads));
  return assembleVolume(slices, options, skipped);
}

/** Returns the preview folder: volume.previewDirectory relative to the config file, or <dataDirectory>/previews. */
export function previewRoot(config: AppConfig): string {
  const configured = config.volume.previewDirectory;
  return configured === undefined ? path.join(config.dataDirectory, 'previews') : path.resolve(path.dirname(config.configPath), configured);
}

/**
 * Writes the axial, coronal and sagittal previews under <root>/<SeriesInstanceUID>/ and returns that
 * folder relative to the root. Each file is written to a temporary name and renamed, so a reader never
 * sees half a PNG.
 */
export async function writePreviews(root: string, volume: CtVolume<VoxelArray>, seriesInstanceUid: string): Promise<string> {
  const relative = seriesInstanceUid;
  const directory = path.join(root, relative);
  await mkdir(directory, { recursive: true });
  for (const preview of renderPreviews(volume)) {
    const target = path.join(directory, `${preview.plane}.png`);
    await writeFile(`${target}.partial`, preview.png);
    await rename(`${target}.partial`, target);
  }
  return relative;
}
