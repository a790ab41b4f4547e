import { createHash } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { StoreError } from '../errors.js';
import type { TokenSet } from '../protocol/token-set.js';
import type { SealBinding, Sealer } from '../store/sealer.js';
import type { Store } from '../store/store.js';
import { commitPair } from './commit.js';
import { type CoreContext, type LoadedConnection, openConnection, readRecord } from './context.js';
import type { HeldLease } from './lease.js';
import { spentOf } from './write-path.js';

/** A rotated pair the store refused: the only valid credentials of the connection. */
export interface HeldPair {
  id: string;
  tokens: TokenSet;
  /** The connection the pair was granted for: its version and the credential that was spent. */
  from: LoadedConnection;
  lease: HeldLease | null;
  timer: NodeJS.Timeout | null;
}

/**
 * Rotated pairs the store refused (docs/architecture.md, invariant 2): each is journaled before any caller
 * sees it, keeps its connection's lease so no other process spends the refresh token it
 * replaced, and is committed again in the background (250 ms, doubling to 2 s) until the store
 * takes it or refuses it for good. A pair a previous process journaled is recovered on open.
 */
export class HeldPairs {
  readonly #pairs = new Map<string, HeldPair>();

  constructor(
    private readonly ctx: CoreContext,
    private readonly journal: RescueJournal | null,
  ) {}

