/**
 * Model benchmark: greedy decoding of one package on one prompt and one input, in our TypeScript loop
 * over onnxruntime-node (src/model) and in PyTorch eager (tools/model/bench_torch.py) from the
 * checkpoint the package was exported from, in the same run.
 *
 * Both sides start from the same pixel_values (uniform noise from a fixed seed, in the package's input
 * size) and the prompt ids our tokenizer makes, and decode with the same budget and end tokens. The
 * timed part is the prompt embedding, the image splice and the decoding loop. The vision encoder runs
 * before the clock starts, because it is one graph call on either side. Each side uses --threads
 * intra-op threads. "Time outside onnxruntime" is our decoding wall time minus the time spent inside
 * InferenceSession.run: tensor building, cache handling, argmax and the event loop.
 *
 * The machine is shared, so a load spike during one side's runs would skew a single comparison. The
 * script therefore measures in rounds, our runs and then PyTorch's, and reports the median of the
 * per-round values.
 *
 * Usage: npm run bench:model [-- --package DIR --checkpoint FILE --rounds N --runs N --max-new-tokens N --threads N]
 * Defaults: the tiny fixture and its checkpoint, 3 rounds of 5 runs after one warm-up per side,
 * 256 tokens, 1 thread.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';

import { ArgusRuntime } from '../src/model/argus-model.ts';
import type { PixelValues } from '../src/model/preprocess.ts';

const run = promisify(execFile);
const REPOSITORY = fileURLToPath(new URL('..', import.meta.url));
const TORCH_BENCH = path.join(REPOSITORY, 'tools/model/bench_torch.py');
const TARGETS = { tokensPerSecondRatio: 1.5, outsideShare: 0.1 };
// Seed of the input noise. Any fixed value gives both sides the same input.
const SEED = 20250612;

const { values } = parseArgs({
  options: {
    package: { type: 'string', default: path.join(REPOSITORY, 'test/fixtures/tiny-argus') },
    checkpoint: { type: 'string', default: path.join(REPOSITORY, 'test/fixtures/tiny-argus-reference/checkpoint.pt') },
    rounds: { type: 'string', default: '3' },
    runs: { type: 'string', default: '5' },
    'max-new-tokens': { type: 'string', default: '256' },
    threads: { type: 'string', default: '1' },
  },
});
const rounds = Number(values.rounds);
const runs = Number(values.runs);
const maxNewTokens = Number(values['max-new-tokens']);
const threads = Number(values.threads);

/** Returns deterministic uniform [0, 1) noise (mulberry32), so that every run gets the same input. */
function noise(length: number, seed: number): Float32Array {
  const data = new Float32Array(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    data[i] = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  return data;
}

function median(numbers: number[]): number {
  const sorted = [...numbers].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const scratch = await mkdtemp(path.join(tmpdir(), 'argus-bench-model-'));
const runtime = await ArgusRuntime.load(values.package, { intraOpThreads: threads });
try {
  const [depth, height, width] = runtime.config.preprocessing.input_size;
  const pixelValues: PixelValues = { data: noise(depth * height * width, SEED), shape: [1, 1, depth, height, width] };
  const imageEmbeds = await runtime.runVision(pixelValues);

  const pixelFile = path.join(scratch, 'pixel_values.f32');
  const idsFile = path.join(scratch, 'input_ids.json');
  await writeFile(pixelFile, new Uint8Array(pixelValues.data.buffer));
  await writeFile(idsFile, JSON.stringify(runtime.prompt.inputIds));

  /** Median tokens/s and share of time outside onnxruntime over `runs` decodings after one warm-up. */
  async function measureOurs(): Promise<{ tokensPerSecond: number; outsideShare: number; tokens: number[] }> {
    const rates: number[] = [];
    const shares: number[] = [];
    let tokens: number[] = [];
    for (let index = 0; index <= runs; index++) {
      const started = performance.now();
      const result = await runtime.decode(imageEmbeds, { maxNewTokens });
      const wallMs = performance.now() - started;
      tokens = result.tokenIds;
      if (index === 0) continue;
      rates.push(result.tokenIds.length / (wallMs / 1000));
      shares.push((wallMs - result.graphMs) / wallMs);
    }
    return { tokensPerSecond: median(rates), outsideShare: median(shares), tokens };
  }

  async function measureTorch(): Promise<{ tokens_per_second: number; tokens: number[] }> {
    const { stdout } = await run('/usr/bin/python3', [
      TORCH_BENCH,
      '--checkpoint', values.checkpoint,
      '--pixel-values', pixelFile,
      '--input-ids', idsFile,
      '--image-token-id', String(runtime.config.special_tokens.image.id),
      '--end-token-ids', runtime.generation.endTokenIds.join(','),
      '--max-new-tokens', String(maxNewTokens),
      '--runs', String(runs),
      '--threads', String(threads),
    ]);
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as { tokens_per_second: number; tokens: number[] };
  }

  console.log(`package ${values.package} (${runtime.identity.name}), ${threads} intra-op thread(s), ${rounds} rounds of ${runs} runs`);
  const ratios: number[] = [];
  const shares: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    const ours = await measureOurs();
    const torch = await measureTorch();
    const sameTokens = ours.tokens.join() === torch.tokens.join();
    ratios.push(ours.tokensPerSecond / torch.tokens_per_second);
    shares.push(ours.outsideShare);
    console.log(
      `round ${round}: argus ${ours.tokensPerSecond.toFixed(1)} tokens/s, pytorch eager ${torch.tokens_per_second.toFixed(1)} tokens/s, ` +
        `${ours.tokens.length} tokens, identical: ${sameTokens ? 'yes' : 'no'}, outside onnxruntime ${ours.outsideShare.toFixed(3)}`,
    );
  }
  console.log(`ratio tokens/s argus vs pytorch eager: ${median(ratios).toFixed(2)} (target >= ${TARGETS.tokensPerSecondRatio})`);
  console.log(`ratio time outside onnxruntime vs wall time: ${median(shares).toFixed(3)} (target <= ${TARGETS.outsideShare})`);
} finally {
  await runtime.release();
  await rm(scratch, { recursive: true, force: true });
}
