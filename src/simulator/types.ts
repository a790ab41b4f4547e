/** The simulator's own vocabulary. It shares nothing with Baton's providers or protocol code. */

export type Vendor =
  | 'checkfront'
  | 'checkbook'
  | 'checkissuing'
  | 'cronofy'
  | 'xero'
  | 'quickbooks'
  | 'atlassian'
  | 'shopify'
  | 'salesforce'
  | 'google'
  | 'microsoft'
  | 'slack'
  | 'github'
  | 'hubspot'
  | 'zoom'
  | 'dropbox'
  | 'notion'
  | 'mcp';
export const VENDORS: readonly Vendor[] = [
  'checkfront',
  'checkbook',
  'checkissuing',
  'cronofy',
  'xero',
  'quickbooks',
  'atlassian',
  'shopify',
  'salesforce',
  'google',
  'microsoft',
  'slack',
  'github',
  'hubspot',
  'zoom',
  'dropbox',
  'notion',
  'mcp',
];

/** `register` (RFC 7591) and `introspect` (RFC 7662): the MCP authorization server's. */
export type Endpoint = 'authorize' | 'token' | 'revoke' | 'api' | 'register' | 'introspect';

/** The MCP persona's switches (vendors/mcp.ts). */
export interface McpSettings {
  /** Dynamic Client Registration (RFC 7591): a `registration_endpoint` in the metadata. Default on. */
  dcr: boolean;
  /** Client ID Metadata Documents: `client_id_metadata_document_supported`. Default on. */
  cimd: boolean;
  /** The 401's `WWW-Authenticate` names `resource_metadata` (RFC 9728 §5.1). Default on. */
  resourceMetadataInHeader: boolean;
  /** The server publishes its resource metadata (RFC 9728); off, its well-known URL answers 404. Default on. */
  resourceMetadataServed: boolean;
  /**
   * The authorization server answers; off, its metadata and every endpoint answer 503, as a
   * server that is down. Default on.
   */
  authorizationServerUp: boolean;
}

/** What the MCP authorization server counted since the start (or the last reset). */
export interface McpCounters {
  /** Dynamic client registrations (RFC 7591) answered. */
  registrations: number;
  /** Client ID Metadata Documents fetched (not answered from the cache). */
  documentFetches: number;
  /** Rotated refresh tokens presented again (each revoked its grant). */
  reuseDetected: number;
}

/** The MCP persona's controls (also at `/_sim/mcp/…`). */
export interface McpControls {
  /** The authorization server's issuer (`<origin>/mcp`). */
  issuer: string;
  /** The simulated MCP server's URL, its RFC 8707 resource (`<origin>/mcp/server`). */
  resource: string;
  /** Changes switches; returns them all. */
  configure(settings: Partial<McpSettings>): McpSettings;
  /** Lets the authorization server issue tokens for another resource (an MCP server elsewhere). */
  addResource(resource: string): void;
  /**
   * Forgets every dynamically registered client (their grants go with them) and every cached
   * client metadata document (fetched again at next use; their grants stay).
   */
  evictClients(): { clients: number; documents: number };
  counters(): McpCounters;
  resetCounters(): void;
}

export type Rotation = 'never' | 'always' | 'sometimes';

/**
 * What a vendor does with a refresh token a rotation replaced (a general grant option, set per
 * vendor): `graceSeconds` — the replaced token still refreshes that long after the rotation,
 * or `'until-new-used'` — until the token that replaced it is first presented. Outside that, it
 * is refused (`invalid_grant`), and with `revokesFamily` presenting it revokes the whole grant:
 * every refresh and access token descended from the same authorization.
 */
export interface RefreshReuse {
  graceSeconds: number | 'until-new-used';
  revokesFamily: boolean;
}

