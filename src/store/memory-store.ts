import type { ConnectionRecord, PendingAuthorization, Store } from './store.js';

/** A store in this process's memory: for tests and short-lived scripts. */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  readonly #records = new Map<string, ConnectionRecord>();
  readonly #leases = new Map<string, { owner: string; expiresAt: number }>();
  readonly #pending = new Map<string, PendingAuthorization>();
  readonly #listeners = new Set<(id: string, version: number) => void>();

  async get(id: string): Promise<ConnectionRecord | null> {
    const r = this.#records.get(id);
    return r ? structuredClone(r) : null;
  }

  async list(): Promise<ConnectionRecord[]> {
    return [...this.#records.values()].sort((a, b) => (a.id < b.id ? -1 : 1)).map((r) => structuredClone(r));
  }

  async put(record: ConnectionRecord, expectedVersion: number | null): Promise<ConnectionRecord | null> {
    const current = this.#records.get(record.id);
    if (expectedVersion === null ? current !== undefined : current?.version !== expectedVersion) return null;
    const stored = structuredClone({ ...record, version: (expectedVersion ?? 0) + 1 });
    this.#records.set(record.id, stored);
    for (const l of this.#listeners) l(stored.id, stored.version);
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
      n++;
    }
    return n;
  }

  async delete(id: string): Promise<boolean> {
    this.#leases.delete(id);
    return this.#records.delete(id);
  }

  async acquireLease(id: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    const lease = this.#leases.get(id);
    if (lease && lease.owner !== owner && lease.expiresAt > now) return false;
    this.#leases.set(id, { owner, expiresAt: now + ttlMs });
    return true;
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

  subscribe(listener: (id: string, version: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
  }
}
