import type { OAuthClientProvider, OAuthDiscoveryState } from '@modelcontextprotocol/sdk/client/auth.js';
import type {
  AuthorizationServerMetadata,
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthProtectedResourceMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { Baton } from '../core/baton.js';
import type { ConnectionInfo } from '../core/connection-info.js';
import type { McpServer } from '../core/mcp.js';
import {
  AuthorizationError,
  BatonError,
  ConfigError,
  ConnectionNotFound,
  ReauthorizationRequired,
} from '../errors.js';

/** Why the user is asked to authorize (docs/architecture.md, "MCP"). */
export type AuthorizationReason =
  /** The connection does not exist yet. */
  | 'connect'
  /** Its grant was refused or revoked (needs_reauth, revoked): the reconnect link. */
  | 'reauthorize'
  /** The server asked for more scope than the connection holds (`insufficient_scope`). */
  | 'step_up';

export interface AuthorizationRequest {
  /** Where to send the user: Baton's authorization URL (PKCE, RFC 8707 resource, state sealed in the store). */
  url: URL;
  connectionId: string;
  reason: AuthorizationReason;
  /** The scopes asked for. */
  scopes: string[];
}

export interface BatonOAuthProviderOptions {
  /** The Baton connection that holds this MCP server's grant. */
  connectionId: string;
  /** The MCP server's URL: the one the transport connects to. */
  serverUrl: string | URL;
  /**
   * Hands the authorization URL to the application (open a browser, print a link, send it to a
   * person). Complete it with `provider.finishAuthorization(callbackUrl)`, from any process on
   * the store, then connect again.
   */
  onAuthorizationUrl(request: AuthorizationRequest): void | Promise<void>;
  /** Default: Baton.open's `mcp.redirectUri`. */
  redirectUri?: string;
}

const union = (a: readonly string[], b: readonly string[]) => [...new Set([...a, ...b])];

/**
 * The MCP SDK's `OAuthClientProvider` backed by a Baton connection (docs/architecture.md, "MCP").
 * The SDK runs the transport; Baton keeps the grant: `tokens()` is Baton's current access
 * token — refreshed when due, once across every process on the store, the rotated pair stored
 * before it is used — and never the refresh token, so the SDK never spends it itself. Client
 * information is the client Baton obtained (pre-registered, client metadata document, RFC 7591
 * registration, stored sealed); discovery is Baton's chain, whose documents it checked. An
 * authorization the SDK asks for is begun by Baton and handed to `onAuthorizationUrl`: state,
 * PKCE verifier and resource sealed in the store, `iss` checked at the callback.
 *
 * Pass `provider.fetch` to the transport too (`fetch: provider.fetch`): a 401 for Baton's token
 * then gets one retry with a refreshed one (one refresh per rotation, whatever the number of
 * callers) before the SDK hears of it.
 */
export class BatonOAuthProvider implements OAuthClientProvider {
  readonly #baton: Baton;
  readonly #options: BatonOAuthProviderOptions;
  readonly #serverUrl: string;
  /** The access tokens this provider handed to the SDK (the last few): the only ones `fetch` retries. */
  readonly #handed: string[] = [];

  constructor(baton: Baton, options: BatonOAuthProviderOptions) {
    this.#baton = baton;
    this.#options = options;
    this.#serverUrl = String(options.serverUrl);
  }

  get connectionId(): string {
    return this.#options.connectionId;
  }

  get redirectUrl(): string | undefined {
    return this.#options.redirectUri ?? this.#baton.mcp.identity.redirectUri;
  }

  get clientMetadata(): OAuthClientMetadata {
    const redirect = this.redirectUrl;
    return {
      redirect_uris: redirect ? [redirect] : [],
      client_name: this.#baton.mcp.identity.clientName ?? 'Baton',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    };
  }

  get clientMetadataUrl(): string | undefined {
    return this.#baton.mcp.identity.clientMetadataUrl;
  }

  #server(): Promise<McpServer> {
    return this.#baton.mcp.discover(this.#serverUrl);
  }

  async #connection(): Promise<ConnectionInfo | null> {
    return this.#baton.get(this.connectionId).catch((err: unknown) => {
      if (err instanceof ConnectionNotFound) return null;
      throw err;
    });
  }

  #hand(token: string): void {
    if (this.#handed.includes(token)) return;
    this.#handed.push(token);
    if (this.#handed.length > 4) this.#handed.shift();
  }

  /** Baton's discovery chain: the SDK uses what Baton found and checked instead of its own. */
  async discoveryState(): Promise<OAuthDiscoveryState> {
    const server = await this.#server();
    return {
      authorizationServerUrl: server.issuer,
      resourceMetadataUrl: server.resourceMetadataUrl,
      resourceMetadata: server.resourceMetadata.raw as OAuthProtectedResourceMetadata,
      authorizationServerMetadata: server.authorizationServer.raw as AuthorizationServerMetadata,
    };
  }

  /** Baton runs its own chain (and checks each document); what the SDK found is not needed. */
  saveDiscoveryState(): void {}

  /** The client Baton authorizes with at the server's authorization server (obtained first if needed). */
  async clientInformation(): Promise<OAuthClientInformationMixed> {
    const server = await this.#server();
    const client = await this.#baton.mcp.client(server, {
      connectionId: this.connectionId,
      redirectUri: this.redirectUrl,
    });
    const info: OAuthClientInformationMixed & { issuer: string } = {
      client_id: client.clientId,
      issuer: server.issuer,
      ...(client.clientSecret ? { client_secret: client.clientSecret } : {}),
    };
    return info;
  }

  /**
   * Client information is Baton's: what the SDK would store is the client Baton gave it (the
   * same id, stamped with the issuer). Anything else is refused — Baton obtains its clients itself.
   */
  async saveClientInformation(info: OAuthClientInformationMixed): Promise<void> {
    const mine = await this.clientInformation();
    if (info.client_id === mine.client_id) return;
    throw new ConfigError(
      `The MCP SDK registered a client (${info.client_id}) of its own for "${this.connectionId}".`,
      'Baton obtains and stores the client itself; let the provider’s clientInformation() answer (do not clear it), or configure a pre-registered client in Baton.open({ clients }).',
      { connectionId: this.connectionId },
    );
  }

  /**
   * The connection's current access token (refreshed first when due, once across processes);
   * undefined when it has none to give — absent, needs_reauth, revoked — so the SDK asks for an
   * authorization, which `redirectToAuthorization` begins.
   */
  async tokens(): Promise<OAuthTokens | undefined> {
    const info = await this.#connection();
    if (info?.status !== 'active') return undefined;
    let token: string;
    try {
      token = await this.#baton.getAccessToken(this.connectionId);
    } catch (err) {
      if (err instanceof ReauthorizationRequired) return undefined;
      throw err;
    }
    this.#hand(token);
    const fresh = await this.#connection();
    const expiresIn =
      fresh?.accessTokenExpiresAt != null
        ? Math.max(0, Math.floor((fresh.accessTokenExpiresAt - Date.now()) / 1000))
        : undefined;
    return {
      access_token: token,
      token_type: 'Bearer',
      ...(expiresIn !== undefined ? { expires_in: expiresIn } : {}),
      ...(fresh?.scopes ? { scope: fresh.scopes.join(' ') } : {}),
    };
  }

  /** Tokens the SDK obtained itself go through Baton's write path: a new authorization of the connection. */
  async saveTokens(tokens: OAuthTokens): Promise<void> {
    const server = await this.#server();
    const client = await this.clientInformation();
    const issuer = (tokens as { issuer?: unknown }).issuer;
    await this.#baton.mcp.saveTokens({
      connectionId: this.connectionId,
      serverUrl: this.#serverUrl,
      issuer: typeof issuer === 'string' ? issuer : server.issuer,
      clientId: client.client_id,
      tokens,
    });
  }

  /**
   * The SDK wants the user to authorize (no token, a refused one, or a scope challenge): Baton
   * begins the authorization — for a step-up with the scopes the connection holds and those the
   * server asked for, together — and hands its URL to `onAuthorizationUrl`.
   */
  async redirectToAuthorization(authorizationUrl: URL): Promise<void> {
    const asked = (authorizationUrl.searchParams.get('scope') ?? '').split(' ').filter(Boolean);
    const info = await this.#connection();
    const held = info?.scopes ?? [];
    const reason: AuthorizationReason = !info
      ? 'connect'
      : info.status !== 'active'
        ? 'reauthorize'
        : asked.some((s) => !held.includes(s))
          ? 'step_up'
          : 'reauthorize';
    const scopes = info ? union(held, asked) : asked;
    const begun = await this.#baton.beginAuthorization({
      mcp: this.#serverUrl,
      connectionId: this.connectionId,
      ...(scopes.length > 0 ? { scopes } : {}),
      ...(this.redirectUrl ? { redirectUri: this.redirectUrl } : {}),
    });
    await this.#options.onAuthorizationUrl({
      url: new URL(begun.url),
      connectionId: this.connectionId,
      reason,
      scopes: begun.scopes,
    });
  }

  /** Completes the authorization Baton began, from the callback URL (state, `iss`, PKCE, resource checked). */
  finishAuthorization(callbackUrl: string): Promise<ConnectionInfo> {
    return this.#baton.completeAuthorization({ callbackUrl });
  }

  /** The SDK's verifier belongs to a URL nobody is sent to: Baton's is sealed with its own authorization. */
  saveCodeVerifier(): void {}

  codeVerifier(): string {
    throw new AuthorizationError(
      'unknown_state',
      `The authorization of "${this.connectionId}" was begun by Baton, whose PKCE verifier is sealed in its store.`,
      {
        connectionId: this.connectionId,
        remediation:
          'Complete it with provider.finishAuthorization(callbackUrl) (or baton.completeAuthorization({ callbackUrl })) instead of transport.finishAuth(code), then connect again.',
      },
    );
  }

  /**
   * What the server no longer accepts, in Baton's states: `tokens` — the grant is refused, the
   * connection needs_reauth; `client` — the client Baton obtained is forgotten (the next
   * authorization obtains another); `discovery` — the chain runs again; `all` — each of these.
   */
  async invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery'): Promise<void> {
    if (scope === 'tokens' || scope === 'all') {
      await this.#baton.mcp.grantRefused(
        this.connectionId,
        'The MCP server’s authorization server refused the grant (invalid_grant).',
      );
    }
    if (scope === 'client' || scope === 'all') {
      const server = await this.#server();
      await this.#baton.mcp.forgetClient(server.issuer);
    }
    if (scope === 'discovery' || scope === 'all') this.#baton.mcp.forgetDiscovery(this.#serverUrl);
  }

  /**
   * A fetch for the transport: a 401 for the token Baton gave gets one more try with a refreshed
   * one (or another process's newer one), so an expired or revoked token is handled by Baton's
   * single refresh rather than by a new authorization. Anything else passes through.
   */
  readonly fetch: FetchLike = async (url, init) => {
    const res = await fetch(url, init);
    if (res.status !== 401) return res;
    const headers = new Headers(init?.headers);
    const sent = /^Bearer\s+(\S+)$/i.exec(headers.get('authorization') ?? '')?.[1];
    const body = init?.body;
    // Only a token this provider gave, sent to the MCP server's own origin, and a body that can
    // be sent again: anything else is the SDK's to handle.
    const ours = sent !== undefined && this.#handed.includes(sent);
    const sameOrigin = new URL(String(url)).origin === new URL(this.#serverUrl).origin;
    if (!ours || !sameOrigin || (body !== undefined && body !== null && typeof body !== 'string')) return res;
    let fresh: string;
    try {
      fresh = await this.#baton.mcp.tokenRejected(this.connectionId, sent);
    } catch (err) {
      // The grant is gone (needs_reauth): the SDK hears the 401 and asks for an authorization.
      if (err instanceof BatonError) return res;
      throw err;
    }
    if (fresh === sent) return res;
    this.#hand(fresh);
    await res.body?.cancel().catch(() => undefined);
    headers.set('authorization', `Bearer ${fresh}`);
    return fetch(url, { ...init, headers });
  };
}

/** `new BatonOAuthProvider(baton, options)`. */
export function batonOAuthProvider(baton: Baton, options: BatonOAuthProviderOptions): BatonOAuthProvider {
  return new BatonOAuthProvider(baton, options);
}
