import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import { ConfigError, StoreError } from '../errors.js';
import {
  fetchServerMetadata,
  metadataUrls,
  parseServerMetadata,
  type ServerMetadata,
} from '../protocol/discovery.js';
import type { HttpOptions } from '../protocol/http.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { MetadataCache, MetadataDocument } from '../store/store.js';
import type { Clock } from './clock.js';

/** How long a metadata document is used when the server sends no Cache-Control max-age. */
export const DEFAULT_METADATA_TTL_MS = 60 * 60_000;
const MIN_TTL_MS = 60_000;
const MAX_TTL_MS = 24 * 60 * 60_000;
/** After a failed re-read, the document in hand is used this long before the next attempt. */
const RETRY_AFTER_MS = 60_000;

/** Where the document a provider uses came from, and until when it is used (epoch ms). */
export interface MetadataStatus {
  /** Read from the server by this process, or from the store (another process or an earlier run read it). */
  from: 'network' | 'store';
  /** The URL the document was read from. */
  source: string;
  fetchedAt: number;
  /** When it is read again. */
  expiresAt: number;
  /** The last attempt to read it again failed: the document in hand is used until `expiresAt`. */
  stale: boolean;
}

export interface DiscoveryOptions {
  /** The store's metadata documents: shared by every process on the store, kept across restarts. */
  cache?: MetadataCache | undefined;
  /** A read or write of the cache failed; the document is read from (or kept for) the server alone. */
  onStoreError?: ((err: StoreError) => void) | undefined;
}

interface InHand {
  metadata: ServerMetadata;
  status: MetadataStatus;
}

/**
 * The metadata of every issuer-configured provider (README, "From the issuer alone"), read
 * before first use and kept until it expires: the server's max-age, within 1 min – 24 h; an
 * hour by default. A document still fresh in the store (another process, or an earlier run,
 * read it) is used without asking the server; one read from the server is written there. A
 * failed re-read keeps the document in hand — in memory, else the store's expired copy — and
 * tries again a minute later; a failed first read is the error of whatever needed it, and the
 * next use reads again. A document that names another issuer is never used (RFC 8414 §3.3),
 * whether the server sent it or the store held it. The store being down costs a network read,
 * never an operation.
 */
export class Discovery {
  readonly #registry: ProviderRegistry;
  readonly #clock: Clock;
  readonly #http: HttpOptions;
  readonly #cache: MetadataCache | undefined;
  readonly #onStoreError: (err: StoreError) => void;
  readonly #inHand = new Map<string, InHand>();
  readonly #inflight = new Map<string, Promise<ServerMetadata>>();
  readonly #jwks = new Map<string, JWTVerifyGetKey>();

  constructor(registry: ProviderRegistry, clock: Clock, http: HttpOptions, options: DiscoveryOptions = {}) {
    this.#registry = registry;
    this.#clock = clock;
    this.#http = http;
    this.#cache = options.cache;
    this.#onStoreError = options.onStoreError ?? (() => undefined);
  }

