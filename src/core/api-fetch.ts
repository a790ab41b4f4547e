import type { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import { Agent, type Dispatcher, fetch, Headers, type RequestInit, type Response } from 'undici';
import {
  ConfigError,
  carriesSecret,
  connectionRef,
  NetworkError,
  redactedCause,
  type Secret,
} from '../errors.js';
import { type DpopSigner, isResourceNonceChallenge } from '../protocol/dpop.js';
import { describeNetworkError } from '../protocol/http.js';
import { readPath } from '../protocol/json-path.js';
import { hostAllowed } from '../protocol/redirect-policy.js';
import { followRedirects } from '../protocol/redirects.js';
import { type ApiPathRule, resolveApiUrl } from '../providers/api-url.js';
import type { ApiTokenRejection, ProviderSpec } from '../providers/spec.js';
import { apiHeadersFor } from '../providers/template.js';
import type { CoreContext, LoadedConnection } from './context.js';
import { openConnection } from './context.js';
import { dpopKeyOf, signerFor } from './dpop.js';
import { openSecrets, reconnectWithCredentials, sealSecrets, secretValues } from './secrets.js';
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

const RESET = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);
const TIMEOUT = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/** fetch wraps undici's errors in a TypeError whose cause carries the code; request throws them as they are. */
function codeOf(err: unknown): { code?: string; name?: string } {
  const e = err as { code?: string; name?: string; cause?: { code?: string; name?: string } } | null;
  return e?.code ? e : (e?.cause ?? e ?? {});
}

function isSocketReset(err: unknown): boolean {
  return RESET.has(codeOf(err).code ?? '');
}

function isTimeout(err: unknown): boolean {
  const { code, name } = codeOf(err);
  return (err as Error)?.name === 'TimeoutError' || name === 'TimeoutError' || TIMEOUT.has(code ?? '');
}

/** The caller's own abort (not our timeout): passed on unchanged. */
function isAbort(err: unknown): boolean {
  const e = err as { name?: string; code?: string } | null;
  return e?.name === 'AbortError' || e?.code === 'UND_ERR_ABORTED';
}

/** A response as the redirect loop sees it. */
interface Answer<R> {
  res: R;
  status: number;
  location: string | null;
}

interface Prepared {
  header: [name: string, value: string];
  /** The spec's `apiHeaders` over the connection's params (a caller's own header of a name wins). */
  extra: [name: string, value: string][];
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
    p = {
      header: authHeader(conn),
      extra: apiHeadersFor(conn.spec, conn.record.params),
      apiOrigin: new URL(conn.endpoints.apiBaseUrl),
    };
    prepared.set(conn, p);
  }
  return p;
}

/** Where a credentialed request for a connection goes, and the header that authenticates it. */
export interface ApiTarget {
  url: URL;
  /** Name (lower case) and value, per the connection's auth mode. */
  credential: [name: string, value: string];
}

/** Resolved URLs of recent paths: most programs call a handful of endpoints over and over. */
const resolved = new Map<string, URL>();

/**
 * The one place a request's URL and credential are computed for a connection — for
 * `baton.fetch` and `baton.request`, and so for the server's proxy: the path confined under the
 * API base (`resolveApiUrl`, README "baton.fetch"; `relativeOnly` refuses absolute URLs and "@"
 * too), a host its credentials may reach (the API's origin, or the spec's `redirectAuthHosts`),
 * and the credential header of its auth mode.
 */
export function apiTarget(
  conn: LoadedConnection,
  path: string,
  rule: Pick<ApiPathRule, 'relativeOnly'> = {},
): ApiTarget {
  const base = conn.endpoints.apiBaseUrl;
  const key = `${rule.relativeOnly ? 'r' : 'a'}\n${base}\n${path}`;
  let url = resolved.get(key);
  if (!url) {
    url = resolveApiUrl(base, path, {
      ...rule,
      connectionId: conn.record.id,
      provider: conn.record.provider,
    });
    if (resolved.size >= 512) resolved.clear();
    resolved.set(key, url);
  }
  const { header, apiOrigin } = prepare(conn);
  if (!hostAllowed(url, conn.spec.redirectAuthHosts, apiOrigin)) {
    throw new ConfigError(
      `Refusing to send the credentials of "${conn.record.id}" to ${url.host}, which is not ${conn.spec.displayName}'s API host.`,
      `Use a path relative to the API base (${apiOrigin.origin}), or add the host to the provider's redirectAuthHosts.`,
      {
        connectionId: conn.record.id,
        provider: conn.record.provider,
        httpRemediation: `Use a path relative to the API base (${apiOrigin.origin}).`,
      },
    );
  }
  return { url, credential: header };
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
  return tokenAuthHeader(spec, accessTokenOf(conn), conn.secrets.tokens?.tokenType ?? 'Bearer');
}

