import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuthorizationError, BatonError, ProviderError, ReauthorizationRequired } from '../../src/errors.js';
import { checkCallback } from '../../src/protocol/authorization.js';
import { excerpt, REDACTED, redact } from '../../src/redact.js';

/** Every run of 8 characters of `s`: a text containing none of them contains no substring of >= 8. */
function grams(s: string, n = 8): string[] {
  const out: string[] = [];
  for (let i = 0; i + n <= s.length; i++) out.push(s.slice(i, i + n));
  return out;
}

function leaked(output: string, forms: string[]): string | undefined {
  for (const form of forms) for (const g of grams(form)) if (output.includes(g)) return g;
  return undefined;
}

const formEncode = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
const lowerHex = (s: string) => s.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const b64url = (s: string | Buffer) => Buffer.from(s).toString('base64url');
const html = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * The base64 characters that depend on `secret`'s bytes alone when it sits `offset` bytes into
 * an encoded string: what must not survive of an embedded base64 form.
 */
function base64Core(secret: string, offset: number): string {
  const bytes = Buffer.from(secret);
  const j = (3 - (offset % 3)) % 3;
  const n = Math.floor((bytes.length - j) / 3) * 3;
  return n > 0 ? b64(bytes.subarray(j, j + n)) : '';
}

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const chars = (s: string) => fc.constantFrom(...s);
const secretArb = fc.oneof(
  fc.string({ unit: chars(ALNUM), minLength: 8, maxLength: 64 }),
  fc.string({ unit: chars(`${ALNUM}-._~`), minLength: 8, maxLength: 64 }),
  // Characters that URL-encode, HTML-escape and JSON-escape.
  fc.string({ unit: chars(`${ALNUM} +/=&%?#:@"'\\<>;,`), minLength: 8, maxLength: 64 }),
  fc.string({ unit: chars(`${ALNUM}é中😀ß\n\t`), minLength: 8, maxLength: 64 }),
  fc.string({ unit: 'grapheme-ascii', minLength: 8, maxLength: 64 }),
  fc.string({ unit: 'binary', minLength: 8, maxLength: 64 }),
);
/** Context around the echo: ordinary words, never long runs that could collide with a secret's. */
const contextArb = fc.string({ unit: chars('abcdefgh {}":,<>/=&'), maxLength: 120 });

type Shape = {
  name: string;
  text: (s: string, id: string) => string;
  forms: (s: string, id: string) => string[];
};

const SHAPES: Shape[] = [
  { name: 'raw', text: (s) => s, forms: (s) => [s] },
  { name: 'url-encoded', text: (s) => encodeURIComponent(s), forms: (s) => [s, encodeURIComponent(s)] },
  {
    name: 'url-encoded lower case',
    text: (s) => lowerHex(encodeURIComponent(s)),
    forms: (s) => [s, lowerHex(encodeURIComponent(s))],
  },
  { name: 'form (+ for space)', text: (s) => formEncode(s), forms: (s) => [s, formEncode(s)] },
  {
    name: 'URLSearchParams',
    text: (s) => new URLSearchParams({ error_description: s }).toString(),
    forms: (s) => [s, new URLSearchParams({ x: s }).toString().slice(2)],
  },
  { name: 'base64', text: (s) => b64(s), forms: (s) => [s, b64(s)] },
  { name: 'base64url', text: (s) => b64url(s), forms: (s) => [s, b64url(s)] },
  {
    name: 'base64 unpadded',
    text: (s) => b64(s).replace(/=+$/, ''),
    forms: (s) => [s, b64(s).replace(/=+$/, '')],
  },
  {
    name: 'base64 of a longer string, each alignment',
    text: (s, id) => b64(`${id.slice(0, (id.length % 3) + 1)}${s}!`),
    forms: (s, id) => [s, base64Core(s, (id.length % 3) + 1)],
  },
  {
    name: 'Basic of client_id:secret',
    text: (s, id) => `Basic ${b64(`${formEncode(id)}:${formEncode(s)}`)}`,
    forms: (s, id) => [s, base64Core(formEncode(s), Buffer.byteLength(`${formEncode(id)}:`))],
  },
  {
    name: 'base64 of client_id:secret without the prefix',
    text: (s, id) => b64(`${formEncode(id)}:${formEncode(s)}`),
    forms: (s, id) => [s, base64Core(formEncode(s), Buffer.byteLength(`${formEncode(id)}:`))],
  },
  {
    name: 'base64 of raw client_id:secret',
    text: (s, id) => b64(`${id}:${s}`),
    forms: (s, id) => [s, base64Core(s, Buffer.byteLength(`${id}:`))],
  },
  {
    name: 'JSON error body',
    text: (s) => JSON.stringify({ error: 'invalid_grant', error_description: `Token ${s} is not valid` }),
    forms: (s) => [s, JSON.stringify(s).slice(1, -1)],
  },
  {
    name: 'HTML page',
    text: (s) => `<html><body><p>${html(s)}</p></body></html>`,
    forms: (s) => [s, html(s)],
  },
  {
    name: 'form body',
    text: (s) => `error=invalid_request&error_description=${formEncode(s)}&x=1`,
    forms: (s) => [s, formEncode(s)],
  },
  {
    name: 'repeated, mixed',
    text: (s) => `${s} ${encodeURIComponent(s)}${s}${b64(s)} ${s}`,
    forms: (s) => [s, encodeURIComponent(s), b64(s)],
  },
];

