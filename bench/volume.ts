/**
 * Volume assembly benchmark: a 300-slice 512 x 512 CT series is made from the real 1 mm Philips slices of
 * the shared data. We assemble it and dcm2niix converts it in the same run, uncompressed, as JPEG 2000
 * lossless and as JPEG-LS lossless. Debian's dcm2niix cannot read JPEG-LS, so its reference
 * there is dcmdjpls on every file followed by dcm2niix. Our side runs in a child process per
 * measurement (bench/volume-run.ts) so that its peak RSS is its own, with the default two decoding
 * threads already started, as in a running worker; dcm2niix uses one core and also writes its NIfTI.
 *
 * Usage: npm run bench:volume [-- --runs N]. The series are written once under the system temporary
 * folder and reused. Times are medians of N runs (default 3), ours and the reference alternating.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { sharedData } from '../test/helpers/shared-data.ts';

const run = promisify(execFile);

const SLICES = 300;
const SOURCE = sharedData('converted/dcm_qa_ct_Philips_S21570_S2020_1mm_JPEGLS_lossless');
const CACHE = path.join(tmpdir(), `argus-bench-volume-${SLICES}`);
const REPOSITORY = fileURLToPath(new URL('..', import.meta.url));
const RUNNER = fileURLToPath(new URL('./volume-run.ts', import.meta.url));
const SERIES_WRITER = fileURLToPath(new URL('./volume-series.py', import.meta.url));
const INT16_VOLUME_BYTES = SLICES * 512 * 512 * 2;
/** The default of volume.decodeThreads; an uncompressed series is read on the main thread whatever it is. */
const DECODE_THREADS = 2;

const TARGETS = { uncompressed: 1.0, compressed: 1.5, peakRss: 3 };

interface OurRun {
  milliseconds: number;
  peakAboveBaselineBytes: number;
  dimensions: number[];
  voxelType: string;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Runs `command` on every file of `files`, `parallel` at a time. */
async function forEachFile(files: string[], parallel: number, command: (file: string) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < files.length) await command(files[next++]!);
    }),
  );
}

async function listFiles(directory: string): Promise<string[]> {
  return (await readdir(directory)).sort().map((name) => path.join(directory, name));
}

/** Writes the uncompressed, JPEG 2000 and JPEG-LS series unless a previous run left them complete. */
async function prepareSeries(): Promise<{ uncompressed: string; jpeg2000: string; jpegLs: string }> {
  const folders = {
    source: path.join(CACHE, 'source'),
    uncompressed: path.join(CACHE, 'uncompressed'),
    jpeg2000: path.join(CACHE, 'jpeg2000'),
    jpegLs: path.join(CACHE, 'jpeg-ls'),
  };
  const complete = async (folder: string, count: number) => existsSync(folder) && (await readdir(folder)).length === count;
  const parallel = Math.max(1, Math.min(2, availableParallelism()));
  const sourceFiles = await listFiles(SOURCE);

  if (!(await complete(folders.source, sourceFiles.length))) {
    console.log(`decoding ${sourceFiles.length} JPEG-LS source slices with dcmdjpls`);
    await mkdir(folders.source, { recursive: true });
    await forEachFile(sourceFiles, parallel, (file) => run('dcmdjpls', [file, path.join(folders.source, path.basename(file))]));
  }
  if (!(await complete(folders.uncompressed, SLICES))) {
    console.log(`writing ${SLICES} uncompressed slices`);
    await rm(folders.uncompressed, { recursive: true, force: true });
    await run('/usr/bin/python3', [SERIES_WRITER, folders.source, folders.uncompressed, String(SLICES)]);
  }
  const uncompressed = await listFiles(folders.uncompressed);
  if (!(await complete(folders.jpeg2000, SLICES))) {
    console.log('encoding JPEG 2000 lossless with gdcmconv --j2k');
    await mkdir(folders.jpeg2000, { recursive: true });
    await forEachFile(uncompressed, parallel, (file) => run('gdcmconv', ['--j2k', file, path.join(folders.jpeg2000, path.basename(file))]));
  }
  if (!(await complete(folders.jpegLs, SLICES))) {
    console.log('encoding JPEG-LS lossless with dcmcjpls');
    await mkdir(folders.jpegLs, { recursive: true });
    await forEachFile(uncompressed, parallel, (file) => run('dcmcjpls', ['--encode-lossless', file, path.join(folders.jpegLs, path.basename(file))]));
  }
  return folders;
}

