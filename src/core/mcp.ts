import {
  BatonError,
  ConfigError,
  ConnectionNotFound,
  InsufficientScope,
  McpDiscoveryError,
  ReauthorizationRequired,
} from '../errors.js';
import { bearerChallenge } from '../protocol/challenge.js';
import type { ServerMetadata } from '../protocol/issuer.js';
import { checkIssuer } from '../protocol/issuer.js';
import {
  fetchResourceMetadata,
  isServerUrl,
  probeServer,
  type ResourceMetadata,
  resourceMetadataUrls,
} from '../protocol/resource-metadata.js';
import { parseTokenResponse } from '../protocol/token-response.js';
import { mcpIssuerOf, mcpProviderId } from '../providers/mcp.js';
import type { BeginAuthorizationResult } from './authorization.js';
import type { ClientRegistration } from './clients.js';
import { type FacadeParts, saveConnection } from './connect.js';
import { type ConnectionInfo, toConnectionInfo } from './connection-info.js';
import { readRecord } from './context.js';
import type { ClientIdentityOptions } from './registrations.js';
import { toTokenSet } from './token-lifetime.js';
import { writeConnection } from './write-path.js';

/**
 * What the MCP discovery chain found for one MCP server (docs/architecture.md, "MCP"): its
 * protected resource metadata (RFC 9728), the authorization server it names and that server's
 * metadata (RFC 8414), the provider Baton keeps its connections under, and the scopes to ask for.
 */
export interface McpServer {
  /** The URL the chain began at. */
  serverUrl: string;
  /** The RFC 8707 resource tokens are asked for: the metadata's `resource`, as published. */
  resource: string;
  resourceMetadataUrl: string;
  resourceMetadata: ResourceMetadata;
  /** The authorization server's issuer, and its metadata. */
  issuer: string;
  authorizationServer: ServerMetadata;
  /** `mcp:<issuer>`: the provider the server's connections are stored under. */
  provider: string;
  /**
   * MCP authorization, "Scope Selection Strategy": the scopes the server's 401 asked for, else
   * its metadata's `scopes_supported` (empty: no scope parameter).
   */
  scopes: string[];
}

/** The client Baton holds at an MCP authorization server, without its secret. */
export interface McpClientInfo {
  clientId: string;
  /** Configured (pre-registered), registered by Baton (RFC 7591), or a client metadata document's URL. */
  kind: 'configured' | 'registered' | 'metadata_document';
  /** The redirect URIs it holds (registered ones; a configured client's own). */
  redirectUris: string[];
}

/** Hints a caller may have from a response it already got (a 401's `WWW-Authenticate`). */
export interface McpHints {
  /** The `WWW-Authenticate` header of the server's 401 (or 403): its resource metadata URL and scopes. */
  challenge?: string;
  /** The resource metadata URL, when known some other way. */
  resourceMetadataUrl?: string;
}

export interface BeginMcpAuthorizationInput extends McpHints {
  /** The MCP server's URL (its streamable HTTP endpoint). */
  mcp: string;
  connectionId: string;
  /** Default: the challenge's scopes, else the server's `scopes_supported`, with those the connection already holds. */
  scopes?: string[];
  /** Default: Baton.open's `mcp.redirectUri`, else the configured client's. */
  redirectUri?: string;
  extraParams?: Record<string, string>;
  replace?: boolean;
}

export interface StepUpInput {
  connectionId: string;
  /** The scopes the server asked for (an `InsufficientScope`'s `requested`), or its challenge. */
  scopes?: string[];
  challenge?: string;
  redirectUri?: string;
}

/** Tokens the MCP SDK obtained itself (an `OAuthTokens` object), for `saveTokens`. */
export interface McpTokens {
  access_token: string;
  token_type: string;
  expires_in?: number;
  refresh_token?: string;
  scope?: string;
  [field: string]: unknown;
}

const DISCOVERY_TTL_MS = 60 * 60_000;

const union = (a: readonly string[], b: readonly string[]) => [...new Set([...a, ...b])];

