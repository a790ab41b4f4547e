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
import type { TokenSet } from '../protocol/token-set.js';
import type { SealBinding, Sealer } from '../store/sealer.js';
import type { Store } from '../store/store.js';
import type { LoadedConnection } from './context.js';
import type { HeldLease } from './lease.js';

/** A rotated pair the store refused: the only valid credentials of the connection. */
export interface HeldPair {
  id: string;
  tokens: TokenSet;
  /** The connection the pair was granted for: its version and the credential that was spent. */
  from: LoadedConnection;
  lease: HeldLease | null;
  timer: NodeJS.Timeout | null;
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
