import { ConfigError, McpDiscoveryError, StoreError } from '../errors.js';
import type { ServerMetadata } from '../protocol/issuer.js';
import {
  type ClientMetadata,
  chooseAuthMethod,
  clientMetadataDocument,
  type RegisteredClient,
  registerClient,
} from '../protocol/registration.js';
import type { ProviderSpec } from '../providers/spec.js';
import type { ClientRegistrationRow } from '../store/store.js';
import type { ClientRegistration } from './clients.js';
import type { CoreContext } from './context.js';
import {
  KEPT,
  openRegistration,
  registrationBinding,
  type Sealed,
  type SealedClient,
  toClient,
} from './registered-clients.js';

const SOFTWARE_ID = 'baton-oauth';

/** How Baton presents itself when it obtains a client (docs/architecture.md, "MCP"). */
export interface ClientIdentityOptions {
  /** The name the authorization server shows its user (RFC 7591 `client_name`). Default "Baton". */
  clientName?: string;
  /** A page about the client (`client_uri`). */
  clientUri?: string;
  /**
   * The https URL where this client's metadata document is served (`clientMetadataDocument()`
   * gives its JSON): used as the client id at servers that take client metadata documents.
   */
  clientMetadataUrl?: string;
  /** The redirect URI an authorization uses when it names none. */
  redirectUri?: string;
}

interface Held {
  version: number;
  clientId: string;
  sealed: Sealed;
}

/**
 * The clients Baton obtains itself for providers with `clientRegistration` (MCP authorization
 * servers, docs/architecture.md, "MCP"), in the order the MCP authorization specification
 * gives: a configured (pre-registered) client first, else a client metadata document where the
 * server takes one, else RFC 7591 registration. One registration per issuer, sealed in the
 * store and shared by every process on it: a compare-and-swap decides which of two processes
 * registering at once is kept, and the other adopts it. A registration the server refuses
 * (`invalid_client`) is replaced, remembering the ids it replaced.
 */
export class ClientRegistrar {
  readonly #ctx: CoreContext;
  readonly #identity: ClientIdentityOptions;
  readonly #held = new Map<string, Held>();

  constructor(ctx: CoreContext, identity: ClientIdentityOptions = {}) {
    this.#ctx = ctx;
    this.#identity = identity;
    if (identity.clientMetadataUrl !== undefined) checkMetadataUrl(identity.clientMetadataUrl);
  }