/**
 * Where an access token goes: the spec's `tokenHeader` (`X-Shopify-Access-Token: {accessToken}`),
 * else `Authorization: <type> <token>` (RFC 6750 §2.1). A DPoP-bound token always goes as
 * `Authorization: DPoP` (RFC 9449 §7.1).
 */
export function tokenAuthHeader(
  spec: Pick<ProviderSpec, 'tokenHeader'>,
  token: string,
  type: string,
): [name: string, value: string] {
  const custom = spec.tokenHeader;
  if (!custom || type === 'DPoP') return ['authorization', `${type} ${token}`];
  const value = custom.template.replace(/\{(accessToken|tokenType)\}/g, (_, k: string) =>
    k === 'accessToken' ? token : type,
  );
  return [custom.header.toLowerCase(), value];
}

function missingCredentials(conn: LoadedConnection): ConfigError {
  return new ConfigError(
    `Connection "${conn.record.id}" has no stored ${conn.record.authMode} credentials.`,
    'Connect it again with its API key and secret (`baton connect`).',
    {
      connectionId: conn.record.id,
      provider: conn.record.provider,
      httpRemediation: reconnectWithCredentials(conn.record.id),
    },
  );
}

/**
 * A 401 that asks only for a DPoP nonce (RFC 9449 §9) — one still standing after the one retry
 * with it — says nothing against the token: it is not a rejection to refresh for.
 */
function nonceOnly<R>(res: R, ex: Exchange<R>): boolean {
  return isResourceNonceChallenge(401, ex.header(res, 'www-authenticate'), ex.header(res, 'dpop-nonce'));
}

function replayable(body: unknown): boolean {
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
 * Whether a 2xx answer refuses the token all the same (spec `apiTokenRejection`: Slack's
 * `{"ok": false, "error": "invalid_auth"}`), read without taking the body from the caller.
 */
async function refusedIn2xx<R>(
  ex: Exchange<R>,
  res: R,
  rule: ApiTokenRejection,
): Promise<{ res: R; refused: boolean }> {
  const status = ex.status(res);
  if (status < 200 || status >= 300 || !/json/i.test(ex.header(res, 'content-type') ?? '')) {
    return { res, refused: false };
  }
  const peeked = await ex.peek(res);
  let value: unknown;
  try {
    value = readPath(JSON.parse(peeked.text), rule.path);
  } catch {
    value = undefined;
  }
  return { res: peeked.res, refused: typeof value === 'string' && rule.values.includes(value) };
}

/** A body read in full, handed back as the stream and body methods undici's `request()` gives. */
function bufferedBody(buf: Buffer): Dispatcher.ResponseData['body'] {
  const stream = Readable.from([buf]);
  const text = () => buf.toString('utf8');
  return Object.assign(stream, {
    text: async () => text(),
    json: async () => JSON.parse(text()) as unknown,
    arrayBuffer: async () => buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength),
    bytes: async () => new Uint8Array(buf),
    blob: async () => new Blob([buf]),
    formData: async () => {
      throw new TypeError('formData() is not available on this body');
    },
    dump: async () => {
      stream.destroy();
    },
    body: undefined,
    bodyUsed: false,
  }) as unknown as Dispatcher.ResponseData['body'];
}

