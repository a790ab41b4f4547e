import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { ConfigError } from '../errors.js';

/** What a caller key may do (README, "Caller keys"): its `ops`, each opening a group of routes. */
export type Permission = 'read' | 'token' | 'proxy' | 'manage';
export const PERMISSIONS: readonly Permission[] = ['read', 'token', 'proxy', 'manage'];

export interface CallerKey {
  id: string;
  name: string;
  /** The first characters of the key, shown to tell keys apart; not enough to use it. */
  prefix: string;
  /** SHA-256 of the whole key, hex. */
  hash: string;
  /** Connection id globs (`acme-*`) and `provider:NAME` entries. */
  allow: string[];
  ops: Permission[];
  disabled: boolean;
  createdAt: number;
}

/** What keys need of the server's store (its tables of keys and provider switches). */
export interface KeyStore {
  createKey(key: CallerKey): Promise<void>;
  keyByHash(hash: string): Promise<CallerKey | null>;
  disabledProviders(): Promise<{ provider: string }[]>;
}

/**
 * Caller keys: `bk_` + 32 random bytes in base64url. The store keeps the SHA-256 of the whole
 * key (a key this random needs no slow hash: there is nothing to guess) and its first
 * characters, to tell keys apart in listings and the audit log.
 */
const KEY_PREFIX = 'bk_';
const SHOWN = 10;

export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function parseOps(text: string | string[]): Permission[] {
  const parts = (Array.isArray(text) ? text : text.split(','))
    .flatMap((p) => p.split(','))
    .map((p) => p.trim())
    .filter(Boolean);
  if (parts.length === 0) {
    throw new ConfigError(
      'A caller key needs at least one operation.',
      `Pass --ops with some of ${PERMISSIONS.join(', ')}.`,
      { forOperator: true },
    );
  }
  for (const p of parts) {
    if (!(PERMISSIONS as readonly string[]).includes(p)) {
      throw new ConfigError(
        `"${p}" is not an operation a caller key can hold.`,
        `Use some of ${PERMISSIONS.join(', ')}.`,
      );
    }
  }
  return [...new Set(parts)] as Permission[];
}

const ALLOW = /^(provider:[a-z0-9][a-z0-9_-]*|[A-Za-z0-9._:@*?-]+)$/;

export function checkAllow(allow: string[]): string[] {
  if (allow.length === 0) {
    throw new ConfigError(
      'A caller key needs at least one --allow (a connection id glob such as acme-*, or provider:NAME).',
      "Pass --allow 'acme-*' or --allow provider:cronofy (--allow '*' for every connection).",
      { forOperator: true },
    );
  }
  for (const a of allow) {
    if (!ALLOW.test(a)) {
      throw new ConfigError(
        `"${a}" is not a connection id glob or provider:NAME.`,
        'Use letters, digits, . _ - : @ and the wildcards * and ?; or provider:NAME.',
      );
    }
  }
  return [...new Set(allow)];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface CreatedKey {
  key: string;
  record: CallerKey;
}

export async function createCallerKey(
  store: KeyStore,
  input: { name: string; allow: string[]; ops: Permission[] },
): Promise<CreatedKey> {
  if (!NAME.test(input.name)) {
    throw new ConfigError(
      `"${input.name}" is not a usable key name.`,
      'Use up to 64 letters, digits, dots, dashes and underscores, starting with a letter or digit.',
    );
  }
  const key = `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
  const record: CallerKey = {
    id: randomUUID(),
    name: input.name,
    prefix: key.slice(0, SHOWN),
    hash: hashKey(key),
    allow: checkAllow(input.allow),
    ops: input.ops,
    disabled: false,
    createdAt: Date.now(),
  };
  await store.createKey(record);
  return { key, record };
}

/** A glob over connection ids: `*` any run of characters, `?` one. */
function globRe(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 's');
}

/** A key's scope, compiled once per key. */
export class Scope {
  readonly #ids: RegExp[];
  readonly #providers: Set<string>;

  constructor(allow: string[]) {
    this.#ids = allow.filter((a) => !a.startsWith('provider:')).map(globRe);
    this.#providers = new Set(allow.filter((a) => a.startsWith('provider:')).map((a) => a.slice(9)));
  }

  /** Whether the id alone puts the connection in scope. */
  matchesId(id: string): boolean {
    return this.#ids.some((re) => re.test(id));
  }

  get byProvider(): boolean {
    return this.#providers.size > 0;
  }

  allows(id: string, provider: string | null): boolean {
    return this.matchesId(id) || (provider !== null && this.#providers.has(provider));
  }
}

export interface Caller {
  key: CallerKey;
  scope: Scope;
}

interface Cached {
  caller: Caller | null;
  until: number;
}

/**
 * Looks caller keys up by hash with a short cache, so a disabled or revoked key stops working
 * on every replica within `ttlMs` (default 500 ms) without a store read per request. Unknown
 * hashes are cached too (bounded), so a flood of wrong keys costs one read each per interval.
 */
export class KeyRing {
  readonly #store: KeyStore;
  readonly #ttlMs: number;
  readonly #cache = new Map<string, Cached>();
  readonly #inflight = new Map<string, Promise<Caller | null>>();

  constructor(store: KeyStore, ttlMs = 500) {
    this.#store = store;
    this.#ttlMs = ttlMs;
  }

  /** The caller for a presented key, or null when it is unknown or disabled. */
  async lookup(presented: string): Promise<Caller | null> {
    const hash = hashKey(presented);
    const hit = this.#cache.get(hash);
    if (hit && hit.until > Date.now()) return hit.caller;
    let p = this.#inflight.get(hash);
    if (!p) {
      p = this.#store
        .keyByHash(hash)
        .then((key) => {
          const caller = key && !key.disabled ? { key, scope: new Scope(key.allow) } : null;
          if (this.#cache.size >= 10_000) this.#cache.clear();
          this.#cache.set(hash, { caller, until: Date.now() + this.#ttlMs });
          return caller;
        })
        .finally(() => this.#inflight.delete(hash));
      this.#inflight.set(hash, p);
    }
    return p;
  }
}

/** The provider kill switch, read from the store at most every `ttlMs`. */
export class ProviderSwitches {
  readonly #store: KeyStore;
  readonly #ttlMs: number;
  #off = new Set<string>();
  #until = 0;
  #inflight: Promise<Set<string>> | null = null;

  constructor(store: KeyStore, ttlMs = 500) {
    this.#store = store;
    this.#ttlMs = ttlMs;
  }

  async disabled(provider: string): Promise<boolean> {
    if (this.#until <= Date.now()) {
      this.#inflight ??= this.#store
        .disabledProviders()
        .then((rows) => {
          this.#off = new Set(rows.map((r) => r.provider));
          this.#until = Date.now() + this.#ttlMs;
          return this.#off;
        })
        .finally(() => {
          this.#inflight = null;
        });
      await this.#inflight;
    }
    return this.#off.has(provider);
  }
}