const shapeArb = fc.constantFrom(...SHAPES);

describe('redact (property)', () => {
  it('leaves no 8-character run of a secret, in any echo shape, raw or encoded', () => {
    fc.assert(
      fc.property(
        secretArb,
        fc.string({ unit: chars(`${ALNUM} -.@`), minLength: 1, maxLength: 30 }),
        shapeArb,
        contextArb,
        contextArb,
        (secret, clientId, shape, before, after) => {
          const text = `${before}${shape.text(secret, clientId)}${after}`;
          const out = redact(text, [{ clientId, clientSecret: secret }]);
          const leak = leaked(out, shape.forms(secret, clientId));
          expect(leak, `${shape.name}: ${JSON.stringify(out)}`).toBeUndefined();
        },
      ),
      { numRuns: 600 },
    );
  });

  it('excerpt redacts before it cuts, whatever the cut (small max, secret at the boundary)', () => {
    fc.assert(
      fc.property(
        secretArb,
        fc.string({ unit: chars(ALNUM), minLength: 1, maxLength: 20 }),
        shapeArb,
        fc.integer({ min: 1, max: 240 }),
        fc.integer({ min: -12, max: 12 }),
        (secret, clientId, shape, max, shift) => {
          // Put the echo right around the cut.
          const lead = 'a '.repeat(Math.max(0, Math.floor((max + shift) / 2)));
          const text = `${lead}${shape.text(secret, clientId)} trailing words`;
          const out = excerpt(text, [secret, { clientId, clientSecret: secret }], max);
          expect(out.length).toBeLessThanOrEqual(max + 1);
          const leak = leaked(out, shape.forms(secret, clientId));
          expect(leak, `${shape.name} max=${max}: ${JSON.stringify(out)}`).toBeUndefined();
        },
      ),
      { numRuns: 600 },
    );
  });

  it('changes nothing in text that holds no secret and no credential shape', () => {
    fc.assert(
      fc.property(secretArb, fc.string({ unit: chars('xyz .,!?'), maxLength: 200 }), (secret, text) => {
        fc.pre(!text.includes(secret.slice(0, 8)));
        expect(redact(text, [secret])).toBe(text);
      }),
    );
  });
});

describe('redact', () => {
  const secret = 'rt_Zq8/x+Lm=9&k ey';
  const pair = { clientId: 'client one', clientSecret: 's3cr3t/p@ss word+' };

  it('removes a URL-encoded echo in either hex case and with + for space', () => {
    for (const echo of [
      encodeURIComponent(secret),
      lowerHex(encodeURIComponent(secret)),
      formEncode(secret),
      'rt_Zq8%2Fx+Lm=9&k+ey', // partly encoded
    ]) {
      const out = redact(`invalid refresh_token "${echo}" given`, [secret]);
      expect(out).toBe(`invalid refresh_token "${REDACTED}" given`);
    }
  });

  it('removes the base64 of client_id:secret with and without "Basic ", form-encoded or not', () => {
    const joined = [
      `${pair.clientId}:${pair.clientSecret}`,
      `${formEncode(pair.clientId)}:${formEncode(pair.clientSecret)}`,
    ];
    for (const j of joined) {
      for (const echo of [b64(j), `Basic ${b64(j)}`, b64url(j), encodeURIComponent(b64(j))]) {
        const out = redact(`we got ${echo} from you`, [pair]);
        expect(out).not.toContain(b64(j).slice(8, 16));
        expect(out).toMatch(/^we got (Basic )?\S*\[redacted\]\S* from you$/);
      }
    }
  });

  it('removes a partial echo of 8 or more characters of a secret', () => {
    expect(redact(`token begins ${secret.slice(0, 9)}`, [secret])).toBe(`token begins ${REDACTED}`);
  });

  it('keeps the shape rules: Bearer and Basic headers, token fields in JSON and forms', () => {
    expect(redact('Authorization: Bearer abc.def-ghi')).toBe(`Authorization: Bearer ${REDACTED}`);
    expect(redact('Basic dXNlcjpwYXNz')).toBe(`Basic ${REDACTED}`);
    expect(redact('{"access_token":"xyz","refresh_token": "abc"}')).toBe(
      `{"access_token":"${REDACTED}","refresh_token": "${REDACTED}"}`,
    );
    expect(redact('grant_type=refresh_token&refresh_token=r1&client_secret=s1')).toBe(
      `grant_type=refresh_token&refresh_token=${REDACTED}&client_secret=${REDACTED}`,
    );
    // A field name inside a longer word is not a token field.
    expect(redact('unicode=yes barcode: 12')).toBe('unicode=yes barcode: 12');
  });

  it('skips short and missing values, and takes any mix of values and client pairs', () => {
    expect(redact('abc is fine', ['abc', undefined, null, { clientId: 'x' }])).toBe('abc is fine');
    expect(redact('id-1 and pw-123456', [{ clientId: 'id-1', clientSecret: 'pw-123456' }])).toBe(
      `id-1 and ${REDACTED}`,
    );
  });
});

