import type { StoreEngine } from './engine.js';
import type {
  BatchWrite,
  ClientRegistrations,
  ConnectionRecord,
  DueBatch,
  DueQuery,
  KeyUsage,
  LeaseGrant,
  ListQuery,
  MetadataCache,
  OutboxEvent,
  OutboxReader,
  PendingAuthorization,
  PendingQuery,
  Store,
  StoreChangeListener,
} from './store.js';

/** The connections table of a SQL engine (with the key ids its rows and pending authorizations are sealed under). */
export interface ConnectionTable {
  get(id: string): Promise<ConnectionRecord | null>;
  list(query?: ListQuery): Promise<ConnectionRecord[]>;
  count(query?: ListQuery): Promise<number>;
  put(
    record: ConnectionRecord,
    expectedVersion: number | null,
    events?: readonly OutboxEvent[],
  ): Promise<ConnectionRecord | null>;
  putMany(records: ConnectionRecord[], overwrite: boolean): Promise<number>;
  putBatch(writes: BatchWrite[]): Promise<(ConnectionRecord | null)[]>;
  delete(id: string, events?: readonly OutboxEvent[]): Promise<boolean>;
  due(query: DueQuery): Promise<DueBatch>;
  keyIds(): Promise<string[]>;
  keyUsage(): Promise<KeyUsage[]>;
}

export interface LeaseTable {
  acquire(id: string, owner: string, ttlMs: number, since?: number): Promise<LeaseGrant | null>;
  release(id: string, owner: string): Promise<void>;
}

export interface PendingTable {
  save(pending: PendingAuthorization): Promise<void>;
  take(state: string): Promise<PendingAuthorization | null>;
  list(query: PendingQuery): Promise<PendingAuthorization[]>;
  reseal(state: string, expectedSealed: string, sealed: string): Promise<boolean>;
}

export interface ChangeFeed {
  subscribe(listener: StoreChangeListener): () => void;
}

export interface Tables {
  engine: StoreEngine;
  connections: ConnectionTable;
  leases: LeaseTable;
  pending: PendingTable;
  feed: ChangeFeed;
  outbox: OutboxReader;
  serverMetadata: MetadataCache;
  clientRegistrations: ClientRegistrations;
}

/**
 * A `Store` made of table modules over one engine's runner: the SQL engines differ in their
 * modules and how they open and close, never in this composition.
 */
export abstract class TableStore implements Store {
  abstract readonly kind: Store['kind'];
  readonly engine: StoreEngine;
  readonly outbox: OutboxReader;
  readonly serverMetadata: MetadataCache;
  readonly clientRegistrations: ClientRegistrations;
  readonly #t: Tables;

  protected constructor(tables: Tables) {
    this.#t = tables;
    this.engine = tables.engine;
    this.outbox = tables.outbox;
    this.serverMetadata = tables.serverMetadata;
    this.clientRegistrations = tables.clientRegistrations;
  }

  abstract close(): Promise<void>;

  get(id: string): Promise<ConnectionRecord | null> {
    return this.#t.connections.get(id);
  }
  list(query?: ListQuery): Promise<ConnectionRecord[]> {
    return this.#t.connections.list(query);
  }
  count(query?: ListQuery): Promise<number> {
    return this.#t.connections.count(query);
  }
  put(
    record: ConnectionRecord,
    expectedVersion: number | null,
    events?: readonly OutboxEvent[],
  ): Promise<ConnectionRecord | null> {
    return this.#t.connections.put(record, expectedVersion, events);
  }
  /** Many records at once (for `baton migrate`); existing ids are skipped unless `overwrite`. */
  putMany(records: ConnectionRecord[], overwrite: boolean): Promise<number> {
    return this.#t.connections.putMany(records, overwrite);
  }
  putBatch(writes: BatchWrite[]): Promise<(ConnectionRecord | null)[]> {
    return this.#t.connections.putBatch(writes);
  }
  delete(id: string, events?: readonly OutboxEvent[]): Promise<boolean> {
    return this.#t.connections.delete(id, events);
  }
  due(query: DueQuery): Promise<DueBatch> {
    return this.#t.connections.due(query);
  }
  keyIds(): Promise<string[]> {
    return this.#t.connections.keyIds();
  }
  keyUsage(): Promise<KeyUsage[]> {
    return this.#t.connections.keyUsage();
  }
  acquireLease(id: string, owner: string, ttlMs: number, since?: number): Promise<LeaseGrant | null> {
    return this.#t.leases.acquire(id, owner, ttlMs, since);
  }
  releaseLease(id: string, owner: string): Promise<void> {
    return this.#t.leases.release(id, owner);
  }
  savePendingAuthorization(pending: PendingAuthorization): Promise<void> {
    return this.#t.pending.save(pending);
  }
  takePendingAuthorization(state: string): Promise<PendingAuthorization | null> {
    return this.#t.pending.take(state);
  }
  listPendingAuthorizations(query: PendingQuery): Promise<PendingAuthorization[]> {
    return this.#t.pending.list(query);
  }
  resealPendingAuthorization(state: string, expectedSealed: string, sealed: string): Promise<boolean> {
    return this.#t.pending.reseal(state, expectedSealed, sealed);
  }
  subscribe(listener: StoreChangeListener): () => void {
    return this.#t.feed.subscribe(listener);
  }
}
