/**
 * One forward step of embed_tokens.onnx and decoder_model_merged.onnx over a batch of sequences that
 * share a KV cache layout. Greedy decoding uses a batch of one, beam search one row per beam.
 */
import { performance } from 'node:perf_hooks';
import type { InferenceSession, OnnxValue } from 'onnxruntime-node';

import { layerTensorName, type PackageConfig } from './package-config.ts';
import { float32Output, runGraph, Tensor, type PackageSessions } from './sessions.ts';

/** Past keys and values of every layer, each [batch, num_key_value_heads, past, head_dim]. Starts empty. */
export class KvCache {
  length = 0;
  batch = 1;
  readonly tensors = new Map<string, OnnxValue>();
  /** The past_* input and the present_* output of each layer and kind, named once instead of every step. */
  private readonly names: { past: string; present: string }[] = [];

  constructor(private readonly config: PackageConfig) {
    const { num_layers: layers, num_key_value_heads: heads, head_dim: headDim } = config.text;
    for (let layer = 0; layer < layers; layer++) {
      for (const kind of ['key', 'value'] as const) {
        const past = layerTensorName(config.tensors[`past_${kind}`], layer);
        this.names.push({ past, present: layerTensorName(config.tensors[`present_${kind}`], layer) });
        this.tensors.set(past, new Tensor('float32', new Float32Array(0), [1, heads, 0, headDim]));
      }
    }
  }

  /** Replaces the cache by the step's present.* outputs, which become the next step's inputs as they are. */
  update(outputs: InferenceSession.ReturnType, added: number): void {
    for (const { past, present } of this.names) {
      // Called for its check: it throws ModelInferenceError when the output is missing or not float32.
      float32Output(outputs, present, this.config.files.decoder);
      this.tensors.set(past, outputs[present]!);
    }
    this.length += added;
  }

  /** Rebuilds the batch so that row i is a copy of old row rows[i]. Beam search calls it after each step. */
  selectRows(rows: readonly number[]): void {
    for (const [name, tensor] of this.tensors) {
      const [, heads, length, headDim] = tensor.dims as [number, number, number, number];
      const source = (tensor as InstanceType<typeof Tensor>).data as Float32Array;
      const rowSize = heads * length * headDim;
      const data = new Float32Array(rows.length * rowSize);
      rows.forEach((row, index) => data.set(source.subarray(row * rowSize, (row + 1) * rowSize), index * rowSize));
      this.tensors.set(name, new Tensor('float32', data, [rows.length, heads, length, headDim]));
    }
    this.batch = rows.length;
  }
}

/** Memory the embedding rows of one runtime may take, in bytes, e.g. 4096 rows of a 2048-wide model. */
export const EMBEDDING_CACHE_BYTES = 32 * 1024 * 1024;

/**
 * Rows of embed_tokens.onnx by token id, shared by the decodings of one runtime, so that a token seen
 * before costs no graph call. The contract keeps positions out of embed_tokens.onnx, so a row depends
 * on its id alone and a stored row equals a fresh one. Once EMBEDDING_CACHE_BYTES are used, new ids
 * are no longer stored.
 */
export class EmbeddingCache {
  private readonly rows = new Map<number, Float32Array>();
  private readonly maxRows: number;

  constructor(hiddenSize: number) {
    this.maxRows = Math.floor(EMBEDDING_CACHE_BYTES / (hiddenSize * Float32Array.BYTES_PER_ELEMENT));
  }

  get(id: number): Float32Array | undefined {
    return this.rows.get(id);
  }

  set(id: number, row: Float32Array): void {
    if (this.rows.size < this.maxRows) this.rows.set(id, row);
  }
}

/** Runs the graphs of one decoding and adds up the time spent inside onnxruntime. */
export class DecoderSteps {
  readonly cache: KvCache;
  /** Milliseconds spent in InferenceSession.run, for the share of time outside onnxruntime. */
  graphMs = 0;
  /** All-ones attention mask storage, grown as needed. The mask never has a zero because nothing is padded. */
  private ones = new BigInt64Array(0);

  constructor(
    private readonly sessions: PackageSessions,
    private readonly config: PackageConfig,
    private readonly embeddings: EmbeddingCache = new EmbeddingCache(config.text.hidden_size),
  ) {
    this.cache = new KvCache(config);
  }

  /** Embeds `ids` as one sequence, [ids.length, hidden], in one run of embed_tokens.onnx. */
  async embedSequence(ids: readonly number[]): Promise<Float32Array> {
    const inputIds = new Tensor('int64', BigInt64Array.from(ids, (id) => BigInt(id)), [1, ids.length]);
    const file = this.config.files.embed_tokens;
    const outputs = await this.run(this.sessions.embedTokens, file, { [this.config.tensors.input_ids]: inputIds });
    return float32Output(outputs, this.config.tensors.inputs_embeds, file).data;
  }

  /** Embeds one new token per batch row, [ids.length, hidden], taking cached rows where possible. */
  async embedTokens(ids: readonly number[]): Promise<Float32Array> {
    const hidden = this.config.text.hidden_size;
    const missing = [...new Set(ids.filter((id) => this.embeddings.get(id) === undefined))];
    const fetched = new Map<number, Float32Array>();
    if (missing.length > 0) {
      const data = await this.embedSequence(missing);
      missing.forEach((id, index) => {
        const row = data.slice(index * hidden, (index + 1) * hidden);
        fetched.set(id, row);
        this.embeddings.set(id, row);
      });
    }

    const embeds = new Float32Array(ids.length * hidden);
    ids.forEach((id, index) => embeds.set(this.embeddings.get(id) ?? fetched.get(id)!, index * hidden));
    return embeds;
  }

  /**
   * Runs the decoder over `length` new positions of every batch row (embeds is [batch, length, hidden])
   * and returns the logits of each row's last position, [batch][vocab_size].
   */
  async step(embeds: Float32Array, length: number): Promise<Float32Array[]> {
    const { tensors, text } = this.config;
    const batch = this.cache.batch;
    const total = this.cache.length + length;
    const positions = new BigInt64Array(batch * length);
    for (let row = 0; row < batch; row++) {
      for (let i = 0; i < length; i++) positions[row * length + i] = BigInt(this.cache.length + i);
    }
    const feeds: InferenceSession.FeedsType = {
      [tensors.inputs_embeds]: new Tensor('float32', embeds, [batch, length, text.hidden_size]),
      [tensors.attention_mask]: new Tensor('int64', this.allOnes(batch * total), [batch, total]),
      [tensors.position_ids]: new Tensor('int64', positions, [batch, length]),
      ...Object.fromEntries(this.cache.tensors),
    };

    const file = this.config.files.decoder;
    const outputs = await this.run(this.sessions.decoder, file, feeds);
    const logits = float32Output(outputs, tensors.logits, file).data;
    this.cache.update(outputs, length);
    const vocab = text.vocab_size;
    return Array.from({ length: batch }, (_, row) => {
      const start = (row * length + length - 1) * vocab;
      return logits.subarray(start, start + vocab);
    });
  }

  /** Returns a view of `length` ones. Reusing one buffer saves an allocation and a fill per step. */
  private allOnes(length: number): BigInt64Array {
    if (this.ones.length < length) this.ones = new BigInt64Array(Math.max(length, 2 * this.ones.length)).fill(1n);
    return this.ones.subarray(0, length);
  }

  private async run(session: InferenceSession, file: string, feeds: InferenceSession.FeedsType): Promise<InferenceSession.ReturnType> {
    const started = performance.now();
    try {
      return await runGraph(session, file, feeds);
    } finally {
      this.graphMs += performance.now() - started;
    }
  }
}