/** The options of `baton.request`: undici's `request()` shape, with the connection's credentials added. */
export interface BatonRequestOptions {
  method?: string;
  /** Header names are matched case-insensitively; a caller's credential header is replaced. */
  headers?: Record<string, string | string[]>;
  body?: string | Uint8Array | Readable | null;
  /** Aborts the request (an AbortSignal, or an EventEmitter that emits `abort`). */
  signal?: AbortSignal | EventEmitter;
  /** As for `baton.fetch`: how long to wait for each response's headers, in ms. */
  timeoutMs?: number;
  /**
   * How long the response body may go without a byte once the headers arrived, in ms (undici's
   * `bodyTimeout`); the body stream then fails with `UND_ERR_BODY_TIMEOUT`. Default: undici's 300 s.
   */
  bodyTimeoutMs?: number;
  /**
   * Drop every response header whose value carries the connection's credential — raw, encoded,
   * in base64 (the Basic pair too), or a run of it — whatever the header's name, and the header
   * the credential is sent in, whatever its value: for relaying the response to someone who
   * must not learn the credential (the server's proxy).
   */
  dropCredentialHeaders?: boolean;
  /**
   * Refuse a path that is an absolute URL or carries "@" (an `UnsafeApiPath`, before anything is
   * sent): for relaying a path from someone who may name no host (the server's proxy).
   */
  relativeOnly?: boolean;
}

/**
 * One HTTP exchange, without following redirects: what `baton.fetch` (WHATWG fetch, a
 * `Response`) and `baton.request` (undici's `request()`, a Node stream) do differently.
 * Everything else — which URL, which credential, the redirect policy, the 401 rule — is
 * the fetcher's, and the same for both.
 */
interface Exchange<R> {
  readonly method: string;
  readonly body: unknown;
  /** `dpop`: the request's DPoP proof (RFC 9449 §7), for a DPoP-bound token. */
  send(
    url: URL,
    method: string,
    body: unknown,
    credential: [string, string],
    extra: readonly [string, string][],
    dpop?: string,
  ): Promise<R>;
  /** The body's text without taking it from the caller: the response to return, and the text. */
  peek(res: R): Promise<{ res: R; text: string }>;
  status(res: R): number;
  /** A response header (lower-case name), the first when repeated. */
  header(res: R, name: string): string | null;
  /** Drops a response that will not be returned (a redirect followed, a 401 retried). */
  discard(res: R): Promise<void>;
  /** The bound on the wait for headers, in ms, when the exchange applies one itself. */
  readonly timeoutMs: number | undefined;
  /** Whether the caller's own signal aborted (its error is passed on unchanged). */
  aborted(): boolean;
  /** The response as returned, given the connection whose credential it was sent with. */
  finish?(res: R, conn: LoadedConnection): R;
  /** How strictly the path is judged. */
  readonly rule?: Pick<ApiPathRule, 'relativeOnly'>;
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
   * own settings, and the timeout is applied per request.
   */
  readonly #dispatcher: Dispatcher;
  readonly #ownDispatcher: boolean;
  readonly #timeoutMs: number;

