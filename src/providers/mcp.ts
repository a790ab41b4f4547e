import { checkIssuer } from '../protocol/issuer.js';
import { resourceCovers } from '../protocol/resource-metadata.js';
import type { ProviderOverride } from './spec.js';

/**
 * MCP authorization servers as providers (docs/architecture.md, "MCP"): one provider per
 * authorization server, named after its issuer, so the issuer a refresh token goes back to is
 * part of the connection's sealed identity. Each connection names the MCP server its tokens
 * are for in its `resource` param (RFC 8707), which is also its API base, and the URL it was
 * made from in its `endpoint` param (where `baton serve` forwards MCP requests, README "Agents
 * and MCP"); the endpoint does not tell accounts apart.
 */
export const MCP_PREFIX = 'mcp:';

/** `mcp:` and the issuer without `https://` (an http issuer, allowed on loopback only, keeps its scheme). */
export function mcpProviderId(issuer: string): string {
  return MCP_PREFIX + (issuer.startsWith('https://') ? issuer.slice('https://'.length) : issuer);
}

/** The issuer a `mcp:` provider id names, or null when it names none. */
export function mcpIssuerOf(id: string): string | null {
  if (!id.startsWith(MCP_PREFIX)) return null;
  const rest = id.slice(MCP_PREFIX.length);
  if (!/^[\x21-\x7e]+$/.test(rest)) return null;
  const issuer = rest.startsWith('http://') ? rest : `https://${rest}`;
  try {
    checkIssuer(issuer, id);
  } catch {
    return null;
  }
  return mcpProviderId(issuer) === id ? issuer : null;
}

/** The spec of an MCP authorization server's provider: the rest comes from its metadata. */
export function mcpSpec(id: string): ProviderOverride | null {
  const issuer = mcpIssuerOf(id);
  if (!issuer) return null;
  return {
    displayName: `MCP authorization server ${id.slice(MCP_PREFIX.length)}`,
    authModes: ['oauth2'],
    issuer,
    params: {
      resource: {
        description: 'the MCP server the tokens are for: its URL, the RFC 8707 resource',
        kind: 'url',
      },
      endpoint: {
        description:
          'the MCP server’s streamable HTTP endpoint, the URL the connection was made from (inside the resource)',
        kind: 'url',
        optional: true,
        identity: false,
      },
    },
    resourceParam: 'resource',
    clientRegistration: true,
    // Never used (the resource is each connection's API base); kept for the spec's shape.
    apiBaseUrl: issuer,
    // MCP clients must use PKCE with S256 (MCP authorization, "Authorization Code Protection").
    pkce: true,
    notes:
      'An MCP server’s authorization server, found from the server itself (RFC 9728). Clients are pre-registered, a client metadata document, or registered by Baton (RFC 7591) and stored sealed.',
  };
}

/**
 * Where a connection of an MCP authorization server is used: its `endpoint` param (the URL it
 * was made from), else its `resource` (connections made before the endpoint was kept), and
 * whether that URL lies inside the resource (RFC 9728 §3.3: the same URL, or under its path on
 * its origin) — a token for the resource is sent nowhere else.
 */
export function mcpEndpointOf(params: Record<string, string>): {
  endpoint: string;
  resource: string;
  inside: boolean;
} | null {
  const resource = params['resource'];
  if (!resource) return null;
  const endpoint = params['endpoint'] ?? resource;
  return { endpoint, resource, inside: resourceCovers(resource, endpoint) };
}
