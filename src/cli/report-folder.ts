/**
 * The work of `argus-gateway report <folder>`: reads the headers, selects the series and assembles the
 * volume with the worker's own functions and configuration, then runs the model package. It uses no
 * database and no network.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import type { AppConfig } from '../config/load.ts';
import { ArgusRuntime, type GeneratedReport } from '../model/index.ts';
import { selectSeries, summarizeHeader, type SeriesDecision, type SeriesSummary } from '../selection/index.ts';
import { readImageHeader, toFloat32Volume, VolumeError, type AssembledVolume, type ImageHeader } from '../volume/index.ts';
import { assemblyOptions, readAndAssemble, selectionRules } from '../worker/series-volume.ts';
import type { ProgressBar } from './progress-bar.ts';

/** A failure that the command line prints as one line and exits 1 for. */
export class ReportCommandError extends Error {
  override readonly name = 'ReportCommandError';
}

export interface FolderReport {
  report: { text: string; findings: string; impression: string };
  model: { name: string; version: string; deviceUid: string; clinicalUse: boolean };
  series: { seriesInstanceUid: string; instanceCount: number; decisions: Pick<SeriesDecision, 'seriesInstanceUid' | 'selected' | 'reasonCode' | 'reason'>[] };
  volume: { dimensions: number[]; spacing: number[] };
  /** Milliseconds of each stage and of the whole command. */
  timings: { headersMs: number; volumeMs: number; modelLoadMs: number; preprocessMs: number; visionMs: number; decodeMs: number; totalMs: number };
}

/** Selects the series in `folder`, assembles its volume and generates the report. Throws ReportCommandError for bad input. */
export async function reportFolder(
  config: AppConfig,
  folder: string,
  options: { modelPath?: string | undefined; progress?: ProgressBar } = {},
): Promise<FolderReport> {
  const started = performance.now();
  const progress = options.progress;

  const files = await listFiles(folder);
  if (files.length === 0) throw new ReportCommandError(`The folder ${folder} contains no files.`);

  let mark = performance.now();
  const headers = await readHeaders(files, progress);
  const { summaries, filesByInstance } = groupBySeries(headers);
  if (summaries.length === 0) {
    throw new ReportCommandError(`No usable CT series in ${folder}: none of its ${files.length} files is a DICOM image with a SeriesInstanceUID.`);
  }
  const selection = selectSeries(summaries, selectionRules(config));
  const decisions = selection.decisions.map(({ seriesInstanceUid, selected, reasonCode, reason }) => ({ seriesInstanceUid, selected, reasonCode, reason }));
  if (!selection.selected) {
    const reasons = selection.decisions.map((decision) => `${decision.seriesInstanceUid}: ${decision.reason}`).join(' ');
    throw new ReportCommandError(`No usable CT series in ${folder}. ${reasons}`);
  }
  const usable = selection.usableInstances.get(selection.selected) ?? [];
  const selectedFiles = usable.map((sopInstanceUid) => filesByInstance.get(sopInstanceUid)!).filter((file) => file !== undefined);
  const headersMs = performance.now() - mark;

  mark = performance.now();
  progress?.update('assembling the volume', 0, 1);
  const assembled = await assemble(selectedFiles, config, selection.selected);
  const volumeMs = performance.now() - mark;

  mark = performance.now();
  const modelPath = options.modelPath === undefined ? config.modelPackagePath : path.resolve(options.modelPath);
  progress?.update('loading the model', 0, 1);
  const model = await openModel(modelPath, config, options.modelPath === undefined);
  const modelLoadMs = performance.now() - mark;

  let generated: GeneratedReport;
  try {
    const maxNewTokens = config.model.maxNewTokens;
    const tokenLimit = maxNewTokens ?? model.config.generation.max_new_tokens;
    generated = await model.generate(toFloat32Volume(assembled.volume), {
      ...(maxNewTokens === undefined ? {} : { maxNewTokens }),
      onToken: (count) => progress?.update('generating the report', count, tokenLimit),
    });
  } finally {
    await model.release();
  }

  return {
    report: { text: generated.text, findings: generated.findings, impression: generated.impression },
    model: { ...model.identity, clinicalUse: model.identity.clinicalUse === true },
    series: { seriesInstanceUid: selection.selected, instanceCount: selectedFiles.length, decisions },
    volume: { dimensions: [...assembled.volume.dimensions], spacing: [...assembled.volume.spacing] },
    timings: {
      headersMs: round(headersMs),
      volumeMs: round(volumeMs),
      modelLoadMs: round(modelLoadMs),
      preprocessMs: round(generated.timings.preprocessMs),
      visionMs: round(generated.timings.visionMs),
      decodeMs: round(generated.timings.decodeMs),
      totalMs: round(performance.now() - started),
    },
  };
}

/** Lists the regular files under `folder`, subfolders included, in name order. */
async function listFiles(folder: string): Promise<string[]> {
  let info;
  try {
    info = await stat(folder);
  } catch (error) {
    throw new ReportCommandError(`The folder ${folder} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}).`, { cause: error });
  }
  if (!info.isDirectory()) throw new ReportCommandError(`${folder} is not a folder; give the folder that contains the DICOM files.`);
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name))
    .sort();
}

/** Reads each file's header; files that are not DICOM Part 10 images are left out. */
async function readHeaders(files: string[], progress: ProgressBar | undefined): Promise<ImageHeader[]> {
  const headers: ImageHeader[] = [];
  for (const [index, file] of files.entries()) {
    progress?.update('reading headers', index, files.length);
    try {
      headers.push(await readImageHeader(file));
    } catch (error) {
      if (!(error instanceof VolumeError)) throw error;
    }
  }
  progress?.update('reading headers', files.length, files.length);
  return headers;
}

function groupBySeries(headers: ImageHeader[]): { summaries: SeriesSummary[]; filesByInstance: Map<string, string> } {
  const bySeries = new Map<string, ImageHeader[]>();
  const filesByInstance = new Map<string, string>();
  for (const header of headers) {
    if (header.seriesInstanceUid === undefined) continue;
    const list = bySeries.get(header.seriesInstanceUid) ?? [];
    list.push(header);
    bySeries.set(header.seriesInstanceUid, list);
    filesByInstance.set(header.sopInstanceUid, header.filePath);
  }
  const summaries = [...bySeries.entries()].map(([seriesInstanceUid, seriesHeaders]) => ({
    seriesInstanceUid,
    modality: seriesHeaders[0]!.modality,
    seriesDescription: seriesHeaders[0]!.seriesDescription,
    instances: seriesHeaders.map(summarizeHeader),
  }));
  return { summaries, filesByInstance };
}

async function assemble(files: string[], config: AppConfig, seriesInstanceUid: string): Promise<AssembledVolume> {
  try {
    return await readAndAssemble(files, assemblyOptions(config), config.volume.decodeThreads);
  } catch (error) {
    if (!(error instanceof VolumeError)) throw error;
    throw new ReportCommandError(`The series ${seriesInstanceUid} cannot be made into a volume (${error.code}): ${error.message}`, { cause: error });
  }
}

async function openModel(modelPath: string, config: AppConfig, fromConfig: boolean): Promise<ArgusRuntime> {
  try {
    return await ArgusRuntime.load(modelPath, { intraOpThreads: config.model.intraOpThreads });
  } catch (error) {
    const source = fromConfig ? ' (model.packagePath)' : '';
    throw new ReportCommandError(`The model package in ${modelPath}${source} cannot be loaded: ${(error as Error).message}`, { cause: error });
  }
}

function round(milliseconds: number): number {
  return Math.round(milliseconds);
}
