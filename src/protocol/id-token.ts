import { errors, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { AuthorizationError } from '../errors.js';

export interface IdTokenExpectations {
  issuer: string;
  clientId: string;
  /**
   * The nonce sent with the authorization request (OpenID Connect Core §3.1.2.1). null for an
   * id_token from a refresh, which carries none or the original one (§12.2): not checked.
   */
  nonce: string | null;
  /** For an id_token from a refresh: the `sub` of the connection's account, which must not change (§12.2). */
  subject?: string | undefined;
  /** Algorithms the server publishes (`id_token_signing_alg_values_supported`); `none` is never accepted. */
  algorithms: readonly string[];
  keys: JWTVerifyGetKey;
  now: number;
  provider?: string | undefined;
  connectionId?: string | undefined;
}

export interface IdTokenClaims {
  sub: string;
  email?: string;
  name?: string;
}

/** OpenID Connect Core §3.1.2.1: RS256 is the algorithm every provider supports. */
const DEFAULT_ALGORITHMS = ['RS256'];
/** Clock skew accepted on exp / iat / nbf. */
const CLOCK_TOLERANCE_S = 60;

/**
 * OpenID Connect Core §3.1.3.7: the id_token's signature against the issuer's keys, with an
 * algorithm the server publishes (never `none`); `iss` is the issuer; `aud` contains the client;
 * with several audiences `azp` is required, and when present it is the client; `exp` is in the
 * future and `iat` present; `nonce` is the one this authorization sent. Any failure is an
 * AuthorizationError `invalid_id_token` whose message names the check, never the token.
 */
export async function verifyIdToken(idToken: string, expect: IdTokenExpectations): Promise<IdTokenClaims> {
  const opts = { provider: expect.provider, connectionId: expect.connectionId };
  const fail = (why: string): never => {
    throw new AuthorizationError('invalid_id_token', `The id_token was refused: ${why}.`, opts);
  };
  const algorithms = (expect.algorithms.length > 0 ? expect.algorithms : DEFAULT_ALGORITHMS).filter(
    (a) => a.toLowerCase() !== 'none' && !a.startsWith('HS'),
  );
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(idToken, expect.keys, {
      issuer: expect.issuer,
      audience: expect.clientId,
      algorithms,
      currentDate: new Date(expect.now),
      clockTolerance: CLOCK_TOLERANCE_S,
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat'],
    }));
  } catch (err) {
    if (err instanceof errors.JWTExpired) return fail('it has expired');
    if (err instanceof errors.JWTClaimValidationFailed)
      return fail(`its "${err.claim}" claim is not valid (${err.reason})`);
    if (err instanceof errors.JWSSignatureVerificationFailed) return fail('its signature does not verify');
    if (err instanceof errors.JOSEAlgNotAllowed)
      return fail(`it is signed with an algorithm the provider does not publish`);
    if (err instanceof errors.JWKSNoMatchingKey) return fail("no key of the provider's JWKS matches it");
    if (err instanceof errors.JOSEError) return fail(`it is not a valid signed JWT (${err.code})`);
    throw err;
  }
  const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  const azp = payload['azp'];
  if (aud.length > 1 && azp === undefined) fail('it has several audiences and no "azp"');
  if (azp !== undefined && azp !== expect.clientId) fail('its "azp" claim is another client');
  if (expect.nonce !== null && payload['nonce'] !== expect.nonce)
    fail('its "nonce" is not the one this authorization sent');
  if (expect.subject !== undefined && payload.sub !== expect.subject)
    fail('its "sub" names another account than the one the connection was authorized for');
  const out: IdTokenClaims = { sub: payload.sub as string };
  if (typeof payload['email'] === 'string') out.email = payload['email'];
  if (typeof payload['name'] === 'string') out.name = payload['name'];
  return out;
}