  constructor(ctx: CoreContext, tokens: TokenSource) {
    this.#ctx = ctx;
    this.#tokens = tokens;
    this.#timeoutMs = ctx.options.http.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#ownDispatcher = !ctx.options.http.dispatcher;
    this.#dispatcher =
      ctx.options.http.dispatcher ??
      new Agent({ headersTimeout: this.#timeoutMs, connect: { timeout: this.#timeoutMs } });
  }

  /** Closes the default dispatcher's sockets. */
  async close(): Promise<void> {
    if (this.#ownDispatcher) await this.#dispatcher.close();
  }

  fetch(id: string, path: string, init: BatonRequestInit = {}): Promise<Response> {
    // The default dispatcher bounds the wait by itself; a per-call bound or a caller's
    // dispatcher needs a timer that is cleared as soon as the headers arrive.
    const bound = init.timeoutMs ?? (this.#ownDispatcher ? undefined : this.#timeoutMs);
    return this.#call(id, path, new FetchExchange(init, this.#dispatcher, bound));
  }

  /**
   * The same request with undici's `request()`: no WHATWG objects, the body a Node stream.
   * The server's proxy forwards through it; programs that stream bodies can too.
   */
  request(id: string, path: string, options: BatonRequestOptions = {}): Promise<Dispatcher.ResponseData> {
    return this.#call(
      id,
      path,
      new RequestExchange(options, this.#dispatcher, options.timeoutMs ?? this.#timeoutMs),
    );
  }

  async #call<R>(id: string, path: string, ex: Exchange<R>): Promise<R> {
    // Warm: straight from the cache (single-use connections are never cached).
    let conn = this.#ctx.cache.fresh(id, this.#ctx.clock.now())?.conn ?? (await this.#tokens.usable(id));
    let res: R = await this.#send(conn, apiTarget(conn, path, ex.rule).url, ex);
    const rejected = conn.secrets.tokens?.accessToken;
    let refused = ex.status(res) === 401;
    if (!refused && !isStatic(conn) && conn.spec.apiTokenRejection) {
      ({ res, refused } = await refusedIn2xx(ex, res, conn.spec.apiTokenRejection));
    }
    if (refused && !isStatic(conn) && rejected && !nonceOnly(res, ex)) {
      // The token leaves the cache before anything else runs; the next call refreshes.
      this.#ctx.cache.reject(id, rejected);
      // A body that cannot be sent again goes back to the caller with the 401.
      if (replayable(ex.body)) {
        await ex.discard(res);
        const sent = conn;
        conn = await this.#tokens.afterRejection(id, rejected);
        res = await this.#send(conn, apiTarget(conn, path, ex.rule).url, ex);
        const again = conn.secrets.tokens?.accessToken;
        let refusedAgain = ex.status(res) === 401;
        if (!refusedAgain && conn.spec.apiTokenRejection) {
          ({ res, refused: refusedAgain } = await refusedIn2xx(ex, res, conn.spec.apiTokenRejection));
        }
        if (refusedAgain && again) this.#ctx.cache.reject(id, again);
        // The answer may echo either credential: the rejected one was sent too.
        if (ex.finish) res = ex.finish(res, sent);
      }
    }
    return ex.finish ? ex.finish(res, conn) : res;
  }

  async #send<R>(conn: LoadedConnection, first: URL, ex: Exchange<R>): Promise<R> {
    let current = conn;
    const send = (url: URL, method: string, body: unknown) => this.#attempt(current, url, method, body, ex);
    // The hot path: most answers are not redirects, and skip the redirect loop's machinery.
    const res = await send(first, ex.method, ex.body);
    if (!REDIRECTS.has(ex.status(res))) return res;
    const { response } = await followRedirects<unknown, Answer<R>>(
      { url: first, method: ex.method, body: ex.body },
      async (hop) => {
        const r = hop.index === 0 ? res : await send(hop.url, hop.method, hop.body);
        const status = ex.status(r);
        return { res: r, status, location: REDIRECTS.has(status) ? ex.header(r, 'location') : null };
      },
      {
        maxRedirects: MAX_REDIRECTS,
        allowedHosts: conn.spec.redirectAuthHosts,
        keepMethod: false,
        onFollow: async ({ res: r, status }, from, to) => {
          await ex.discard(r);
          if (from.index === 0 && (status === 301 || status === 308)) {
            current = await this.#learnBase(current, from.url, to);
          }
        },
      },
    );
    return response.res;
  }

  /**
   * One request. A kept-alive socket the server closed just as we reused it fails before any
   * byte is answered; an idempotent request is safe to send once more on a fresh socket. A
   * DPoP-bound token goes with a fresh proof of the connection's key, and a resource server's
   * nonce challenge (RFC 9449 §9) is answered once with the nonce it gave.
   */
  async #attempt<R>(
    conn: LoadedConnection,
    url: URL,
    method: string,
    body: unknown,
    ex: Exchange<R>,
  ): Promise<R> {
    // (Checked here first: the common case pays no extra await.)
    const dpop = conn.secrets.tokens?.tokenType === 'DPoP' ? await this.#dpop(conn) : undefined;
    let reset = false;
    let challenged = false;
    for (;;) {
      try {
        const proof = dpop ? await dpop.signer.proof(method, url, dpop.token) : undefined;
        const p = prepare(conn);
        const res = await ex.send(url, method, body, p.header, p.extra, proof);
        if (!dpop) return res;
        const nonce = ex.header(res, 'dpop-nonce');
        dpop.signer.observe(url, nonce);
        const challenge = isResourceNonceChallenge(ex.status(res), ex.header(res, 'www-authenticate'), nonce);
        if (!challenge || challenged || !replayable(body)) return res;
        challenged = true;
        await ex.discard(res);
      } catch (err) {
        const idempotent = IDEMPOTENT.has(method) && replayable(body);
        if (!reset && idempotent && isSocketReset(err)) {
          reset = true;
          continue;
        }
        if (ex.aborted() || isAbort(err)) throw err;
        throw new NetworkError(
          `Could not reach ${url.host} for connection "${conn.record.id}": ${isTimeout(err) ? `no answer within ${ex.timeoutMs ?? this.#timeoutMs} ms` : describeNetworkError(err)}.`,
          {
            connectionId: conn.record.id,
            provider: conn.record.provider,
            cause: redactedCause(err, secretValues(conn.secrets, conn.client)),
          },
        );
      }
    }
  }

  /** For a DPoP-bound token (RFC 9449 §7.1): what signs its proofs; undefined for any other credential. */
  async #dpop(conn: LoadedConnection): Promise<{ signer: DpopSigner; token: string } | undefined> {
    const tokens = conn.secrets.tokens;
    if (!tokens || isStatic(conn)) return undefined;
    if (!tokens.dpopKey) {
      throw new ConfigError(
        `Connection "${conn.record.id}" holds a DPoP-bound token but not the key it is bound to.`,
        'Connect it again (`baton connect`) so that Baton makes the key and the provider binds new tokens to it.',
        {
          connectionId: conn.record.id,
          provider: conn.record.provider,
          httpRemediation: `Connect ${connectionRef(conn.record.id).where} again: send the account owner to a connect page (POST /v1/connect-sessions, manage).`,
          forOperator: true,
        },
      );
    }
    const key = await dpopKeyOf(tokens.dpopKey);
    return { signer: signerFor(this.#ctx, key), token: tokens.accessToken };
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

/** `baton.fetch`'s exchange: WHATWG fetch with `redirect: 'manual'`. */
class FetchExchange implements Exchange<Response> {
  readonly method: string;
  readonly body: unknown;
  readonly timeoutMs: number | undefined;
  readonly #init: BatonRequestInit;
  readonly #dispatcher: Dispatcher;
  readonly #bound: number | undefined;

  constructor(init: BatonRequestInit, dispatcher: Dispatcher, bound: number | undefined) {
    this.#init = init;
    this.#dispatcher = dispatcher;
    this.#bound = bound;
    this.method = (init.method ?? 'GET').toUpperCase();
    this.body = init.body;
    this.timeoutMs = init.timeoutMs;
  }

  send(
    url: URL,
    method: string,
    body: unknown,
    [name, value]: [string, string],
    extra: readonly [string, string][],
    dpop?: string,
  ): Promise<Response> {
    const init = this.#init;
    // The common case (no caller headers) skips building a Headers object.
    let headers: RequestInit['headers'];
    if (init.headers === undefined && extra.length === 0)
      headers = dpop ? { [name]: value, dpop } : { [name]: value };
    else {
      const h = new Headers(init.headers);
      for (const [k, v] of extra) if (!h.has(k)) h.set(k, v);
      h.set(name, value);
      if (dpop) h.set('dpop', dpop);
      else h.delete('dpop');
      headers = h;
    }
    // (`timeoutMs` rides along in the init: fetch ignores members it does not know.)
    const request: RequestInit = {
      ...init,
      method,
      body: body as RequestInit['body'],
      headers,
      redirect: 'manual',
      dispatcher: this.#dispatcher,
    };
    return this.#bound === undefined ? fetch(url, request) : this.#bounded(url, request, this.#bound);
  }

  async #bounded(url: URL, request: RequestInit, bound: number): Promise<Response> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new TimeoutError(bound)), bound);
    const signals = this.#init.signal ? [this.#init.signal, abort.signal] : [abort.signal];
    try {
      return await fetch(url, { ...request, signal: AbortSignal.any(signals as AbortSignal[]) });
    } finally {
      clearTimeout(timer);
    }
  }

  aborted(): boolean {
    return this.#init.signal?.aborted === true;
  }
  status(res: Response): number {
    return res.status;
  }
  header(res: Response, name: string): string | null {
    return res.headers.get(name);
  }
  async discard(res: Response): Promise<void> {
    await res.body?.cancel().catch(() => undefined);
  }
  async peek(res: Response): Promise<{ res: Response; text: string }> {
    return { res, text: await res.clone().text() };
  }
}

/** `baton.request`'s exchange: undici's `request()`, the body a Node stream. */
class RequestExchange implements Exchange<Dispatcher.ResponseData> {
  readonly method: string;
  readonly body: unknown;
  readonly timeoutMs: number | undefined;
  readonly rule: Pick<ApiPathRule, 'relativeOnly'>;
  readonly #options: BatonRequestOptions;
  readonly #dispatcher: Dispatcher;
  readonly #headersTimeout: number;

  constructor(options: BatonRequestOptions, dispatcher: Dispatcher, headersTimeout: number) {
    this.#options = options;
    this.#dispatcher = dispatcher;
    this.#headersTimeout = headersTimeout;
    this.method = (options.method ?? 'GET').toUpperCase();
    this.body = options.body;
    this.timeoutMs = options.timeoutMs;
    this.rule = options.relativeOnly ? { relativeOnly: true } : {};
  }

  send(
    url: URL,
    method: string,
    body: unknown,
    [name, value]: [string, string],
    extra: readonly [string, string][],
    dpop?: string,
  ): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of extra) headers[k] = v;
    const given = this.#options.headers;
    if (given) {
      for (const k in given) {
        const lower = k.toLowerCase();
        if (lower !== name && lower !== 'dpop') {
          if (lower !== k) delete headers[lower];
          headers[k] = given[k] as string | string[];
        }
      }
    }
    headers[name] = value;
    if (dpop) headers['dpop'] = dpop;
    return this.#dispatcher.request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: method as Dispatcher.HttpMethod,
      headers,
      body: body as BatonRequestOptions['body'],
      headersTimeout: this.#headersTimeout,
      ...(this.#options.bodyTimeoutMs !== undefined ? { bodyTimeout: this.#options.bodyTimeoutMs } : {}),
      ...(this.#options.signal ? { signal: this.#options.signal } : {}),
    });
  }

  finish(res: Dispatcher.ResponseData, conn: LoadedConnection): Dispatcher.ResponseData {
    if (!this.#options.dropCredentialHeaders) return res;
    // What was sent: the credential of the header without its scheme (the token of `Bearer
    // <token>`, the base64 of `Basic <b64>`, the value of an API-key template) and, for static
    // credentials, the key, the secret and their Basic pair, which templates and Basic carry.
    const [sentIn, sent] = prepare(conn).header;
    const secrets: Secret[] = [sent.slice(sent.indexOf(' ') + 1)];
    const c = conn.secrets.credentials;
    if (c) {
      if (c.apiKey !== secrets[0]) secrets.push(c.apiKey);
      if (c.apiSecret) secrets.push(c.apiSecret, { clientId: c.apiKey, clientSecret: c.apiSecret });
    }
    const headers = res.headers;
    for (const name in headers) {
      const value = headers[name];
      if (value === undefined) continue;
      const values = Array.isArray(value) ? value : [value];
      if (name === sentIn || values.some((v) => carriesSecret(v, secrets))) delete headers[name];
    }
    return res;
  }

  aborted(): boolean {
    return (this.#options.signal as AbortSignal | undefined)?.aborted === true;
  }
  status(res: Dispatcher.ResponseData): number {
    return res.statusCode;
  }
  header(res: Dispatcher.ResponseData, name: string): string | null {
    const l = res.headers[name];
    return (Array.isArray(l) ? l[0] : l) ?? null;
  }
  async discard(res: Dispatcher.ResponseData): Promise<void> {
    await res.body.dump().catch(() => undefined);
  }
  async peek(res: Dispatcher.ResponseData): Promise<{ res: Dispatcher.ResponseData; text: string }> {
    const buf = Buffer.from(await res.body.arrayBuffer());
    return { res: { ...res, body: bufferedBody(buf) }, text: buf.toString('utf8') };
  }
}
