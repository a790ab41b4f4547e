import { StoreError } from '../../src/errors.js';
import type {
  BatchWrite,
  ConnectionRecord,
  DueBatch,
  DueQuery,
  KeyUsage,
  LeaseGrant,
  ListQuery,
  MetadataCache,
  PendingAuthorization,
  PendingQuery,
  Store,
  StoreChangeListener,
} from '../../src/store/store.js';

/**
 * Wraps a store so tests can make it fail: `failPuts` rejects that many writes, `down` rejects
 * everything, as a database that went away would.
 */
export class FaultyStore implements Store {
  readonly kind: Store['kind'];
  failPuts = 0;
  down = false;
  puts = 0;

  constructor(readonly inner: Store) {
    this.kind = inner.kind;
  }

  /** While set, every read and write of a metadata document throws it; connections still work. */
  metadataFault: Error | null = null;
  /** Metadata documents read and written through this wrapper (whether they failed or not). */
  metadataCalls: ('get' | 'put')[] = [];

  #check(): void {
    if (this.down) throw new StoreError('store is down (test)');
  }

  readonly serverMetadata: MetadataCache = {
    get: async (issuer) => {
      this.metadataCalls.push('get');
      this.#check();
      if (this.metadataFault) throw this.metadataFault;
      return (await this.inner.serverMetadata?.get(issuer)) ?? null;
    },
    put: async (doc) => {
      this.metadataCalls.push('put');
      this.#check();
      if (this.metadataFault) throw this.metadataFault;
      return (await this.inner.serverMetadata?.put(doc)) ?? false;
    },
  };

  async get(id: string): Promise<ConnectionRecord | null> {
    this.#check();
    return this.inner.get(id);
  }
  async list(query?: ListQuery): Promise<ConnectionRecord[]> {
    this.#check();
    return this.inner.list(query);
  }
  async put(record: ConnectionRecord, expectedVersion: number | null): Promise<ConnectionRecord | null> {
    this.#check();
    if (this.failPuts > 0) {
      this.failPuts--;
      throw new StoreError('write refused (test)');
    }
    this.puts++;
    return this.inner.put(record, expectedVersion);
  }
  async delete(id: string): Promise<boolean> {
    this.#check();
    return this.inner.delete(id);
  }
  /** The inner store's engine, so the server's tables share its connection. */
  get engine(): Store['engine'] {
    return this.inner.engine;
  }
  /** The inner store's location, so the rescue journal is the inner store's. */
  get location(): unknown {
    return (this.inner as { location?: unknown }).location;
  }
  subscribe(listener: StoreChangeListener): () => void {
    return this.inner.subscribe(listener);
  }
  async acquireLease(id: string, owner: string, ttlMs: number, since?: number): Promise<LeaseGrant | null> {
    this.#check();
    return this.inner.acquireLease(id, owner, ttlMs, since);
  }
  async releaseLease(id: string, owner: string): Promise<void> {
    this.#check();
    return this.inner.releaseLease(id, owner);
  }
  async savePendingAuthorization(p: PendingAuthorization): Promise<void> {
    this.#check();
    return this.inner.savePendingAuthorization(p);
  }
  async takePendingAuthorization(state: string): Promise<PendingAuthorization | null> {
    this.#check();
    return this.inner.takePendingAuthorization(state);
  }
  async count(query?: ListQuery): Promise<number> {
    this.#check();
    return this.inner.count(query);
  }
  async due(query: DueQuery): Promise<DueBatch> {
    this.#check();
    return this.inner.due(query);
  }
  async putBatch(writes: BatchWrite[]): Promise<(ConnectionRecord | null)[]> {
    this.#check();
    if (this.failPuts > 0) {
      this.failPuts--;
      throw new StoreError('write refused (test)');
    }
    this.puts += writes.length;
    return this.inner.putBatch(writes);
  }
  async keyIds(): Promise<string[]> {
    this.#check();
    return this.inner.keyIds();
  }
  async keyUsage(): Promise<KeyUsage[]> {
    this.#check();
    return this.inner.keyUsage();
  }
  async listPendingAuthorizations(query: PendingQuery): Promise<PendingAuthorization[]> {
    this.#check();
    return this.inner.listPendingAuthorizations(query);
  }
  async resealPendingAuthorization(state: string, expectedSealed: string, sealed: string): Promise<boolean> {
    this.#check();
    return this.inner.resealPendingAuthorization(state, expectedSealed, sealed);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
