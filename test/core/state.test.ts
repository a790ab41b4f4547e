import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isDue, refreshPoint } from '../../src/core/due.js';
import { OPERATIONS, type Operation, transition } from '../../src/core/state.js';
import type { ConnectionStatus } from '../../src/store/store.js';

const STATUSES: (ConnectionStatus | 'absent')[] = ['absent', 'active', 'needs_reauth', 'revoked'];

describe('connection state machine', () => {
  it('leaves needs_reauth and revoked only by a new authorization (property over random operation sequences)', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...OPERATIONS), { maxLength: 40 }), (ops) => {
        let status: ConnectionStatus | 'absent' = 'absent';
        for (const op of ops) {
          const next = transition(status, op);
          if (next === null) continue; // refused: nothing written
          if ((status === 'needs_reauth' || status === 'revoked') && next === 'active') {
            expect(op).toBe('authorize');
          }
          status = next;
        }
      }),
    );
  });

  it('refuses a token commit onto anything but an active connection', () => {
    for (const s of STATUSES) expect(transition(s, 'commit_tokens')).toBe(s === 'active' ? 'active' : null);
  });

  it('lets revoke win from every existing status, and nothing but authorize create', () => {
    for (const s of STATUSES) expect(transition(s, 'revoke')).toBe(s === 'absent' ? null : 'revoked');
    for (const op of OPERATIONS) {
      expect(transition('absent', op) !== null).toBe(op === 'authorize');
    }
  });

  it('has a rule for every operation and status', () => {
    const table: Record<string, (string | null)[]> = {};
    for (const op of OPERATIONS) table[op] = STATUSES.map((s) => transition(s, op as Operation));
    expect(table).toEqual({
      authorize: ['active', 'active', 'active', 'active'],
      commit_tokens: [null, 'active', null, null],
      record_error: [null, 'active', 'needs_reauth', null],
      needs_reauth: [null, 'needs_reauth', null, null],
      revoke: [null, 'revoked', 'revoked', 'revoked'],
      learn_base: [null, 'active', null, null],
      identify: [null, 'active', null, null],
      spend: [null, 'active', null, null],
      note_expiring: [null, 'active', null, null],
      rekey: [null, 'active', 'needs_reauth', 'revoked'],
    });
  });
});

describe('refresh point', () => {
  const MIN = 60_000;
  it('is the window before expiry for long-lived tokens', () => {
    expect(refreshPoint(3_600_000, 0, MIN)).toBe(3_600_000 - MIN);
  });

  it('is half the lifetime for tokens shorter than twice the window: a 60 s token is due 30 s in', () => {
    expect(refreshPoint(60_000, 0, MIN)).toBe(30_000);
    expect(isDue(60_000, 0, 29_999, MIN)).toBe(false);
    expect(isDue(60_000, 0, 30_000, MIN)).toBe(true);
  });

  it('never expires without an expiry, and falls back to the window without an issue time', () => {
    expect(refreshPoint(null, 0, MIN)).toBe(Number.POSITIVE_INFINITY);
    expect(refreshPoint(100_000, null, MIN)).toBe(40_000);
  });

  it('lies within the lifetime, at most the window before expiry (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.integer({ min: 0, max: 10 ** 7 }),
        (issued, lifetime, window) => {
          const p = refreshPoint(issued + lifetime, issued, window);
          expect(p).toBeGreaterThanOrEqual(issued + lifetime / 2);
          expect(p).toBeLessThanOrEqual(issued + lifetime);
          expect(issued + lifetime - p).toBeLessThanOrEqual(window);
        },
      ),
    );
  });
});
