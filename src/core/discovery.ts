import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import { ConfigError } from '../errors.js';
import { fetchServerMetadata, type ServerMetadata } from '../protocol/discovery.js';
import type { HttpOptions } from '../protocol/http.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { Clock } from './clock.js';

/** How long a metadata document is used when the server sends no Cache-Control max-age. */
export const DEFAULT_METADATA_TTL_MS = 60 * 60_000;
const MIN_TTL_MS = 60_000;
const MAX_TTL_MS = 24 * 60 * 60_000;
/** After a failed re-read, the document in hand is used this long before the next attempt. */
const RETRY_AFTER_MS = 60_000;

/**
 * The metadata of every issuer-configured provider, read before first use, kept until it
 * expires (the server's max-age, within 1 min – 24 h; an hour by default) and read again then.
 * A failed re-read keeps the document in hand and tries again a minute later; a failed first
 * read is the error of whatever needed it, and the next use reads again. A document that names
 * another issuer is never used (RFC 8414 §3.3).
 */
export class Discovery {
  readonly #registry: ProviderRegistry;
  readonly #clock: Clock;
  readonly #http: HttpOptions;
  readonly #expires = new Map<string, number>();
  readonly #inflight = new Map<string, Promise<ServerMetadata>>();
  readonly #jwks = new Map<string, JWTVerifyGetKey>();

  constructor(registry: ProviderRegistry, clock: Clock, http: HttpOptions) {
    this.#registry = registry;
    this.#clock = clock;
    this.#http = http;
  }

  /** Reads every issuer's metadata; a failure is left for the first use to report. */
  async warm(): Promise<void> {
    await Promise.all(this.#registry.issuers().map((id) => this.ensure(id).catch(() => undefined)));
  }

  /** The provider's metadata, read now when it has none or it expired; undefined for a provider without issuer. */
  async ensure(provider: string, options: { force?: boolean } = {}): Promise<ServerMetadata | undefined> {
    if (!this.#registry.issuers().includes(provider)) return undefined;
    const current = this.#registry.metadata(provider);
    const expiresAt = this.#expires.get(provider) ?? 0;
    if (current && !options.force && expiresAt > this.#clock.now()) return current;
    let inflight = this.#inflight.get(provider);
    if (!inflight) {
      inflight = this.#read(provider).finally(() => this.#inflight.delete(provider));
      this.#inflight.set(provider, inflight);
    }
    return inflight;
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

  async #read(provider: string): Promise<ServerMetadata> {
    const issuer = this.#registry.get(provider).issuer as string;
    const current = this.#registry.metadata(provider);
    try {
      const { metadata, maxAgeMs } = await fetchServerMetadata(issuer, provider, this.#http);
      this.#registry.applyMetadata(provider, metadata);
      const ttl = Math.min(MAX_TTL_MS, Math.max(MIN_TTL_MS, maxAgeMs ?? DEFAULT_METADATA_TTL_MS));
      this.#expires.set(provider, this.#clock.now() + ttl);
      return metadata;
    } catch (err) {
      // A server that now names another issuer is not talked to again; an outage is survived.
      if (!current || err instanceof ConfigError) throw err;
      this.#expires.set(provider, this.#clock.now() + RETRY_AFTER_MS);
      return current;
    }
  }
}
