import { type Introspection, introspectToken } from '../protocol/grants.js';
import type { FacadeParts } from './connect.js';
import { grantContextOf } from './grant-context.js';

/**
 * Asks the provider's introspection endpoint (RFC 7662) whether the connection's access token
 * is active; null when the provider publishes no introspection endpoint or the connection has
 * no client. Used by `baton doctor`.
 */
export async function introspect(parts: FacadeParts, id: string): Promise<Introspection | null> {
  const { ctx } = parts;
  const conn = await parts.tokens.connection(id);
  await ctx.discovery?.ensure(conn.spec.id);
  const url = ctx.providers.metadata(conn.spec.id)?.introspectionEndpoint;
  if (!url || !conn.client) return null;
  const token = await parts.tokens.getAccessToken(id);
  const grant = grantContextOf(ctx, conn);
  return introspectToken(grant, { url, token, tokenTypeHint: 'access_token' });
}
