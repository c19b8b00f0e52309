/**
 * Greedy decoding and beam search with a KV cache over embed_tokens.onnx and decoder_model_merged.onnx.
 *
 * The prompt's single image token is replaced by the num_image_tokens rows of image_embeds, so the
 * decoder's first step receives [prompt before, image, prompt after] and positions count the image
 * rows like tokens. The first step passes zero-length past tensors. Each later step feeds one token per
 * sequence and the present tensors of the step before. tools/model/generation.py implements the same
 * rules in PyTorch, and the tests compare both token for token.
 */
import { GenerationAbortedError } from './errors.ts';
import { argmax, logSumExp, processLogits, type LogitsRules } from './logits.ts';
import type { PackageConfig } from './package-config.ts';
import { DecoderSteps, type EmbeddingCache } from './decoder-steps.ts';
import type { PackageSessions } from './sessions.ts';
import type { EncodedPrompt } from './tokenizer.ts';

export { argmax } from './logits.ts';

export interface DecodeOptions {
  maxNewTokens: number;
  /** Ids that stop a sequence. Default: config.json end_token_ids. */
  endTokenIds?: readonly number[];
  /** Beam width. 1, the default, decodes greedily. */
  numBeams?: number;
  /** Default 1 (off). */
  repetitionPenalty?: number;
  /** Default 0 (off). */
  noRepeatNgramSize?: number;
  /** Default 1: a finished beam's score is divided by its length. */
  lengthPenalty?: number;
  signal?: AbortSignal;
  /** Called after each decoding step with the number of tokens generated so far. */
  onToken?: (count: number) => void;
  /** Greedy only: keep the raw logits of every step in DecodeResult.stepLogits. */
  keepStepLogits?: boolean;
}

export interface DecodeResult {
  /** New token ids; an end token that stopped generation is included as the last id. */
  tokenIds: number[];
  /** Raw logits over the vocabulary for the first new token. */
  firstStepLogits: Float32Array;
  /** Beam search: sum of the log-probabilities of tokenIds. Greedy: undefined. */
  score?: number;
  /** With keepStepLogits: the raw logits of each step of a greedy run. */
  stepLogits?: Float32Array[];
  /** Milliseconds spent inside onnxruntime's InferenceSession.run. */
  graphMs: number;
}

interface DecodeSettings extends LogitsRules {
  budget: number;
  endTokenIds: ReadonlySet<number>;
  numBeams: number;
  lengthPenalty: number;
}

/** Sequence length of the first decoder step: the prompt with its image token expanded. */
export function splicedLength(prompt: EncodedPrompt, config: PackageConfig): number {
  return prompt.inputIds.length - 1 + config.num_image_tokens;
}

/** Runs greedy decoding when options.numBeams is 1 or absent, beam search otherwise. */
export async function decode(
  sessions: PackageSessions,
  config: PackageConfig,
  prompt: EncodedPrompt,
  imageEmbeds: Float32Array,
  options: DecodeOptions,
  embeddings?: EmbeddingCache,
): Promise<DecodeResult> {
  const steps = new DecoderSteps(sessions, config, embeddings);
  const sequence = await splicePrompt(steps, config, prompt, imageEmbeds);
  const length = splicedLength(prompt, config);
  const settings: DecodeSettings = {
    // The decoder has no positions beyond max_position_embeddings, so the budget shrinks to fit.
    budget: Math.min(options.maxNewTokens, config.text.max_position_embeddings - length),
    endTokenIds: new Set(options.endTokenIds ?? config.end_token_ids),
    numBeams: options.numBeams ?? 1,
    repetitionPenalty: options.repetitionPenalty ?? 1,
    noRepeatNgramSize: options.noRepeatNgramSize ?? 0,
    lengthPenalty: options.lengthPenalty ?? 1,
  };
  const [firstLogits] = await steps.step(sequence, length);
  const firstStepLogits = firstLogits!.slice();

  const result =
    settings.numBeams <= 1
      ? await greedy(steps, firstStepLogits, settings, options)
      : await beamSearch(steps, firstStepLogits, settings, options);
  return { ...result, firstStepLogits, graphMs: steps.graphMs };
}

/** Runs greedy decoding whatever options.numBeams is. Kept for callers of the first release of this module. */
export async function greedyDecode(
  sessions: PackageSessions,
  config: PackageConfig,
  prompt: EncodedPrompt,
  imageEmbeds: Float32Array,
  options: DecodeOptions,
): Promise<DecodeResult> {
  return decode(sessions, config, prompt, imageEmbeds, { ...options, numBeams: 1 });
}

async function splicePrompt(steps: DecoderSteps, config: PackageConfig, prompt: EncodedPrompt, imageEmbeds: Float32Array): Promise<Float32Array> {
  const hidden = config.text.hidden_size;
  const promptEmbeds = await steps.embedSequence(prompt.inputIds);
  const sequence = new Float32Array(splicedLength(prompt, config) * hidden);
  const before = prompt.imageTokenIndex * hidden;
  sequence.set(promptEmbeds.subarray(0, before), 0);
  sequence.set(imageEmbeds, before);
  sequence.set(promptEmbeds.subarray(before + hidden), before + imageEmbeds.length);
  return sequence;
}

