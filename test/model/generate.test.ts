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
import { TINY_PACKAGE_DIR, tokenContent } from './fixtures.ts';

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

describe('cancellation', () => {
  const volume = cylinderVolume();

  it('stops a beam search when the signal aborts', async () => {
    const runtime = await ArgusRuntime.load(TINY_PACKAGE_DIR, { intraOpThreads: 1 });
    const controller = new AbortController();
    const generation = runtime.generate(volume, {
      numBeams: 3,
      signal: controller.signal,
      onToken: (count) => {
        if (count === 3) controller.abort(new Error('job cancelled'));
      },
    });
    await assert.rejects(generation, (error: unknown) => {
      assert.ok(error instanceof GenerationAbortedError, `got ${String(error)}`);
      assert.equal(error.tokensGenerated, 3);
      return true;
    });
    await runtime.release();
  });

  it('rejects a signal aborted before the start', async () => {
    const runtime = await ArgusRuntime.load(TINY_PACKAGE_DIR, { intraOpThreads: 1 });
    await assert.rejects(runtime.generate(volume, { signal: AbortSignal.abort() }), (error: unknown) => {
      assert.ok(error instanceof GenerationAbortedError, `got ${String(error)}`);
      assert.equal(error.tokensGenerated, 0);
      return true;
    });
    await runtime.release();
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

describe('generation settings at load', () => {
  const volume = cylinderVolume();

  it('stops at a configured end token', async () => {
    const plain = await ArgusRuntime.load(TINY_PACKAGE_DIR, { intraOpThreads: 1 });
    const full = await plain.generate(volume, { maxNewTokens: 8 });
    await plain.release();
    const third = full.tokenIds[2]!;
    assert.equal(full.tokenIds.slice(0, 2).includes(third), false, 'the first two tokens differ from the third');

    const runtime = await ArgusRuntime.load(TINY_PACKAGE_DIR, { intraOpThreads: 1, generation: { endTokens: [tokenContent(third)] } });
    const report = await runtime.generate(volume, { maxNewTokens: 8 });
    await runtime.release();
    assert.deepEqual(report.tokenIds, full.tokenIds.slice(0, 3));
  });

  it('rejects an unknown end token', async () => {
    await assert.rejects(ArgusRuntime.load(TINY_PACKAGE_DIR, { generation: { endTokens: ['<|no such token|>'] } }), /end token "<\|no such token\|>" is not in/);
  });

  it('rejects a beam width of zero', async () => {
    await assert.rejects(ArgusRuntime.load(TINY_PACKAGE_DIR, { generation: { numBeams: 0 } }), RangeError);
  });

  it('applies the beam width to every call', async () => {
    const plain = await ArgusRuntime.load(TINY_PACKAGE_DIR, { intraOpThreads: 1 });
    const perCall = await plain.generate(volume, { numBeams: 3 });
    const greedy = await plain.generate(volume);
    await plain.release();

    const runtime = await ArgusRuntime.load(TINY_PACKAGE_DIR, { intraOpThreads: 1, generation: { numBeams: 3 } });
    const atLoad = await runtime.generate(volume);
    await runtime.release();
    assert.deepEqual(atLoad.tokenIds, perCall.tokenIds);
    assert.notDeepEqual(atLoad.tokenIds, greedy.tokenIds);
  });
});

describe('one runtime shared by jobs', () => {
  const volume = cylinderVolume();

  it('runs concurrent generations independently', async () => {
    const runtime = await ArgusRuntime.load(TINY_PACKAGE_DIR, { intraOpThreads: 1 });
    const greedyAlone = await runtime.generate(volume);
    const beamAlone = await runtime.generate(volume, { numBeams: 3, repetitionPenalty: 1.2 });

    const [greedy, beam] = await Promise.all([runtime.generate(volume), runtime.generate(volume, { numBeams: 3, repetitionPenalty: 1.2 })]);
    await runtime.release();
    assert.deepEqual(greedy.tokenIds, greedyAlone.tokenIds);
    assert.deepEqual(beam.tokenIds, beamAlone.tokenIds);
  });

  it('lets a running generation finish on release', async () => {
    const runtime = await ArgusRuntime.load(TINY_PACKAGE_DIR, { intraOpThreads: 1 });
    let released: Promise<void> | undefined;
    const report = await runtime.generate(volume, {
      onToken: (count) => {
        if (count === 1) released = runtime.release();
      },
    });
    assert.equal(report.tokenIds.length, runtime.config.generation.max_new_tokens);
    await released;
    await assert.rejects(runtime.generate(volume), ModelReleasedError);
  });

  it('reports progress of a beam search', async () => {
    const runtime = await ArgusRuntime.load(TINY_PACKAGE_DIR, { intraOpThreads: 1 });
    const counts: number[] = [];
    const report = await runtime.generate(volume, { numBeams: 2, maxNewTokens: 6, onToken: (count) => counts.push(count) });
    await runtime.release();
    assert.deepEqual(counts, counts.map((_, index) => index + 1));
    assert.ok(counts.length >= report.tokenIds.length);
    assert.ok(counts.length <= 6);
  });
});
