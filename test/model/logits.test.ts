/**
 * Logits processing rules on hand-computed cases. The reference tests cover them against PyTorch.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { argmax, bannedNgramTokens, logSumExp, processLogits } from '../../src/model/logits.ts';

describe('logits processing', () => {
  it('argmax picks the first of equal maxima', () => {
    assert.equal(argmax(Float32Array.from([1, 3, 3, 2])), 1);
  });

  it('repetition penalty divides positive and multiplies negative logits', () => {
    const logits = Float32Array.from([2, -1, 4, 0.5]);
    const processed = processLogits(logits, [0, 1, 0], { repetitionPenalty: 2, noRepeatNgramSize: 0 });
    assert.deepEqual([...processed], [1, -2, 4, 0.5]);
    assert.deepEqual([...logits], [2, -1, 4, 0.5], 'the input is left unchanged');
  });

  it('bans tokens that would repeat a bigram', () => {
    // Bigrams so far: (5,7), (7,5), (5,9), (9,5). The last token is 5, so 7 and 9 are banned.
    assert.deepEqual([...bannedNgramTokens([5, 7, 5, 9, 5], 2)].sort(), [7, 9]);
  });

  it('bans tokens that would repeat a trigram', () => {
    assert.deepEqual([...bannedNgramTokens([1, 2, 3, 1, 2], 3)], [3]);
    assert.deepEqual([...bannedNgramTokens([1, 2, 3, 1, 4], 3)], []);
  });

  it('n-gram size 1 bans every generated token', () => {
    assert.deepEqual([...bannedNgramTokens([4, 2, 4], 1)].sort(), [2, 4]);
  });

  it('n-gram ban is off for size 0 and short sequences', () => {
    assert.equal(bannedNgramTokens([1, 1, 1], 0).size, 0);
    assert.equal(bannedNgramTokens([1, 2], 3).size, 0);
  });

  it('returns the input when no rule is on', () => {
    const logits = Float32Array.from([1, 2]);
    assert.equal(processLogits(logits, [0, 1], { repetitionPenalty: 1, noRepeatNgramSize: 0 }), logits);
  });

  it('banned tokens get -Infinity', () => {
    const processed = processLogits(Float32Array.from([0, 1, 2]), [2, 2], { repetitionPenalty: 1, noRepeatNgramSize: 2 });
    assert.deepEqual([...processed], [0, 1, -Infinity]);
  });

  it('logSumExp skips -Infinity entries', () => {
    const value = logSumExp(Float32Array.from([Math.log(1), Math.log(3), -Infinity]));
    assert.ok(Math.abs(value - Math.log(4)) < 1e-6, `got ${value}`);
  });
});
