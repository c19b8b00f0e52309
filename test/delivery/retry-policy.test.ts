import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { decideAfterFailure, retryDelayMs, type RetryPolicy } from '../../src/delivery/retry-policy.ts';

const POLICY: RetryPolicy = { maxAttempts: 10, baseSeconds: 5, maxSeconds: 600, deadlineMs: 24 * 3600 * 1000 };
const NOW = new Date('2024-05-01T12:00:00Z');

describe('retry policy', () => {
  it('doubles the wait from the base', () => {
    const noJitter = () => 1 - Number.EPSILON;
    assert.deepEqual(
      [1, 2, 3, 4].map((attempt) => Math.round(retryDelayMs(attempt, POLICY, noJitter) / 1000)),
      [5, 10, 20, 40],
    );
  });

  it('caps the wait at maxSeconds', () => {
    assert.equal(retryDelayMs(30, POLICY, () => 1 - Number.EPSILON), 600_000);
    assert.ok(Number.isFinite(retryDelayMs(5000, POLICY, () => 0)));
  });

  it('keeps at least half the wait with jitter', () => {
    assert.equal(retryDelayMs(3, POLICY, () => 0), 10_000);
    const delays = Array.from({ length: 200 }, () => retryDelayMs(3, POLICY));
    assert.ok(delays.every((delay) => delay >= 10_000 && delay <= 20_000));
    assert.ok(new Set(delays).size > 1, 'jitter spreads the waits');
  });

  it('schedules a retryable failure', () => {
    const decision = decideAfterFailure({ attemptsMade: 2, firstAttemptAt: NOW, retryable: true }, POLICY, NOW, () => 0);
    assert.deepEqual(decision, { state: 'failed', nextAttemptAt: new Date(NOW.getTime() + 5000) });
  });

  it('ends a failure that is not retryable', () => {
    const decision = decideAfterFailure({ attemptsMade: 1, firstAttemptAt: NOW, retryable: false }, POLICY, NOW);
    assert.deepEqual(decision, { state: 'dead', reason: 'not_retryable' });
  });

  it('ends after maxAttempts', () => {
    const decision = decideAfterFailure({ attemptsMade: 10, firstAttemptAt: NOW, retryable: true }, POLICY, NOW);
    assert.deepEqual(decision, { state: 'dead', reason: 'attempts_exhausted' });
  });

  it('ends at the deadline', () => {
    const firstAttemptAt = new Date(NOW.getTime() - POLICY.deadlineMs);
    const decision = decideAfterFailure({ attemptsMade: 3, firstAttemptAt, retryable: true }, POLICY, NOW);
    assert.deepEqual(decision, { state: 'dead', reason: 'deadline_passed' });
  });

  it('never schedules past the deadline', () => {
    const firstAttemptAt = new Date(NOW.getTime() - POLICY.deadlineMs + 1000);
    const decision = decideAfterFailure({ attemptsMade: 8, firstAttemptAt, retryable: true }, POLICY, NOW, () => 0.9);
    assert.deepEqual(decision, { state: 'failed', nextAttemptAt: new Date(NOW.getTime() + 1000) });
  });
});
