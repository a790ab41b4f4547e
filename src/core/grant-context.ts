import type { DpopSigner } from '../protocol/dpop.js';
import type { GrantContext } from '../protocol/grants.js';
import type { HttpOptions } from '../protocol/http.js';
import type { ClientConfig, Endpoints } from '../protocol/types.js';
import type { ProviderSpec } from '../providers/spec.js';
import { resourcesFor } from '../providers/template.js';

/** What the protocol layer needs of a provider spec for one grant: endpoints and client authentication. */
export function grantContextFor(
  spec: ProviderSpec,
  params: Record<string, string>,
  endpoints: Endpoints,
  client: ClientConfig,
  options: {
    now(): number;
    connectionId?: string | undefined;
    http?: HttpOptions | undefined;
    dpop?: DpopSigner | undefined;
  },
): GrantContext {
  return {
    provider: {
      id: spec.id,
      displayName: spec.displayName,
      errorDialect: spec.errorDialect,
      environment: spec.environmentParam ? params[spec.environmentParam] : undefined,
      codeLifetimeSeconds: spec.authorizationCodeLifetimeSeconds,
    },
    tokenUrl: endpoints.tokenUrl,
    revocationUrl: endpoints.revocationUrl,
    clientAuth: client.clientAuth ?? spec.clientAuth,
    issuer: spec.issuer,
    scopeSeparator: spec.scopeSeparator,
    resource: resourcesFor(spec, params),
    redirectAuthHosts: spec.redirectAuthHosts,
    client,
    now: options.now,
    connectionId: options.connectionId,
    http: options.http,
    dpop: options.dpop,
  };
}