async function measureOurs(directory: string): Promise<OurRun> {
  const args = ['--import', 'tsx', RUNNER, directory, String(DECODE_THREADS)];
  const { stdout } = await run(process.execPath, args, { cwd: REPOSITORY, maxBuffer: 1024 * 1024 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as OurRun;
}

/** Times dcm2niix on `directory`, after dcmdjpls on every file when `decodeJpegLsFirst` is set. */
async function measureReference(directory: string, decodeJpegLsFirst: boolean): Promise<number> {
  const work = await mkdtemp(path.join(tmpdir(), 'argus-bench-dcm2niix-'));
  try {
    const output = path.join(work, 'out');
    await mkdir(output);
    const started = performance.now();
    let input = directory;
    if (decodeJpegLsFirst) {
      input = path.join(work, 'decoded');
      await mkdir(input);
      // One dcmdjpls at a time, as dcm2niix itself uses one core.
      await forEachFile(await listFiles(directory), 1, (file) => run('dcmdjpls', [file, path.join(input, path.basename(file))]));
    }
    await run('dcm2niix', ['-z', 'n', '-b', 'n', '-f', 'volume', '-o', output, input], { maxBuffer: 16 * 1024 * 1024 });
    return performance.now() - started;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function parseRuns(): number {
  const index = process.argv.indexOf('--runs');
  const runs = index < 0 ? 3 : Number(process.argv[index + 1]);
  if (!Number.isInteger(runs) || runs < 1) throw new RangeError('--runs must be a positive integer');
  return runs;
}

const runs = parseRuns();
const series = await prepareSeries();
const cases = [
  { name: 'uncompressed', directory: series.uncompressed, reference: 'dcm2niix', jpegLs: false, target: TARGETS.uncompressed },
  { name: 'JPEG 2000 lossless', directory: series.jpeg2000, reference: 'dcm2niix', jpegLs: false, target: TARGETS.compressed },
  { name: 'JPEG-LS lossless', directory: series.jpegLs, reference: 'dcmdjpls + dcm2niix', jpegLs: true, target: TARGETS.compressed },
];

const lines: string[] = [];
let peakBytes = 0;
for (const testCase of cases) {
  const ours: number[] = [];
  const reference: number[] = [];
  for (let index = 0; index < runs; index++) {
    const measured = await measureOurs(testCase.directory);
    ours.push(measured.milliseconds);
    peakBytes = Math.max(peakBytes, measured.peakAboveBaselineBytes);
    reference.push(await measureReference(testCase.directory, testCase.jpegLs));
    if (index === 0) console.log(`${testCase.name}: volume ${measured.dimensions.join(' x ')} ${measured.voxelType}`);
  }
  const ratio = median(ours) / median(reference);
  console.log(`${testCase.name}: ours ${median(ours).toFixed(0)} ms, ${testCase.reference} ${median(reference).toFixed(0)} ms (medians of ${runs})`);
  lines.push(`ratio volume ${testCase.name} vs ${testCase.reference}: ${ratio.toFixed(2)} (target <= ${testCase.target})`);
}
console.log(`peak RSS above baseline: ${(peakBytes / 2 ** 20).toFixed(0)} MiB; int16 volume: ${(INT16_VOLUME_BYTES / 2 ** 20).toFixed(0)} MiB`);
lines.push(`ratio peak RSS above baseline vs int16 volume size: ${(peakBytes / INT16_VOLUME_BYTES).toFixed(2)} (target <= ${TARGETS.peakRss})`);
for (const line of lines) console.log(line);
