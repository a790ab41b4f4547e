import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toTokenSet } from '../../src/core/token-lifetime.js';
import {
  AuthorizationError,
  BatonError,
  InvalidClient,
  ProviderError,
  RateLimited,
  ReauthorizationRequired,
} from '../../src/errors.js';
import { buildAuthorizationUrl, checkCallback, parseCallback } from '../../src/protocol/authorization.js';
import type { RawResponse } from '../../src/protocol/http.js';
import { challengeOf, createPkce } from '../../src/protocol/pkce.js';
import {
  errorFromResponse,
  type GrantType,
  parseTokenResponse,
  retryAfterSeconds,
} from '../../src/protocol/token-response.js';
import { ProviderRegistry } from '../../src/providers/registry.js';
import { checkScopes } from '../../src/providers/scopes.js';
import { endpointsFor } from '../../src/providers/template.js';

const reg = ProviderRegistry.create();
const NOW = 1_700_000_000_000;
const SECRET = 'planted-refresh-secret-4f9c';

function res(status: number, body: string, headers: Record<string, string> = {}): RawResponse {
  return { status, body, headers: new Headers(headers), url: 'https://x.test/token' };
}
function ctx(provider: string, grant: GrantType, extra: Record<string, unknown> = {}) {
  const spec = reg.get(provider);
  return {
    provider: {
      id: spec.id,
      displayName: spec.displayName,
      errorDialect: spec.errorDialect,
      environment: spec.environmentParam ? 'sandbox' : undefined,
      codeLifetimeSeconds: spec.authorizationCodeLifetimeSeconds,
    },
    grant,
    now: NOW,
    connectionId: 'c1',
    secrets: [SECRET],
    ...extra,
  };
}

describe('parseTokenResponse', () => {
  it('normalises a Cronofy response and keeps its extra fields', () => {
    const t = parseTokenResponse(
      res(
        200,
        JSON.stringify({
          token_type: 'bearer',
          access_token: 'a'.repeat(32),
          expires_in: 3600,
          refresh_token: 'r1',
          scope: 'read_events create_event',
          account_id: 'acc_1',
          sub: 'apc_1',
        }),
      ),
      ctx('cronofy', 'authorization_code'),
    );
    expect(t).toMatchObject({
      tokenType: 'Bearer',
      expiresIn: 3600,
      refreshToken: 'r1',
      scope: ['read_events', 'create_event'],
      receivedAt: NOW,
    });
    expect(t.extra).toEqual({ account_id: 'acc_1', sub: 'apc_1' });
  });

  it('only parses: lifetimes the provider did not give stay null', () => {
    const t = parseTokenResponse(
      res(200, JSON.stringify({ access_token: 'a', expires_in: '60', refresh_token: 'r' })),
      ctx('checkfront', 'authorization_code'),
    );
    expect(t).toMatchObject({ expiresIn: 60, refreshTokenExpiresIn: null, refreshToken: 'r' });
  });
});

describe('toTokenSet (core lifetime policy)', () => {
  it('falls back to the documented lifetime and computes refresh-token expiry (Checkfront 14 days)', () => {
    const t = toTokenSet(
      parseTokenResponse(
        res(200, JSON.stringify({ access_token: 'a', refresh_token: 'r' })),
        ctx('checkfront', 'authorization_code'),
      ),
      reg.get('checkfront'),
      'authorization_code',
    );
    expect(t.expiresAt).toBe(NOW + 14000 * 1000);
    expect(t.refreshTokenExpiresAt).toBe(NOW + 14 * 86400 * 1000);
    expect(t.tokenType).toBe('Bearer');
  });

  it('keeps the previous refresh token when a refresh returns none (RFC 6749 §6)', () => {
    const cronofy = reg.get('cronofy');
    const previous = toTokenSet(
      parseTokenResponse(
        res(200, JSON.stringify({ access_token: 'a', refresh_token: 'r', scope: 'x' })),
        ctx('cronofy', 'authorization_code'),
      ),
      cronofy,
      'authorization_code',
    );
    const t = toTokenSet(
      parseTokenResponse(
        res(200, JSON.stringify({ access_token: 'b', expires_in: 60 })),
        ctx('cronofy', 'refresh_token'),
      ),
      cronofy,
      'refresh_token',
      previous,
    );
    expect(t.refreshToken).toBe('r');
    expect(t.scope).toEqual(['x']);
    expect(t.expiresAt).toBe(NOW + 60_000);
  });

  it('slides a sliding refresh-token lifetime on every refresh, and keeps a fixed one', () => {
    const sliding = { defaultExpiresIn: 100, refreshTokenLifetime: { seconds: 1000, sliding: true } };
    const fixed = { defaultExpiresIn: 100, refreshTokenLifetime: { seconds: 1000, sliding: false } };
    const first = toTokenSet(
      parseTokenResponse(
        res(200, '{"access_token":"a","refresh_token":"r"}'),
        ctx('cronofy', 'refresh_token'),
      ),
      fixed,
      'authorization_code',
    );
    const later = parseTokenResponse(res(200, '{"access_token":"b","refresh_token":"r"}'), {
      ...ctx('cronofy', 'refresh_token'),
      now: NOW + 500_000,
    });
    expect(toTokenSet(later, fixed, 'refresh_token', first).refreshTokenExpiresAt).toBe(NOW + 1_000_000);
    expect(toTokenSet(later, sliding, 'refresh_token', first).refreshTokenExpiresAt).toBe(NOW + 1_500_000);
  });
});