function checkAborted(options: DecodeOptions, generated: number): void {
  if (options.signal?.aborted) throw new GenerationAbortedError(generated, options.signal.reason);
}

async function greedy(
  steps: DecoderSteps,
  firstLogits: Float32Array,
  settings: DecodeSettings,
  options: DecodeOptions,
): Promise<Pick<DecodeResult, 'tokenIds' | 'stepLogits'>> {
  const tokenIds: number[] = [];
  const stepLogits: Float32Array[] = [];
  let logits = firstLogits;

  while (tokenIds.length < settings.budget) {
    checkAborted(options, tokenIds.length);
    if (options.keepStepLogits) stepLogits.push(logits.slice());

    const token = argmax(processLogits(logits, tokenIds, settings));
    tokenIds.push(token);
    options.onToken?.(tokenIds.length);
    if (settings.endTokenIds.has(token) || tokenIds.length >= settings.budget) break;

    const [next] = await steps.step(await steps.embedTokens([token]), 1);
    logits = next!;
  }
  return options.keepStepLogits ? { tokenIds, stepLogits } : { tokenIds };
}

interface Candidate {
  score: number;
  beam: number;
  token: number;
}

interface Hypothesis {
  tokenIds: number[];
  score: number;
  /** score / length ** lengthPenalty, the value hypotheses are ranked by. */
  rankScore: number;
}

/**
 * Runs beam search. Each step ranks every (beam, token) pair by the beam's score plus the token's
 * log-probability, and ties go to the lower beam index, then the lower token id. Going down that
 * ranking, an end token among the first numBeams candidates finishes a hypothesis and a later end token
 * is skipped. Any other token continues a beam until numBeams beams continue. The search stops when
 * numBeams hypotheses have finished, or at the token budget, where the live beams finish as they are.
 * The hypothesis with the best score / length ** lengthPenalty wins, and on a tie the one that finished first.
 */
async function beamSearch(
  steps: DecoderSteps,
  firstLogits: Float32Array,
  settings: DecodeSettings,
  options: DecodeOptions,
): Promise<Pick<DecodeResult, 'tokenIds' | 'score'>> {
  const width = settings.numBeams;
  let beams: number[][] = [[]];
  let scores = [0];
  let logits = [firstLogits];
  const finished: Hypothesis[] = [];
  const finish = (tokenIds: number[], score: number) =>
    finished.push({ tokenIds, score, rankScore: score / tokenIds.length ** settings.lengthPenalty });

  for (let step = 1; step <= settings.budget; step++) {
    checkAborted(options, step - 1);
    // Only end tokens are skipped, and each beam offers each end token once, so this many candidates
    // always fill the width.
    const needed = width + beams.length * settings.endTokenIds.size;
    const ranked = topCandidates(beams, scores, logits, settings, needed);

    const nextBeams: number[][] = [];
    const nextScores: number[] = [];
    const rows: number[] = [];
    for (const [rank, candidate] of ranked.entries()) {
      if (nextBeams.length === width) break;
      const tokenIds = [...beams[candidate.beam]!, candidate.token];
      if (settings.endTokenIds.has(candidate.token)) {
        if (rank < width) finish(tokenIds, candidate.score);
        continue;
      }
      nextBeams.push(tokenIds);
      nextScores.push(candidate.score);
      rows.push(candidate.beam);
    }
    options.onToken?.(step);

    if (finished.length >= width || nextBeams.length === 0) break;
    if (step === settings.budget) {
      nextBeams.forEach((tokenIds, index) => finish(tokenIds, nextScores[index]!));
      break;
    }

    steps.cache.selectRows(rows);
    beams = nextBeams;
    scores = nextScores;
    logits = await steps.step(await steps.embedTokens(beams.map((tokenIds) => tokenIds.at(-1)!)), 1);
  }

  let best: Hypothesis | undefined;
  for (const hypothesis of finished) {
    if (best === undefined || hypothesis.rankScore > best.rankScore) best = hypothesis;
  }
  return best === undefined ? { tokenIds: [], score: 0 } : { tokenIds: best.tokenIds, score: best.score };
}

/** Selects the `count` best candidates in ranking order, leaving out those with a score of -Infinity. */
function topCandidates(
  beams: readonly number[][],
  scores: readonly number[],
  logits: readonly Float32Array[],
  settings: DecodeSettings,
  count: number,
): Candidate[] {
  const top: Candidate[] = [];
  beams.forEach((generated, beam) => {
    const processed = processLogits(logits[beam]!, generated, settings);
    const offset = scores[beam]! - logSumExp(processed);
    for (let token = 0; token < processed.length; token++) {
      const score = offset + processed[token]!;
      if (score === -Infinity) continue;
      if (top.length === count && score <= top[count - 1]!.score) continue;
      // Candidates arrive in (beam, token) order, so placing a new one after its equals breaks ties that way.
      let at = top.length;
      while (at > 0 && top[at - 1]!.score < score) at--;
      top.splice(at, 0, { score, beam, token });
      if (top.length > count) top.pop();
    }
  });
  return top;
}
