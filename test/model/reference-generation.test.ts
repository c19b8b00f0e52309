/**
 * The ONNX path against the PyTorch reference of tools/model/make_tiny_fixture.py, fed the exact
 * float32 pixel_values that torch was fed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { ArgusRuntime } from '../../src/model/argus-model.ts';
import type { PixelValues } from '../../src/model/preprocess.ts';
import { generationReference, maxAbsDifference, readFloat32, TINY_PACKAGE_DIR, tokenContent } from './fixtures.ts';

// onnxruntime and torch both compute in float32 but fuse and order sums differently. On the machine
// that made the fixture the largest differences were 1.5e-6 (image_embeds) and 3.8e-6 (logits of
// magnitude up to ~10). 1e-4 leaves room for other CPUs' kernels. It also stays far below the smallest
// top-1/top-2 logit gap of the reference (min_top2_gap, 0.138), so only a real error can change a token.
const TOLERANCE = 1e-4;

describe('tiny package against PyTorch', () => {
  const reference = generationReference();
  let runtime: ArgusRuntime;
  let pixelValues: PixelValues;

  before(async () => {
    runtime = await ArgusRuntime.load(TINY_PACKAGE_DIR, { intraOpThreads: 1 });
    const [batch, channels, depth, height, width] = reference.pixel_values.shape;
    assert.deepEqual([batch, channels], [1, 1]);
    pixelValues = { data: readFloat32(reference.pixel_values.file), shape: [1, 1, depth!, height!, width!] };
  });
  after(async () => {
    await runtime.release();
  });

  it('vision encoder reproduces image_embeds', async () => {
    const imageEmbeds = await runtime.runVision(pixelValues);
    const difference = maxAbsDifference(imageEmbeds, readFloat32(reference.image_embeds.file));
    assert.ok(difference <= TOLERANCE, `max |difference| ${difference}`);
  });

  it('greedy decoding reproduces the token ids', async () => {
    const imageEmbeds = await runtime.runVision(pixelValues);
    const result = await runtime.decode(imageEmbeds, { maxNewTokens: reference.max_new_tokens });
    assert.equal(result.tokenIds.length, reference.generated_ids.length);
    assert.deepEqual(result.tokenIds, reference.generated_ids);
  });

  it('first-step logits match within tolerance', async () => {
    const imageEmbeds = await runtime.runVision(pixelValues);
    const result = await runtime.decode(imageEmbeds, { maxNewTokens: 1 });
    assert.equal(result.firstStepLogits.length, runtime.config.text.vocab_size);
    const difference = maxAbsDifference(result.firstStepLogits, reference.first_step_logits);
    assert.ok(difference <= TOLERANCE, `max |difference| ${difference}`);
    assert.ok(reference.min_top2_gap > 100 * TOLERANCE, 'the reference has a near-tie; regenerate it');
  });
});

describe('decoding settings against PyTorch', () => {
  const reference = generationReference();
  let runtime: ArgusRuntime;
  let imageEmbeds: Float32Array;

  before(async () => {
    runtime = await ArgusRuntime.load(TINY_PACKAGE_DIR, { intraOpThreads: 1 });
    const [, , depth, height, width] = reference.pixel_values.shape;
    imageEmbeds = await runtime.runVision({ data: readFloat32(reference.pixel_values.file), shape: [1, 1, depth!, height!, width!] });
  });
  after(async () => {
    await runtime.release();
  });

  for (const testCase of reference.decoding_cases) {
    it(`${testCase.name} reproduces the token ids`, async () => {
      const result = await runtime.decode(imageEmbeds, {
        maxNewTokens: testCase.max_new_tokens,
        numBeams: testCase.num_beams,
        repetitionPenalty: testCase.repetition_penalty,
        noRepeatNgramSize: testCase.no_repeat_ngram_size,
        lengthPenalty: testCase.length_penalty,
        ...(testCase.extra_end_tokens === undefined
          ? {}
          : { endTokens: [...runtime.config.end_token_ids, ...testCase.extra_end_tokens].map(tokenContent) }),
        keepStepLogits: true,
      });
      assert.deepEqual(result.tokenIds, testCase.generated_ids);
      assert.ok(testCase.min_margin > 10 * TOLERANCE, `the reference comes within ${testCase.min_margin} of a tie; regenerate it`);

      if (testCase.score !== undefined) {
        assert.ok(result.score !== undefined, 'beam search returns a score');
        assert.ok(Math.abs(result.score - testCase.score) <= TOLERANCE, `score ${result.score}, reference ${testCase.score}`);
      }
      if (testCase.step_logits !== undefined) {
        const [steps, vocab] = testCase.step_logits.shape;
        const expected = readFloat32(testCase.step_logits.file);
        assert.equal(result.stepLogits?.length, steps);
        result.stepLogits!.forEach((logits, step) => {
          const difference = maxAbsDifference(logits, expected.subarray(step * vocab, (step + 1) * vocab));
          assert.ok(difference <= TOLERANCE, `step ${step}: max |difference| ${difference}`);
        });
      }
    });
  }

  it('penalties change the greedy tokens', () => {
    const byName = new Map(reference.decoding_cases.map((testCase) => [testCase.name, testCase.generated_ids]));
    assert.notDeepEqual(byName.get('greedy'), byName.get('greedy-penalties'));
    assert.notDeepEqual(byName.get('greedy'), byName.get('beam-3'));
  });
});