/**
 * The MCP discovery chain, link by link, each failure naming its link: the server's 401 (its
 * `resource_metadata` and `scope`), else the well-known URLs of RFC 9728 (path-inserted, then
 * root); the resource metadata, which must name this server; its first authorization server
 * whose metadata reads; and that metadata's PKCE S256 (MCP clients must refuse a server without it).
 */
async function discover(
  parts: FacadeParts,
  serverUrl: string,
  hints: McpHints,
  force = false,
): Promise<McpServer> {
  const { ctx } = parts;
  if (!isServerUrl(serverUrl)) {
    throw new McpDiscoveryError(
      'server',
      `"${serverUrl}" is not an MCP server URL: it must be an absolute https URL (http only on a loopback host) without a fragment.`,
      'Give the MCP server’s URL as its operator publishes it, e.g. https://mcp.example.com/mcp.',
      { url: serverUrl },
    );
  }
  let challenge = bearerChallenge(hints.challenge);
  let metadataUrl = hints.resourceMetadataUrl ?? challenge?.resourceMetadata;
  if (!metadataUrl && !challenge) {
    const probe = await probeServer(serverUrl, ctx.options.http);
    challenge = probe.challenge;
    metadataUrl = challenge?.resourceMetadata;
  }
  let prm: ResourceMetadata | null = null;
  const tried: string[] = [];
  for (const url of metadataUrl ? [metadataUrl] : resourceMetadataUrls(serverUrl)) {
    tried.push(url);
    prm = await fetchResourceMetadata(url, serverUrl, ctx.options.http);
    if (prm) break;
  }
  if (!prm) {
    throw new McpDiscoveryError(
      'resource_metadata',
      `The MCP server at ${serverUrl} publishes no resource metadata (HTTP 404 at ${tried.join(' and ')}).`,
      'Check the MCP server URL. A server that needs no authorization needs no connection; one that does must publish RFC 9728 metadata (its 401 names it).',
      { url: tried[0] },
    );
  }
  let lastError: BatonError | null = null;
  for (const issuer of prm.authorizationServers) {
    try {
      checkIssuer(issuer, 'the MCP server’s authorization server');
    } catch (err) {
      lastError = new McpDiscoveryError(
        'resource_metadata',
        `The resource metadata at ${prm.source} names "${issuer}" as its authorization server, which is not an https issuer URL.`,
        'Ask the MCP server’s operator to list its authorization server’s issuer identifier (RFC 8414) in authorization_servers.',
        { url: prm.source, cause: err },
      );
      continue;
    }
    const provider = mcpProviderId(issuer);
    let metadata: ServerMetadata | undefined;
    try {
      metadata = await ctx.discovery?.ensure(provider, { force });
      // Read again on purpose: an earlier copy kept through an outage is not an answer.
      if (force && metadata && ctx.discovery?.status(provider)?.stale) {
        throw new McpDiscoveryError(
          'authorization_server',
          `it did not answer now (only a copy read ${new Date(ctx.discovery.status(provider)?.fetchedAt ?? 0).toISOString()} is held).`,
          'Check that the authorization server is up (its operator’s status page), then try again.',
          { url: issuer, provider },
        );
      }
    } catch (err) {
      lastError = new McpDiscoveryError(
        'authorization_server',
        `The authorization server ${issuer} (named by ${prm.source}) has no usable metadata: ${err instanceof Error ? err.message : String(err)}`,
        err instanceof BatonError
          ? err.remediation
          : 'Check that the authorization server is up; its operator must publish RFC 8414 metadata.',
        { url: issuer, cause: err, provider },
      );
      continue;
    }
    if (!metadata) continue;
    if (!metadata.codeChallengeMethodsSupported.includes('S256')) {
      throw new McpDiscoveryError(
        'authorization_server',
        `The authorization server ${issuer} does not list S256 in code_challenge_methods_supported, and an MCP client must not authorize without PKCE.`,
        'Ask the authorization server’s operator to support PKCE with S256 and publish it in its metadata.',
        { url: metadata.source, provider },
      );
    }
    const scopes = challenge?.scope ?? prm.scopesSupported;
    return {
      serverUrl,
      resource: prm.resource,
      resourceMetadataUrl: prm.source,
      resourceMetadata: prm,
      issuer,
      authorizationServer: metadata,
      provider,
      scopes,
    };
  }
  throw (
    lastError ??
    new McpDiscoveryError(
      'resource_metadata',
      `The resource metadata at ${prm.source} names no authorization server Baton can use.`,
      'Ask the MCP server’s operator to list its authorization server in authorization_servers.',
      { url: prm.source },
    )
  );
}

