/**
 * When a failed webhook delivery is tried again (README, "Webhooks"): exponential backoff
 * with jitter, for at least the retry window (default 24 h), then dead.
 *
 * The n-th retry waits between half and all of `min(maxMs, baseMs · 2^(n−1))` ("equal
 * jitter"): replicas that failed together do not retry together, and no wait is shorter than
 * half its step. A delivery is dead only once a failure happens at or after `retryFrom +
 * windowMs`, so the last attempt is never earlier than the window's end.
 */

/** The schedule of a webhook delivery's retries (not the token endpoint's: core's `GrantRetryPolicy`). */
export interface DeliveryBackoff {
  /** First step. Default 5 s. */
  baseMs: number;
  /** Longest step. Default 1 h. */
  maxMs: number;
  /** Retries go on at least this long after the event. Default 24 h. */
  windowMs: number;
}

export const DEFAULT_BACKOFF: DeliveryBackoff = { baseMs: 5_000, maxMs: 3_600_000, windowMs: 86_400_000 };

/** The wait after the `attempt`-th failed attempt (1-based); `random` in [0, 1). */
export function retryDelay(
  attempt: number,
  random: number,
  policy: DeliveryBackoff = DEFAULT_BACKOFF,
): number {
  const step = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 40));
  return Math.round(step / 2 + (step / 2) * Math.min(Math.max(random, 0), 1));
}

export interface AfterFailure {
  status: 'pending' | 'dead';
  nextAttemptAt: number;
}

/** What follows a failed attempt made at `now`. */
export function afterFailure(
  attempts: number,
  retryFrom: number,
  now: number,
  random: number,
  policy: DeliveryBackoff = DEFAULT_BACKOFF,
): AfterFailure {
  if (now >= retryFrom + policy.windowMs) return { status: 'dead', nextAttemptAt: now };
  return { status: 'pending', nextAttemptAt: now + retryDelay(attempts, random, policy) };
}
