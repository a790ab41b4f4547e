/** The simulator's own vocabulary. It shares nothing with Baton's providers or protocol code. */

export type Vendor = 'checkfront' | 'checkbook' | 'checkissuing' | 'cronofy';
export const VENDORS: readonly Vendor[] = ['checkfront', 'checkbook', 'checkissuing', 'cronofy'];

export type Endpoint = 'authorize' | 'token' | 'revoke' | 'api';

export type Rotation = 'never' | 'always' | 'sometimes';

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
  /** Authorization codes die this long after they are issued (virtual clock). Default 60. */
  codeLifetimeSeconds?: number;
}

export interface Fault {
  vendor: Vendor;
  endpoint: Endpoint;
  /** How many matching requests fail. Default 1. */
  count?: number;
  kind: 'status' | 'html' | 'malformed-json' | 'empty' | 'drop' | 'delay' | 'rate-limit';
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
  endpoints: {
    authorize?: string;
    token: string;
    revoke?: string;
    apiBase: string;
    migratedApiBase?: string;
  };
  identityPath: string;
  clients: ClientCredentials[];
  apiKeys: ApiKey[];
  accounts: string[];
  scopes?: string[];
}

export interface Discovery {
  simulator: 'baton-simulator';
  version: 1;
  origin: string;
  migrationOrigin: string;
  admin: string;
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
  close(): Promise<void>;
}