  get identity(): ClientIdentityOptions {
    return { ...this.#identity };
  }

  #registers(provider: string): ProviderSpec | null {
    if (!this.#ctx.providers.has(provider)) return null;
    const spec = this.#ctx.providers.get(provider);
    return spec.clientRegistration === true && spec.issuer !== undefined ? spec : null;
  }

  /**
   * Puts the provider's stored registration in the client directory: read once, and again when
   * a connection names a client that is neither the one in hand nor one it replaced (another
   * process registered since). A configured client makes this a no-op.
   */
  async load(provider: string, clientId?: string | null): Promise<void> {
    const spec = this.#registers(provider);
    if (!spec || this.#ctx.clients.configured(provider, {})) return;
    const held = this.#held.get(provider);
    if (held && (!clientId || clientId === held.clientId || held.sealed.supersedes.includes(clientId)))
      return;
    await this.#read(spec);
  }

  async #read(spec: ProviderSpec): Promise<Held | null> {
    const store = this.#ctx.store.clientRegistrations;
    const issuer = spec.issuer as string;
    const row = store ? await store.get(issuer) : null;
    if (!row) {
      this.#held.delete(spec.id);
      this.#ctx.clients.adopt(spec.id, null);
      return null;
    }
    const sealed = openRegistration(this.#ctx.sealer, row);
    const held = { version: row.version, clientId: row.clientId, sealed };
    this.#held.set(spec.id, held);
    this.#ctx.clients.adopt(spec.id, toClient(row.clientId, sealed));
    return held;
  }

  /**
   * The client to authorize with at the provider's server, for `redirectUri`: a configured one,
   * else the stored one when it fits, else a new one (a client metadata document, else a
   * registration), stored before it is used.
   */
  async obtain(
    provider: string,
    metadata: ServerMetadata,
    input: { redirectUri: string | undefined; scopes: string[]; connectionId: string },
  ): Promise<ClientRegistration> {
    const spec = this.#registers(provider);
    const configured = this.#ctx.clients.configured(provider, {});
    if (configured || !spec) {
      return this.#ctx.clients.require(provider, {}, input.connectionId);
    }
    const held = this.#held.get(provider) ?? (await this.#read(spec));
    if (held && this.#fits(held, input.redirectUri)) return toClient(held.clientId, held.sealed);
    const documentUrl = this.#identity.clientMetadataUrl;
    if (metadata.clientIdMetadataDocumentSupported && documentUrl) {
      return this.#store(
        spec,
        held,
        documentUrl,
        {
          obtained: 'metadata_document',
          tokenEndpointAuthMethod: 'none',
          redirectUris: [],
        },
        null,
      );
    }
    if (metadata.registrationEndpoint) {
      const redirectUri = input.redirectUri;
      if (!redirectUri) {
        throw new ConfigError(
          `Registering a client at ${spec.issuer} needs the redirect URI it will use.`,
          'Pass redirectUri to beginAuthorization(), or give one in Baton.open({ mcp: { redirectUri } }).',
          { provider, connectionId: input.connectionId },
        );
      }
      // The redirect URIs the client in hand has stay registered: its connections keep it.
      const uris = [...new Set([...(held?.sealed.redirectUris ?? []), redirectUri])];
      const registered = await registerClient(
        metadata.registrationEndpoint,
        this.#metadataFor(uris, metadata, input.scopes),
        this.#ctx.options.http,
      );
      return this.#store(spec, held, registered.clientId, sealedOf(registered), null);
    }
    throw new McpDiscoveryError(
      'client',
      `${spec.issuer} offers no way for Baton to obtain a client: no registration_endpoint (RFC 7591)${
        metadata.clientIdMetadataDocumentSupported
          ? ', and no client metadata document URL is configured'
          : ' and no client metadata documents'
      }, and none is configured for ${provider}.`,
      metadata.clientIdMetadataDocumentSupported
        ? `Serve baton.mcp.clientMetadataDocument() at an https URL and give it as Baton.open({ mcp: { clientMetadataUrl } }), or register a client at ${spec.issuer} and configure it: clients: { "${provider}": { clientId, clientSecret, redirectUri } }.`
        : `Register a client at ${spec.issuer} and configure it: clients: { "${provider}": { clientId, clientSecret, redirectUri } }.`,
      { provider, connectionId: input.connectionId, url: spec.issuer },
    );
  }

  /** Whether the client in hand can be used for `redirectUri`. */
  #fits(held: Held, redirectUri: string | undefined): boolean {
    const s = held.sealed;
    if (s.obtained === 'metadata_document') return held.clientId === this.#identity.clientMetadataUrl;
    if (s.clientSecretExpiresAt !== undefined && s.clientSecretExpiresAt <= this.#ctx.clock.now())
      return false;
    return redirectUri === undefined || s.redirectUris.includes(redirectUri);
  }

  #metadataFor(redirectUris: string[], metadata: ServerMetadata, scopes: string[]): ClientMetadata {
    const out: ClientMetadata = {
      redirect_uris: redirectUris,
      client_name: this.#identity.clientName ?? 'Baton',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: chooseAuthMethod(metadata.tokenEndpointAuthMethodsSupported),
      software_id: SOFTWARE_ID,
    };
    if (this.#identity.clientUri) out.client_uri = this.#identity.clientUri;
    if (scopes.length > 0) out.scope = scopes.join(' ');
    return out;
  }

  /**
   * Stores a new client over `held` (compare-and-swap), then puts it in the directory. `refused`:
   * the id the server refused, which the new client replaces; otherwise the client in hand stays
   * usable beside it (its connections keep it). A lost swap means another process stored one
   * meanwhile: that one is used.
   */
  async #store(
    spec: ProviderSpec,
    held: Held | null,
    clientId: string,
    client: SealedClient,
    refused: string | null,
  ): Promise<ClientRegistration> {
    const store = this.#ctx.store.clientRegistrations;
    const issuer = spec.issuer as string;
    const before = held?.sealed;
    const kept = [
      ...(before && held.clientId !== clientId && held.clientId !== refused
        ? [{ ...withoutLists(before), clientId: held.clientId }]
        : []),
      ...(before?.previous ?? []),
    ].filter((p) => p.clientId !== refused && p.clientId !== clientId);
    const sealed: Sealed = {
      ...client,
      previous: kept.slice(0, KEPT),
      supersedes: [...(before?.supersedes ?? []), ...(refused ? [refused] : [])].slice(-KEPT),
    };
    if (!store) {
      throw new StoreError(`The ${this.#ctx.store.kind} store keeps no client registrations.`, {
        provider: spec.id,
      });
    }
    const now = this.#ctx.clock.now();
    const row: ClientRegistrationRow = {
      issuer,
      clientId,
      sealed: '',
      version: 0,
      createdAt: now,
      updatedAt: now,
    };
    row.sealed = this.#ctx.sealer.seal(sealed, registrationBinding(row));
    const written = await store.put(row, held?.version ?? null);
    if (!written) {
      const theirs = await this.#read(spec);
      if (theirs) return toClient(theirs.clientId, theirs.sealed);
      throw new StoreError(`The client registration of ${issuer} changed while it was being stored.`, {
        provider: spec.id,
      });
    }
    this.#held.set(spec.id, { version: written.version, clientId, sealed });
    const adopted = toClient(clientId, sealed);
    this.#ctx.clients.adopt(spec.id, adopted);
    return adopted;
  }

  /**
   * After the server refused `refused` (`invalid_client`): the registration another process
   * already made in its place, else a new one; null when Baton cannot make one (a client it
   * was given, a client metadata document, a server that no longer registers).
   */
  async renew(provider: string, refused: ClientRegistration): Promise<ClientRegistration | null> {
    const spec = this.#registers(provider);
    if (!spec || refused.obtained !== 'registered') return null;
    const current = await this.#read(spec);
    // Another process renewed it already, or the refused client was an older one: the current one answers.
    if (current && current.clientId !== refused.clientId) return toClient(current.clientId, current.sealed);
    const metadata = await this.#ctx.discovery?.ensure(provider);
    if (!metadata?.registrationEndpoint) return null;
    const uris = current?.sealed.redirectUris ?? (refused.redirectUri ? [refused.redirectUri] : []);
    if (uris.length === 0) return null;
    const registered = await registerClient(
      metadata.registrationEndpoint,
      this.#metadataFor(uris, metadata, []),
      this.#ctx.options.http,
    );
    return this.#store(spec, current, registered.clientId, sealedOf(registered), refused.clientId);
  }

  /**
   * The provider's stored registration without its secrets, read from the store now: its client
   * id, how it was obtained and the redirect URIs it holds; null when none is stored.
   */
  async stored(
    provider: string,
  ): Promise<{ clientId: string; obtained: SealedClient['obtained']; redirectUris: string[] } | null> {
    const spec = this.#registers(provider);
    if (!spec || this.#ctx.clients.configured(provider, {})) return null;
    const held = await this.#read(spec);
    if (!held) return null;
    return {
      clientId: held.clientId,
      obtained: held.sealed.obtained,
      redirectUris: [...held.sealed.redirectUris],
    };
  }

  /** Forgets the provider's stored registration: the next authorization obtains a new client. */
  async forget(provider: string): Promise<boolean> {
    const spec = this.#registers(provider);
    const store = this.#ctx.store.clientRegistrations;
    if (!spec || !store) return false;
    const current = await this.#read(spec);
    if (!current) return false;
    const removed = await store.delete(spec.issuer as string, current.version);
    this.#held.delete(provider);
    this.#ctx.clients.adopt(provider, null);
    return removed;
  }

  /** The client metadata document to serve at `clientMetadataUrl` (docs/architecture.md, "MCP"). */
  clientMetadataDocument(redirectUris?: string[]): Record<string, unknown> {
    const url = this.#identity.clientMetadataUrl;
    const uris = redirectUris ?? (this.#identity.redirectUri ? [this.#identity.redirectUri] : []);
    if (!url || uris.length === 0) {
      throw new ConfigError(
        'A client metadata document needs its URL and the redirect URIs it allows.',
        'Open Baton with mcp: { clientMetadataUrl, redirectUri } (or pass the redirect URIs).',
      );
    }
    const { token_endpoint_auth_method: _none, ...rest } = this.#metadataFor(
      uris,
      { tokenEndpointAuthMethodsSupported: ['none'] } as ServerMetadata,
      [],
    );
    return clientMetadataDocument(url, rest);
  }
}

function withoutLists(s: Sealed): SealedClient {
  const { previous: _previous, supersedes: _supersedes, ...client } = s;
  return client;
}

function sealedOf(registered: RegisteredClient): SealedClient {
  const out: SealedClient = {
    obtained: 'registered',
    tokenEndpointAuthMethod: registered.tokenEndpointAuthMethod,
    redirectUris: registered.redirectUris,
  };
  if (registered.clientSecret !== undefined) out.clientSecret = registered.clientSecret;
  if (registered.clientSecretExpiresAt !== undefined)
    out.clientSecretExpiresAt = registered.clientSecretExpiresAt;
  if (registered.registrationAccessToken !== undefined)
    out.registrationAccessToken = registered.registrationAccessToken;
  if (registered.registrationClientUri !== undefined)
    out.registrationClientUri = registered.registrationClientUri;
  return out;
}

/** A client metadata document's URL: https with a path (loopback http is allowed, for tests and local servers). */
function checkMetadataUrl(url: string): void {
  let u: URL | null = null;
  try {
    u = new URL(url);
  } catch {
    u = null;
  }
  const loopback = u && ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
  if (
    !u ||
    u.hash ||
    u.pathname === '/' ||
    !(u.protocol === 'https:' || (u.protocol === 'http:' && loopback))
  ) {
    throw new ConfigError(
      `The client metadata document URL "${url}" is not an https URL with a path.`,
      'Give mcp.clientMetadataUrl as the https URL (with a path, e.g. https://agent.example.com/oauth/client.json) where the document is served.',
    );
  }
}
