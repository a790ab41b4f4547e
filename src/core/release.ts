import { ConfigError, connectionRef } from '../errors.js';
import { apiHeadersFor } from '../providers/template.js';
import { authHeader } from './api-fetch.js';
import type { CoreContext } from './context.js';
import { isStatic, type TokenSource } from './token-source.js';

/**
 * What a connection's credentials are right now, for a program that sends its own requests
 * (the server's token release). OAuth connections give their access token; static modes (API
 * key, token pair) give the header to send. `headers` is filled for every mode.
 */
export interface Released {
  connectionId: string;
  provider: string;
  authMode: string;
  /** null for static modes. */
  accessToken: string | null;
  tokenType: string | null;
  /** Epoch ms; null when the token has no known expiry or the mode has none. */
  expiresAt: number | null;
  headers: Record<string, string>;
  /** Whether the credentials came from the in-memory cache without touching the store. */
  cached: boolean;
}

/**
 * Hands out credentials through the same token source as getAccessToken: refreshed first when
 * due, one refresh per connection across every caller and process, single-use tokens claimed.
 */
export async function releaseCredentials(
  ctx: CoreContext,
  tokens: TokenSource,
  id: string,
): Promise<Released> {
  const cached = ctx.cache.fresh(id, ctx.clock.now()) !== undefined;
  const conn = await tokens.usable(id);
  const t = isStatic(conn) ? null : conn.secrets.tokens;
  if (t?.tokenType === 'DPoP') {
    throw new ConfigError(
      `Connection "${id}" holds a sender-constrained (DPoP) token, which works only with proofs of a key that never leaves Baton (RFC 9449), so it is not handed out.`,
      `Call the API through Baton instead: baton.fetch / baton.request, \`baton request ${id} <path>\`, or the server's proxy (/v1/proxy/${id}/…).`,
      {
        connectionId: id,
        provider: conn.record.provider,
        httpRemediation: `Call the API through the proxy instead: /v1/proxy/${connectionRef(id).path}/<path> (a key with the proxy operation).`,
      },
    );
  }
  const [name, value] = authHeader(conn);
  return {
    connectionId: conn.record.id,
    provider: conn.record.provider,
    authMode: conn.record.authMode,
    accessToken: t?.accessToken ?? null,
    tokenType: t ? (t.tokenType ?? 'Bearer') : null,
    expiresAt: t?.expiresAt ?? null,
    // The spec's headers too (a tenant id, an API version): what a request of its own must send.
    headers: { ...Object.fromEntries(apiHeadersFor(conn.spec, conn.record.params)), [name]: value },
    cached,
  };
}
