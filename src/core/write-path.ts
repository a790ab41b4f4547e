import { ConnectionNotFound, ReauthorizationRequired, StoreError } from '../errors.js';
import type { TokenSet } from '../protocol/token-set.js';
import type { ConnectionRecord, OutboxEvent } from '../store/store.js';
import { sleep } from './clock.js';
import { type CoreContext, needsReauthMessage, readRecord } from './context.js';
import { eventsFor } from './outbox.js';
import { openSecrets } from './secrets.js';
import { type Operation, transition } from './state.js';

/** Why a write was refused. */
export type RefusalReason =
  /** The stored status does not allow the operation (revoked, needs_reauth). */
  | 'status'
  /** The connection is gone. */
  | 'removed'
  /** Another writer stored a newer token pair than the one this write descends from. */
  | 'superseded'
  /** The connection now belongs to another client, provider or params. */
  | 'rebound';

/** A write the state machine or a guard refused; nothing was written. */
export class WriteRefused extends Error {
  constructor(
    readonly op: Operation,
    readonly reason: RefusalReason,
    readonly current: ConnectionRecord | null,
  ) {
    super(`${op} refused: ${reason}`);
    this.name = 'WriteRefused';
  }

  /** The error a caller of a public method sees. */
  toBatonError(id: string): Error {
    const c = this.current;
    if (!c || this.reason === 'removed') return new ConnectionNotFound(id);
    if (c.status === 'revoked') {
      return new ReauthorizationRequired(`Connection "${id}" was revoked.`, {
        connectionId: id,
        provider: c.provider,
      });
    }
    if (c.status === 'needs_reauth') {
      return new ReauthorizationRequired(needsReauthMessage(c), { connectionId: id, provider: c.provider });
    }
    return new StoreError(
      `Connection "${id}" changed while it was being written (${this.reason}); try again.`,
      {
        connectionId: id,
        provider: c.provider,
      },
    );
  }
}

const CONFLICT_ATTEMPTS = 8;
const STORE_ATTEMPTS = 3;

/** The credential a token pair was granted from: its refresh token, or for client credentials its access token. */
export function spentOf(tokens: TokenSet | null | undefined): string | null {
  return tokens?.refreshToken ?? tokens?.accessToken ?? null;
}

/**
 * What a write about a grant descends from: the record it was read as, and the credential
 * that grant spent. The write lands only on that version, or on a newer one that still holds
 * the same credential (someone wrote other fields meanwhile); a newer pair is never written
 * over (docs/architecture.md, invariant 7).
 */
export interface Lineage {
  version: number;
  spent: string | null;
  /** Also refuse a connection now bound to another provider, client, auth mode or params. */
  binding?: Pick<ConnectionRecord, 'provider' | 'clientId' | 'authMode' | 'params'>;
}

export interface WriteOptions {
  /** The spent-credential guard: refuse (`rebound`, `superseded`) a record this write does not descend from. */
  from?: Lineage;
  /**
   * The record as the caller has just read it: the first compare-and-swap is tried on it
   * without reading again (a refresh commits straight after the token endpoint answers). A
   * record that changed meanwhile loses the swap, and the loop reads the newer one.
   */
  known?: ConnectionRecord;
  /**
   * Events this write causes beyond those its operation does (`eventsFor`), from the record
   * before and after it: asked again on every attempt, after `build`, and written with the swap.
   */
  events?: (current: ConnectionRecord | null, next: ConnectionRecord, at: number) => OutboxEvent[];
}

/**
 * The one write path (docs/architecture.md, invariant 7). Every read-modify-write of a connection is a CAS
 * loop here: read, ask the state machine whether `op` may start from the stored status, check
 * the lineage (`from`), let `build` make the next record from the current one (it may throw
 * WriteRefused, or return null for "nothing to write"), compare-and-swap, and on a conflict
 * start again from the newer record. The cache hears of every write at once.
 */
export async function writeConnection(
  ctx: CoreContext,
  id: string,
  op: Operation,
  build: (current: ConnectionRecord | null) => ConnectionRecord | null,
  options: WriteOptions = {},
): Promise<ConnectionRecord | null> {
  let known = options.known;
  for (let attempt = 1; attempt <= CONFLICT_ATTEMPTS; attempt++) {
    const current = known ?? (await storeCall(ctx, id, () => readRecord(ctx, id)));
    known = undefined;
    const status = transition(current?.status ?? 'absent', op);
    if (status === null) throw new WriteRefused(op, current ? 'status' : 'removed', current);
    if (options.from && current) refuseUnlessDescends(ctx, op, current, options.from);
    const next = build(current);
    if (next === null) return current;
    const now = ctx.clock.now();
    const record = { ...next, id, status, updatedAt: now };
    // The events this change causes ride on the compare-and-swap (one transaction).
    const after = { ...record, version: (current?.version ?? 0) + 1 };
    const events = ctx.outbox
      ? [...eventsFor(op, current, after, now), ...(options.events?.(current, after, now) ?? [])]
      : [];
    const written = await storeCall(ctx, id, () =>
      events.length > 0
        ? ctx.store.put(record, current?.version ?? null, events)
        : ctx.store.put(record, current?.version ?? null),
    );
    if (written) {
      ctx.cache.wrote(written);
      return written;
    }
  }
  throw new StoreError(`Connection "${id}" kept changing while it was being written; try again.`, {
    connectionId: id,
  });
}

