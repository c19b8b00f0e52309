/**
 * The decoding settings of one call: config.json's generation settings, replaced key by key by the
 * overrides given at load (the service configuration) and then by those given to the call.
 */
import type { PackageConfig } from './package-config.ts';
import type { PackageTokenizer } from './tokenizer.ts';

export interface GenerationOverrides {
  /** Maximum number of generated tokens, the end token included. */
  maxNewTokens?: number;
  /** Beam width. 1 decodes greedily, and more runs beam search with that many beams (at most 64). */
  numBeams?: number;
  /** Repetition penalty. Above 1 it discourages tokens already generated, and 1 is off. */
  repetitionPenalty?: number;
  /** n > 0 stops any n-gram of generated tokens from occurring twice, and 0 is off. */
  noRepeatNgramSize?: number;
  /** Beam search ranks finished sequences by score / length ** lengthPenalty. */
  lengthPenalty?: number;
  /** Contents of the tokens that stop generation, such as "<|end|>". They replace config.json end_token_ids. */
  endTokens?: readonly string[];
}

export interface DecodingSettings {
  maxNewTokens: number;
  numBeams: number;
  repetitionPenalty: number;
  noRepeatNgramSize: number;
  lengthPenalty: number;
  endTokenIds: readonly number[];
}

/** Largest beam width accepted. Each beam is one more row of the decoder batch and of the KV cache. */
export const MAX_BEAMS = 64;

/** Applies `overrides` to `base`, by default the package's own settings. Throws RangeError on an invalid value. */
export function resolveGeneration(
  config: PackageConfig,
  tokenizer: PackageTokenizer,
  overrides: GenerationOverrides,
  base: DecodingSettings = packageSettings(config),
): DecodingSettings {
  const settings: DecodingSettings = {
    maxNewTokens: overrides.maxNewTokens ?? base.maxNewTokens,
    numBeams: overrides.numBeams ?? base.numBeams,
    repetitionPenalty: overrides.repetitionPenalty ?? base.repetitionPenalty,
    noRepeatNgramSize: overrides.noRepeatNgramSize ?? base.noRepeatNgramSize,
    lengthPenalty: overrides.lengthPenalty ?? base.lengthPenalty,
    endTokenIds: overrides.endTokens === undefined ? base.endTokenIds : endTokenIds(config, tokenizer, overrides.endTokens),
  };

  if (!(Number.isInteger(settings.maxNewTokens) && settings.maxNewTokens > 0)) {
    throw new RangeError(`maxNewTokens must be a positive integer, got ${settings.maxNewTokens}`);
  }
  if (!(Number.isInteger(settings.numBeams) && settings.numBeams >= 1 && settings.numBeams <= MAX_BEAMS)) {
    throw new RangeError(`numBeams must be an integer from 1 to ${MAX_BEAMS}, got ${settings.numBeams}`);
  }
  if (!(Number.isFinite(settings.repetitionPenalty) && settings.repetitionPenalty > 0)) {
    throw new RangeError(`repetitionPenalty must be a positive number, got ${settings.repetitionPenalty}`);
  }
  if (!(Number.isInteger(settings.noRepeatNgramSize) && settings.noRepeatNgramSize >= 0)) {
    throw new RangeError(`noRepeatNgramSize must be a non-negative integer, got ${settings.noRepeatNgramSize}`);
  }
  if (!Number.isFinite(settings.lengthPenalty)) {
    throw new RangeError(`lengthPenalty must be a finite number, got ${settings.lengthPenalty}`);
  }
  return settings;
}

function packageSettings(config: PackageConfig): DecodingSettings {
  const { generation } = config;
  return {
    maxNewTokens: generation.max_new_tokens,
    numBeams: generation.num_beams,
    repetitionPenalty: generation.repetition_penalty,
    noRepeatNgramSize: generation.no_repeat_ngram_size,
    lengthPenalty: generation.length_penalty,
    endTokenIds: config.end_token_ids,
  };
}

function endTokenIds(config: PackageConfig, tokenizer: PackageTokenizer, contents: readonly string[]): number[] {
  if (contents.length === 0) throw new RangeError('endTokens must name at least one token');
  return contents.map((content) => {
    const id = tokenizer.tokenId(content);
    if (id === undefined || id >= config.text.vocab_size) {
      throw new RangeError(`end token "${content}" is not in the package's ${config.files.tokenizer}`);
    }
    return id;
  });
}
