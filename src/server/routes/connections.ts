import type { ConnectionInfo } from '../../core/connection-info.js';
import type { ConnectFeature } from '../connect/routes.js';
import { connectionWithReconnect } from '../connect/schemas.js';
import type { ServerParts } from '../parts.js';
import * as S from '../schemas.js';

/**
 * The connections API (README, "API"): list, read, create, begin an authorization, refresh,
 * revoke, delete, and the token release. Each route on one connection checks the key's scope
 * first (`authorizeConnection`); `GET /v1/connections/{id}` adds a reconnect link from the
 * connect feature for keys that may manage.
 */
export function registerConnections(
  parts: ServerParts,
  { withReconnect }: Pick<ConnectFeature, 'withReconnect'>,
): void {
  const { baton } = parts;

  parts.route<
    Record<string, never>,
    { provider?: string; status?: string; prefix?: string; limit: number; cursor?: string }
  >({
    method: 'GET',
    url: '/v1/connections',
    op: 'read',
    summary: 'List the connections this key may see (paginated by id)',
    schema: { querystring: S.listQuery, response: { 200: S.listResponse } },
    handler: async (req) => {
      const q = req.query;
      const caller = parts.caller(req);
      // Keyset pages from the store's index (README, "Many connections"): the store filters by
      // provider, status and prefix; the key's scope is applied here, page by page, until the
      // page is full or the store has no more.
      const items: ConnectionInfo[] = [];
      let after = q.cursor;
      let more = false;
      for (;;) {
        const page = await baton.list({
          limit: q.limit + 1,
          ...(after !== undefined ? { after } : {}),
          ...(q.provider !== undefined ? { provider: q.provider } : {}),
          ...(q.status !== undefined ? { status: q.status as ConnectionInfo['status'] } : {}),
          ...(q.prefix !== undefined ? { idPrefix: q.prefix } : {}),
        });
        for (const c of page) {
          if (!caller.scope.allows(c.id, c.provider)) continue;
          if (items.length === q.limit) {
            more = true;
            break;
          }
          items.push(c);
        }
        if (more || page.length <= q.limit) break;
        after = (page[page.length - 1] as ConnectionInfo).id;
      }
      return { items, nextCursor: more ? (items[items.length - 1] as ConnectionInfo).id : null };
    },
  });

  parts.route<{ id: string }>({
    method: 'GET',
    url: '/v1/connections/:id',
    op: 'read',
    summary: 'One connection (never its secrets)',
    schema: { params: S.idParams, response: { 200: connectionWithReconnect } },
    handler: async (req) => {
      await parts.authorizeConnection(req, req.params.id);
      return withReconnect(await baton.get(req.params.id), parts.caller(req));
    },
  });

  parts.route<
    Record<string, never>,
    unknown,
    {
      id: string;
      provider: string;
      params?: Record<string, string>;
      authMode?: 'client_credentials' | 'token_pair' | 'api_key';
      credentials?: { apiKey: string; apiSecret?: string };
      scopes?: string[];
      replace?: boolean;
      verify?: boolean;
    }
  >({
    method: 'POST',
    url: '/v1/connections',
    op: 'manage',
    audit: 'create',
    summary: 'Create a static-credential or client-credentials connection',
    schema: { body: S.createBody, response: { 201: S.connectionSchema } },
    handler: async (req, reply) => {
      const b = req.body;
      if (!baton.providers.list().some((p) => p.id === b.provider)) baton.providers.get(b.provider);
      await parts.authorizeConnection(req, b.id, b.provider);
      const info = await baton.connect({
        connectionId: b.id,
        provider: b.provider,
        ...(b.params ? { params: b.params } : {}),
        ...(b.authMode ? { authMode: b.authMode } : {}),
        ...(b.credentials ? { credentials: b.credentials } : {}),
        ...(b.scopes ? { scopes: b.scopes } : {}),
        ...(b.replace ? { replace: true } : {}),
        ...(b.verify === false ? { verify: false } : {}),
      });
      parts.connectionChanged(b.id);
      return reply.code(201).send(info);
    },
  });

  parts.route<
    { id: string },
    unknown,
    {
      provider: string;
      params?: Record<string, string>;
      scopes?: string[];
      redirectUri?: string;
      replace?: boolean;
    }
  >({
    method: 'POST',
    url: '/v1/connections/:id/authorize',
    op: 'manage',
    audit: 'authorize',
    summary: 'Begin an authorization: returns the URL to send the account owner to',
    schema: { params: S.idParams, body: S.authorizeBody, response: { 200: S.authorizeResponse } },
    handler: async (req) => {
      const b = req.body;
      baton.providers.get(b.provider);
      await parts.authorizeConnection(req, req.params.id, b.provider);
      const client = baton.clientFor(b.provider, b.params ?? {});
      const redirectUri = b.redirectUri ?? client?.redirectUri ?? `${parts.publicUrl()}/v1/callback`;
      return baton.beginAuthorization({
        provider: b.provider,
        connectionId: req.params.id,
        redirectUri,
        ...(b.params ? { params: b.params } : {}),
        ...(b.scopes ? { scopes: b.scopes } : {}),
        ...(b.replace ? { replace: true } : {}),
      });
    },
  });

  parts.route<{ id: string }, unknown, { force?: boolean } | null>({
    method: 'POST',
    url: '/v1/connections/:id/refresh',
    op: 'manage',
    audit: 'refresh',
    summary: 'Refresh now if due (or always with force)',
    schema: { params: S.idParams, body: S.refreshBody, response: { 200: S.connectionSchema } },
    handler: async (req) => {
      await parts.authorizeConnection(req, req.params.id);
      return baton.refresh(req.params.id, { force: req.body?.force ?? false });
    },
  });

  parts.route<{ id: string }>({
    method: 'POST',
    url: '/v1/connections/:id/revoke',
    op: 'manage',
    audit: 'revoke',
    summary: 'Revoke the grant at the provider and mark the connection revoked',
    schema: { params: S.idParams, response: { 200: S.revokeResponse } },
    handler: async (req) => {
      await parts.authorizeConnection(req, req.params.id);
      return baton.revoke(req.params.id);
    },
  });

  parts.route<{ id: string }>({
    method: 'DELETE',
    url: '/v1/connections/:id',
    op: 'manage',
    audit: 'delete',
    summary: 'Delete the connection',
    schema: { params: S.idParams, response: { 200: S.deleteResponse } },
    handler: async (req) => {
      await parts.authorizeConnection(req, req.params.id);
      const deleted = await baton.remove(req.params.id);
      parts.connectionChanged(req.params.id);
      return { deleted };
    },
  });

  parts.route<{ id: string }>({
    method: 'POST',
    url: '/v1/connections/:id/token',
    op: 'token',
    audit: 'token',
    summary: 'Release the credentials to send now (refreshed first when due)',
    schema: { params: S.idParams, response: { 200: S.tokenResponse } },
    handler: async (req) => {
      await parts.authorizeConnection(req, req.params.id);
      const released = await baton.release(req.params.id);
      parts.metrics.cache.inc({ result: released.cached ? 'hit' : 'miss' });
      return released;
    },
  });
}
