import { Agent, type Dispatcher, fetch, Headers, type RequestInit, type Response } from 'undici';
import { ConfigError, NetworkError, redactedCause } from '../errors.js';
import { describeNetworkError } from '../protocol/http.js';
import { followRedirects } from '../protocol/redirects.js';
import { resolveApiUrl } from '../providers/api-url.js';
import { hostAllowed } from '../providers/redirect-policy.js';
import type { CoreContext, LoadedConnection } from './context.js';
import { openConnection } from './context.js';
import { openSecrets, sealSecrets, secretValues } from './secrets.js';
import { accessTokenOf, isStatic, type TokenSource } from './token-source.js';
import { writeConnection } from './write-path.js';

export type BatonRequestInit = Omit<RequestInit, 'redirect'> & {
  /**
   * How long to wait for the response headers of each request (and each redirect hop), in ms.
   * Default: `http.timeoutMs` of `Baton.open`, else 30 s. The body is the caller's to read.
   */
  timeoutMs?: number;
};

const DEFAULT_TIMEOUT_MS = 30_000;

const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

class TimeoutError extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'TimeoutError';
  }
}
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

function isSocketReset(err: unknown): boolean {
  const cause = (err as { cause?: { code?: string } } | null)?.cause;
  return cause?.code === 'UND_ERR_SOCKET' || cause?.code === 'ECONNRESET' || cause?.code === 'EPIPE';
}

/** A response as the redirect loop sees it. */
interface Answer {
  res: Response;
  status: number;
  location: string | null;
}

interface Prepared {
  header: [name: string, value: string];
  apiOrigin: URL;
}

/**
 * What every request of a loaded connection shares, computed once: a LoadedConnection is
 * immutable (a refresh or a learned base makes a new one), so it can key the cache.
 */
const prepared = new WeakMap<LoadedConnection, Prepared>();
function prepare(conn: LoadedConnection): Prepared {
  let p = prepared.get(conn);
  if (!p) {
    p = { header: authHeader(conn), apiOrigin: new URL(conn.endpoints.apiBaseUrl) };
    prepared.set(conn, p);
  }
  return p;
}

/** The header that authenticates a request for this connection, per its auth mode. */
export function authHeader(conn: LoadedConnection): [name: string, value: string] {
  const { record, secrets, spec } = conn;
  if (record.authMode === 'token_pair') {
    const c = secrets.credentials;
    if (!c) throw missingCredentials(conn);
    return ['authorization', `Basic ${Buffer.from(`${c.apiKey}:${c.apiSecret ?? ''}`).toString('base64')}`];
  }
  if (record.authMode === 'api_key') {
    const c = secrets.credentials;
    if (!c || !spec.apiKeyAuth) throw missingCredentials(conn);
    const value = spec.apiKeyAuth.template.replace(/\{(apiKey|apiSecret)\}/g, (_, k: string) =>
      k === 'apiKey' ? c.apiKey : (c.apiSecret ?? ''),
    );
    return [spec.apiKeyAuth.header.toLowerCase(), value];
  }
  const token = accessTokenOf(conn);
  const type = conn.secrets.tokens?.tokenType ?? 'Bearer';
  return ['authorization', `${type} ${token}`];
}

function missingCredentials(conn: LoadedConnection): ConfigError {
  return new ConfigError(
    `Connection "${conn.record.id}" has no stored ${conn.record.authMode} credentials.`,
    'Connect it again with its API key and secret (`baton connect`).',
    { connectionId: conn.record.id, provider: conn.record.provider },
  );
}

function replayable(body: RequestInit['body']): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof Uint8Array ||
    body instanceof ArrayBuffer ||
    body instanceof URLSearchParams
  );
}

/**
 * fetch with the connection's credentials. Credentials go only to the API origin and to the
 * hosts the spec lets redirects reach; a permanent redirect to such a host moves the stored
 * base URL; a 401 gets one retry with a refreshed (or another process's) token.
 */
