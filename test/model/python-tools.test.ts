/**
 * The Python tools in tools/model, run with Debian's python3-torch and python3-onnx: the converter from
 * Hugging Face names, and the export with float16 weights in external data files, which the runtime
 * must load and run like the float32 fixture.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { ArgusRuntime } from '../../src/model/argus-model.ts';
import { ModelPackageError } from '../../src/model/errors.ts';
import { maxAbsDifference, readFloat32 } from './fixtures.ts';

const run = promisify(execFile);
const TOOLS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../tools/model');
// Debian's interpreter, which has python3-torch. A python3 earlier on PATH may lack it.
const PYTHON = '/usr/bin/python3';
// Same tolerance as the float32 fixture: the reference rounds its weights to float16 exactly where the
// export stores them, so both sides compute the same float32 function.
const TOLERANCE = 1e-4;

async function runTool(script: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(PYTHON, [path.join(TOOLS_DIR, script), ...args], { timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const { stderr } = error as { stderr?: string };
    throw new Error(`${script} failed. It needs Debian's python3-torch and python3-onnx.\n${stderr ?? String(error)}`, { cause: error });
  }
}

let scratch: string;
before(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'argus-tools-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('convert_hf.py', () => {
  it('round-trips the tiny model through Hugging Face names', async () => {
    const output = await runTool('check_convert.py', ['--scratch', path.join(scratch, 'convert')]);
    const results = JSON.parse(output.trim().split('\n').at(-1)!) as Record<string, unknown>;
    assert.equal(results.float32_max_weight_difference, 0);
    assert.equal(results.float32_tokens_equal, true);
    assert.equal(results.bf16_max_weight_difference, 0);
    assert.equal(results.tied_lm_head_equals_embedding, true);
    assert.match(String(results.missing_weight_error), /missing \['model\.layers\.1\.mlp\.up_proj\.weight'\]/);
    assert.equal(results.rope_llama3_matches_hand_values, true);
  });
});

describe('export with fp16 weights and external data', () => {
  const packageDir = () => path.join(scratch, 'fp16');
  let reference: { pixel_values: { file: string; shape: number[] }; generated_ids: number[]; step_logits: number[][]; min_margin: number };

  before(async () => {
    await runTool('check_export.py', ['--out', packageDir()]);
    reference = JSON.parse(await readFile(path.join(packageDir(), 'reference.json'), 'utf8'));
  });

  it('writes every graph with an external data file', async () => {
    for (const graph of ['vision_encoder.onnx', 'embed_tokens.onnx', 'decoder_model_merged.onnx']) {
      await access(path.join(packageDir(), `${graph}_data`));
    }
  });

  it('keeps small weights inside the graphs by default', async () => {
    const files = await readdir(path.join(packageDir(), 'auto'));
    assert.ok(files.includes('decoder_model_merged.onnx'), `files: ${files.join(', ')}`);
    assert.deepEqual(files.filter((file) => file.endsWith('_data')), []);
  });

  it('reproduces the PyTorch reference', async () => {
    const runtime = await ArgusRuntime.load(packageDir(), { intraOpThreads: 1 });
    try {
      const [, , depth, height, width] = reference.pixel_values.shape;
      const imageEmbeds = await runtime.runVision({ data: readFloat32(reference.pixel_values.file), shape: [1, 1, depth!, height!, width!] });
      const result = await runtime.decode(imageEmbeds, { maxNewTokens: reference.generated_ids.length, keepStepLogits: true });
      assert.deepEqual(result.tokenIds, reference.generated_ids);
      assert.ok(reference.min_margin > 10 * TOLERANCE, `the reference comes within ${reference.min_margin} of a tie`);
      result.stepLogits!.forEach((logits, step) => {
        const difference = maxAbsDifference(logits, reference.step_logits[step]!);
        assert.ok(difference <= TOLERANCE, `step ${step}: max |difference| ${difference}`);
      });
    } finally {
      await runtime.release();
    }
  });

  it('names the graph whose external data is missing', async () => {
    await rm(path.join(packageDir(), 'decoder_model_merged.onnx_data'));
    await assert.rejects(ArgusRuntime.load(packageDir()), (error: unknown) => {
      assert.ok(error instanceof ModelPackageError, `got ${String(error)}`);
      assert.equal(error.file, 'decoder_model_merged.onnx');
      assert.match(error.message, /decoder_model_merged\.onnx_data/);
      return true;
    });
  });
});

describe('verify.py', () => {
  const checkpoint = path.resolve(TOOLS_DIR, '../../test/fixtures/tiny-argus-reference/checkpoint.pt');
  const tinyPackage = path.resolve(TOOLS_DIR, '../../test/fixtures/tiny-argus');

  it('passes on the tiny package with beam search', async () => {
    const output = await runTool('verify.py', ['--checkpoint', checkpoint, '--package', tinyPackage, '--num-beams', '3', '--seed', '1']);
    assert.match(output, /tokens agree: yes/);
    assert.match(output, /beam score: pytorch -?\d+\.\d+, onnxruntime -?\d+\.\d+/);
  });

  it('fails when the difference exceeds the tolerance', async () => {
    await assert.rejects(runTool('verify.py', ['--checkpoint', checkpoint, '--package', tinyPackage, '--tolerance', '0']), (error: unknown) => {
      const cause = (error as Error).cause as { code?: number; stdout?: string };
      assert.equal(cause.code, 1);
      assert.match(cause.stdout ?? '', /tokens agree: yes/);
      assert.match(cause.stdout ?? '', /max \|logit difference\|: \d\.\d+e-\d+ over 24 steps/);
      return true;
    });
  });
});
