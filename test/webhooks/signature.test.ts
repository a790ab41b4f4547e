import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { verifyWebhook, WebhookSignatureError } from '../../src/index.js';
import { parseSignatureHeader, signWebhook } from '../../src/server/webhooks/signature.js';

const event = (id = 'evt_1') =>
  JSON.stringify({
    id,
    type: 'connection.created',
    createdAt: 1,
    data: { connection: { id: 'alice' } },
  });
const NOW = 1_750_000_000_000;
const T = NOW / 1000;

function reason(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(WebhookSignatureError);
    return (err as WebhookSignatureError).reason;
  }
  return undefined;
}

describe('verifyWebhook', () => {
  it('accepts what signWebhook signed, for any secret, body id and clock offset within tolerance (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }),
        fc.string(),
        fc.integer({ min: -300, max: 300 }),
        (secret, id, skew) => {
          const body = event(id);
          const header = signWebhook(secret, body, T + skew);
          expect(verifyWebhook({ body, signature: header, secret, now: NOW }).id).toBe(id);
          expect(verifyWebhook({ body: Buffer.from(body), signature: header, secret, now: NOW }).id).toBe(id);
        },
      ),
    );
  });

  it('refuses any change of body, timestamp or secret (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (secret, at, flip) => {
          const body = Buffer.from(event());
          const header = signWebhook(secret, body, T);
          const changed = Buffer.from(body);
          const i = at % changed.length;
          changed[i] = (changed[i] as number) ^ flip;
          expect(reason(() => verifyWebhook({ body: changed, signature: header, secret, now: NOW }))).toMatch(
            /mismatch|malformed/,
          );
          const later = header.replace(`t=${T}`, `t=${T + 1}`);
          expect(reason(() => verifyWebhook({ body, signature: later, secret, now: NOW }))).toBe('mismatch');
          expect(
            reason(() => verifyWebhook({ body, signature: header, secret: `${secret}x`, now: NOW })),
          ).toBe('mismatch');
        },
      ),
    );
  });

  it('refuses old and future timestamps, even correctly signed', () => {
    const body = event();
    expect(
      reason(() =>
        verifyWebhook({ body, signature: signWebhook('s', body, T - 301), secret: 's', now: NOW }),
      ),
    ).toBe('too_old');
    expect(
      reason(() =>
        verifyWebhook({ body, signature: signWebhook('s', body, T + 301), secret: 's', now: NOW }),
      ),
    ).toBe('in_future');
    expect(
      verifyWebhook({
        body,
        signature: signWebhook('s', body, T - 3000),
        secret: 's',
        now: NOW,
        toleranceSeconds: 3600,
      }).id,
    ).toBe('evt_1');
  });

  it('accepts any of several secrets while rotating, and any of several v1 values', () => {
    const body = event();
    const header = signWebhook('new', body, T);
    expect(verifyWebhook({ body, signature: header, secret: ['old', 'new'], now: NOW }).id).toBe('evt_1');
    const both = `${header},v1=${'0'.repeat(64)}`;
    expect(verifyWebhook({ body, signature: both, secret: 'new', now: NOW }).id).toBe('evt_1');
  });

  it('refuses a missing, empty or malformed header and a signed body that is not a Baton event', () => {
    const body = event();
    expect(reason(() => verifyWebhook({ body, signature: undefined, secret: 's' }))).toBe('missing');
    expect(reason(() => verifyWebhook({ body, signature: '', secret: 's' }))).toBe('missing');
    for (const bad of [
      't=1',
      'v1=abc',
      `t=x,v1=${'a'.repeat(64)}`,
      `t=1,t=2,v1=${'a'.repeat(64)}`,
      'garbage',
    ])
      expect(reason(() => verifyWebhook({ body, signature: bad, secret: 's', now: NOW }))).toBe('malformed');
    const other = '{"hello":1}';
    expect(
      reason(() =>
        verifyWebhook({ body: other, signature: signWebhook('s', other, T), secret: 's', now: NOW }),
      ),
    ).toBe('malformed');
  });

  it('the header parser never throws anything but a WebhookSignatureError (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (header) => {
        try {
          const parsed = parseSignatureHeader(header);
          expect(parsed.signatures.every((s) => /^[0-9a-f]{64}$/.test(s))).toBe(true);
        } catch (err) {
          expect(err).toBeInstanceOf(WebhookSignatureError);
        }
      }),
    );
  });
});