/**
 * `baton.mcp`: MCP servers' authorization (docs/architecture.md, "MCP"). A connection to an MCP
 * server is an ordinary connection of the provider `mcp:<issuer>` whose `resource` param is the
 * server — refreshed once per rotation across processes, stored before use, marked
 * needs_reauth, revoked — so what this adds is the way in: the discovery chain, the client, the
 * step-up.
 */
/** An ordinary authorization begun for a provider and params (the facade's beginAuthorization). */
export type BeginOrdinary = (input: {
  provider: string;
  connectionId: string;
  params: Record<string, string>;
  scopes: string[];
  redirectUri?: string | undefined;
  extraParams?: Record<string, string> | undefined;
  replace?: boolean | undefined;
}) => Promise<BeginAuthorizationResult>;

export class McpConnections {
  readonly #parts: () => FacadeParts;
  readonly #begin: BeginOrdinary;
  readonly #servers = new Map<string, { server: McpServer; expiresAt: number }>();

  constructor(parts: () => FacadeParts, begin: BeginOrdinary) {
    this.#parts = parts;
    this.#begin = begin;
  }

  /** How Baton presents itself to authorization servers (Baton.open's `mcp`). */
  get identity(): ClientIdentityOptions {
    return this.#parts().ctx.registrar?.identity ?? {};
  }

  /**
   * Runs the discovery chain for an MCP server (kept an hour in memory; `challenge` reads it
   * again, and `force` also reads the authorization server's metadata again instead of a copy).
   */
  async discover(serverUrl: string, hints: McpHints & { force?: boolean } = {}): Promise<McpServer> {
    const parts = this.#parts();
    const held = this.#servers.get(serverUrl);
    const now = parts.ctx.clock.now();
    if (held && held.expiresAt > now && !hints.force && !hints.challenge && !hints.resourceMetadataUrl)
      return held.server;
    const server = await discover(parts, serverUrl, hints, hints.force === true);
    this.#servers.set(serverUrl, { server, expiresAt: now + DISCOVERY_TTL_MS });
    return server;
  }

  /** Forgets what the chain found for a server: the next use runs it again. */
  forgetDiscovery(serverUrl?: string): void {
    if (serverUrl === undefined) this.#servers.clear();
    else this.#servers.delete(serverUrl);
  }

  /**
   * The client Baton authorizes with at the server's authorization server: configured, else
   * obtained (client metadata document, else RFC 7591 registration) and stored sealed.
   */
  async client(
    server: McpServer,
    input: { connectionId: string; redirectUri?: string | undefined; scopes?: string[] },
  ): Promise<ClientRegistration> {
    const { ctx } = this.#parts();
    const redirectUri = input.redirectUri ?? ctx.registrar?.identity.redirectUri;
    if (!ctx.registrar) return ctx.clients.require(server.provider, {}, input.connectionId);
    return ctx.registrar.obtain(server.provider, server.authorizationServer, {
      redirectUri,
      scopes: input.scopes ?? server.scopes,
      connectionId: input.connectionId,
    });
  }

