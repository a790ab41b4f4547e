import { ConfigError } from '../errors.js';
import type { StoreEngine } from '../store/engine.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/store.js';
import { type ConnectSessionStore, MemoryConnectSessionStore } from './connect/store.js';
import type { CallerKey } from './keys.js';
import { PostgresServerStore } from './postgres-tables.js';
import { duplicate } from './server-rows.js';
import { SqliteServerStore } from './sqlite-tables.js';
import { MemoryWebhookStore, type WebhookStore } from './webhooks/store.js';

/**
 * The server's own tables — caller keys, the audit log, the provider kill switch, webhooks,
 * connect sessions — kept in the same SQLite file or PostgreSQL schema as the connections, on
 * the connection store's own runner (one SQLite connection, one pool), under their own
 * migration track (`server_schema_migrations` / `baton_server_schema_migrations`) so they never
 * interleave with the connection store's migrations. The engines' tables are in
 * `sqlite-tables.ts` and `postgres-tables.ts`.
 */

export interface AuditRow {
  at: number;
  requestId: string;
  keyName: string | null;
  connectionId: string | null;
  provider: string | null;
  /** token, proxy, create, authorize, callback, refresh, revoke, delete, … */
  operation: string;
  /** ok, or the problem code (unauthorized, forbidden, provider_disabled, reauthorization_required, …). */
  outcome: string;
  status: number;
  /** The method and path of a proxied call (no query string), redacted. */
  detail: string | null;
}

export interface AuditQuery {
  connectionId?: string;
  since?: number;
  limit?: number;
}

export interface ProviderSwitch {
  provider: string;
  disabledAt: number;
}

export interface ServerStore {
  readonly kind: 'memory' | 'sqlite' | 'postgres';
  createKey(key: CallerKey): Promise<void>;
  listKeys(): Promise<CallerKey[]>;
  keyByHash(hash: string): Promise<CallerKey | null>;
  /** Returns whether a key of that name existed. */
  setKeyDisabled(name: string, disabled: boolean): Promise<boolean>;
  deleteKey(name: string): Promise<boolean>;
  appendAudit(rows: AuditRow[]): Promise<void>;
  /** Newest first. */
  audit(query: AuditQuery): Promise<AuditRow[]>;
  pruneAudit(before: number): Promise<number>;
  disableProvider(provider: string, at: number): Promise<void>;
  enableProvider(provider: string): Promise<boolean>;
  disabledProviders(): Promise<ProviderSwitch[]>;
  /**
   * Reads the server tables' migration track: throws StoreError when the database cannot be
   * reached or its server tables are older than this build (README, "Health routes").
   */
  ping(): Promise<void>;
  close(): Promise<void>;
  /** Webhook endpoints, deliveries and their attempts (webhooks/store.ts). */
  readonly webhooks: WebhookStore;
  /** Connect sessions (connect/store.ts). */
  readonly connectSessions: ConnectSessionStore;
}

// ---------------------------------------------------------------- memory

export class MemoryServerStore implements ServerStore {
  readonly kind = 'memory' as const;
  readonly webhooks: WebhookStore = new MemoryWebhookStore();
  readonly connectSessions: ConnectSessionStore = new MemoryConnectSessionStore();
  readonly #keys = new Map<string, CallerKey>();
  #audit: AuditRow[] = [];
  readonly #off = new Map<string, number>();

  async createKey(key: CallerKey): Promise<void> {
    if ([...this.#keys.values()].some((k) => k.name === key.name)) throw duplicate(key.name);
    this.#keys.set(key.id, { ...key });
  }
  async listKeys(): Promise<CallerKey[]> {
    return [...this.#keys.values()].map((k) => ({ ...k })).sort((a, b) => a.name.localeCompare(b.name));
  }
  async keyByHash(hash: string): Promise<CallerKey | null> {
    const k = [...this.#keys.values()].find((x) => x.hash === hash);
    return k ? { ...k } : null;
  }
  async setKeyDisabled(name: string, disabled: boolean): Promise<boolean> {
    const k = [...this.#keys.values()].find((x) => x.name === name);
    if (k) k.disabled = disabled;
    return !!k;
  }
  async deleteKey(name: string): Promise<boolean> {
    const k = [...this.#keys.values()].find((x) => x.name === name);
    if (k) this.#keys.delete(k.id);
    return !!k;
  }
  async appendAudit(rows: AuditRow[]): Promise<void> {
    this.#audit.push(...rows.map((r) => ({ ...r })));
  }
  async audit(q: AuditQuery): Promise<AuditRow[]> {
    return this.#audit
      .filter(
        (r) => (q.connectionId === undefined || r.connectionId === q.connectionId) && r.at >= (q.since ?? 0),
      )
      .sort((a, b) => b.at - a.at)
      .slice(0, q.limit ?? 1000);
  }
  async pruneAudit(before: number): Promise<number> {
    const n = this.#audit.length;
    this.#audit = this.#audit.filter((r) => r.at >= before);
    return n - this.#audit.length;
  }
  async disableProvider(provider: string, at: number): Promise<void> {
    if (!this.#off.has(provider)) this.#off.set(provider, at);
  }
  async enableProvider(provider: string): Promise<boolean> {
    return this.#off.delete(provider);
  }
  async disabledProviders(): Promise<ProviderSwitch[]> {
    return [...this.#off].map(([provider, disabledAt]) => ({ provider, disabledAt }));
  }
  async ping(): Promise<void> {}
  async close(): Promise<void> {}
}

// ---------------------------------------------------------------- opening

/**
 * Opens the server tables beside a connection store, on its engine: the same SQLite connection
 * or PostgreSQL pool (the store closes it), or memory. A store that does not pass its engine on
 * (a wrapper) gets a store of the server's own on the same database: the SQLite file it names,
 * or `spec`, the PostgreSQL URL it was opened from.
 */
export async function openServerStore(store: Store, spec?: string): Promise<ServerStore> {
  if (store.kind === 'memory') return new MemoryServerStore();
  let engine: StoreEngine | undefined = store.engine;
  let own: Store | null = null;
  if (!engine) {
    own = await openStore(beside(store, spec));
    engine = own.engine as StoreEngine;
  }
  const close = async () => {
    await own?.close();
  };
  try {
    return engine.kind === 'sqlite'
      ? await SqliteServerStore.open(engine.runner, close)
      : await PostgresServerStore.open(engine.runner, close);
  } catch (err) {
    await close();
    throw err;
  }
}

/** The spec of the database a store without an engine handle keeps its connections in. */
function beside(store: Store, spec: string | undefined): string {
  if (store.kind === 'sqlite') return `sqlite:${(store as Store & { location: string }).location}`;
  if (!spec || !/^postgres(ql)?:\/\//i.test(spec.trim())) {
    throw new ConfigError(
      'The server needs the PostgreSQL URL of the store to keep its caller keys and audit log there.',
      'Pass the store as a postgres:// URL (--store / BATON_STORE / startServer({ store })), not as a pool.',
      { forOperator: true },
    );
  }
  return spec.trim();
}
