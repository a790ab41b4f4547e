import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { secretValues } from '../../src/core/secrets.js';
import { ConfigError } from '../../src/errors.js';
import {
  chooseDpopAlgorithm,
  DpopKey,
  isResourceNonceChallenge,
  isTokenEndpointNonceChallenge,
} from '../../src/protocol/dpop.js';
import { DpopNonces } from '../../src/protocol/dpop-nonces.js';
import { redact } from '../../src/redact.js';

const NOW = Date.UTC(2026, 11, 3, 12, 0, 0);

describe('DPoP proofs (RFC 9449 §4)', () => {
  it.each(['ES256', 'EdDSA', 'ES384', 'PS256', 'RS256'])(
    '%s: a proof verifies against the key it embeds, which is public only',
    async (alg) => {
      const key = await DpopKey.generate(alg);
      const proof = await key.proof({
        method: 'post',
        url: new URL('https://api.example.test/v1/items?q=secret#frag'),
        nonce: 'n-1',
        accessToken: 'the-access-token',
        now: NOW,
      });
      const header = decodeProtectedHeader(proof);
      expect(header.typ).toBe('dpop+jwt');
      expect(header.alg).toBe(alg);
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(header.jwk).not.toHaveProperty(member);
      const { payload } = await jwtVerify(proof, EmbeddedJWK, {
        typ: 'dpop+jwt',
        currentDate: new Date(NOW),
      });
      expect(payload).toMatchObject({
        htm: 'POST',
        htu: 'https://api.example.test/v1/items',
        iat: NOW / 1000,
        nonce: 'n-1',
        ath: createHash('sha256').update('the-access-token').digest('base64url'),
      });
      expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
      // The sealed form opens to the same key.
      const again = await DpopKey.fromJwk(key.privateJwk);
      expect(await again.thumbprint()).toBe(await key.thumbprint());
      expect(await calculateJwkThumbprint(header.jwk as never)).toBe(await key.thumbprint());
    },
  );

  it('a token request proof has no ath and no nonce until the server gives one; every jti is new', async () => {
    const key = await DpopKey.generate('ES256');
    const url = new URL('https://id.example.test/token');
    const a = await jwtVerify(await key.proof({ method: 'POST', url, now: NOW }), EmbeddedJWK, {
      currentDate: new Date(NOW),
    });
    const b = await jwtVerify(await key.proof({ method: 'POST', url, now: NOW }), EmbeddedJWK, {
      currentDate: new Date(NOW),
    });
    expect(a.payload).not.toHaveProperty('ath');
    expect(a.payload).not.toHaveProperty('nonce');
    expect(a.payload.jti).not.toBe(b.payload.jti);
  });

  it('htu never carries the query or the fragment, whatever the URL', async () => {
    const key = await DpopKey.generate('ES256');
    await fc.assert(
      fc.asyncProperty(fc.webUrl({ withQueryParameters: true, withFragments: true }), async (raw) => {
        const url = new URL(raw);
        const { payload } = await jwtVerify(await key.proof({ method: 'GET', url, now: NOW }), EmbeddedJWK, {
          currentDate: new Date(NOW),
        });
        expect(payload['htu']).toBe(`${url.origin}${url.pathname}`);
      }),
      { numRuns: 60 },
    );
  });

  it('the private key is among the secrets scrubbed from anything shown', async () => {
    const key = await DpopKey.generate('ES256');
    const tokens = {
      accessToken: 'at',
      tokenType: 'DPoP',
      expiresAt: null,
      refreshToken: null,
      refreshTokenExpiresAt: null,
      scope: null,
      issuedAt: NOW,
      extra: {},
      dpopKey: key.privateJwk,
    };
    const text = `key ${JSON.stringify(key.privateJwk)}`;
    expect(redact(text, secretValues({ tokens, credentials: null }))).not.toContain(key.privateJwk.d);
  });
});

