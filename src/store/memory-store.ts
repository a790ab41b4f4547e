import type {
  ConnectionRecord,
  LeaseGrant,
  OutboxEvent,
  OutboxReader,
  PendingAuthorization,
  Store,
  StoreChangeListener,
} from './store.js';

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

  async list(): Promise<ConnectionRecord[]> {
    return [...this.#records.values()].sort((a, b) => (a.id < b.id ? -1 : 1)).map((r) => structuredClone(r));
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

  async acquireLease(id: string, owner: string, ttlMs: number): Promise<LeaseGrant | null> {
    const now = Date.now();
    const lease = this.#leases.get(id);
    if (lease && lease.owner !== owner && lease.expiresAt > now) return null;
    const renewing = lease?.owner === owner;
    this.#leases.set(id, { owner, expiresAt: now + ttlMs, since: renewing ? lease.since : now });
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

  async close(): Promise<void> {
    this.#listeners.clear();
  }
}
