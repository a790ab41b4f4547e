import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { afterFailure, DEFAULT_BACKOFF, retryDelay } from '../../src/server/webhooks/backoff.js';

describe('webhook retry schedule', () => {
  it('each wait is between half and all of an exponential step, capped (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.double({ min: 0, max: 1, noNaN: true }), (n, r) => {
        const step = Math.min(DEFAULT_BACKOFF.maxMs, DEFAULT_BACKOFF.baseMs * 2 ** (n - 1));
        const d = retryDelay(n, r);
        expect(d).toBeGreaterThanOrEqual(Math.floor(step / 2));
        expect(d).toBeLessThanOrEqual(step);
      }),
    );
  });

  it('a delivery that always fails is retried for at least the window, then dead, in a bounded number of attempts (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 200, maxLength: 200 }),
        fc.integer({ min: 0, max: 60_000 }),
        (randoms, firstDelay) => {
          const from = 1_000_000;
          let now = from + firstDelay;
          let attempts = 0;
          for (;;) {
            attempts++;
            const next = afterFailure(attempts, from, now, randoms[attempts % randoms.length] as number);
            if (next.status === 'dead') break;
            expect(next.nextAttemptAt).toBeGreaterThan(now);
            now = next.nextAttemptAt;
          }
          expect(now - from).toBeGreaterThanOrEqual(DEFAULT_BACKOFF.windowMs);
          expect(attempts).toBeLessThan(60);
        },
      ),
    );
  });
});
