import { InvalidClient } from '../errors.js';
import type { DpopKey } from '../protocol/dpop.js';
import type { GrantContext } from '../protocol/grants.js';
import type { ClientConfig } from '../protocol/types.js';
import type { ProviderSpec } from '../providers/spec.js';
import { authEndpointsFor, fieldsFor, resourcesFor } from '../providers/template.js';
import type { CoreContext, LoadedConnection } from './context.js';
import { signerFor } from './dpop.js';

/**
 * A connection being made (an authorization, client credentials, a client check): its spec,
 * params and client, and the id it will be stored under (none for a client check).
 */
export interface NewConnection {
  spec: ProviderSpec;
  params: Record<string, string>;
  client: ClientConfig;
  connectionId?: string | undefined;
}

export interface GrantContextOptions {
  /** RFC 9449: the key the grant's tokens are bound to. */
  dpop?: DpopKey | null | undefined;
}

/**
 * What the protocol layer needs of a connection for one request to its token, revocation,
 * introspection or PAR endpoint: the endpoints (a stored connection's, learned base included;
 * else the spec's over the params), client authentication, and what to call the provider in
 * errors. A stored connection without a client (static credentials) has none to grant with.
 */
export function grantContextOf(
  ctx: CoreContext,
  conn: LoadedConnection | NewConnection,
  opts: GrantContextOptions = {},
): GrantContext {
  const stored = 'record' in conn;
  const params = stored ? conn.record.params : conn.params;
  const connectionId = stored ? conn.record.id : conn.connectionId;
  const { spec, client } = conn;
  if (!client) {
    throw new InvalidClient(`Connection "${connectionId}" has no client to refresh with.`, {
      connectionId,
      provider: spec.id,
    });
  }
  // A connection being made has no API base yet (it may be what the provider hands over).
  const endpoints = stored ? conn.endpoints : authEndpointsFor(spec, params, client.clientId);
  return {
    provider: {
      id: spec.id,
      displayName: spec.displayName,
      errorDialect: spec.errorDialect,
      environment: spec.environmentParam ? params[spec.environmentParam] : undefined,
      codeLifetimeSeconds: spec.authorizationCodeLifetimeSeconds,
      errorCodes: spec.errorCodes,
      errorShape: spec.errorShape,
    },
    tokenUrl: endpoints.tokenUrl,
    revocationUrl: endpoints.revocationUrl,
    clientAuth: client.clientAuth ?? spec.clientAuth,
    issuer: spec.issuer,
    scopeSeparator: spec.scopeSeparator,
    resource: resourcesFor(spec, params),
    redirectAuthHosts: spec.redirectAuthHosts,
    client,
    now: () => ctx.clock.now(),
    connectionId,
    http: ctx.options.http,
    dpop: signerFor(ctx, opts.dpop ?? null),
    onTokenEndpoint: (call) =>
      ctx.events.emit('token_endpoint', { ...call, provider: spec.id, connectionId }),
    tokenParams: fieldsFor(spec, 'tokenParams', params),
    refreshParams: fieldsFor(spec, 'refreshParams', params),
    body: spec.tokenRequestBody,
    revocation: spec.revocation,
    clientCredentials: spec.clientCredentialsGrant && {
      grantType: spec.clientCredentialsGrant.grantType,
      fields: fieldsFor(spec, 'clientCredentialsGrant', params),
    },
  };
}
