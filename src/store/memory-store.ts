import { checkDueQuery, checkListQuery, checkPendingQuery, compareIds, dueBatch } from './keyset.js';
import { sealedKeyId } from './sealer.js';
import type {
  BatchWrite,
  ClientRegistrationRow,
  ClientRegistrations,
  ConnectionRecord,
  DueBatch,
  DueCursor,
  DueQuery,
  KeyUsage,
  LeaseGrant,
  ListQuery,
  MetadataCache,
  MetadataDocument,
  OutboxEvent,
  OutboxReader,
  PendingAuthorization,
  PendingQuery,
  Store,
  StoreChangeListener,
} from './store.js';

function matches(r: ConnectionRecord, q: ListQuery): boolean {
  return (
    (q.provider === undefined || r.provider === q.provider) &&
    (q.status === undefined || r.status === q.status) &&
    (q.idPrefix === undefined || r.id.startsWith(q.idPrefix)) &&
    (q.keyId === undefined || sealedKeyId(r.sealed) === q.keyId)
  );
}

/** A store in this process's memory: for tests and short-lived scripts. */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  readonly #records = new Map<string, ConnectionRecord>();
  readonly #leases = new Map<string, { owner: string; expiresAt: number; since: number }>();
  readonly #pending = new Map<string, PendingAuthorization>();
  readonly #listeners = new Set<StoreChangeListener>();
  #events: OutboxEvent[] = [];

  /** The outbox lives as long as this object; past 10 000 unread events the oldest are dropped. */
  readonly outbox: OutboxReader = {
    pending: async (limit) => this.#events.slice(0, limit).map((e) => ({ ...e })),
    remove: async (ids) => {
      const gone = new Set(ids);
      this.#events = this.#events.filter((e) => !gone.has(e.id));
    },
  };

  readonly #documents = new Map<string, MetadataDocument>();

  readonly serverMetadata: MetadataCache = {
    get: async (issuer) => {
      const doc = this.#documents.get(issuer);
      return doc ? { ...doc } : null;
    },
    put: async (doc) => {
      const held = this.#documents.get(doc.issuer);
      if (held && held.fetchedAt > doc.fetchedAt) return false;
      const { issuer, document, source, fetchedAt, expiresAt } = doc;
      this.#documents.set(issuer, { issuer, document, source, fetchedAt, expiresAt });
      return true;
    },
  };

  readonly #registrations = new Map<string, ClientRegistrationRow>();

  readonly clientRegistrations: ClientRegistrations = {
    get: async (issuer) => {
      const row = this.#registrations.get(issuer);
      return row ? { ...row } : null;
    },
    put: async (row, expectedVersion) => {
      const held = this.#registrations.get(row.issuer);
      if ((held?.version ?? null) !== expectedVersion) return null;
      const stored = { ...row, version: (expectedVersion ?? 0) + 1 };
      this.#registrations.set(row.issuer, stored);
      return { ...stored };
    },
    delete: async (issuer, expectedVersion) => {
      if (this.#registrations.get(issuer)?.version !== expectedVersion) return false;
      return this.#registrations.delete(issuer);
    },
    list: async () =>
      [...this.#registrations.values()].sort((a, b) => compareIds(a.issuer, b.issuer)).map((r) => ({ ...r })),
  };

  #append(events: readonly OutboxEvent[] | undefined): void {
    if (!events || events.length === 0) return;
    this.#events.push(...events.map((e) => ({ ...e })));
    if (this.#events.length > 10_000) this.#events.splice(0, this.#events.length - 10_000);
  }

  #emit(id: string, version: number | null): void {
    for (const l of this.#listeners) l(id, version);
  }

  async get(id: string): Promise<ConnectionRecord | null> {
    const r = this.#records.get(id);
    return r ? structuredClone(r) : null;
  }

  async list(query: ListQuery = {}): Promise<ConnectionRecord[]> {
    checkListQuery(query);
    const { after } = query;
    const page = [...this.#records.values()]
      .filter((r) => matches(r, query) && (after === undefined || compareIds(r.id, after) > 0))
      .sort((a, b) => compareIds(a.id, b.id));
    return page.slice(0, query.limit ?? page.length).map((r) => structuredClone(r));
  }

  async put(
    record: ConnectionRecord,
    expectedVersion: number | null,
    events?: readonly OutboxEvent[],
  ): Promise<ConnectionRecord | null> {
    const current = this.#records.get(record.id);
    if (expectedVersion === null ? current !== undefined : current?.version !== expectedVersion) return null;
    const stored = structuredClone({ ...record, version: (expectedVersion ?? 0) + 1 });
    this.#records.set(record.id, stored);
    this.#append(events);
    this.#emit(stored.id, stored.version);
    return structuredClone(stored);
  }

  /** Many records at once, versions kept (for `baton migrate`). Existing ids are skipped unless `overwrite`. */
  async putMany(records: ConnectionRecord[], overwrite: boolean): Promise<number> {
    let n = 0;
    for (const r of records) {
      const current = this.#records.get(r.id);
      if (current && !overwrite) continue;
      const version = current ? Math.max(current.version + 1, r.version) : r.version;
      this.#records.set(r.id, structuredClone({ ...r, version }));
      this.#emit(r.id, version);
      n++;
    }
    return n;
  }

  async delete(id: string, events?: readonly OutboxEvent[]): Promise<boolean> {
    this.#leases.delete(id);
    const existed = this.#records.delete(id);
    if (existed) this.#append(events);
    if (existed) this.#emit(id, null);
    return existed;
  }

  async acquireLease(id: string, owner: string, ttlMs: number, since?: number): Promise<LeaseGrant | null> {
    const now = Date.now();
    const lease = this.#leases.get(id);
    if (lease && lease.owner !== owner && lease.expiresAt > now) return null;
    const renewing = lease?.owner === owner;
    this.#leases.set(id, { owner, expiresAt: now + ttlMs, since: renewing ? lease.since : (since ?? now) });
    return { takenOver: lease && !renewing ? { owner: lease.owner, since: lease.since } : null };
  }

  async releaseLease(id: string, owner: string): Promise<void> {
    if (this.#leases.get(id)?.owner === owner) this.#leases.delete(id);
  }

  async savePendingAuthorization(pending: PendingAuthorization): Promise<void> {
    this.#pending.set(pending.state, structuredClone(pending));
  }

  async takePendingAuthorization(state: string): Promise<PendingAuthorization | null> {
    const p = this.#pending.get(state);
    this.#pending.delete(state);
    return p ?? null;
  }

  subscribe(listener: StoreChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  // ---- scale: indexed queries, batches and key usage ----

  async count(query: ListQuery = {}): Promise<number> {
    let n = 0;
    const { after } = query;
    for (const r of this.#records.values())
      if (matches(r, query) && (after === undefined || compareIds(r.id, after) > 0)) n++;
    return n;
  }

  async due(query: DueQuery): Promise<DueBatch> {
    checkDueQuery(query);
    const phases: DueCursor['phase'][] = ['access', 'refresh'];
    const found: { id: string; provider: string; cursor: DueCursor }[] = [];
    for (const phase of phases.slice(phases.indexOf(query.after?.phase ?? 'access'))) {
      const at = (r: ConnectionRecord) =>
        phase === 'access' ? r.accessTokenExpiresAt : r.refreshTokenExpiresAt;
      const by = phase === 'access' ? query.accessExpiresBy : query.refreshExpiresBy;
      const from = query.after?.phase === phase ? query.after : null;
      const rows = [...this.#records.values()]
        .filter((r) => {
          const t = at(r);
          if (r.status !== 'active' || t === null || t > by) return false;
          if (phase === 'access' && r.authMode !== query.accessAuthMode) return false;
          return !from || t > from.at || (t === from.at && compareIds(r.id, from.id) > 0);
        })
        .sort((a, b) => (at(a) as number) - (at(b) as number) || compareIds(a.id, b.id));
      for (const r of rows) {
        found.push({ id: r.id, provider: r.provider, cursor: { phase, at: at(r) as number, id: r.id } });
        if (found.length > query.limit) break;
      }
      if (found.length > query.limit) break;
    }
    return dueBatch(found, query.limit);
  }

  async putBatch(writes: BatchWrite[]): Promise<(ConnectionRecord | null)[]> {
    const out: (ConnectionRecord | null)[] = [];
    for (const w of writes) out.push(await this.put(w.record, w.expectedVersion));
    return out;
  }

  async keyIds(): Promise<string[]> {
    return (await this.keyUsage()).map((k) => k.keyId);
  }

  async keyUsage(): Promise<KeyUsage[]> {
    const usage = new Map<string, KeyUsage>();
    const at = (keyId: string | null) => {
      if (keyId === null) return null;
      const u = usage.get(keyId) ?? {
        keyId,
        connections: 0,
        pendingAuthorizations: 0,
        clientRegistrations: 0,
      };
      usage.set(keyId, u);
      return u;
    };
    for (const r of this.#records.values()) {
      const u = at(sealedKeyId(r.sealed));
      if (u) u.connections++;
    }
    for (const c of this.#registrations.values()) {
      const u = at(sealedKeyId(c.sealed));
      if (u) u.clientRegistrations++;
    }
    for (const p of this.#pending.values()) {
      const u = at(sealedKeyId(p.sealed));
      if (u) u.pendingAuthorizations++;
    }
    return [...usage.values()].sort((a, b) => compareIds(a.keyId, b.keyId));
  }

  async listPendingAuthorizations(query: PendingQuery): Promise<PendingAuthorization[]> {
    checkPendingQuery(query);
    const { after, keyId } = query;
    return [...this.#pending.values()]
      .filter(
        (p) =>
          (after === undefined || compareIds(p.state, after) > 0) &&
          (keyId === undefined || sealedKeyId(p.sealed) === keyId),
      )
      .sort((a, b) => compareIds(a.state, b.state))
      .slice(0, query.limit)
      .map((p) => structuredClone(p));
  }

  async resealPendingAuthorization(state: string, expectedSealed: string, sealed: string): Promise<boolean> {
    const p = this.#pending.get(state);
    if (!p || p.sealed !== expectedSealed) return false;
    this.#pending.set(state, { ...p, sealed });
    return true;
  }

  async close(): Promise<void> {
    this.#listeners.clear();
  }
}