  /** Connections whose pair is held. */
  ids(): string[] {
    return [...this.#pairs.keys()];
  }

  get(id: string): HeldPair | undefined {
    return this.#pairs.get(id);
  }

  /** Whether a held pair keeps `lease` (its holder must not release it). */
  keeps(lease: HeldLease): boolean {
    return this.#pairs.get(lease.id)?.lease === lease;
  }

  /** Journals the pair granted from `from`, holds it with `lease`, and schedules its commit. */
  hold(from: LoadedConnection, tokens: TokenSet, lease: HeldLease | null): void {
    const { id } = from.record;
    const existing = this.#pairs.get(id);
    if (existing?.timer) clearTimeout(existing.timer);
    lease?.keep();
    try {
      const { provider, params, clientId, authMode, apiBaseUrl } = from.record;
      this.journal?.add(
        id,
        { id, provider, params, clientId, authMode, apiBaseUrl },
        from.record.version,
        tokens,
        spentOf(from.secrets.tokens),
        this.ctx.clock.now(),
      );
    } catch (err) {
      this.ctx.events.emit(
        'error',
        new StoreError(
          `Could not write the rescue journal for "${id}"; the new token pair is only in memory.`,
          {
            connectionId: id,
            cause: err,
          },
        ),
        id,
      );
    }
    const pair: HeldPair = { id, tokens, from, lease, timer: null };
    this.#pairs.set(id, pair);
    this.#schedule(pair, 250);
  }

  /** Commits the pair held for `id`; throws the StoreError while the store still refuses it. */
  async flush(id: string): Promise<void> {
    const pair = this.#pairs.get(id);
    if (!pair) return;
    try {
      await commitPair(this.ctx, pair.from, pair.tokens);
    } catch (err) {
      if (err instanceof StoreError) throw err;
      // Refused (revoked, removed, superseded): the pair is done with either way.
    }
    if (pair.timer) clearTimeout(pair.timer);
    if (this.#pairs.get(id) === pair) this.#pairs.delete(id);
    this.journal?.remove(id);
    await pair.lease?.release();
  }

  /** Tries once more to commit every held pair. */
  async flushAll(): Promise<void> {
    for (const id of this.ids()) await this.flush(id).catch(() => undefined);
  }

  /** Forgets a held pair (the connection was revoked, removed or authorized again): returns it for revocation. */
  forget(id: string): HeldPair | undefined {
    const pair = this.#pairs.get(id);
    if (pair?.timer) clearTimeout(pair.timer);
    pair?.lease?.abandon();
    this.#pairs.delete(id);
    this.journal?.remove(id);
    return pair;
  }

  /** Stops background retries; held pairs stay in the rescue journal for the next open. */
  close(): void {
    for (const p of this.#pairs.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.timer = null;
      p.lease?.abandon();
    }
  }

  /**
   * Commits pairs a previous process journaled. Each goes through the same guard as any
   * commit: onto the version it was granted from, or one whose credential is the one it spent.
   */
  async recover(pairs: RescuedPair[]): Promise<void> {
    for (const pair of pairs) {
      const record = await readRecord(this.ctx, pair.id);
      if (!record) {
        this.journal?.remove(pair.id);
        continue;
      }
      let opened: LoadedConnection;
      try {
        opened = openConnection(this.ctx, record);
      } catch {
        continue; // Another configuration: leave it for a process that matches.
      }
      // The connection as it was when the pair was granted: its version and spent credential.
      const from: LoadedConnection = {
        ...opened,
        record: { ...opened.record, version: pair.fromVersion },
        secrets: { ...opened.secrets, tokens: { ...pair.tokens, accessToken: '', refreshToken: pair.spent } },
      };
      try {
        await commitPair(this.ctx, from, pair.tokens);
        this.journal?.remove(pair.id);
      } catch (err) {
        if (err instanceof StoreError) this.hold(from, pair.tokens, null);
        else this.journal?.remove(pair.id);
      }
    }
  }

  #schedule(pair: HeldPair, delayMs: number): void {
    if (this.ctx.closed()) return;
    pair.timer = setTimeout(() => {
      pair.timer = null;
      this.flush(pair.id).catch(() => {
        if (this.#pairs.get(pair.id) === pair) this.#schedule(pair, Math.min(delayMs * 2, 2_000));
      });
    }, delayMs);
    pair.timer.unref();
  }
}

interface JournalEntry {
  id: string;
  binding: SealBinding;
  fromVersion: number;
  /** { tokens, spent } sealed under the connection's binding. */
  sealed: string;
  at: number;
}

/** What the rescue journal gives back on open. */
export interface RescuedPair {
  id: string;
  binding: SealBinding;
  fromVersion: number;
  tokens: TokenSet;
  /** The refresh (or access) token the pair was granted from. */
  spent: string | null;
  at: number;
}

/**
 * Where a store's rescue journal lives: beside a SQLite file, in the data directory for a
 * PostgreSQL store (one file per database and schema), nowhere for a memory store.
 */
export function journalPath(store: Store, dataDir: string): string | null {
  const location = (store as { location?: unknown }).location;
  if (typeof location !== 'string' || location === '' || location === ':memory:') return null;
  if (store.kind === 'sqlite') return `${location}.rescue`;
  const digest = createHash('sha256').update(location).digest('hex').slice(0, 16);
  return join(dataDir, 'rescue', `${store.kind}-${digest}.json`);
}

/**
 * The rescue journal: rotated pairs that could not be committed, sealed and fsynced to a local
 * file before any caller sees them, so neither the store being down nor the process exiting
 * loses them (docs/architecture.md, invariant 2). The next `Baton.open` on the same store commits them first.
 */
export class RescueJournal {
  constructor(
    readonly path: string,
    private readonly sealer: Sealer,
  ) {}

  read(): JournalEntry[] {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return [];
    }
    try {
      const entries = JSON.parse(text) as unknown;
      return Array.isArray(entries) ? (entries as JournalEntry[]) : [];
    } catch {
      return [];
    }
  }

  /** The entries, opened. An entry this key cannot open is kept in the file and skipped. */
  open(): RescuedPair[] {
    const out: RescuedPair[] = [];
    for (const e of this.read()) {
      try {
        const v = this.sealer.open<{ tokens: TokenSet; spent: string | null }>(e.sealed, e.binding);
        out.push({
          id: e.id,
          binding: e.binding,
          fromVersion: e.fromVersion,
          tokens: v.tokens,
          spent: v.spent,
          at: e.at,
        });
      } catch {
        // Sealed under a key not loaded now: it stays for a process that has it.
      }
    }
    return out;
  }

  add(
    id: string,
    binding: SealBinding,
    fromVersion: number,
    tokens: TokenSet,
    spent: string | null,
    at: number,
  ): void {
    const entries = this.read().filter((e) => e.id !== id);
    entries.push({ id, binding, fromVersion, sealed: this.sealer.seal({ tokens, spent }, binding), at });
    this.#write(entries);
  }

  remove(id: string): void {
    const entries = this.read();
    const rest = entries.filter((e) => e.id !== id);
    if (rest.length === entries.length) return;
    if (rest.length === 0) rmSync(this.path, { force: true });
    else this.#write(rest);
  }

  /** Written to a temporary file, fsynced, renamed over the journal, the directory fsynced. */
  #write(entries: JournalEntry[]): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(entries));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    try {
      const dir = openSync(dirname(this.path), 'r');
      try {
        fsyncSync(dir);
      } finally {
        closeSync(dir);
      }
    } catch {
      // Some filesystems do not fsync directories; the rename is still atomic.
    }
  }
}
