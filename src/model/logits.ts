/**
 * Logits processing shared by greedy decoding and beam search, matching tools/model/generation.py.
 *
 * Both rules look only at the tokens generated so far, not at the prompt, because the prompt is chat
 * template and image placeholder rather than report text.
 */

/** Returns the index of the largest value. The first one wins a tie, as in torch.argmax. */
export function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) {
    if (values[i]! > values[best]!) best = i;
  }
  return best;
}

/** Settings of processLogits(). A penalty of 1 and a size of 0 turn the rules off. */
export interface LogitsRules {
  repetitionPenalty: number;
  noRepeatNgramSize: number;
}

/**
 * Returns a copy of one sequence's logits with the repetition penalty and the n-gram ban applied, or
 * `logits` itself when neither rule is on, so callers must not modify the result.
 *
 * The penalty divides a positive logit of every generated token by the penalty and multiplies a
 * negative one by it (the CTRL rule, as in transformers). The ban sets to -Infinity each token that
 * would complete an n-gram already present in `generated`.
 */
export function processLogits(logits: Float32Array, generated: readonly number[], rules: LogitsRules): Float32Array {
  if (rules.repetitionPenalty === 1 && rules.noRepeatNgramSize <= 0) return logits;
  const processed = logits.slice();
  if (rules.repetitionPenalty !== 1) {
    for (const id of new Set(generated)) {
      const value = processed[id]!;
      processed[id] = value > 0 ? value / rules.repetitionPenalty : value * rules.repetitionPenalty;
    }
  }
  for (const id of bannedNgramTokens(generated, rules.noRepeatNgramSize)) processed[id] = -Infinity;
  return processed;
}

/** Returns the tokens that would repeat an n-gram of `generated` if appended to it, none when size is 0. */
export function bannedNgramTokens(generated: readonly number[], size: number): Set<number> {
  const banned = new Set<number>();
  if (size <= 0 || generated.length < size) return banned;

  const prefixStart = generated.length - size + 1;
  for (let start = 0; start + size <= generated.length; start++) {
    let matches = true;
    for (let offset = 0; offset < size - 1; offset++) {
      if (generated[start + offset] !== generated[prefixStart + offset]) {
        matches = false;
        break;
      }
    }
    if (matches) banned.add(generated[start + size - 1]!);
  }
  return banned;
}

/** Returns log(sum(exp(values))) in double precision. Entries of -Infinity contribute nothing. */
export function logSumExp(values: Float32Array): number {
  let max = -Infinity;
  for (const value of values) if (value > max) max = value;
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (const value of values) sum += Math.exp(value - max);
  return max + Math.log(sum);
}