export class ApiFetcher {
  readonly #ctx: CoreContext;
  readonly #tokens: TokenSource;
  /**
   * Without a dispatcher of the caller's, requests go through one whose headers timeout is
   * `http.timeoutMs`: the bound costs nothing per request. A caller's dispatcher keeps its
   * own settings, and the timeout is applied per request with an abort signal.
   */
  readonly #dispatcher: Pick<RequestInit, 'dispatcher'>;
  readonly #timeoutMs: number;

  constructor(ctx: CoreContext, tokens: TokenSource) {
    this.#ctx = ctx;
    this.#tokens = tokens;
    this.#timeoutMs = ctx.options.http.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#dispatcher = {
      dispatcher:
        ctx.options.http.dispatcher ??
        new Agent({ headersTimeout: this.#timeoutMs, connect: { timeout: this.#timeoutMs } }),
    };
  }

  /** Closes the default dispatcher's sockets. */
  async close(): Promise<void> {
    if (!this.#ctx.options.http.dispatcher) await (this.#dispatcher.dispatcher as Dispatcher).close();
  }

  async fetch(id: string, path: string, init: BatonRequestInit = {}): Promise<Response> {
    // Warm: straight from the cache (single-use connections are never cached).
    let conn = this.#ctx.cache.fresh(id, this.#ctx.clock.now())?.conn ?? (await this.#tokens.usable(id));
    const url = this.#resolve(conn.endpoints.apiBaseUrl, path);
    const { apiOrigin } = prepare(conn);
    if (!hostAllowed(url, conn.spec.redirectAuthHosts, apiOrigin)) {
      throw new ConfigError(
        `Refusing to send the credentials of "${id}" to ${url.host}, which is not ${conn.spec.displayName}'s API host.`,
        `Use a path relative to the API base (${apiOrigin.origin}), or add the host to the provider's redirectAuthHosts.`,
        { connectionId: id, provider: conn.record.provider },
      );
    }
    const canReplay = replayable(init.body);
    let res = await this.#send(conn, url, init);
    const rejected = conn.secrets.tokens?.accessToken;
    if (res.status === 401 && !isStatic(conn) && rejected) {
      // The token leaves the cache before anything else runs; the next call refreshes.
      this.#ctx.cache.reject(id, rejected);
      // A body that cannot be sent again goes back to the caller with the 401.
      if (!canReplay) return res;
      await res.body?.cancel().catch(() => undefined);
      conn = await this.#tokens.afterRejection(id, rejected);
      res = await this.#send(conn, resolveApiUrl(conn.endpoints.apiBaseUrl, path), init);
      const again = conn.secrets.tokens?.accessToken;
      if (res.status === 401 && again) this.#ctx.cache.reject(id, again);
    }
    return res;
  }

  /** Resolved URLs of recent paths: most programs call a handful of endpoints over and over. */
  readonly #urls = new Map<string, URL>();

  #resolve(base: string, path: string): URL {
    const key = `${base}\n${path}`;
    let url = this.#urls.get(key);
    if (!url) {
      url = resolveApiUrl(base, path);
      if (this.#urls.size >= 512) this.#urls.clear();
      this.#urls.set(key, url);
    }
    return url;
  }

  async #send(conn: LoadedConnection, first: URL, init: BatonRequestInit): Promise<Response> {
    const {
      header: [name, value],
    } = prepare(conn);
    let current = conn;
    const timeoutMs = init.timeoutMs;
    // The common case (no caller headers) skips building a Headers object.
    let headers: RequestInit['headers'];
    if (init.headers === undefined) headers = { [name]: value };
    else {
      const h = new Headers(init.headers);
      h.set(name, value);
      headers = h;
    }
    const method = (init.method ?? 'GET').toUpperCase();
    // (`timeoutMs` rides along in the init: fetch ignores members it does not know.)
    const send = (url: URL, m: string, body: RequestInit['body']) =>
      this.#attempt(
        current,
        url,
        { ...init, method: m, body, headers, redirect: 'manual', ...this.#dispatcher },
        timeoutMs,
      );
    // The hot path: most answers are not redirects, and skip the redirect loop's machinery.
    const res = await send(first, method, init.body);
    if (!REDIRECTS.has(res.status)) return res;
    const { response } = await followRedirects<RequestInit['body'], Answer>(
      { url: first, method, body: init.body },
      async (hop) => {
        const r = hop.index === 0 ? res : await send(hop.url, hop.method, hop.body);
        return {
          res: r,
          status: r.status,
          location: REDIRECTS.has(r.status) ? r.headers.get('location') : null,
        };
      },
      {
        maxRedirects: MAX_REDIRECTS,
        allowedHosts: conn.spec.redirectAuthHosts,
        keepMethod: false,
        onFollow: async ({ res: r }, from, to) => {
          await r.body?.cancel().catch(() => undefined);
          if (from.index === 0 && (r.status === 301 || r.status === 308)) {
            current = await this.#learnBase(current, from.url, to);
          }
        },
      },
    );
    return response.res;
  }

  /**
   * One request. A kept-alive socket the server closed just as we reused it fails before any
   * byte is answered; an idempotent request is safe to send once more on a fresh socket.
   */
  async #attempt(conn: LoadedConnection, url: URL, init: RequestInit, timeoutMs?: number): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      // The default dispatcher bounds the wait by itself; a per-call bound or a caller's
      // dispatcher needs a timer that is cleared as soon as the headers arrive.
      const bound = timeoutMs ?? (this.#ctx.options.http.dispatcher ? this.#timeoutMs : undefined);
      let timer: NodeJS.Timeout | undefined;
      let request = init;
      if (bound !== undefined) {
        const abort = new AbortController();
        timer = setTimeout(() => abort.abort(new TimeoutError(bound)), bound);
        const signals = init.signal ? [init.signal, abort.signal] : [abort.signal];
        request = { ...init, signal: AbortSignal.any(signals as AbortSignal[]) };
      }
      try {
        return await fetch(url, request);
      } catch (err) {
        const idempotent = IDEMPOTENT.has(init.method ?? 'GET') && replayable(init.body);
        if (attempt === 1 && idempotent && isSocketReset(err)) continue;
        if (init.signal?.aborted) throw err;
        const timedOut =
          (err as { name?: string })?.name === 'TimeoutError' ||
          (err as { cause?: { code?: string; name?: string } })?.cause?.code === 'UND_ERR_HEADERS_TIMEOUT' ||
          (err as { cause?: { name?: string } })?.cause?.name === 'TimeoutError' ||
          (err as { cause?: { code?: string } })?.cause?.code === 'UND_ERR_CONNECT_TIMEOUT';
        throw new NetworkError(
          `Could not reach ${url.host} for connection "${conn.record.id}": ${timedOut ? `no answer within ${bound ?? this.#timeoutMs} ms` : describeNetworkError(err)}.`,
          {
            connectionId: conn.record.id,
            provider: conn.record.provider,
            cause: redactedCause(err, secretValues(conn.secrets, conn.client)),
          },
        );
      } finally {
        if (timer) clearTimeout(timer);
      }
    }
  }

  /**
   * A permanent redirect of a URL under the API base: the account moved (Checkfront's
   * bookingplatform.app migration). Store the new base so later requests, and the token
   * endpoint under it, go straight there.
   */
  async #learnBase(conn: LoadedConnection, from: URL, to: URL): Promise<LoadedConnection> {
    const base = conn.endpoints.apiBaseUrl;
    const rest = from.href.startsWith(base) ? from.href.slice(base.length) : null;
    if (rest === null || !to.href.endsWith(rest)) return conn;
    const newBase = to.href.slice(0, to.href.length - rest.length);
    if (!newBase || newBase === base) return conn;
    // The base is bound into the seal: the write re-seals the secrets under the new binding.
    const written = await writeConnection(this.#ctx, conn.record.id, 'learn_base', (current) => {
      if (!current) return null;
      const next = { ...current, apiBaseUrl: newBase };
      return { ...next, sealed: sealSecrets(this.#ctx.sealer, next, openSecrets(this.#ctx.sealer, current)) };
    }).catch(() => null);
    return written ? this.#tokens.remember(openConnection(this.#ctx, written)) : conn;
  }
}