export interface SimulatorOptions {
  /** Port of the main origin; 0 (default) picks a free one. */
  port?: number;
  /** Port of the second origin that migrated Checkfront companies move to. */
  migrationPort?: number;
  host?: string;
  /** 'auto' approves at once; 'prompt' shows an approve / deny page. Default 'auto'. */
  consent?: 'auto' | 'prompt';
  cronofyRotation?: Rotation;
  cronofyRateLimit?: { tokenRequestsPerMinute: number };
  /** The MCP persona's switches (default: all on). */
  mcp?: Partial<McpSettings>;
  /** Each vendor's switches at start (see Simulator.setSwitch), e.g. `{ google: { testing: true } }`. */
  switches?: Partial<Record<Vendor, Record<string, unknown>>>;
  /** Authorization codes die this long after they are issued (virtual clock). Default 60. */
  codeLifetimeSeconds?: number;
  /** The same seed gives the same client ids, secrets and API keys at every start. */
  seed?: string;
  /**
   * A JSON file that keeps the seed and, when the simulator closes, its grants and tokens:
   * created (mode 0600) on first start, read on the next, so stored connections keep working
   * across restarts. Holds the simulator's secrets: keep it out of version control.
   */
  stateFile?: string;
}

export interface Fault {
  vendor: Vendor;
  endpoint: Endpoint;
  /** How many matching requests fail. Default 1. */
  count?: number;
  /**
   * `delay` waits before the vendor handles the request; `slow-answer` lets the vendor handle it
   * (a token endpoint has rotated by then) and holds the answer for `delayMs`.
   */
  kind: 'status' | 'html' | 'malformed-json' | 'empty' | 'drop' | 'delay' | 'slow-answer' | 'rate-limit';
  status?: number;
  body?: string;
  delayMs?: number;
  retryAfter?: number;
}

export interface VendorCounters {
  total: number;
  byGrant: Record<string, number>;
  byClient: Record<string, number>;
}

export interface Counters {
  token: Record<Vendor, VendorCounters>;
  api: Record<Vendor, number>;
  revoke: Record<Vendor, number>;
}

export interface RequestLogEntry {
  at: number;
  origin: 'main' | 'migration';
  method: string;
  /** Path and query with every secret-bearing parameter replaced by [redacted]. */
  path: string;
  vendor?: Vendor;
  endpoint?: Endpoint | 'admin' | 'discovery';
  status: number;
  durationMs: number;
}

/**
 * What became of a token, by the simulator's own records: `rotated` (a refresh token replaced
 * by a newer one), `revoked` (its grant was revoked, by RFC 7009 or the `revoke` control),
 * `expired`, `used` (a single-use access token already spent), `unknown` (never issued here).
 */
export type TokenStatus = 'live' | 'rotated' | 'revoked' | 'expired' | 'used' | 'unknown';

export type TokenInfo =
  | {
      kind: 'access';
      status: TokenStatus;
      grantId: string;
      /** Position in the simulator's event order (TokenLogEntry.seq). */
      issuedSeq: number;
      expiresAt: number;
      /** The expiry it was issued with, before any `expireAccessTokens`. */
      naturalExpiresAt: number;
    }
  | { kind: 'refresh'; status: TokenStatus; grantId: string; issuedSeq: number }
  | { kind: 'unknown'; status: 'unknown' };

/**
 * One request to a token, revocation or API endpoint, with the tokens it carried and was given.
 * Unlike the request log, it holds secrets: it exists for tests that use the simulator as the
 * oracle of what a provider issued, accepted and refused, and is only reachable in code.
 */
export interface TokenLogEntry {
  /** Order among all token events (issues, rotations, revocations and these entries). */
  seq: number;
  /** Virtual time of the answer. */
  at: number;
  /** Wall-clock epoch ms (fractional) when the request arrived and when it was answered. */
  receivedWallMs: number;
  answeredWallMs: number;
  vendor: Vendor;
  endpoint: 'token' | 'revoke' | 'api';
  /** The request's `x-sim-tag` and `x-sim-op` headers: labels a test attaches to its requests. */
  tag: string | null;
  op: string | null;
  status: number;
  /** The fault that answered instead of the vendor, if any. */
  fault: Fault['kind'] | null;
  /** Token endpoint: grant_type, the refresh token presented, the scope asked for. */
  grantType: string | null;
  presentedRefreshToken: string | null;
  scope: string | null;
  /** Token endpoint: the tokens in a successful answer (the refresh token as answered, rotated or not). */
  issuedAccessToken: string | null;
  issuedRefreshToken: string | null;
  /** Token endpoint: the presented refresh token was replaced by `issuedRefreshToken`. */
  rotated: boolean;
  /** API: the bearer token sent, and whether the vendor accepted it (401: no; a fault: null). */
  accessToken: string | null;
  accepted: boolean | null;
  /** Revocation endpoint: the token asked to be revoked. */
  revokedToken: string | null;
}