  /**
   * Begins authorizing `connectionId` for the MCP server at `input.mcp`: the discovery chain, a
   * client, then an ordinary authorization of provider `mcp:<issuer>` with the server as its
   * `resource` (PKCE, RFC 8707 on the authorization and token requests, `iss` checked at the
   * callback). Complete it with `completeAuthorization`.
   */
  async begin(input: BeginMcpAuthorizationInput): Promise<BeginAuthorizationResult> {
    const { ctx } = this.#parts();
    const server = await this.discover(input.mcp, input);
    const existing = await readRecord(ctx, input.connectionId);
    const held = existing?.provider === server.provider && existing.params['resource'] === server.resource;
    const scopes = input.scopes ?? union(held ? (existing.scopes ?? []) : [], server.scopes);
    const redirectUri = input.redirectUri ?? ctx.registrar?.identity.redirectUri;
    const client = await this.client(server, { connectionId: input.connectionId, redirectUri, scopes });
    return this.#begin({
      provider: server.provider,
      connectionId: input.connectionId,
      params: { resource: server.resource, endpoint: server.serverUrl },
      scopes,
      redirectUri: redirectUri ?? client.redirectUri,
      extraParams: input.extraParams,
      replace: input.replace,
    });
  }

  /**
   * Step-up (MCP authorization, "Step-Up Authorization Flow"): begins authorizing the
   * connection again with the scopes it holds and those the server asked for, together. The
   * grant in use keeps working until the new one is stored.
   */
  async stepUp(input: StepUpInput): Promise<BeginAuthorizationResult> {
    const { ctx } = this.#parts();
    const record = await readRecord(ctx, input.connectionId);
    if (!record) throw new ConnectionNotFound(input.connectionId);
    const asked = input.scopes ?? bearerChallenge(input.challenge)?.scope ?? [];
    return this.#begin({
      provider: record.provider,
      connectionId: record.id,
      params: record.params,
      scopes: union(record.scopes ?? [], asked),
      redirectUri: input.redirectUri ?? ctx.registrar?.identity.redirectUri,
    });
  }

  /**
   * The `InsufficientScope` a 403's `WWW-Authenticate` means for the connection (RFC 6750 §3.1),
   * or null when it is not an `insufficient_scope` challenge.
   */
  async insufficientScope(connectionId: string, challenge: string | null): Promise<InsufficientScope | null> {
    const said = bearerChallenge(challenge);
    if (said?.error !== 'insufficient_scope') return null;
    const record = await readRecord(this.#parts().ctx, connectionId);
    if (!record) throw new ConnectionNotFound(connectionId);
    const requested = said.scope ?? [];
    const scopes = union(record.scopes ?? [], requested);
    return new InsufficientScope(
      `The server refused "${connectionId}"'s token for lack of scope${said.errorDescription ? ` (${said.errorDescription})` : ''}; it asks for ${requested.join(' ') || 'more'}.`,
      scopes,
      requested,
      { connectionId, provider: record.provider },
    );
  }

  /**
   * After the MCP server refused `token` (401): a refreshed token (one refresh across every
   * caller and process), or another process's newer one. Throws ReauthorizationRequired when
   * the grant is gone.
   */
  async tokenRejected(connectionId: string, token: string): Promise<string> {
    const conn = await this.#parts().tokens.afterRejection(connectionId, token);
    const fresh = conn.secrets.tokens?.accessToken;
    if (!fresh) {
      throw new ReauthorizationRequired(`Connection "${connectionId}" has no access token.`, {
        connectionId,
        provider: conn.record.provider,
      });
    }
    return fresh;
  }

  /**
   * Stores tokens obtained outside Baton's own authorization (the MCP SDK's code exchange)
   * through the one write path: a new authorization of the server's connection, any status →
   * active. `issuer` must be the server's authorization server.
   */
  async saveTokens(input: {
    connectionId: string;
    serverUrl: string;
    issuer: string;
    clientId: string;
    tokens: McpTokens;
  }): Promise<ConnectionInfo> {
    const parts = this.#parts();
    const server = await this.discover(input.serverUrl);
    if (input.issuer !== server.issuer) {
      throw new ConfigError(
        `Tokens issued by ${input.issuer} were offered for ${input.serverUrl}, whose authorization server is ${server.issuer}.`,
        'Store only tokens from the MCP server’s own authorization server; authorize again through baton.beginAuthorization({ mcp }).',
        { connectionId: input.connectionId, provider: server.provider },
      );
    }
    const spec = parts.ctx.providers.get(server.provider);
    const response = parseTokenResponse(
      {
        status: 200,
        headers: new Headers({ 'content-type': 'application/json' }),
        body: JSON.stringify(input.tokens),
        url: server.authorizationServer.tokenEndpoint ?? server.issuer,
      },
      {
        provider: { id: spec.id, displayName: spec.displayName, errorDialect: spec.errorDialect },
        grant: 'authorization_code',
        now: parts.ctx.clock.now(),
        connectionId: input.connectionId,
        secrets: [input.tokens.access_token, input.tokens.refresh_token].filter(
          (t): t is string => typeof t === 'string',
        ),
      },
    );
    const tokens = toTokenSet(response, spec, 'authorization_code');
    const record = await saveConnection(parts, {
      id: input.connectionId,
      provider: server.provider,
      authMode: 'oauth2',
      params: { resource: server.resource, endpoint: server.serverUrl },
      clientId: input.clientId,
      secrets: { tokens, credentials: null },
      scopes: tokens.scope,
      account: null,
    });
    return toConnectionInfo(record);
  }

  /**
   * The authorization server no longer honours the connection's grant (the MCP SDK saw
   * `invalid_grant`): marked needs_reauth through the write path, as a refused refresh would.
   */
  async grantRefused(connectionId: string, reason: string): Promise<ConnectionInfo | null> {
    const { ctx } = this.#parts();
    const written = await writeConnection(ctx, connectionId, 'needs_reauth', (current) =>
      current
        ? {
            ...current,
            lastError: { code: 'reauthorization_required', message: reason, at: ctx.clock.now() },
          }
        : null,
    ).catch(() => null);
    return written ? toConnectionInfo(written) : null;
  }

  /**
   * The client Baton authorizes with at an authorization server now, without obtaining one:
   * the configured one, else the one stored (registered, or a client metadata document's URL);
   * null when it holds none yet. Never its secret.
   */
  async heldClient(issuerOrProvider: string): Promise<McpClientInfo | null> {
    const { ctx } = this.#parts();
    const provider = mcpIssuerOf(issuerOrProvider) ? issuerOrProvider : mcpProviderId(issuerOrProvider);
    const configured = ctx.clients.configured(provider, {});
    if (configured) {
      return {
        clientId: configured.clientId,
        kind: 'configured',
        redirectUris: configured.redirectUri ? [configured.redirectUri] : [],
      };
    }
    const stored = await ctx.registrar?.stored(provider);
    return stored
      ? { clientId: stored.clientId, kind: stored.obtained, redirectUris: stored.redirectUris }
      : null;
  }

  /**
   * After the authorization server refused the client Baton registered (`invalid_client`, as
   * `baton.verifyClient` finds): registers again in its place, with its redirect URIs, as a
   * refused refresh would. Null when Baton cannot (a configured client, a client metadata
   * document, a server that no longer registers).
   */
  async renewClient(issuerOrProvider: string): Promise<McpClientInfo | null> {
    const { ctx } = this.#parts();
    const provider = mcpIssuerOf(issuerOrProvider) ? issuerOrProvider : mcpProviderId(issuerOrProvider);
    await ctx.discovery?.ensure(provider);
    await ctx.registrar?.load(provider);
    const current = ctx.clients.find(provider, {});
    if (!current || !ctx.registrar) return null;
    const renewed = await ctx.registrar.renew(provider, current);
    return renewed ? this.heldClient(provider) : null;
  }

  /** Forgets the client Baton obtained at an authorization server: the next authorization obtains a new one. */
  async forgetClient(issuerOrProvider: string): Promise<boolean> {
    const { ctx } = this.#parts();
    const provider = mcpIssuerOf(issuerOrProvider) ? issuerOrProvider : mcpProviderId(issuerOrProvider);
    return (await ctx.registrar?.forget(provider)) ?? false;
  }

  /**
   * The Client ID Metadata Document to serve at Baton.open's `mcp.clientMetadataUrl` (with the
   * redirect URIs it allows: `mcp.redirectUri` unless given).
   */
  clientMetadataDocument(redirectUris?: string[]): Record<string, unknown> {
    const registrar = this.#parts().ctx.registrar;
    if (!registrar) throw new ConfigError('This Baton obtains no clients.', 'Open it with Baton.open().');
    return registrar.clientMetadataDocument(redirectUris);
  }
}
