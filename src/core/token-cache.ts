import type { ConnectionRecord } from '../store/store.js';
import type { LoadedConnection } from './context.js';

/** Above every version: nothing read before the removal may enter the cache. */
const REMOVED = Number.MAX_SAFE_INTEGER;

interface Entry {
  conn: LoadedConnection;
  accessToken: string | null;
  /** When the token stops being handed out from memory (its refresh point). */
  freshUntil: number;
}

/**
 * The token cache: a view of the store, never ahead of it (docs/architecture.md, invariant 8). Entries are
 * only ever made from what the store returned or accepted; any write this process makes,
 * any change the store's feed reports, and any token the provider rejected drops them.
 */
export class TokenCache {
  readonly #entries = new Map<string, Entry>();
  /** The newest version this process knows of, per connection (REMOVED once deleted). */
  readonly #latest = new Map<string, number>();
  /** Access tokens a provider answered 401 to, per connection (the last few). */
  readonly #rejected = new Map<string, string[]>();

  /** The warm entry, if its token is still fresh at `now`. The hot path: one map lookup. */
  fresh(id: string, now: number): Entry | undefined {
    const hit = this.#entries.get(id);
    return hit !== undefined && hit.freshUntil > now ? hit : undefined;
  }

  set(conn: LoadedConnection, accessToken: string | null, freshUntil: number): void {
    const id = conn.record.id;
    // Never replace a newer view with an older one (a slow reader finishing after a write).
    const latest = this.#latest.get(id);
    if (latest !== undefined && conn.record.version < latest) return;
    if (accessToken !== null && this.isRejected(id, accessToken)) {
      this.#entries.delete(id);
      return;
    }
    this.#entries.set(id, { conn, accessToken, freshUntil });
  }

  /** The store changed `id` to `version` (null: removed; `id` null: anything may have changed). */
  changed(id: string | null, version: number | null): void {
    if (id === null) {
      this.#entries.clear();
      this.#latest.clear();
      return;
    }
    const known = this.#latest.get(id);
    if (version === null) this.#latest.set(id, REMOVED);
    else if (known === undefined || known === REMOVED || version > known) this.#latest.set(id, version);
    const hit = this.#entries.get(id);
    if (hit && (version === null || hit.conn.record.version < version)) this.#entries.delete(id);
  }

  /** This process wrote `record`: the entry of any older version goes. */
  wrote(record: ConnectionRecord): void {
    this.changed(record.id, record.version);
  }

  /** The provider rejected `token`: it leaves the cache at once and is never handed out again. */
  reject(id: string, token: string): void {
    const list = this.#rejected.get(id) ?? [];
    if (!list.includes(token)) list.push(token);
    if (list.length > 4) list.shift();
    this.#rejected.set(id, list);
    if (this.#entries.get(id)?.accessToken === token) this.#entries.delete(id);
  }

  isRejected(id: string, token: string): boolean {
    return this.#rejected.get(id)?.includes(token) ?? false;
  }

  drop(id: string): void {
    this.#entries.delete(id);
  }

  clear(): void {
    this.#entries.clear();
  }
}
