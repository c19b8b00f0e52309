/**
 * When a failed delivery is tried again, and when it stops being tried. Retries back off exponentially
 * from `baseSeconds`, are capped at `maxSeconds`, and are spread by jitter so that many deliveries that
 * failed together (a RIS restart) do not all return at the same second. A delivery becomes dead after
 * `maxAttempts` attempts, once `deadlineMs` has passed since its first attempt, or at once when the
 * failure is not worth retrying.
 */

export interface RetryPolicy {
  maxAttempts: number;
  baseSeconds: number;
  maxSeconds: number;
  deadlineMs: number;
}

export type DeadReason = 'not_retryable' | 'attempts_exhausted' | 'deadline_passed';

export type RetryDecision = { state: 'failed'; nextAttemptAt: Date } | { state: 'dead'; reason: DeadReason };

/**
 * Share of the backoff delay that is random. Half keeps at least half of the exponential wait, so a
 * receiver that is down is not polled faster than the policy says, and spreads the rest.
 */
const JITTER_SHARE = 0.5;

/**
 * Returns the wait in ms before attempt `attemptsMade + 1`: baseSeconds * 2^(attemptsMade - 1), capped
 * at maxSeconds, of which JITTER_SHARE is scaled by `random()` (a number in [0, 1)).
 */
export function retryDelayMs(attemptsMade: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const exponent = Math.max(0, attemptsMade - 1);
  // Capping the exponent first keeps 2 ** exponent finite for any attempt count.
  const uncapped = policy.baseSeconds * 2 ** Math.min(exponent, 60);
  const capped = Math.min(uncapped, policy.maxSeconds) * 1000;
  return Math.round(capped * (1 - JITTER_SHARE + JITTER_SHARE * random()));
}

/**
 * Decides what happens after a failed attempt. The next attempt is never scheduled after the deadline:
 * a delivery whose backoff would overrun it gets one last attempt at the deadline.
 */
export function decideAfterFailure(
  failure: { attemptsMade: number; firstAttemptAt: Date; retryable: boolean },
  policy: RetryPolicy,
  now: Date,
  random: () => number = Math.random,
): RetryDecision {
  if (!failure.retryable) return { state: 'dead', reason: 'not_retryable' };
  if (failure.attemptsMade >= policy.maxAttempts) return { state: 'dead', reason: 'attempts_exhausted' };

  const deadline = failure.firstAttemptAt.getTime() + policy.deadlineMs;
  if (now.getTime() >= deadline) return { state: 'dead', reason: 'deadline_passed' };

  const next = now.getTime() + retryDelayMs(failure.attemptsMade, policy, random);
  return { state: 'failed', nextAttemptAt: new Date(Math.min(next, deadline)) };
}
