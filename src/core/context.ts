import {
  ConfigError,
  ConnectionMismatch,
  ConnectionNotFound,
  connectionRef,
  ReauthorizationRequired,
} from '../errors.js';
import type { DpopNonces } from '../protocol/dpop-nonces.js';
import type { HttpOptions } from '../protocol/http.js';
import { hostAllowed } from '../protocol/redirect-policy.js';
import type { TokenSet } from '../protocol/token-set.js';
import type { Endpoints } from '../protocol/types.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { ProviderSpec } from '../providers/spec.js';
import { endpointsFor } from '../providers/template.js';
import type { Sealer } from '../store/sealer.js';
import type { ConnectionRecord, Store } from '../store/store.js';
import type { ClientDirectory, ClientRegistration } from './clients.js';
import type { Clock } from './clock.js';
import type { Discovery } from './discovery.js';
import type { BatonEmitter } from './events.js';
import { isUsableId } from './ids.js';
import type { ClientRegistrar } from './registrations.js';
import { type ConnectionSecrets, openSecrets } from './secrets.js';
import type { TokenCache } from './token-cache.js';

/**
 * How a grant at the token endpoint that failed transiently is tried again (grant.ts), and how
 * long a connection that keeps failing cools down (refresh-failure.ts). Webhook deliveries have
 * their own schedule (server/webhooks/backoff.ts, `DeliveryBackoff`).
 */
export interface GrantRetryPolicy {
  /** Attempts per refresh for transient failures (network, 5xx, 429). */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Longest cooldown after repeated failures of one connection. */
  maxCooldownMs: number;
}

export interface CoreOptions {
  /** A token is refreshed this long before it expires, or half its lifetime if that is shorter. */
  refreshWindowMs: number;
  leaseTtlMs: number;
  retry: GrantRetryPolicy;
  http: HttpOptions;
  /** `connection.expiring` is emitted once a grant's absolute end is this near. */
  expiringWithinMs: number;
}

/** What every core piece needs, wired once by Baton.open. */
export interface CoreContext {
  store: Store;
  sealer: Sealer;
  providers: ProviderRegistry;
  clients: ClientDirectory;
  clock: Clock;
  events: BatonEmitter;
  options: CoreOptions;
  /** Identifies this process's leases: `pid:uuid`. */
  owner: string;
  /** The token cache every write and every change of the store reaches. */
  cache: TokenCache;
  /** Whether the Baton is closing: retries stop. */
  closed(): boolean;
  /** The metadata of issuer-configured providers (absent: none is read, e.g. the fast token path). */
  discovery?: Discovery;
  /** The DPoP nonces servers gave this process (RFC 9449 §8, §9), per origin. */
  dpopNonces: DpopNonces;
  /** Write webhook events to the store's outbox with the changes that cause them (README, "Webhooks"). */
  outbox?: boolean;
  /** The clients Baton obtains itself (providers with `clientRegistration`: MCP authorization servers). */
  registrar?: ClientRegistrar;
}

/**
 * What a provider needs before a connection of it is opened: its server's metadata (a spec
 * given by its issuer), and the client Baton obtained there — read again when `clientId` names
 * one this process has not seen (another process registered it).
 */
export async function prepareProvider(
  ctx: CoreContext,
  provider: string,
  clientId?: string | null,
): Promise<void> {
  await ctx.discovery?.ensure(provider);
  await ctx.registrar?.load(provider, clientId);
}

/** A connection read from the store, checked against the configuration and opened. */
export interface LoadedConnection {
  record: ConnectionRecord;
  secrets: ConnectionSecrets;
  spec: ProviderSpec;
  client: ClientRegistration | null;
  endpoints: Endpoints;
}

/**
 * The endpoints of a connection. A base URL learned from a permanent redirect replaces the
 * spec's API base, and every endpoint that lived under the old base moves with it: Checkfront
 * migrates a company's whole host, token endpoint included.
 */
export function connectionEndpoints(
  spec: ProviderSpec,
  record: Pick<ConnectionRecord, 'params' | 'apiBaseUrl'> & { id?: string; clientId?: string | null },
): Endpoints {
  const base = endpointsFor(spec, record.params, record.clientId ?? undefined);
  const learned = record.apiBaseUrl;
  if (!learned || learned === base.apiBaseUrl) return base;
  assertLearnedBaseAllowed(spec, base.apiBaseUrl, learned, record.id);
  const move = (url: string | undefined): string | undefined =>
    url?.startsWith(base.apiBaseUrl) ? learned + url.slice(base.apiBaseUrl.length) : url;
  const out: Endpoints = { apiBaseUrl: learned };
  const authorizationUrl = move(base.authorizationUrl);
  const tokenUrl = move(base.tokenUrl);
  const revocationUrl = move(base.revocationUrl);
  if (authorizationUrl) out.authorizationUrl = authorizationUrl;
  if (tokenUrl) out.tokenUrl = tokenUrl;
  if (revocationUrl) out.revocationUrl = revocationUrl;
  return out;
}

