import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AuthorizationError,
  BatonError,
  InvalidClient,
  ProviderError,
  ReauthorizationRequired,
} from '../../src/errors.js';
import type { RawResponse } from '../../src/protocol/http.js';
import {
  type GrantType,
  type ProviderLabel,
  parseTokenResponse,
  saysError,
} from '../../src/protocol/token-response.js';

const NOW = 1_700_000_000_000;
const SECRET = 'planted-refresh-secret-77aa';

function res(status: number, body: string, headers: Record<string, string> = {}): RawResponse {
  return { status, body, headers: new Headers(headers), url: 'https://x.test/token' };
}

function ctx(grant: GrantType, provider: Partial<ProviderLabel> = {}) {
  return {
    provider: { id: 'p', displayName: 'P', errorDialect: 'rfc6749' as const, ...provider },
    grant,
    now: NOW,
    connectionId: 'c1',
    secrets: [SECRET],
  };
}

/** GitHub's own codes and what RFC 6749 calls them (README, "Providers"). */
const GITHUB = {
  bad_verification_code: 'invalid_grant',
  bad_refresh_token: 'invalid_grant',
  incorrect_client_credentials: 'invalid_client',
};
/** Slack's. */
const SLACK = {
  invalid_code: 'invalid_grant',
  invalid_refresh_token: 'invalid_grant',
  invalid_client_id: 'invalid_client',
  bad_client_secret: 'invalid_client',
};

describe('errors inside a 2xx token response', () => {
  it('a 200 with an error member is the typed error its code means (GitHub)', () => {
    const code = () =>
      parseTokenResponse(
        res(200, JSON.stringify({ error: 'bad_verification_code', error_description: 'The code is wrong.' })),
        ctx('authorization_code', { errorCodes: GITHUB }),
      );
    expect(code).toThrow(AuthorizationError);
    expect(code).toThrow(expect.objectContaining({ reason: 'invalid_code' }));
    expect(code).toThrow(/The code is wrong/);
    const refresh = () =>
      parseTokenResponse(
        res(200, JSON.stringify({ error: 'bad_refresh_token' })),
        ctx('refresh_token', { errorCodes: GITHUB }),
      );
    expect(refresh).toThrow(ReauthorizationRequired);
    expect(refresh).toThrow(/bad_refresh_token/);
    expect(() =>
      parseTokenResponse(
        res(200, JSON.stringify({ error: 'incorrect_client_credentials' })),
        ctx('refresh_token', { errorCodes: GITHUB }),
      ),
    ).toThrow(InvalidClient);
  });

  it('a 200 with "ok": false is an error, by the code it names (Slack)', () => {
    expect(() =>
      parseTokenResponse(
        res(200, JSON.stringify({ ok: false, error: 'invalid_refresh_token' })),
        ctx('refresh_token', { errorCodes: SLACK }),
      ),
    ).toThrow(ReauthorizationRequired);
    expect(() =>
      parseTokenResponse(
        res(200, JSON.stringify({ ok: false, error: 'bad_client_secret' })),
        ctx('authorization_code', { errorCodes: SLACK }),
      ),
    ).toThrow(InvalidClient);
    // "ok": false without a code still is no token.
    const bare = () =>
      parseTokenResponse(res(200, JSON.stringify({ ok: false, access_token: 'x' })), ctx('refresh_token'));
    expect(bare).toThrow(ProviderError);
  });

  it('a code the spec does not map stays a ProviderError naming it', () => {
    const err = (() => {
      try {
        parseTokenResponse(
          res(200, JSON.stringify({ ok: false, error: 'team_added_to_org' })),
          ctx('refresh_token'),
        );
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).providerCode).toBe('team_added_to_org');
    expect((err as ProviderError).message).toMatch(/"team_added_to_org"/);
  });

  it('reads the code where the spec says the provider puts it (HubSpot status/message)', () => {
    const shape = { code: 'status', description: 'message' };
    const err = () =>
      parseTokenResponse(
        res(
          400,
          JSON.stringify({ status: 'BAD_REFRESH_TOKEN', message: 'missing or invalid refresh token' }),
        ),
        ctx('refresh_token', { errorShape: shape, errorCodes: { BAD_REFRESH_TOKEN: 'invalid_grant' } }),
      );
    expect(err).toThrow(ReauthorizationRequired);
    expect(err).toThrow(/missing or invalid refresh token/);
  });

  it('a form-encoded answer is read like JSON (GitHub without Accept: application/json)', () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' };
    const t = parseTokenResponse(
      res(200, 'access_token=gho_abc&scope=repo%2Cuser&token_type=bearer', form),
      ctx('authorization_code'),
    );
    expect(t).toMatchObject({ accessToken: 'gho_abc', tokenType: 'Bearer', scope: ['repo', 'user'] });
    expect(() =>
      parseTokenResponse(
        res(200, 'error=bad_verification_code&error_description=wrong', form),
        ctx('authorization_code', { errorCodes: GITHUB }),
      ),
    ).toThrow(AuthorizationError);
  });

  it('no 2xx body that says error ever becomes a token, and none quotes the secret (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.record({ error: fc.string({ minLength: 1 }), access_token: fc.string({ minLength: 1 }) }),
          fc.record({
            ok: fc.constant(false),
            access_token: fc.string({ minLength: 1 }),
            error: fc.option(fc.string()),
          }),
        ),
        fc.constantFrom<GrantType>('authorization_code', 'refresh_token', 'client_credentials'),
        (body, grant) => {
          const withSecret = { ...body, error_description: `leaked ${SECRET}` };
          expect(saysError(withSecret)).toBe(true);
          try {
            parseTokenResponse(res(200, JSON.stringify(withSecret)), ctx(grant, { errorCodes: SLACK }));
          } catch (e) {
            expect(e).toBeInstanceOf(BatonError);
            expect(JSON.stringify((e as BatonError).toJSON())).not.toContain(SECRET);
            expect((e as Error).message).not.toContain(SECRET);
            return;
          }
          throw new Error('a body that says error was taken as a token');
        },
      ),
    );
  });
});