describe('excerpt', () => {
  const secret = 'Refr3sh-T0ken-0123456789abcdef';

  it('redacts before cutting: a secret across the cut leaves no prefix behind', () => {
    const body = JSON.stringify({
      error: 'invalid_grant',
      error_description: `${'x'.repeat(150)} ${secret}`,
    });
    for (const max of [150, 155, 160, 165, 170, 180, 200]) {
      const out = excerpt(body, [secret], max);
      expect(leaked(out, [secret])).toBeUndefined();
      expect(out).not.toContain('Refr3');
      expect(out.endsWith('…')).toBe(true);
    }
  });

  it('drops a trailing fragment cut mid-word, even of an unknown value', () => {
    expect(excerpt('error: unknown value ABCDEFGHIJKLMNOPQRSTUVWXYZ', [], 30)).toBe('error: unknown value…');
    expect(excerpt('short body', [], 30)).toBe('short body');
    expect(excerpt('  spaced\n\nout  ', [], 30)).toBe('spaced out');
  });

  it('cuts very long bodies after redacting their start', () => {
    const out = excerpt(`${secret} ${'y '.repeat(200_000)}`, [secret], 50);
    expect(out.startsWith(REDACTED)).toBe(true);
    expect(out.length).toBeLessThanOrEqual(51);
  });
});

describe('BatonError and secrets', () => {
  const secret = 'cause-secret-value-42';

  it('never puts the cause in toJSON, JSON.stringify or String()', () => {
    const err = new ProviderError('It failed.', {}, { cause: new Error(`boom ${secret}`) });
    for (const text of [JSON.stringify(err), String(err), JSON.stringify(err.toJSON())]) {
      expect(leaked(text, [secret])).toBeUndefined();
    }
  });

  it('redacts message, excerpt and cause at construction when given the secrets', () => {
    const err = new ProviderError(
      `Bad answer ${encodeURIComponent(secret)}`,
      { status: 400, excerpt: `body ${b64(secret)}` },
      { cause: new Error(`socket said ${secret}`), secrets: [secret] },
    );
    expect(err.message).toBe(`Bad answer ${REDACTED}`);
    expect(err.excerpt).toBe(`body ${REDACTED}`);
    expect((err.cause as Error).message).toBe(`socket said ${REDACTED}`);
    expect(err).toBeInstanceOf(BatonError);
    const reauth = new ReauthorizationRequired(`no ${secret}`, { secrets: [secret], connectionId: 'c' });
    expect(reauth.message).toBe(`no ${REDACTED}`);
    expect(Object.keys(reauth)).not.toContain('secrets');
  });
});

describe('authorization callback errors', () => {
  it('quote the provider description redacted, then cut, with the code and state scrubbed', () => {
    const code = 'auth-code-planted-7777';
    const state = 'state-planted-8888-abcd';
    const description = `${'because '.repeat(20)}code ${encodeURIComponent(code)} state ${state}`;
    const err = (() => {
      try {
        checkCallback({ state, code, error: 'server_error', errorDescription: description }, state);
      } catch (e) {
        return e as AuthorizationError;
      }
      throw new Error('no error');
    })();
    expect(err).toBeInstanceOf(AuthorizationError);
    expect(err.reason).toBe('provider_error');
    expect(leaked(err.message, [code, state, encodeURIComponent(code)])).toBeUndefined();
    expect(err.message.length).toBeLessThan(280);
  });
});
