/**
 * generate() end to end on a CtVolume built here: preprocessing, vision encoder, decoding and text.
 * The tiny package has random weights, so the checks are about the pipeline, not the words.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { ArgusRuntime } from '../../src/model/argus-model.ts';
import { GenerationAbortedError, ModelReleasedError } from '../../src/model/errors.ts';
import { cleanGeneratedText, NOT_FOR_CLINICAL_USE_NOTICE, splitReportSections } from '../../src/model/report-text.ts';
import type { CtVolume, Vector3 } from '../../src/volume/ct-volume.ts';
import { TINY_PACKAGE_DIR } from './fixtures.ts';

/** Builds a 64 x 64 x 40 axial volume: air around a water cylinder with a bright rod, slices 2.5 mm apart. */
function cylinderVolume(): CtVolume {
  const dimensions: Vector3 = [64, 64, 40];
  const voxels = new Float32Array(dimensions[0] * dimensions[1] * dimensions[2]);
  for (let k = 0; k < dimensions[2]; k++) {
    for (let j = 0; j < dimensions[1]; j++) {
      for (let i = 0; i < dimensions[0]; i++) {
        let hu = -1000;
        if (Math.hypot(i - 31.5, j - 31.5) < 26) hu = 0;
        if (Math.hypot(i - 40, j - 28) < 4) hu = 900;
        voxels[i + j * 64 + k * 64 * 64] = hu;
      }
    }
  }
  return {
    voxels,
    dimensions,
    spacing: [6, 6, 2.5],
    origin: [-189, -189, -50],
    direction: [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ],
  };
}

describe('generate on a CT volume', () => {
  let runtime: ArgusRuntime;
  const volume = cylinderVolume();

  before(async () => {
    runtime = await ArgusRuntime.load(TINY_PACKAGE_DIR, { intraOpThreads: 1 });
  });
  after(async () => {
    await runtime.release();
  });

  it('returns tokens, text and timings', async () => {
    const counts: number[] = [];
    const report = await runtime.generate(volume, { onToken: (count) => counts.push(count) });
    const limit = runtime.config.generation.max_new_tokens;
    const ends = runtime.config.end_token_ids;

    assert.ok(report.tokenIds.length > 0);
    assert.ok(report.tokenIds.length <= limit);
    const stoppedEarly = report.tokenIds.length < limit;
    assert.equal(stoppedEarly, ends.includes(report.tokenIds.at(-1)!), 'only an end token stops generation early');
    assert.deepEqual(counts, report.tokenIds.map((_, index) => index + 1));
    assert.ok(report.text.length > 0);
    // The tiny fixture does not declare clinical use, so the text starts with the notice line.
    const generatedText = cleanGeneratedText(runtime.tokenizer.decode(report.tokenIds)).trim();
    assert.equal(report.text, `${NOT_FOR_CLINICAL_USE_NOTICE}\n${generatedText}`);
    assert.deepEqual({ findings: report.findings, impression: report.impression }, splitReportSections(generatedText));
    for (const value of Object.values(report.timings)) assert.ok(value >= 0);
  });

  it('is deterministic', async () => {
    const first = await runtime.generate(volume, { maxNewTokens: 8 });
    const second = await runtime.generate(volume, { maxNewTokens: 8 });
    assert.deepEqual(first.tokenIds, second.tokenIds);
  });

  it('depends on the image', async () => {
    const empty: CtVolume = { ...volume, voxels: new Float32Array(volume.voxels.length).fill(-1000) };
    const withImage = await runtime.decode(await runtime.runVision(runtime.preprocess(volume)), { maxNewTokens: 1 });
    const withoutImage = await runtime.decode(await runtime.runVision(runtime.preprocess(empty)), { maxNewTokens: 1 });
    assert.notDeepEqual(withImage.firstStepLogits, withoutImage.firstStepLogits);
  });

  it('honours maxNewTokens', async () => {
    const report = await runtime.generate(volume, { maxNewTokens: 3 });
    assert.ok(report.tokenIds.length >= 1);
    assert.ok(report.tokenIds.length <= 3);
  });

  it('rejects maxNewTokens of zero', async () => {
    await assert.rejects(runtime.generate(volume, { maxNewTokens: 0 }), RangeError);
  });

  it('stops when the signal aborts', async () => {
    const controller = new AbortController();
    const generation = runtime.generate(volume, {
      signal: controller.signal,
      onToken: (count) => {
        if (count === 2) controller.abort(new Error('job cancelled'));
      },
    });
    await assert.rejects(generation, (error: unknown) => {
      assert.ok(error instanceof GenerationAbortedError);
      assert.equal(error.code, 'generation_aborted');
      assert.equal(error.tokensGenerated, 2);
      return true;
    });
  });
});

describe('released model', () => {
  it('rejects generate after release', async () => {
    const runtime = await ArgusRuntime.load(TINY_PACKAGE_DIR);
    await runtime.release();
    await runtime.release();
    await assert.rejects(runtime.generate(cylinderVolume()), ModelReleasedError);
  });
});
