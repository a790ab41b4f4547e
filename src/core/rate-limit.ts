import type { TokenRateLimit } from '../providers/spec.js';
import { sleep } from './clock.js';

/**
 * The keeper's default for a provider whose spec and options name no limit: five calls a
 * second, ten at once. Conservative on purpose — a vendor's token endpoint counts every call
 * (Cronofy's documents say issuing tokens counts towards its rate limits); raise it per
 * provider (`tokenRateLimit` in the spec, `rateLimits` in the keeper's options) when the
 * vendor allows more.
 */
export const DEFAULT_TOKEN_RATE_LIMIT: Required<TokenRateLimit> = { perSecond: 5, burst: 10 };

/**
 * One provider's token bucket, in wall-clock time (the provider's limits are). Calls reserve
 * their slot in order, so concurrent refreshes queue instead of stampeding, and a `Retry-After`
 * pauses every call until it has passed.
 */
class Bucket {
  readonly #perMs: number;
  readonly #burst: number;
  #tokens: number;
  #updated: number;
  #pausedUntil = 0;

  constructor(limit: TokenRateLimit, now: number) {
    this.#perMs = limit.perSecond / 1000;
    this.#burst = limit.burst ?? Math.max(1, Math.floor(limit.perSecond));
    this.#tokens = this.#burst;
    this.#updated = now;
  }

  /** Reserves the next call: how long to wait for it, or null when that is after `deadline`. */
  reserve(now: number, deadline: number): number | null {
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#updated) * this.#perMs);
    this.#updated = now;
    const refill = this.#tokens >= 1 ? 0 : (1 - this.#tokens) / this.#perMs;
    const at = Math.max(now + refill, this.#pausedUntil);
    if (at > deadline) return null;
    this.#tokens -= 1;
    return at - now;
  }

  pause(until: number): void {
    this.#pausedUntil = Math.max(this.#pausedUntil, until);
  }

  pausedBeyond(deadline: number): boolean {
    return this.#pausedUntil > deadline;
  }
}

/** Token-endpoint rate limits per provider, for the keeper's background refreshes. */
export class ProviderRateLimits {
  readonly #buckets = new Map<string, Bucket>();
  readonly #limitOf: (provider: string) => TokenRateLimit;

  constructor(limitOf: (provider: string) => TokenRateLimit) {
    this.#limitOf = limitOf;
  }

  #bucket(provider: string): Bucket {
    let b = this.#buckets.get(provider);
    if (!b) {
      b = new Bucket(this.#limitOf(provider), Date.now());
      this.#buckets.set(provider, b);
    }
    return b;
  }

  /** Waits for the provider's next slot; false (without waiting) when it comes after `deadline`. */
  async admit(provider: string, deadline: number): Promise<boolean> {
    const wait = this.#bucket(provider).reserve(Date.now(), deadline);
    if (wait === null) return false;
    if (wait > 0) await sleep(wait);
    return true;
  }

  /** The provider answered 429: no call before its `Retry-After` (seconds; 1 s when it gave none). */
  pause(provider: string, retryAfterSeconds: number | undefined): void {
    this.#bucket(provider).pause(Date.now() + (retryAfterSeconds ?? 1) * 1000);
  }

  /** Whether the provider is paused past `deadline` (nothing of it can run before then). */
  pausedBeyond(provider: string, deadline: number): boolean {
    return this.#bucket(provider).pausedBeyond(deadline);
  }
}
