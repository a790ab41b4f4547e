import { fetch } from 'undici';
import { McpDiscoveryError } from '../errors.js';
import { type BearerChallenge, bearerChallenge } from './challenge.js';
import { describeNetworkError, type HttpOptions } from './http.js';

/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728): what a protected resource — an MCP server
 * — says about itself, the fields an MCP client reads.
 */
export interface ResourceMetadata {
  /** The resource identifier, as published: the RFC 8707 `resource` tokens are asked for. */
  resource: string;
  /** Issuer identifiers of the authorization servers that issue tokens for it (at least one). */
  authorizationServers: string[];
  scopesSupported: string[];
  /** Where the document was read. */
  source: string;
  raw: Record<string, unknown>;
}

const WELL_KNOWN = '/.well-known/oauth-protected-resource';
const MAX_BODY = 64 * 1024;

/**
 * RFC 9728 §3.1: the well-known path inserted between the host and the resource's path, then
 * (MCP authorization, "Protected Resource Metadata Discovery Requirements") at the root.
 */
export function resourceMetadataUrls(serverUrl: string): string[] {
  const url = new URL(serverUrl);
  const path = url.pathname.replace(/\/+$/, '');
  const root = `${url.origin}${WELL_KNOWN}`;
  return path ? [`${url.origin}${WELL_KNOWN}${path}`, root] : [root];
}

/** Scheme and host compared without case, one trailing slash ignored; no query, no fragment. */
function canonical(u: URL): string {
  return `${u.protocol.toLowerCase()}//${u.host.toLowerCase()}${u.pathname.replace(/\/$/, '')}`;
}

/**
 * Whether `resource` names the server at `serverUrl` (RFC 9728 §3.3, §7.3): the same URL, or a
 * resource at the same origin whose path contains the server's (a server's metadata at the
 * root names the origin). Anything else is another resource, whose tokens are not this one's.
 */
export function resourceCovers(resource: string, serverUrl: string): boolean {
  let r: URL;
  let s: URL;
  try {
    r = new URL(resource);
    s = new URL(serverUrl);
  } catch {
    return false;
  }
  if (r.hash || r.search) return false;
  const a = canonical(r);
  const b = canonical(s);
  return a === b || b.startsWith(`${a}/`);
}

/** An absolute http(s) URL: https, or http on a loopback host. */
export function isServerUrl(value: string): boolean {
  try {
    const u = new URL(value);
    const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
    return !u.hash && (u.protocol === 'https:' || (u.protocol === 'http:' && loopback));
  } catch {
    return false;
  }
}

async function get(url: string, accept: string, http: HttpOptions) {
  const res = await fetch(url, {
    headers: { accept },
    redirect: 'manual',
    signal: AbortSignal.timeout(http.timeoutMs ?? 30_000),
    ...(http.dispatcher ? { dispatcher: http.dispatcher } : {}),
  });
  const reader = res.body?.getReader();
  let text = '';
  if (reader) {
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      // An event stream never ends, and a document has no business being larger: stop reading.
      if (text.length > MAX_BODY) {
        await reader.cancel().catch(() => undefined);
        break;
      }
    }
  }
  return { status: res.status, headers: res.headers, text };
}

/**
 * The first link: asks the MCP server without a token. An MCP server that needs authorization
 * answers 401, and its `WWW-Authenticate` may name its resource metadata and the scopes needed
 * (MCP authorization, "Scope Selection Strategy").
 */
export async function probeServer(
  serverUrl: string,
  http: HttpOptions = {},
): Promise<{ status: number; challenge: BearerChallenge | null }> {
  try {
    const res = await get(serverUrl, 'application/json, text/event-stream', http);
    return { status: res.status, challenge: bearerChallenge(res.headers.get('www-authenticate')) };
  } catch (err) {
    const reason =
      err instanceof Error && err.name === 'TimeoutError' ? 'timed out' : describeNetworkError(err);
    throw new McpDiscoveryError(
      'server',
      `Asking the MCP server at ${serverUrl} ${reason}.`,
      'Check the MCP server URL and that the server is running; Baton asks it without a token to learn how it is authorized.',
      { url: serverUrl, cause: err },
    );
  }
}

/**
 * Reads and checks a protected resource's metadata (RFC 9728 §3.2–3.3): a JSON object whose
 * `resource` names this server and which lists at least one authorization server. Returns null
 * when the URL answers 404 (the next well-known location is tried).
 */
export async function fetchResourceMetadata(
  url: string,
  serverUrl: string,
  http: HttpOptions = {},
): Promise<ResourceMetadata | null> {
  const fix = `Check the MCP server URL (${serverUrl}); the server's operator must publish its resource metadata (RFC 9728) naming it as the resource and listing its authorization server.`;
  let res: Awaited<ReturnType<typeof get>>;
  try {
    res = await get(url, 'application/json', http);
  } catch (err) {
    const reason =
      err instanceof Error && err.name === 'TimeoutError' ? 'timed out' : describeNetworkError(err);
    throw new McpDiscoveryError(
      'resource_metadata',
      `Reading the resource metadata at ${url} ${reason}.`,
      fix,
      {
        url,
        cause: err,
      },
    );
  }
  if (res.status === 404) return null;
  if (res.status !== 200) {
    throw new McpDiscoveryError(
      'resource_metadata',
      `The resource metadata at ${url} answered HTTP ${res.status}.`,
      fix,
      { url },
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(res.text);
  } catch {
    raw = null;
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new McpDiscoveryError(
      'resource_metadata',
      `The resource metadata at ${url} is not a JSON object.`,
      fix,
      {
        url,
      },
    );
  }
  const doc = raw as Record<string, unknown>;
  const resource = doc['resource'];
  if (typeof resource !== 'string' || !resourceCovers(resource, serverUrl)) {
    throw new McpDiscoveryError(
      'resource_metadata',
      `The resource metadata at ${url} names the resource ${JSON.stringify(resource)}, not the MCP server ${serverUrl} (RFC 9728 §3.3).`,
      'Use the MCP server URL its operator publishes, exactly; a document naming another resource is never used, since its tokens are not for this server.',
      { url },
    );
  }
  const servers = doc['authorization_servers'];
  if (!Array.isArray(servers) || servers.length === 0 || !servers.every((s) => typeof s === 'string')) {
    throw new McpDiscoveryError(
      'resource_metadata',
      `The resource metadata at ${url} lists no authorization_servers.`,
      fix,
      { url },
    );
  }
  const scopes = doc['scopes_supported'];
  return {
    resource,
    authorizationServers: servers as string[],
    scopesSupported: Array.isArray(scopes) ? scopes.filter((s): s is string => typeof s === 'string') : [],
    source: url,
    raw: doc,
  };
}