describe('parseTokenResponse, strictly', () => {
  it('rejects 2xx bodies that are not token responses', () => {
    for (const body of [
      '',
      '<html>oops</html>',
      '{"access_token":',
      '[]',
      '{"access_token":""}',
      '{"access_token":"a","expires_in":-5}',
      '{"access_token":"a","refresh_token":7}',
    ]) {
      expect(() => parseTokenResponse(res(200, body), ctx('cronofy', 'refresh_token'))).toThrow(
        ProviderError,
      );
    }
  });

  it('never throws anything but a BatonError and never quotes a secret (property)', () => {
    const field = fc.oneof(
      fc.string(),
      fc.integer(),
      fc.double(),
      fc.constant(null),
      fc.boolean(),
      fc.constant(SECRET),
    );
    const body = fc.oneof(
      fc.string(),
      fc
        .record(
          {
            access_token: field,
            token_type: field,
            expires_in: field,
            refresh_token: field,
            scope: field,
            error: field,
            error_description: field,
          },
          { requiredKeys: [] },
        )
        .map((o) => JSON.stringify(o)),
    );
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 599 }), body, (status, text) => {
        try {
          const t = parseTokenResponse(res(status, text), ctx('checkfront', 'refresh_token'));
          expect(typeof t.accessToken).toBe('string');
          expect(t.accessToken.length).toBeGreaterThan(0);
        } catch (err) {
          expect(err).toBeInstanceOf(BatonError);
          expect(JSON.stringify((err as BatonError).toJSON())).not.toContain(SECRET);
          expect(String((err as ProviderError).excerpt ?? '')).not.toContain(SECRET);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('errorFromResponse', () => {
  it('maps invalid_grant by grant: code → AuthorizationError, refresh → ReauthorizationRequired', () => {
    const body = JSON.stringify({
      error: 'invalid_grant',
      error_description: 'The access token provided is invalid.',
    });
    const onCode = errorFromResponse(res(400, body), ctx('checkfront', 'authorization_code'));
    expect(onCode).toBeInstanceOf(AuthorizationError);
    expect((onCode as AuthorizationError).reason).toBe('invalid_code');
    expect(onCode.remediation).toMatch(/this provider's live 60 seconds/);
    // A provider that documents no code lifetime gets the general sentence.
    const cronofy = errorFromResponse(res(400, body), ctx('cronofy', 'authorization_code'));
    expect(cronofy.remediation).toMatch(
      /^The authorization code was rejected \(codes are single-use and short-lived\)/,
    );
    expect(errorFromResponse(res(400, body), ctx('checkfront', 'refresh_token'))).toBeInstanceOf(
      ReauthorizationRequired,
    );
  });

  it('maps invalid_client and the Checkissuing dialect to InvalidClient naming the environment', () => {
    const e = errorFromResponse(
      res(401, '{"status":0,"errors":["Access Denied"]}'),
      ctx('checkissuing', 'client_credentials'),
    );
    expect(e).toBeInstanceOf(InvalidClient);
    expect((e as InvalidClient).environment).toBe('sandbox');
    expect(e.remediation).toMatch(/sandbox credentials/);
    expect(
      errorFromResponse(res(400, '{"error":"invalid_client"}'), ctx('cronofy', 'refresh_token')),
    ).toBeInstanceOf(InvalidClient);
  });

  it('maps unsupported_grant_type on client credentials to InvalidClient saying which client to configure (RFC 6749 §5.2)', () => {
    const body = '{"error":"unsupported_grant_type","error_description":"not for this app"}';
    const e = errorFromResponse(res(400, body), ctx('cronofy', 'client_credentials'));
    expect(e).toBeInstanceOf(InvalidClient);
    expect(e.message).toMatch(/does not take the client credentials grant .*\("not for this app"\)/);
    expect(e.remediation).toMatch(/params must match/);
    // On other grants it stays the provider's unexpected answer.
    expect(errorFromResponse(res(400, body), ctx('cronofy', 'refresh_token'))).not.toBeInstanceOf(
      InvalidClient,
    );
  });

  it('maps 429 to RateLimited with Retry-After in seconds or as a date', () => {
    const e = errorFromResponse(res(429, '', { 'retry-after': '7' }), ctx('cronofy', 'refresh_token'));
    expect(e).toBeInstanceOf(RateLimited);
    expect((e as RateLimited).retryAfter).toBe(7);
    expect(retryAfterSeconds(new Date(NOW + 30_000).toUTCString(), NOW)).toBe(30);
  });

  it('describes HTML and empty answers without leaking secrets', () => {
    const html = errorFromResponse(
      res(502, `<html><body>Bad gateway refresh_token=${SECRET}</body></html>`, {
        'content-type': 'text/html',
      }),
      ctx('cronofy', 'refresh_token'),
    );
    expect(html).toBeInstanceOf(ProviderError);
    expect(html.message).toMatch(/HTML page/);
    expect((html as ProviderError).excerpt).not.toContain(SECRET);
    expect(errorFromResponse(res(500, ''), ctx('cronofy', 'refresh_token')).message).toMatch(/empty body/);
  });
});

describe('authorization URL and callback', () => {
  it('builds RFC 6749 / 7636 query parameters', () => {
    const spec = reg.get('cronofy');
    const url = new URL(
      buildAuthorizationUrl({
        authorizationUrl: endpointsFor(spec, { dataCenter: 'uk' }).authorizationUrl ?? '',
        scopeSeparator: spec.scopeSeparator,
        clientId: 'cid',
        redirectUri: 'http://127.0.0.1:8/cb',
        scopes: ['read_events', 'create_event'],
        state: 's1',
        codeChallenge: 'ch',
      }),
    );
    expect(url.host).toBe('app-uk.cronofy.com');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: 'code',
      client_id: 'cid',
      redirect_uri: 'http://127.0.0.1:8/cb',
      scope: 'read_events create_event',
      state: 's1',
      code_challenge: 'ch',
      code_challenge_method: 'S256',
    });
  });

  it('enforces Checkbook single scope', () => {
    const spec = reg.get('checkbook');
    expect(() => checkScopes(spec, ['check', 'check_receive'])).toThrow(/exactly one scope/);
    expect(() => checkScopes(spec, ['write'])).toThrow(/does not know the scope/);
    expect(() => checkScopes(spec, ['check'])).not.toThrow();
  });

  it('refuses an extra parameter the protocol sets itself, naming the provider', () => {
    const base = {
      authorizationUrl: 'https://as.example/authorize',
      scopeSeparator: ' ',
      clientId: 'c',
      redirectUri: 'http://x/cb',
      scopes: [],
      state: 's',
    };
    expect(() => buildAuthorizationUrl({ ...base, params: { state: 'x' }, provider: 'acme' })).toThrow(
      /may not set "state"/,
    );
    const url = new URL(
      buildAuthorizationUrl({ ...base, params: { prompt: 'consent', access_type: 'offline' } }),
    );
    expect(url.searchParams.get('prompt')).toBe('consent');
    expect(url.searchParams.has('scope')).toBe(false);
  });

  it('checks state, denial and a missing code', () => {
    expect(checkCallback(parseCallback('http://x/cb?code=abc&state=s'), 's')).toBe('abc');
    expect(checkCallback(parseCallback('?code=abc&state=s'), 's')).toBe('abc');
    const reason = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return (e as AuthorizationError).reason;
      }
      return 'none';
    };
    expect(reason(() => checkCallback(parseCallback('http://x/cb?code=abc&state=t'), 's'))).toBe(
      'state_mismatch',
    );
    expect(reason(() => checkCallback(parseCallback('http://x/cb?error=access_denied&state=s'), 's'))).toBe(
      'access_denied',
    );
    expect(reason(() => checkCallback(parseCallback('http://x/cb?state=s'), 's'))).toBe('missing_code');
  });

  it('makes S256 challenges per RFC 7636 appendix B', () => {
    expect(challengeOf('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe(
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    );
    const p = createPkce();
    expect(p.verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});