describe('DPoP algorithm choice', () => {
  it('takes the first of Baton’s algorithms the server accepts; ES256 when it says nothing', () => {
    expect(chooseDpopAlgorithm([])).toBe('ES256');
    expect(chooseDpopAlgorithm(['RS256', 'ES256'])).toBe('ES256');
    expect(chooseDpopAlgorithm(['RS256'])).toBe('RS256');
    expect(chooseDpopAlgorithm(['Ed25519'])).toBe('EdDSA');
  });
  it('a server that accepts none of them is a ConfigError naming what it accepts', () => {
    expect(() => chooseDpopAlgorithm(['HS256', 'ES512'])).toThrow(ConfigError);
    expect(() => chooseDpopAlgorithm(['HS256', 'ES512'])).toThrow(/HS256, ES512/);
  });
});

describe('DPoP nonce challenges (RFC 9449 §8, §9)', () => {
  it('authorization server: 400 use_dpop_nonce with a DPoP-Nonce header', () => {
    const body = JSON.stringify({ error: 'use_dpop_nonce' });
    expect(isTokenEndpointNonceChallenge(400, body, 'n')).toBe(true);
    expect(isTokenEndpointNonceChallenge(400, body, null)).toBe(false);
    expect(isTokenEndpointNonceChallenge(401, body, 'n')).toBe(false);
    expect(isTokenEndpointNonceChallenge(400, JSON.stringify({ error: 'invalid_grant' }), 'n')).toBe(false);
    expect(isTokenEndpointNonceChallenge(400, '<html>', 'n')).toBe(false);
  });

  it('resource server: 401 with a DPoP challenge whose error is use_dpop_nonce', () => {
    expect(isResourceNonceChallenge(401, 'DPoP error="use_dpop_nonce", algs="ES256"', 'n')).toBe(true);
    expect(isResourceNonceChallenge(401, 'Bearer realm="x", DPoP error="use_dpop_nonce"', 'n')).toBe(true);
    expect(isResourceNonceChallenge(401, 'dpop error=use_dpop_nonce', 'n')).toBe(true);
    expect(isResourceNonceChallenge(401, 'DPoP error="invalid_token"', 'n')).toBe(false);
    expect(isResourceNonceChallenge(401, 'Bearer error="use_dpop_nonce"', 'n')).toBe(false);
    expect(isResourceNonceChallenge(401, 'DPoP error="use_dpop_nonce"', null)).toBe(false);
    expect(isResourceNonceChallenge(403, 'DPoP error="use_dpop_nonce"', 'n')).toBe(false);
  });

  it('the detectors never throw, whatever a server sends', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 100, max: 599 }),
        fc.string(),
        fc.option(fc.string()),
        (status, text, nonce) => {
          expect(typeof isTokenEndpointNonceChallenge(status, text, nonce)).toBe('boolean');
          expect(typeof isResourceNonceChallenge(status, text, nonce)).toBe('boolean');
        },
      ),
    );
  });

  it('nonces are kept per origin, and one that is not a header-safe token is ignored', () => {
    const nonces = new DpopNonces();
    const as = new URL('https://id.example.test/token');
    const api = new URL('https://api.example.test/v1/x');
    expect(nonces.observe(as, 'abc')).toBe(true);
    expect(nonces.observe(as, 'abc')).toBe(false);
    expect(nonces.get(new URL('https://id.example.test/other'))).toBe('abc');
    expect(nonces.get(api)).toBeUndefined();
    expect(nonces.observe(api, 'bad\r\nx: y')).toBe(false);
    expect(nonces.observe(api, 'with "quote"')).toBe(false);
    expect(nonces.get(api)).toBeUndefined();
    fc.assert(
      fc.property(fc.string(), (n) => {
        const fresh = new DpopNonces();
        fresh.observe(api, n);
        const kept = fresh.get(api);
        if (kept !== undefined) expect(kept).toMatch(/^[\x21\x23-\x5b\x5d-\x7e]+$/);
      }),
    );
  });
});
