/**
 * One measured volume assembly, run in a child process of bench/volume.ts so that its peak RSS belongs
 * to this assembly alone. Usage: volume-run.ts DIRECTORY THREADS (0 reads on the main thread). Prints one
 * JSON line: the time of reading and assembling, the peak RSS above the baseline taken once the modules,
 * the codecs and the reader threads are loaded (as in a running worker), and the volume's size and type.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import { initializeCodecs } from '../src/volume/frame-codecs.ts';
import { assembleVolume, readSeriesSlices, SliceReaderPool } from '../src/volume/index.ts';

const directory = process.argv[2]!;
const threads = Number(process.argv[3] ?? '0');
const files = (await readdir(directory)).map((name) => path.join(directory, name));
await initializeCodecs();
const pool = threads > 0 ? new SliceReaderPool(threads) : undefined;
// One read per thread loads its modules and codecs before the measurement.
if (pool !== undefined) await Promise.all(Array.from({ length: threads }, () => pool.read(files[0]!)));
// maxRSS is in KiB and never decreases, so the baseline is the peak reached before assembly starts.
const baselineBytes = process.resourceUsage().maxRSS * 1024;

const started = performance.now();
const { slices, skipped } = await readSeriesSlices(files, pool);
const assembled = assembleVolume(slices, { minSlices: 2, orientationTolerance: 0.5, spacingTolerance: 0.2 }, skipped);
const milliseconds = performance.now() - started;

const peakBytes = process.resourceUsage().maxRSS * 1024;
console.log(
  JSON.stringify({
    milliseconds,
    peakAboveBaselineBytes: peakBytes - baselineBytes,
    dimensions: assembled.volume.dimensions,
    voxelType: assembled.voxelType,
  }),
);
await pool?.close();