  /** Reads every issuer's metadata; a failure is left for the first use to report. */
  async warm(): Promise<void> {
    await Promise.all(this.#registry.issuers().map((id) => this.ensure(id).catch(() => undefined)));
  }

  /**
   * The provider's metadata, read now when it has none or it expired; undefined for a provider
   * without issuer. `force` reads the server even when the document in hand is fresh.
   */
  async ensure(provider: string, options: { force?: boolean } = {}): Promise<ServerMetadata | undefined> {
    // A family member (`mcp:<issuer>`) is made on first use, like any issuer-configured spec.
    this.#registry.resolve(provider);
    if (!this.#registry.issuers().includes(provider)) return undefined;
    const held = this.#inHand.get(provider);
    if (held && !options.force && held.status.expiresAt > this.#clock.now()) return held.metadata;
    let inflight = this.#inflight.get(provider);
    if (!inflight) {
      inflight = this.#read(provider, options.force ?? false).finally(() => this.#inflight.delete(provider));
      this.#inflight.set(provider, inflight);
    }
    return inflight;
  }

  /** Where the provider's document came from and when it expires; undefined before one was read. */
  status(provider: string): MetadataStatus | undefined {
    const held = this.#inHand.get(provider);
    return held ? { ...held.status } : undefined;
  }

  /**
   * The issuer's signing keys (its `jwks_uri`), one cache per URI. An id_token signed with a key
   * not in the cache reads the JWKS again at once (key rotation): id_tokens come only from the
   * token endpoint's own answers, so no caller can make Baton read it at will.
   */
  jwks(uri: string): JWTVerifyGetKey {
    let set = this.#jwks.get(uri);
    if (!set) {
      set = createRemoteJWKSet(new URL(uri), {
        cooldownDuration: 0,
        cacheMaxAge: DEFAULT_METADATA_TTL_MS,
        timeoutDuration: this.#http.timeoutMs ?? 30_000,
      });
      this.#jwks.set(uri, set);
    }
    return set;
  }

  async #read(provider: string, force: boolean): Promise<ServerMetadata> {
    const issuer = this.#registry.get(provider).issuer as string;
    const stored = await this.#fromStore(provider, issuer);
    if (stored && !force && stored.status.expiresAt > this.#clock.now()) {
      try {
        return this.#use(provider, stored);
      } catch (err) {
        // A stored document that does not make a valid spec is not used: the server is asked.
        if (!(err instanceof ConfigError)) throw err;
      }
    }
    let fetched: Awaited<ReturnType<typeof fetchServerMetadata>>;
    try {
      fetched = await fetchServerMetadata(issuer, provider, this.#http);
    } catch (err) {
      // A server that now names another issuer (or publishes none) is not trusted on an old
      // copy; an outage is survived on the document in hand, the later-read of memory and store.
      const held = this.#inHand.get(provider);
      const fallback = held && (!stored || held.status.fetchedAt >= stored.status.fetchedAt) ? held : stored;
      if (!fallback || err instanceof ConfigError) throw err;
      const retryAt = this.#clock.now() + RETRY_AFTER_MS;
      this.#use(provider, {
        metadata: fallback.metadata,
        status: { ...fallback.status, expiresAt: retryAt, stale: true },
      });
      // Other processes wait the same minute instead of each asking a server that is down.
      await this.#toStore(issuer, fallback.metadata, fallback.status.fetchedAt, retryAt);
      return fallback.metadata;
    }
    const { metadata, maxAgeMs } = fetched;
    const fetchedAt = this.#clock.now();
    const ttl = Math.min(MAX_TTL_MS, Math.max(MIN_TTL_MS, maxAgeMs ?? DEFAULT_METADATA_TTL_MS));
    this.#use(provider, {
      metadata,
      status: {
        from: 'network',
        source: metadata.source,
        fetchedAt,
        expiresAt: fetchedAt + ttl,
        stale: false,
      },
    });
    await this.#toStore(issuer, metadata, fetchedAt, fetchedAt + ttl);
    return metadata;
  }

  /** Applies the document to the provider's spec (a ConfigError if the merged spec is invalid) and keeps it. */
  #use(provider: string, held: InHand): ServerMetadata {
    this.#registry.applyMetadata(provider, held.metadata);
    this.#inHand.set(provider, held);
    return held.metadata;
  }

  /**
   * The store's document for the issuer, validated as if the server had just sent it: one that
   * names another issuer, claims another source, or does not make a valid spec is not used.
   */
  async #fromStore(provider: string, issuer: string): Promise<InHand | undefined> {
    const entry = await this.#cacheCall(issuer, 'read', (cache) => cache.get(issuer));
    if (!entry || entry.issuer !== issuer || !metadataUrls(issuer).includes(entry.source)) return undefined;
    let metadata: ServerMetadata;
    try {
      metadata = parseServerMetadata(entry.document, issuer, provider, entry.source);
    } catch (err) {
      if (err instanceof ConfigError) return undefined;
      throw err;
    }
    const now = this.#clock.now();
    return {
      metadata,
      status: {
        from: 'store',
        source: entry.source,
        fetchedAt: entry.fetchedAt,
        // A stored expiry is never trusted beyond the longest a server may ask for.
        expiresAt: Math.min(entry.expiresAt, now + MAX_TTL_MS),
        stale: false,
      },
    };
  }

  async #toStore(
    issuer: string,
    metadata: ServerMetadata,
    fetchedAt: number,
    expiresAt: number,
  ): Promise<void> {
    const doc: MetadataDocument = {
      issuer,
      document: JSON.stringify(metadata.raw),
      source: metadata.source,
      fetchedAt,
      expiresAt,
    };
    await this.#cacheCall(issuer, 'write', (cache) => cache.put(doc));
  }

  /** A cache call whose failure is reported and otherwise ignored: the cache saves reads, nothing more. */
  async #cacheCall<T>(
    issuer: string,
    op: 'read' | 'write',
    call: (cache: MetadataCache) => Promise<T>,
  ): Promise<T | undefined> {
    if (!this.#cache) return undefined;
    try {
      return await call(this.#cache);
    } catch (err) {
      this.#onStoreError(
        err instanceof StoreError
          ? err
          : new StoreError(`The store failed to ${op} the metadata document of ${issuer}.`, { cause: err }),
      );
      return undefined;
    }
  }
}
