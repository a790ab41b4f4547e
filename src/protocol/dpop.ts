import { createHash, randomUUID } from 'node:crypto';
import {
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  SignJWT,
} from 'jose';
import { ConfigError } from '../errors.js';
import type { DpopNonces } from './dpop-nonces.js';

/**
 * The proof algorithms Baton signs with, in its order of preference (RFC 9449 §4.2: asymmetric
 * only). A server's `dpop_signing_alg_values_supported` picks among them.
 */
export const DPOP_ALGORITHMS = ['ES256', 'EdDSA', 'ES384', 'PS256', 'RS256'] as const;

/** The private half of a connection's DPoP key as it is sealed in the store: a JWK with `alg`. */
export type DpopPrivateJwk = JWK & { alg: string; d: string };

/** The first algorithm of Baton's list the server accepts; ES256 when it publishes none. */
export function chooseDpopAlgorithm(published: readonly string[]): string {
  if (published.length === 0) return 'ES256';
  // Ed25519 is the newer name of the EdDSA-with-Ed25519 proof (RFC 9864); Baton signs EdDSA.
  const offered = new Set(published.map((a) => (a === 'Ed25519' ? 'EdDSA' : a)));
  const alg = DPOP_ALGORITHMS.find((a) => offered.has(a));
  if (!alg) {
    throw new ConfigError(
      `The server accepts DPoP proofs signed with ${published.join(', ')} only, none of which Baton signs with.`,
      `Ask the provider to accept one of ${DPOP_ALGORITHMS.join(', ')}, or set dpop: false in its spec.`,
      { forOperator: true },
    );
  }
  return alg;
}

/**
 * A key pair a connection's tokens are bound to (RFC 9449 §4): generated per authorization,
 * sealed in the store with the tokens, never sent anywhere but its public half in each proof.
 */
export class DpopKey {
  readonly alg: string;
  readonly privateJwk: DpopPrivateJwk;
  readonly #privateKey: CryptoKey;
  readonly #publicJwk: JWK;

  private constructor(alg: string, privateJwk: DpopPrivateJwk, privateKey: CryptoKey, publicJwk: JWK) {
    this.alg = alg;
    this.privateJwk = privateJwk;
    this.#privateKey = privateKey;
    this.#publicJwk = publicJwk;
  }

  static async generate(alg: string): Promise<DpopKey> {
    const { privateKey } = await generateKeyPair(alg, {
      extractable: true,
      ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}),
    });
    const jwk = { ...(await exportJWK(privateKey)), alg } as DpopPrivateJwk;
    return DpopKey.fromJwk(jwk);
  }

  /** The key sealed with a connection. */
  static async fromJwk(jwk: DpopPrivateJwk): Promise<DpopKey> {
    const privateKey = (await importJWK(jwk, jwk.alg)) as CryptoKey;
    // The public half: every member but the private ones (RFC 7517 §9.3, RFC 7518 §6).
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, oth: _oth, ...pub } = jwk;
    return new DpopKey(jwk.alg, jwk, privateKey, { ...pub, alg: jwk.alg });
  }

  /** RFC 7638 thumbprint of the public key: the `dpop_jkt` of an authorization request (RFC 9449 §10). */
  thumbprint(): Promise<string> {
    return calculateJwkThumbprint(this.#publicJwk);
  }

  /**
   * A DPoP proof (RFC 9449 §4.2): a JWT of type `dpop+jwt` carrying the public key, for one
   * method and URL (without query and fragment), a fresh `jti`, `iat`, the server's nonce when
   * it gave one, and `ath` (the access token's SHA-256) on a request to a resource server.
   */
  proof(input: {
    method: string;
    url: URL;
    nonce?: string | undefined;
    accessToken?: string | undefined;
    now: number;
  }): Promise<string> {
    const htu = `${input.url.origin}${input.url.pathname}`;
    const claims: Record<string, string | number> = {
      jti: randomUUID(),
      htm: input.method.toUpperCase(),
      htu,
      iat: Math.floor(input.now / 1000),
    };
    if (input.nonce !== undefined) claims['nonce'] = input.nonce;
    if (input.accessToken !== undefined) {
      claims['ath'] = createHash('sha256').update(input.accessToken).digest('base64url');
    }
    return new SignJWT(claims)
      .setProtectedHeader({ typ: 'dpop+jwt', alg: this.alg, jwk: this.#publicJwk })
      .sign(this.#privateKey);
  }
}

/** What a request needs to prove possession of a key: the key, the nonces, the clock. */
export interface DpopSigner {
  proof(method: string, url: URL, accessToken?: string): Promise<string>;
  /** Remembers the server's nonce from an answer; returns whether it is a new one. */
  observe(url: URL, nonce: string | null | undefined): boolean;
}

export function dpopSigner(key: DpopKey, nonces: DpopNonces, now: () => number): DpopSigner {
  return {
    proof: (method, url, accessToken) =>
      key.proof({ method, url, nonce: nonces.get(url), accessToken, now: now() }),
    observe: (url, nonce) => nonces.observe(url, nonce),
  };
}

/**
 * RFC 9449 §8: an authorization server that wants a nonce answers 400 `use_dpop_nonce` with a
 * `DPoP-Nonce` header.
 */
export function isTokenEndpointNonceChallenge(status: number, body: string, nonce: string | null): boolean {
  if (status !== 400 || !nonce) return false;
  try {
    return (JSON.parse(body) as { error?: unknown }).error === 'use_dpop_nonce';
  } catch {
    return false;
  }
}

/**
 * RFC 9449 §9: a resource server that wants a nonce answers 401 with a DPoP challenge whose
 * error is `use_dpop_nonce`, and a `DPoP-Nonce` header.
 */
export function isResourceNonceChallenge(
  status: number,
  wwwAuthenticate: string | null,
  nonce: string | null,
): boolean {
  if (status !== 401 || !nonce || !wwwAuthenticate) return false;
  return /(^|,)\s*dpop\b[\s\S]*\berror\s*=\s*"?use_dpop_nonce"?/i.test(wwwAuthenticate);
}
