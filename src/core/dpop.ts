import {
  chooseDpopAlgorithm,
  DpopKey,
  type DpopPrivateJwk,
  type DpopSigner,
  dpopSigner,
} from '../protocol/dpop.js';
import type { TokenSet } from '../protocol/token-set.js';
import type { ProviderSpec } from '../providers/spec.js';
import type { CoreContext } from './context.js';

/** Keys opened from their sealed JWK, once per JWK object (a loaded connection is immutable). */
const opened = new WeakMap<DpopPrivateJwk, Promise<DpopKey>>();

/** The key a token set is bound to. */
export function dpopKeyOf(jwk: DpopPrivateJwk): Promise<DpopKey> {
  let key = opened.get(jwk);
  if (!key) {
    key = DpopKey.fromJwk(jwk);
    opened.set(jwk, key);
  }
  return key;
}

/**
 * The key a grant binds its tokens to (README, "DPoP"): the one the connection's tokens are
 * bound to — a public client's refresh token is bound to it too (RFC 9449 §5) — else, for a
 * provider with `dpop`, a new one in the first algorithm the server accepts.
 */
export async function keyForGrant(
  ctx: CoreContext,
  spec: ProviderSpec,
  current: TokenSet | null | undefined,
): Promise<DpopKey | null> {
  if (current?.dpopKey) return dpopKeyOf(current.dpopKey);
  if (!spec.dpop) return null;
  const published = ctx.providers.metadata(spec.id)?.dpopSigningAlgValuesSupported ?? [];
  return DpopKey.generate(chooseDpopAlgorithm(published));
}

/** Proofs of `key` with this process's nonces; undefined without a key. */
export function signerFor(ctx: CoreContext, key: DpopKey): DpopSigner;
export function signerFor(ctx: CoreContext, key: DpopKey | null): DpopSigner | undefined;
export function signerFor(ctx: CoreContext, key: DpopKey | null): DpopSigner | undefined {
  return key ? dpopSigner(key, ctx.dpopNonces, () => ctx.clock.now()) : undefined;
}

/** The token set with the key it was granted for, which is sealed with it. */
export function boundTo(tokens: TokenSet, key: DpopKey | null): TokenSet {
  return key ? { ...tokens, dpopKey: key.privateJwk } : tokens;
}
