/**
 * Runs a model package through the service's runtime (src/model) on a raw pixel_values file. The JSON
 * written to --out contains the prompt's input_ids, the settings used, the generated token ids, the beam
 * score and, for greedy decoding, the logits of every step. verify.py compares it with PyTorch.
 *
 * Usage: node --import tsx tools/model/run_package.ts --package DIR --pixel-values FILE.f32 --out FILE.json
 *          [--num-beams N] [--max-new-tokens N] [--repetition-penalty X] [--no-repeat-ngram-size N]
 *          [--length-penalty X]
 */
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

import { ArgusRuntime } from '../../src/model/argus-model.ts';

const { values } = parseArgs({
  options: {
    package: { type: 'string' },
    'pixel-values': { type: 'string' },
    out: { type: 'string' },
    'num-beams': { type: 'string' },
    'max-new-tokens': { type: 'string' },
    'repetition-penalty': { type: 'string' },
    'no-repeat-ngram-size': { type: 'string' },
    'length-penalty': { type: 'string' },
  },
});
if (values.package === undefined || values['pixel-values'] === undefined || values.out === undefined) {
  throw new Error('--package, --pixel-values and --out are required');
}

const number = (value: string | undefined) => (value === undefined ? undefined : Number(value));
const runtime = await ArgusRuntime.load(values.package, { intraOpThreads: 1 });
try {
  const bytes = await readFile(values['pixel-values']);
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const imageEmbeds = await runtime.runVision({ data, shape: [1, 1, ...runtime.config.preprocessing.input_size] });

  const options = Object.fromEntries(
    Object.entries({
      numBeams: number(values['num-beams']),
      maxNewTokens: number(values['max-new-tokens']),
      repetitionPenalty: number(values['repetition-penalty']),
      noRepeatNgramSize: number(values['no-repeat-ngram-size']),
      lengthPenalty: number(values['length-penalty']),
    }).filter(([, value]) => value !== undefined),
  );
  const result = await runtime.decode(imageEmbeds, { ...options, keepStepLogits: true });
  const output = {
    input_ids: runtime.prompt.inputIds,
    image_token_index: runtime.prompt.imageTokenIndex,
    settings: { ...runtime.generation, ...options },
    token_ids: result.tokenIds,
    score: result.score ?? null,
    step_logits: (result.stepLogits ?? []).map((logits) => Array.from(logits)),
  };
  await writeFile(values.out, JSON.stringify(output));
} finally {
  await runtime.release();
}