/**
 * A learned base is bound into the seal (v2 blobs), and re-checked here against the spec's
 * redirect policy at every use (README, security notes): an altered column never steers a
 * credential to a host the spec does not allow.
 */
function assertLearnedBaseAllowed(
  spec: ProviderSpec,
  templateBase: string,
  learned: string,
  id?: string,
): void {
  let url: URL | null = null;
  try {
    url = new URL(learned);
  } catch {
    url = null;
  }
  if (url && hostAllowed(url, spec.redirectAuthHosts, new URL(templateBase))) return;
  throw new ConfigError(
    `The stored API base of connection "${id ?? '?'}" points to ${url?.host ?? 'an unparseable URL'}, which ${spec.displayName}'s spec does not allow to receive credentials; the row may have been altered.`,
    "Check the store for tampering, then connect the account again (`baton connect`), or add the host to the provider's redirectAuthHosts if it is genuine.",
    {
      connectionId: id,
      provider: spec.id,
      httpRemediation: `Connect ${connectionRef(id).where} again: send the account owner to a connect page (POST /v1/connect-sessions, manage).`,
      forOperator: true,
    },
  );
}

/**
 * Every read of a connection goes through here: what this process sees in the store, its
 * cache learns at once (docs/architecture.md, invariant 8) — a newer version drops an older cached token,
 * even one the change feed has not reported yet.
 */
export async function readRecord(ctx: CoreContext, id: string): Promise<ConnectionRecord | null> {
  // An id no store could hold names no connection, on every engine alike (README, "Input rules").
  if (!isUsableId(id)) return null;
  const record = await ctx.store.get(id);
  ctx.cache.changed(id, record ? record.version : null);
  return record;
}

/**
 * Reads a connection and checks that the configuration in force is the one that issued it
 * (docs/architecture.md, invariant 4): another client id is a ConnectionMismatch naming both, never an opaque
 * invalid_grant from the provider later.
 */
export async function loadConnection(ctx: CoreContext, id: string): Promise<LoadedConnection> {
  const record = await readRecord(ctx, id);
  if (!record) throw new ConnectionNotFound(id);
  await prepareProvider(ctx, record.provider, record.clientId);
  return openConnection(ctx, record);
}

export function openConnection(ctx: CoreContext, record: ConnectionRecord): LoadedConnection {
  const spec = ctx.providers.get(record.provider);
  let client: ClientRegistration | null = null;
  if (record.clientId !== null) {
    client = ctx.clients.find(record.provider, record.params) ?? null;
    // A client Baton obtained may hold older ones its connections still use, and ids the server
    // refused: a connection of a refused client is refreshed with the one that replaced it.
    const older = client?.previous?.find((c) => c.clientId === record.clientId);
    if (older) client = older;
    if (!client || (client.clientId !== record.clientId && !client.supersedes?.includes(record.clientId))) {
      throw new ConnectionMismatch(
        `Connection "${record.id}" was authorized with another ${spec.displayName} client than the one configured now`,
        { provider: record.provider, clientId: record.clientId, params: record.params },
        { provider: record.provider, clientId: client?.clientId ?? null, params: record.params },
        { connectionId: record.id, provider: record.provider },
      );
    }
  }
  const secrets = openSecrets(ctx.sealer, record);
  let endpoints: Endpoints;
  try {
    endpoints = connectionEndpoints(spec, record);
  } catch (err) {
    // A stored param the spec no longer accepts: name the connection it belongs to.
    if (err instanceof ConfigError && err.connectionId === undefined) {
      throw new ConfigError(`Connection "${record.id}": ${err.message}`, err.remediation, {
        connectionId: record.id,
        provider: record.provider,
        cliRemediation: err.cliRemediation,
        httpRemediation: err.httpRemediation,
        forOperator: err.forOperator,
      });
    }
    throw err;
  }
  return { record, secrets, spec, client, endpoints };
}

/** The same connection with other tokens (a pair held while the store is down). */
export function withHeldTokens(conn: LoadedConnection, tokens: TokenSet): LoadedConnection {
  return {
    ...conn,
    record: {
      ...conn.record,
      accessTokenExpiresAt: tokens.expiresAt,
      refreshTokenExpiresAt: tokens.refreshTokenExpiresAt,
    },
    secrets: { ...conn.secrets, tokens },
  };
}

/** "Connection "x" needs to be authorized again: <why>." — one full stop, whatever the reason ends with. */
export function needsReauthMessage(record: Pick<ConnectionRecord, 'id' | 'lastError'>): string {
  const why = record.lastError?.message.replace(/[.\s]+$/, '');
  return `Connection "${record.id}" needs to be authorized again${why ? `: ${why}` : ''}.`;
}

/** Throws when the connection cannot be used until a person acts. */
export function assertUsable(conn: LoadedConnection): void {
  const { record } = conn;
  if (record.status === 'needs_reauth') {
    throw new ReauthorizationRequired(needsReauthMessage(record), {
      connectionId: record.id,
      provider: record.provider,
    });
  }
  if (record.status === 'revoked') {
    throw new ReauthorizationRequired(`Connection "${record.id}" was revoked.`, {
      connectionId: record.id,
      provider: record.provider,
    });
  }
}
