/**
 * Paths and readers for the tiny random-weight package and its PyTorch reference outputs, which
 * tools/model/make_tiny_fixture.py writes. Binary tensors are little-endian float32.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { CtVolume, Vector3 } from '../../src/volume/ct-volume.ts';
import type { PreprocessingConfig } from '../../src/model/package-config.ts';

const testDir = path.dirname(fileURLToPath(import.meta.url));
export const TINY_PACKAGE_DIR = path.resolve(testDir, '../fixtures/tiny-argus');
export const REFERENCE_DIR = path.resolve(testDir, '../fixtures/tiny-argus-reference');
/** Graphs that break the package contract on purpose, written by tools/model/make_tiny_fixture.py. */
export const BROKEN_GRAPHS_DIR = path.resolve(testDir, '../fixtures/tiny-argus-broken');

export interface PreprocessingCase {
  name: string;
  volume: { file: string; dimensions: Vector3; spacing: Vector3; origin: Vector3; direction: [Vector3, Vector3, Vector3] };
  preprocessing: PreprocessingConfig;
  pixel_values: { file: string; shape: number[] };
}

/** One decoding run of tools/model/generation.py on the reference image. */
export interface DecodingCase {
  name: string;
  num_beams: number;
  repetition_penalty: number;
  no_repeat_ngram_size: number;
  length_penalty: number;
  max_new_tokens: number;
  generated_ids: number[];
  /** Smallest distance to a tie over the run: top-2 logit gap (greedy) or ranking cut (beam). */
  min_margin: number;
  /** Beam search: sum of the log-probabilities of generated_ids. */
  score?: number;
  /** Ids that end generation besides config.json end_token_ids. */
  extra_end_tokens?: number[];
  /** Greedy: raw logits of every step, [steps, vocab_size]. */
  step_logits?: { file: string; shape: [number, number] };
}

export interface GenerationReference {
  pixel_values: { file: string; shape: number[] };
  prompt_text: string;
  input_ids: number[];
  image_embeds: { file: string; shape: number[] };
  max_new_tokens: number;
  generated_ids: number[];
  first_step_logits: number[];
  min_top2_gap: number;
  decoding_cases: DecodingCase[];
}

/** Returns the content of a token id of the tiny package, from its tokenizer.json vocabulary or added tokens. */
export function tokenContent(id: number): string {
  const tokenizer = JSON.parse(readFileSync(path.join(TINY_PACKAGE_DIR, 'tokenizer.json'), 'utf8')) as {
    model: { vocab: Record<string, number> };
    added_tokens: { id: number; content: string }[];
  };
  const added = tokenizer.added_tokens.find((token) => token.id === id);
  if (added !== undefined) return added.content;
  const entry = Object.entries(tokenizer.model.vocab).find(([, tokenId]) => tokenId === id);
  if (entry === undefined) throw new Error(`token ${id} is not in the tiny package's tokenizer`);
  return entry[0];
}

export function readFloat32(file: string): Float32Array {
  const bytes = readFileSync(path.join(REFERENCE_DIR, file));
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Float32Array(copy.buffer);
}

export function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(path.join(REFERENCE_DIR, file), 'utf8')) as T;
}

export function preprocessingCases(): PreprocessingCase[] {
  return readJson<{ cases: PreprocessingCase[] }>('preprocessing.json').cases;
}

export function generationReference(): GenerationReference {
  return readJson<GenerationReference>('generation.json');
}

export function caseVolume(testCase: PreprocessingCase): CtVolume {
  const { dimensions, spacing, origin, direction } = testCase.volume;
  return { voxels: readFloat32(testCase.volume.file), dimensions, spacing, origin, direction };
}

/** Largest absolute elementwise difference, Infinity if either side has a NaN; throws if lengths differ. */
export function maxAbsDifference(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} differs from ${expected.length}`);
  let max = 0;
  for (let i = 0; i < actual.length; i++) {
    const difference = Math.abs(actual[i]! - expected[i]!);
    if (Number.isNaN(difference)) return Infinity;
    if (difference > max) max = difference;
  }
  return max;
}
