import { revokeToken } from '../protocol/grants.js';
import type { TokenSet } from '../protocol/token-set.js';
import { captureFrom } from '../providers/capture.js';
import type { ProviderSpec } from '../providers/spec.js';
import type { ConnectionRecord } from '../store/store.js';
import { toConnectionInfo } from './connection-info.js';
import { type CoreContext, type LoadedConnection, openConnection } from './context.js';
import { carryNotice, ExpiringNotice } from './expiring.js';
import { grantContextOf } from './grant-context.js';
import { openSecrets, sealSecrets } from './secrets.js';
import { spentOf, WriteRefused, writeConnection } from './write-path.js';

/**
 * Commits a rotated pair through the one write path, guarded by its lineage (docs/architecture.md, invariant
 * 7): it lands only on the version it was granted from, or on a newer version whose credential
 * is still the one this grant spent. A newer pair is never overwritten; a revoked, removed,
 * needs_reauth or rebound connection is never brought back — and the new refresh token, which
 * nobody will use, is revoked at the provider (RFC 7009). Superseded, it answers with the
 * connection as stored. `fresh`: `from` was read just now, so the swap is tried on it without
 * reading again. A store failure is thrown as the StoreError it is: the caller holds the pair.
 */
export async function commitPair(
  ctx: CoreContext,
  from: LoadedConnection,
  tokens: TokenSet,
  fresh = false,
): Promise<LoadedConnection> {
  const id = from.record.id;
  const notice = new ExpiringNotice(ctx);
  let written: ConnectionRecord | null;
  try {
    written = await writeConnection(
      ctx,
      id,
      'commit_tokens',
      (current) => {
        notice.clear();
        if (!current) return null;
        return withTokens(
          ctx,
          current,
          from,
          notice.note(carryNotice(ctx, current, from.record.version, tokens)),
        );
      },
      {
        from: { version: from.record.version, spent: spentOf(from.secrets.tokens), binding: from.record },
        ...(fresh ? { known: from.record } : {}),
        events: notice.events,
      },
    );
  } catch (err) {
    if (!(err instanceof WriteRefused)) throw err;
    await revokeOrphan(ctx, from, tokens, err.current);
    if (err.reason !== 'superseded' || !err.current) throw err.toBatonError(id);
    return openConnection(ctx, err.current);
  }
  const record = written as ConnectionRecord;
  ctx.events.emit('refreshed', toConnectionInfo(record));
  notice.emit(record);
  return openConnection(ctx, record);
}

function withTokens(
  ctx: CoreContext,
  current: ConnectionRecord,
  from: LoadedConnection,
  tokens: TokenSet,
): ConnectionRecord {
  // What the token response hands over again (an instance URL) is kept with the pair; the seal
  // is bound to the params it lands with. The client the pair was granted to: another one when
  // the refused client was replaced.
  const params = recaptured(from.spec, current.params, tokens.extra);
  const next = { ...current, params, clientId: from.client?.clientId ?? current.clientId };
  return {
    ...next,
    sealed: sealSecrets(ctx.sealer, next, { tokens, credentials: from.secrets.credentials }),
    accessTokenExpiresAt: tokens.expiresAt,
    refreshTokenExpiresAt: tokens.refreshTokenExpiresAt,
    scopes: tokens.scope ?? current.scopes,
    lastRefreshedAt: ctx.clock.now(),
    lastError: null,
  };
}

/**
 * The params after a refresh: the spec's token-response captures the response carries again
 * replace the stored ones. One the spec does not accept (an instance URL on a host it does not
 * name) is not taken: the stored value stays, and credentials never go where the spec forbids.
 */
export function recaptured(
  spec: ProviderSpec,
  params: Record<string, string>,
  extra: Record<string, unknown>,
): Record<string, string> {
  if (!spec.captures) return params;
  let fresh: Record<string, string>;
  try {
    fresh = captureFrom(spec, 'token', extra);
  } catch {
    return params;
  }
  const changed = Object.entries(fresh).some(([k, v]) => params[k] !== v);
  return changed ? { ...params, ...fresh } : params;
}

/** Best effort: a refresh token nobody will store is revoked, never one still in use. */
async function revokeOrphan(
  ctx: CoreContext,
  from: LoadedConnection,
  tokens: TokenSet,
  current: ConnectionRecord | null,
): Promise<void> {
  const orphan = tokens.refreshToken;
  if (!orphan || !from.endpoints.revocationUrl || !from.client) return;
  if (orphan === from.secrets.tokens?.refreshToken) return;
  if (current) {
    try {
      if (openSecrets(ctx.sealer, current).tokens?.refreshToken === orphan) return;
    } catch {
      // Unreadable now: it cannot be ours either.
    }
  }
  await revokeToken(grantContextOf(ctx, from), { token: orphan, tokenTypeHint: 'refresh_token' }).catch(
    () => undefined,
  );
}