/** The spent-credential guard, the one place it is written. */
function refuseUnlessDescends(
  ctx: CoreContext,
  op: Operation,
  current: ConnectionRecord,
  from: Lineage,
): void {
  if (from.binding && !sameBinding(current, from.binding)) throw new WriteRefused(op, 'rebound', current);
  if (current.version === from.version) return;
  if (spentOf(openSecrets(ctx.sealer, current).tokens) !== from.spent) {
    throw new WriteRefused(op, 'superseded', current);
  }
}

function sameBinding(a: ConnectionRecord, b: NonNullable<Lineage['binding']>): boolean {
  return (
    a.provider === b.provider &&
    a.clientId === b.clientId &&
    a.authMode === b.authMode &&
    JSON.stringify(Object.entries(a.params).sort()) === JSON.stringify(Object.entries(b.params).sort())
  );
}

/** What a batch through the write path did, connection by connection. */
export interface BatchWritten {
  written: ConnectionRecord[];
  /** `build` had nothing to write (or the connection was removed meanwhile). */
  unchanged: string[];
  /** Refused by the state machine or `build` (WriteRefused), or failed on its own. */
  failed: { id: string; error: unknown }[];
}

/**
 * The write path for many connections at once (`rekey`): the same rules as `writeConnection` —
 * the state machine, `build` from the record as read, a compare-and-swap on its version — with
 * the swaps sent to the store in one batch. A connection that changed since it was read (a
 * refresh committed meanwhile) loses its swap, and goes through `writeConnection`'s loop from
 * the newer record: a batch never writes over a concurrent write.
 */
export async function writeConnections(
  ctx: CoreContext,
  op: Operation,
  records: readonly ConnectionRecord[],
  build: (current: ConnectionRecord) => ConnectionRecord | null,
): Promise<BatchWritten> {
  const out: BatchWritten = { written: [], unchanged: [], failed: [] };
  const writes: { record: ConnectionRecord; expectedVersion: number }[] = [];
  const alone: typeof writes = [];
  for (const current of records) {
    const status = transition(current.status, op);
    if (status === null) {
      out.failed.push({ id: current.id, error: new WriteRefused(op, 'status', current) });
      continue;
    }
    let next: ConnectionRecord | null;
    try {
      next = build(current);
    } catch (error) {
      out.failed.push({ id: current.id, error });
      continue;
    }
    if (next === null) {
      out.unchanged.push(current.id);
      continue;
    }
    const now = ctx.clock.now();
    const record = { ...next, id: current.id, status, updatedAt: now };
    // A write that causes webhook events goes alone, its events in its own transaction.
    const events = ctx.outbox ? eventsFor(op, current, { ...record, version: current.version + 1 }, now) : [];
    (events.length > 0 ? alone : writes).push({ record, expectedVersion: current.version });
  }
  const results: (ConnectionRecord | null)[] =
    writes.length > 0 ? await storeCall(ctx, undefined, () => ctx.store.putBatch(writes)) : [];
  for (const [i, w] of [...writes, ...alone].entries()) {
    const stored = results[i] ?? null;
    if (stored) {
      ctx.cache.wrote(stored);
      out.written.push(stored);
      continue;
    }
    // Lost its swap (or goes alone): the one write path, from the record as it is now.
    const id = w.record.id;
    try {
      let wrote = false;
      const again = await writeConnection(ctx, id, op, (current) => {
        const next = current ? build(current) : null;
        wrote = next !== null;
        return next;
      });
      if (wrote && again) out.written.push(again);
      else out.unchanged.push(id);
    } catch (error) {
      if (error instanceof WriteRefused && error.reason === 'removed') out.unchanged.push(id);
      else out.failed.push({ id, error });
    }
  }
  return out;
}

/** A store call retried briefly on failure, then reported as a StoreError. */
async function storeCall<T>(ctx: CoreContext, id: string | undefined, call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (attempt >= STORE_ATTEMPTS || ctx.closed()) throw asStoreError(err, id);
      await sleep(50 * 2 ** (attempt - 1));
    }
  }
}

export function asStoreError(err: unknown, id?: string): StoreError {
  if (err instanceof StoreError) return err;
  return new StoreError(`The store failed while writing connection "${id ?? '?'}".`, {
    connectionId: id,
    cause: err,
  });
}
