/**
 * Greedy decoding with a KV cache over embed_tokens.onnx and decoder_model_merged.onnx.
 *
 * The prompt's single image token is replaced by the num_image_tokens rows of image_embeds, so the
 * decoder's first step receives [prompt before, image, prompt after] and positions count the image
 * rows like tokens. The first step passes zero-length past tensors. Each later step feeds one token
 * and the present tensors of the step before.
 */
import type { InferenceSession, OnnxValue } from 'onnxruntime-node';

import { GenerationAbortedError } from './errors.ts';
import { layerTensorName, type PackageConfig } from './package-config.ts';
import { float32Output, runGraph, Tensor, type PackageSessions } from './sessions.ts';
import type { EncodedPrompt } from './tokenizer.ts';

export interface DecodeOptions {
  maxNewTokens: number;
  signal?: AbortSignal;
  /** Called after each new token with the number generated so far. */
  onToken?: (count: number) => void;
}

export interface DecodeResult {
  /** New token ids; an end token that stopped generation is included as the last id. */
  tokenIds: number[];
  /** Logits over the vocabulary for the first new token. */
  firstStepLogits: Float32Array;
}

/** Sequence length of the first decoder step: the prompt with its image token expanded. */
export function splicedLength(prompt: EncodedPrompt, config: PackageConfig): number {
  return prompt.inputIds.length - 1 + config.num_image_tokens;
}

export async function greedyDecode(
  sessions: PackageSessions,
  config: PackageConfig,
  prompt: EncodedPrompt,
  imageEmbeds: Float32Array,
  options: DecodeOptions,
): Promise<DecodeResult> {
  const hidden = config.text.hidden_size;
  const promptEmbeds = await embedTokens(sessions.embedTokens, config, prompt.inputIds);
  const sequence = new Float32Array(splicedLength(prompt, config) * hidden);
  const before = prompt.imageTokenIndex * hidden;
  sequence.set(promptEmbeds.subarray(0, before), 0);
  sequence.set(imageEmbeds, before);
  sequence.set(promptEmbeds.subarray(before + hidden), before + imageEmbeds.length);

  // The decoder has no positions beyond max_position_embeddings, so the budget shrinks to fit.
  const length = splicedLength(prompt, config);
  const budget = Math.min(options.maxNewTokens, config.text.max_position_embeddings - length);
  const cache = new KvCache(config);
  const tokenIds: number[] = [];
  let firstStepLogits: Float32Array | undefined;
  let stepEmbeds: Float32Array = sequence;
  let stepLength = length;

  while (tokenIds.length < budget) {
    if (options.signal?.aborted) throw new GenerationAbortedError(tokenIds.length, options.signal.reason);

    const logits = await decoderStep(sessions.decoder, config, cache, stepEmbeds, stepLength);
    firstStepLogits ??= logits.slice();
    const token = argmax(logits);
    tokenIds.push(token);
    options.onToken?.(tokenIds.length);
    if (config.end_token_ids.includes(token)) break;

    stepEmbeds = await embedTokens(sessions.embedTokens, config, [token]);
    stepLength = 1;
  }
  return { tokenIds, firstStepLogits: firstStepLogits ?? new Float32Array(0) };
}

/** Past keys and values of every layer, each [1, num_key_value_heads, past, head_dim]. Starts empty. */
class KvCache {
  length = 0;
  readonly tensors = new Map<string, OnnxValue>();

  constructor(private readonly config: PackageConfig) {
    const { num_layers: layers, num_key_value_heads: heads, head_dim: headDim } = config.text;
    for (let layer = 0; layer < layers; layer++) {
      for (const kind of ['key', 'value'] as const) {
        const name = layerTensorName(config.tensors[`past_${kind}`], layer);
        this.tensors.set(name, new Tensor('float32', new Float32Array(0), [1, heads, 0, headDim]));
      }
    }
  }

  /** Replaces the cache by the step's present.* outputs. */
  update(outputs: InferenceSession.ReturnType, added: number): void {
    const { tensors, text } = this.config;
    for (let layer = 0; layer < text.num_layers; layer++) {
      for (const kind of ['key', 'value'] as const) {
        const present = layerTensorName(tensors[`present_${kind}`], layer);
        const value = float32Output(outputs, present, this.config.files.decoder);
        const past = layerTensorName(tensors[`past_${kind}`], layer);
        this.tensors.set(past, new Tensor('float32', value.data, value.dims));
      }
    }
    this.length += added;
  }
}

async function embedTokens(session: InferenceSession, config: PackageConfig, ids: readonly number[]): Promise<Float32Array> {
  const inputIds = new Tensor('int64', BigInt64Array.from(ids, (id) => BigInt(id)), [1, ids.length]);
  const file = config.files.embed_tokens;
  const outputs = await runGraph(session, file, { [config.tensors.input_ids]: inputIds });
  return float32Output(outputs, config.tensors.inputs_embeds, file).data;
}

/** Runs one decoder step over `length` new positions and returns the logits of the last one. */
async function decoderStep(
  session: InferenceSession,
  config: PackageConfig,
  cache: KvCache,
  embeds: Float32Array,
  length: number,
): Promise<Float32Array> {
  const { tensors, text } = config;
  const total = cache.length + length;
  const positions = BigInt64Array.from({ length }, (_, i) => BigInt(cache.length + i));
  const feeds: InferenceSession.FeedsType = {
    [tensors.inputs_embeds]: new Tensor('float32', embeds, [1, length, text.hidden_size]),
    [tensors.attention_mask]: new Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]),
    [tensors.position_ids]: new Tensor('int64', positions, [1, length]),
    ...Object.fromEntries(cache.tensors),
  };

  const file = config.files.decoder;
  const outputs = await runGraph(session, file, feeds);
  const logits = float32Output(outputs, tensors.logits, file).data;
  cache.update(outputs, length);
  const vocab = text.vocab_size;
  return logits.subarray((length - 1) * vocab, length * vocab);
}

/** Index of the largest logit; the first one wins a tie, as in torch.argmax. */
export function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) {
    if (values[i]! > values[best]!) best = i;
  }
  return best;
}