/** Called when a token, revocation or API request arrives, and again just before it is answered. */
export type TokenTap = (
  phase: 'request' | 'response',
  info: { vendor: Vendor; endpoint: 'token' | 'revoke' | 'api'; tag: string | null; op: string | null },
  entry: TokenLogEntry | null,
) => void;

export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
  params: Record<string, string>;
}

export interface ApiKey {
  apiKey: string;
  apiSecret?: string;
  params: Record<string, string>;
}

export interface DiscoveryVendor {
  params: Record<string, string[]>;
  /**
   * The authorization server's issuer, for a vendor found by discovery (RFC 8414) rather than
   * by configured endpoints: the MCP persona.
   */
  issuer?: string;
  endpoints: {
    authorize?: string;
    token: string;
    revoke?: string;
    apiBase: string;
    migratedApiBase?: string;
    /** MCP: RFC 7591 registration, RFC 7662 introspection, the resource and its metadata. */
    register?: string;
    introspect?: string;
    resource?: string;
    resourceMetadata?: string;
    serverMetadata?: string;
    /** Xero: the tenants a token reaches. */
    connections?: string;
    /** Atlassian: the sites (cloud ids) a token reaches. */
    accessibleResources?: string;
    /** The OpenID Connect userinfo endpoint, where the vendor has one. */
    userinfo?: string;
  };
  /** MCP: the resource server's credential for the introspection endpoint. */
  introspection?: { clientId: string; clientSecret: string };
  identityPath: string;
  clients: ClientCredentials[];
  apiKeys: ApiKey[];
  accounts: string[];
  scopes?: string[];
  /** The vendor's switches and their current values (Simulator.setSwitch). */
  switches?: Record<string, unknown>;
}

export interface Discovery {
  simulator: 'baton-simulator';
  version: 1;
  origin: string;
  migrationOrigin: string;
  admin: string;
  /** A page that shows the callback URL it was sent to: the redirect URI for code flows when the program has none. */
  callback: string;
  vendors: Record<Vendor, DiscoveryVendor>;
}

export interface Simulator {
  url: string;
  migrationUrl: string;
  discovery(): Discovery;
  clock: { now(): number; advance(ms: number): void; set(epochMs: number): void };
  revokeGrants(filter: { vendor: Vendor; account?: string; clientId?: string }): number;
  expireAccessTokens(filter?: { vendor?: Vendor }): number;
  failNext(fault: Fault): void;
  counters(): Counters;
  resetCounters(): void;
  setCronofyRotation(mode: Rotation): void;
  migrateCheckfront(company: string, region?: string): void;
  requestLog(): RequestLogEntry[];
  /** Token, revocation and API requests with their tokens, oldest first (secrets: tests only). */
  tokenLog(): TokenLogEntry[];
  clearTokenLog(): void;
  tokenStatus(token: string): TokenStatus;
  tokenInfo(token: string): TokenInfo;
  /** Whether a grant (TokenInfo.grantId) was revoked, and at which event. */
  grantStatus(grantId: string): { revoked: boolean; revokedSeq: number | null; createdSeq: number } | null;
  /** The current event number: everything logged later has a larger seq. */
  seq(): number;
  /** Watches token, revocation and API requests; returns the function that stops watching. */
  tap(listener: TokenTap): () => void;
  /** The MCP persona: an authorization server and a protected resource (vendors/mcp.ts). */
  mcp: McpControls;
  /** Issue access tokens of this lifetime (Cronofy and the personas), instead of the vendor's own. */
  setAccessTokenLifetime(vendor: Vendor, seconds: number | null): void;
  /**
   * Sets one of a vendor's documented switches (discovery lists each vendor's, with its value):
   * Google `testing`, Salesforce `rotation`, Slack `tokenRotation`, …; throws a RangeError naming what it takes.
   */
  setSwitch(vendor: Vendor, name: string, value: unknown): void;
  /** How the vendor treats a replaced refresh token presented again; null: refused at once, nothing more (the default). */
  setRefreshReuse(vendor: Vendor, reuse: RefreshReuse | null): void;
  close(): Promise<void>;
}
