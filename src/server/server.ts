import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import pino from 'pino';
import { Baton, type BatonOptions } from '../core/baton.js';
import type { ConnectionInfo } from '../core/connection-info.js';
import {
  BatonError,
  ConfigError,
  ConnectionNotFound,
  carriesSecret,
  ReauthorizationRequired,
  redact,
} from '../errors.js';
import { AuditLog } from './audit.js';
import { registerConnect } from './connect/routes.js';
import { connectionWithReconnect } from './connect/schemas.js';
import type { ConnectOptions } from './connect/service.js';
import { type Caller, KeyRing, ProviderSwitches } from './keys.js';
import { Metrics } from './metrics.js';
import { buildOpenApi, type RouteDoc } from './openapi.js';
import type { RouteDef, ServerParts } from './parts.js';
import {
  bearerChallenge,
  forbidden,
  HttpProblem,
  outOfScope,
  PROBLEM_TYPE,
  type Problem,
  toProblem,
  unauthorized,
} from './problem.js';
import { httpRemediation } from './remediation.js';
import * as S from './schemas.js';
import type { Operation, ServerStore } from './server-store.js';
import { openServerStore } from './server-store.js';
import type { DelivererOptions } from './webhooks/deliverer.js';
import { registerWebhooks } from './webhooks/routes.js';

export interface ServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** The store spec ('sqlite:<path>', 'postgres://…', 'memory:'); default BATON_STORE, else the default SQLite file. */
  store?: string;
  /** A Baton already open (the server does not close it). Otherwise one is opened from `baton` options. */
  instance?: Baton;
  baton?: Omit<BatonOptions, 'store'>;
  /** Run the keeper (background refresh) in this process. Default true. */
  keeper?: boolean;
  keeperIntervalMs?: number;
  /** How long shutdown waits for requests in flight. Default 10 s. */
  shutdownTimeoutMs?: number;
  /** Audit rows older than this are pruned. Default 90 days. */
  auditRetentionMs?: number;
  /** The server's URL as callers and browsers reach it (for the authorization callback). Default http://host:port. */
  publicUrl?: string;
  /** pino level. Default info. */
  logLevel?: string;
  /** Where log lines go. Default stdout. */
  logStream?: NodeJS.WritableStream;
  /** How long a disabled key or provider may still be honoured. Default 500 ms (under the 1 s promised). */
  cacheTtlMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Connect pages: session lifetime, return-URL allow-list (README, "Connect pages"). */
  connect?: ConnectOptions;
  /** Webhook delivery from this replica (README, "Webhooks"); false: this replica delivers none. */
  webhooks?: DelivererOptions | false;
  /**
   * The proxy's bound on an upstream, in ms: how long it may take to send the response headers,
   * and then how long its body may go without a byte. Past it the caller gets a 504 problem (or,
   * when the headers were already relayed, the stream is cut) and the audit row says
   * `upstream_timeout`. Default 30 s.
   */
  proxyTimeoutMs?: number;
}

export interface BatonServer {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly baton: Baton;
  readonly serverStore: ServerStore;
  /** Every route registered (method and URL), for checking the OpenAPI document against. */
  readonly routes: { method: string; url: string }[];
  /** Stops accepting, drains requests in flight (bounded), writes queued audit rows, commits held pairs. */
  close(): Promise<void>;
}

interface RequestState {
  caller: Caller | null;
  connectionId: string | null;
  provider: string | null;
  detail: string | null;
  /** The request's audit row, metric and log line are written (once, at its end). */
  finished?: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    batonState: RequestState;
  }
  interface FastifyContextConfig {
    op?: Operation | null;
    audit?: string;
  }
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'authorization',
  'content-length',
  'accept-encoding',
  'expect',
]);

/**
 * Response headers never relayed: hop-by-hop ones, and any carrying a credential by its name
 * (values carrying the connection's credential are dropped whatever the name, see below).
 */
const RESPONSE_DROP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'authorization',
  'proxy-authorization',
  'x-api-key',
  'x-auth-token',
  'x-access-token',
]);

/** The proxy's default bound on an upstream's headers, and on its body's silences. */
const PROXY_TIMEOUT_MS = 30_000;

/** Proxied response bodies up to this many bytes (with a Content-Length) are sent in one write. */
const SMALL_BODY = 64 * 1024;

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** Answers with a problem document; its code becomes the audit row's outcome. */
function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  (reply as FastifyReply & { batonCode?: string }).batonCode = problem.code;
  if (problem.retryAfter !== undefined) reply.header('retry-after', String(problem.retryAfter));
  return reply.code(problem.status).type(PROBLEM_TYPE).send(problem);
}

/** The path of a URL for logs and the audit log: no query string, redacted. */
function pathOnly(url: string): string {
  let end = url.indexOf('?');
  const hash = url.indexOf('#');
  if (hash !== -1 && (end === -1 || hash < end)) end = hash;
  return redact(end === -1 ? url : url.slice(0, end));
}

/** Header names a request's `Connection` header marks hop-by-hop (RFC 9110 §7.6.1), beyond keep-alive/close. */
function connectionOptions(value: string | undefined): Set<string> | null {
  if (value === undefined || value === 'keep-alive' || value === 'close') return null;
  const names = value
    .toLowerCase()
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '' && s !== 'keep-alive' && s !== 'close');
  return names.length === 0 ? null : new Set(names);
}

function isBodyTimeout(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === 'UND_ERR_BODY_TIMEOUT';
}

/** An upstream whose body stalled before the proxy relayed anything. */
function upstreamTimeout(id: string, provider: string, ms: number): HttpProblem {
  return new HttpProblem(
    504,
    'upstream_timeout',
    `The API of connection "${id}" (${provider}) sent its response headers and then nothing for ${ms} ms.`,
    "Retry later; if the API is slow by nature, the server's operator can give the proxy a longer timeout (--proxy-timeout).",
  );
}

/** Starts the HTTP server: the broker API, the authenticating proxy, health and metrics. */
export async function startServer(options: ServerOptions = {}): Promise<BatonServer> {
  const env = options.env ?? process.env;
  const storeSpec = options.store ?? (env['BATON_STORE'] || undefined);
  const ownsBaton = !options.instance;
  const baton =
    options.instance ??
    (await Baton.open({ ...options.baton, ...(storeSpec ? { store: storeSpec } : {}), env, keeper: false }));
  let serverStore: ServerStore;
  try {
    serverStore = await openServerStore(baton.store, storeSpec);
  } catch (err) {
    if (ownsBaton) await baton.close();
    throw err;
  }
  const ttl = options.cacheTtlMs ?? 500;
  const proxyTimeoutMs = options.proxyTimeoutMs ?? PROXY_TIMEOUT_MS;
  const keys = new KeyRing(serverStore, ttl);
  const switches = new ProviderSwitches(serverStore, ttl);
  const metrics = new Metrics(baton);

  const logger = pino(
    {
      level: options.logLevel ?? 'info',
      base: { service: 'baton' },
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'req.headers["x-api-key"]',
          'headers.authorization',
        ],
        censor: '[redacted]',
      },
      serializers: {
        err: (err: unknown) =>
          err instanceof BatonError
            ? err.toJSON()
            : { name: (err as Error)?.name, message: redact(String((err as Error)?.message ?? err)) },
      },
    },
    // Standard output is written asynchronously: lines logged while a write is in flight go
    // out together in the next one, and what is buffered is flushed when the process exits.
    options.logStream ?? pino.destination({ dest: 1, sync: false }),
  );
  const audit = new AuditLog(
    serverStore,
    { ...(options.auditRetentionMs ? { retentionMs: options.auditRetentionMs } : {}) },
    {
      failed: (err) =>
        logger.error(
          { err },
          'audit rows could not be written (store unreachable); they are kept and written again',
        ),
      dropped: (row, reason, err) => {
        metrics.auditDropped.inc({ reason });
        logger.error(
          { err, requestId: row.requestId, operation: row.operation, status: row.status, reason },
          'an audit row could not be written and was dropped; the rows around it were written',
        );
      },
    },
  );

  // Connection id → provider, for scopes by provider and the kill switch; the store's change
  // feed (NOTIFY on PostgreSQL) drops entries another replica changed.
  const providerOf = new Map<string, string | null>();
  const unsubscribe = baton.store.subscribe((id) => {
    if (id === null) providerOf.clear();
    else providerOf.delete(id);
  });
  const lookupProvider = async (id: string): Promise<string | null> => {
    if (providerOf.has(id)) return providerOf.get(id) ?? null;
    let provider: string | null = null;
    try {
      provider = (await baton.get(id)).provider;
    } catch (err) {
      if (!(err instanceof ConnectionNotFound)) throw err;
    }
    if (provider !== null) {
      if (providerOf.size > 50_000) providerOf.clear();
      providerOf.set(id, provider);
    }
    return provider;
  };

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    return503OnClosing: true,
    exposeHeadRoutes: false,
    forceCloseConnections: 'idle',
    bodyLimit: 1024 * 1024,
    // Long ids reach the schemas, which answer 400 with the rule (README, "Input rules").
    routerOptions: { maxParamLength: 2048 },
    // The framework's own refusals (bad percent-encoding, …) are problem documents too.
    frameworkErrors: (err, req, reply) => sendProblem(reply, toProblem(err, req.id)),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
  });
  const registered: { method: string; url: string }[] = [];
  app.addHook('onRoute', (r) => {
    for (const m of Array.isArray(r.method) ? r.method : [r.method])
      registered.push({ method: m, url: r.url });
  });
  app.decorateRequest('batonState', null as unknown as RequestState);

  let draining = false;

  app.addHook('onRequest', async (req, reply) => {
    req.batonState = { caller: null, connectionId: null, provider: null, detail: null };
    reply.header('x-request-id', req.id);
    const op = req.routeOptions.config.op;
    if (!op) return;
    const header = req.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m) throw unauthorized('No caller key was sent.');
    const caller = await keys.lookup(m[1] as string);
    if (!caller) throw unauthorized('The caller key is unknown, revoked or disabled.');
    req.batonState.caller = caller;
    if (!caller.key.ops.includes(op)) {
      throw forbidden(
        `The caller key "${caller.key.name}" may not ${op}.`,
        `Use a caller key whose operations include ${op} (the server's operator sets them when creating a key).`,
      );
    }
  });

  // JSON bodies are judged by the types sent: the validator's coercion is for query strings.
  app.addHook('preValidation', async (req) => {
    const body = (req.routeOptions.schema as { body?: object } | undefined)?.body;
    if (
      !body ||
      req.body === undefined ||
      req.body === null ||
      typeof (req.body as { pipe?: unknown }).pipe === 'function'
    )
      return;
    const mismatch = S.typeMismatch(body, req.body);
    if (mismatch)
      throw new HttpProblem(
        400,
        'invalid_request',
        `${mismatch}.`,
        'Fix the request to match the API description at /v1/openapi.json.',
      );
  });

  /** A request's end: its audit row, metric and log line. */
  const finished = (req: FastifyRequest, reply: FastifyReply) => {
    const st = req.batonState;
    if (st?.finished) return;
    if (st) st.finished = true;
    const auditOp = req.routeOptions.config.audit;
    const outcome =
      (reply as FastifyReply & { batonCode?: string }).batonCode ?? (reply.statusCode < 400 ? 'ok' : 'error');
    if (auditOp && st) {
      audit.record({
        at: Date.now(),
        requestId: req.id,
        keyName: st.caller?.key.name ?? null,
        connectionId: st.connectionId,
        provider: st.provider,
        operation: auditOp,
        outcome,
        status: reply.statusCode,
        detail: st.detail,
      });
    }
    if (auditOp === 'token') metrics.releases.inc({ status: String(reply.statusCode) });
    else if (auditOp === 'proxy') metrics.proxied.inc({ status: String(reply.statusCode) });
    // Every release, proxied call and management action is a row in the audit log; the log
    // gets a line per refused or failed request at info, and per request at debug.
    const level = reply.statusCode >= 400 ? 'info' : 'debug';
    if (!(req.log as pino.Logger).isLevelEnabled(level)) return;
    req.log[level](
      {
        method: req.method,
        path: pathOnly(req.url),
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 100) / 100,
        key: st?.caller?.key.name,
        connection: st?.connectionId ?? undefined,
        outcome,
      },
      'request',
    );
  };
  app.addHook('onResponse', async (req, reply) => finished(req, reply));

  app.setErrorHandler(async (err, req, reply) => {
    const problem = toProblem(err, req.id);
    if (problem.status >= 500) req.log.error({ err }, problem.detail);
    else if (err instanceof BatonError && !(err instanceof HttpProblem)) {
      // What only the operator can fix: the library's own sentence goes to the log.
      const operator = httpRemediation(err).operator;
      if (operator)
        req.log.warn(
          { code: err.code, provider: err.provider, remediation: redact(operator) },
          'for the operator',
        );
    }
    // A connection that needs a person: a key that may manage it gets the connect page itself.
    const caller = req.batonState?.caller;
    const reauth = err instanceof ReauthorizationRequired ? err : null;
    const id = reauth?.connectionId;
    if (id && caller?.key.ops.includes('manage') && caller.scope.allows(id, reauth?.provider ?? null)) {
      const link = await connect.service.reconnectLink(id).catch(() => null);
      if (link) problem.reconnect = link.url;
    }
    if (problem.status === 401)
      reply.header('www-authenticate', bearerChallenge(req.headers.authorization !== undefined));
    return sendProblem(reply, problem);
  });
  app.setNotFoundHandler((req, reply) => {
    const path = pathOnly(req.url);
    const allowed = methodsFor(path);
    if (allowed.length > 0) {
      reply.header('allow', allowed.join(', '));
      return sendProblem(
        reply,
        toProblem(
          new HttpProblem(
            405,
            'method_not_allowed',
            `${path} does not answer ${req.method}.`,
            `Use ${allowed.join(' or ')}; see /v1/openapi.json.`,
          ),
          req.id,
        ),
      );
    }
    return sendProblem(
      reply,
      toProblem(
        new HttpProblem(
          404,
          'not_found',
          `No route ${req.method} ${path}.`,
          'See /v1/openapi.json for the routes.',
        ),
        req.id,
      ),
    );
  });

  /** The methods some route answers for a concrete path (for 405 and its Allow header). */
  let patterns: { method: string; re: RegExp }[] | null = null;
  const methodsFor = (path: string): string[] => {
    patterns ??= registered.map((r) => ({
      method: r.method,
      re: new RegExp(
        `^${r.url
          .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
          .replace(/:[A-Za-z]+/g, '[^/]+')
          .replace(/\*/g, '.*')}$`,
      ),
    }));
    return [...new Set(patterns.filter((p) => p.re.test(path)).map((p) => p.method))];
  };

  /** Scope and kill-switch checks for a route on one connection. */
  const authorizeConnection = async (
    req: FastifyRequest,
    id: string,
    providerHint?: string,
  ): Promise<string> => {
    const st = req.batonState;
    st.connectionId = id;
    const caller = st.caller as Caller;
    // No existence oracle (README, "Out-of-scope ids"): an id outside the key's scope gets the
    // same 403 whether or not it exists, and with a provider named (create, authorize) a
    // connection stored for another provider is judged by its stored provider too.
    if (!caller.scope.matchesId(id) && !caller.scope.byProvider) throw outOfScope(caller, id);
    const stored = caller.scope.matchesId(id) && providerHint !== undefined ? null : await lookupProvider(id);
    const provider = providerHint ?? stored;
    st.provider = provider;
    if (!caller.scope.allows(id, provider) || (stored !== null && !caller.scope.allows(id, stored))) {
      throw outOfScope(caller, id);
    }
    if (provider === null) throw new ConnectionNotFound(id);
    const op = req.routeOptions.config.op;
    if ((op === 'token' || op === 'proxy') && (await switches.disabled(provider))) {
      throw new HttpProblem(
        403,
        'provider_disabled',
        `Releases and proxied calls for ${provider} are switched off on this server.`,
        `The server's operator switched ${provider} off; calls work again once they switch it back on (\`baton providers enable ${provider}\`).`,
      );
    }
    return provider;
  };

  const routes: RouteDoc[] = [];
  const route = <P = Record<string, string>, Q = unknown, B = unknown>(def: RouteDef<P, Q, B>) => {
    routes.push({ method: def.method, url: def.url, op: def.op, summary: def.summary, schema: def.schema });
    app.route({
      method: def.method,
      url: def.url,
      config: { op: def.op, ...(def.audit ? { audit: def.audit } : {}) },
      schema: def.schema,
      handler: def.handler as never,
    });
  };

  // ---- connections

  route<
    Record<string, never>,
    { provider?: string; status?: string; prefix?: string; limit: number; cursor?: string }
  >({
    method: 'GET',
    url: '/v1/connections',
    op: 'read',
    summary: 'List the connections this key may see (paginated by id)',
    schema: { querystring: S.listQuery, response: { 200: S.listResponse } },
    handler: async (req) => {
      const q = req.query;
      const caller = req.batonState.caller as Caller;
      // Keyset pages from the store's index (README, "Many connections"): the store filters by
      // provider, status and prefix; the key's scope is applied here, page by page, until the
      // page is full or the store has no more.
      const items: ConnectionInfo[] = [];
      let after = q.cursor;
      let more = false;
      for (;;) {
        const page = await baton.list({
          limit: q.limit + 1,
          ...(after !== undefined ? { after } : {}),
          ...(q.provider !== undefined ? { provider: q.provider } : {}),
          ...(q.status !== undefined ? { status: q.status as ConnectionInfo['status'] } : {}),
          ...(q.prefix !== undefined ? { idPrefix: q.prefix } : {}),
        });
        for (const c of page) {
          if (!caller.scope.allows(c.id, c.provider)) continue;
          if (items.length === q.limit) {
            more = true;
            break;
          }
          items.push(c);
        }
        if (more || page.length <= q.limit) break;
        after = (page[page.length - 1] as ConnectionInfo).id;
      }
      return { items, nextCursor: more ? (items[items.length - 1] as ConnectionInfo).id : null };
    },
  });

  route<{ id: string }>({
    method: 'GET',
    url: '/v1/connections/:id',
    op: 'read',
    summary: 'One connection (never its secrets)',
    schema: { params: S.idParams, response: { 200: connectionWithReconnect } },
    handler: async (req) => {
      await authorizeConnection(req, req.params.id);
      return connect.withReconnect(await baton.get(req.params.id), req.batonState.caller);
    },
  });

  route<
    Record<string, never>,
    unknown,
    {
      id: string;
      provider: string;
      params?: Record<string, string>;
      authMode?: 'client_credentials' | 'token_pair' | 'api_key';
      credentials?: { apiKey: string; apiSecret?: string };
      scopes?: string[];
      replace?: boolean;
      verify?: boolean;
    }
  >({
    method: 'POST',
    url: '/v1/connections',
    op: 'manage',
    audit: 'create',
    summary: 'Create a static-credential or client-credentials connection',
    schema: { body: S.createBody, response: { 201: S.connectionSchema } },
    handler: async (req, reply) => {
      const b = req.body;
      if (!baton.providers.list().some((p) => p.id === b.provider)) baton.providers.get(b.provider);
      await authorizeConnection(req, b.id, b.provider);
      const info = await baton.connect({
        connectionId: b.id,
        provider: b.provider,
        ...(b.params ? { params: b.params } : {}),
        ...(b.authMode ? { authMode: b.authMode } : {}),
        ...(b.credentials ? { credentials: b.credentials } : {}),
        ...(b.scopes ? { scopes: b.scopes } : {}),
        ...(b.replace ? { replace: true } : {}),
        ...(b.verify === false ? { verify: false } : {}),
      });
      providerOf.delete(b.id);
      return reply.code(201).send(info);
    },
  });

  route<
    { id: string },
    unknown,
    {
      provider: string;
      params?: Record<string, string>;
      scopes?: string[];
      redirectUri?: string;
      replace?: boolean;
    }
  >({
    method: 'POST',
    url: '/v1/connections/:id/authorize',
    op: 'manage',
    audit: 'authorize',
    summary: 'Begin an authorization: returns the URL to send the account owner to',
    schema: { params: S.idParams, body: S.authorizeBody, response: { 200: S.authorizeResponse } },
    handler: async (req) => {
      const b = req.body;
      baton.providers.get(b.provider);
      await authorizeConnection(req, req.params.id, b.provider);
      const client = baton.clientFor(b.provider, b.params ?? {});
      const redirectUri = b.redirectUri ?? client?.redirectUri ?? `${publicUrl}/v1/callback`;
      return baton.beginAuthorization({
        provider: b.provider,
        connectionId: req.params.id,
        redirectUri,
        ...(b.params ? { params: b.params } : {}),
        ...(b.scopes ? { scopes: b.scopes } : {}),
        ...(b.replace ? { replace: true } : {}),
      });
    },
  });

  route<Record<string, never>, Record<string, string>>({
    method: 'GET',
    url: '/v1/callback',
    op: null,
    audit: 'callback',
    summary:
      'The authorization callback (the provider redirects the browser here; the state authenticates it)',
    schema: { querystring: S.callbackQuery, response: { 200: S.connectionSchema } },
    handler: async (req, reply) => {
      // A state begun by a connect page: that page's flow answers (with a page, not JSON).
      if (await connect.callback(req, reply)) return reply;
      const q = req.query;
      const info = await baton.completeAuthorization({
        state: q['state'] ?? '',
        ...(q['code'] !== undefined ? { code: q['code'] } : {}),
        ...(q['error'] !== undefined ? { error: q['error'] } : {}),
        ...(q['error_description'] !== undefined ? { errorDescription: q['error_description'] } : {}),
        ...(q['iss'] !== undefined ? { iss: q['iss'] } : {}),
      });
      req.batonState.connectionId = info.id;
      req.batonState.provider = info.provider;
      providerOf.delete(info.id);
      return info;
    },
  });

  route<{ id: string }, unknown, { force?: boolean } | null>({
    method: 'POST',
    url: '/v1/connections/:id/refresh',
    op: 'manage',
    audit: 'refresh',
    summary: 'Refresh now if due (or always with force)',
    schema: { params: S.idParams, body: S.refreshBody, response: { 200: S.connectionSchema } },
    handler: async (req) => {
      await authorizeConnection(req, req.params.id);
      return baton.refresh(req.params.id, { force: req.body?.force ?? false });
    },
  });

  route<{ id: string }>({
    method: 'POST',
    url: '/v1/connections/:id/revoke',
    op: 'manage',
    audit: 'revoke',
    summary: 'Revoke the grant at the provider and mark the connection revoked',
    schema: { params: S.idParams, response: { 200: S.revokeResponse } },
    handler: async (req) => {
      await authorizeConnection(req, req.params.id);
      return baton.revoke(req.params.id);
    },
  });

  route<{ id: string }>({
    method: 'DELETE',
    url: '/v1/connections/:id',
    op: 'manage',
    audit: 'delete',
    summary: 'Delete the connection',
    schema: { params: S.idParams, response: { 200: S.deleteResponse } },
    handler: async (req) => {
      await authorizeConnection(req, req.params.id);
      const deleted = await baton.remove(req.params.id);
      providerOf.delete(req.params.id);
      return { deleted };
    },
  });

  route<{ id: string }>({
    method: 'POST',
    url: '/v1/connections/:id/token',
    op: 'token',
    audit: 'token',
    summary: 'Release the credentials to send now (refreshed first when due)',
    schema: { params: S.idParams, response: { 200: S.tokenResponse } },
    handler: async (req) => {
      await authorizeConnection(req, req.params.id);
      const released = await baton.release(req.params.id);
      metrics.cache.inc({ result: released.cached ? 'hit' : 'miss' });
      return released;
    },
  });

  // ---- connect pages and webhooks (their own modules; they register through `parts`)

  const parts: ServerParts = {
    app,
    route: route as ServerParts['route'],
    document: (doc) => routes.push(doc),
    baton,
    serverStore,
    logger: logger as FastifyBaseLogger,
    metrics,
    publicUrl: () => publicUrl,
    authorizeConnection,
    caller: (req) => req.batonState.caller as Caller,
  };
  const connect = await registerConnect(parts, options.connect);
  const deliverer =
    options.webhooks === false
      ? null
      : registerWebhooks(
          parts,
          (id, ttlMs, link) => connect.service.reconnectLink(id, ttlMs, link),
          options.webhooks,
        );
  const unwake = deliverer ? baton.store.subscribe(() => deliverer.nudge()) : () => undefined;

  // ---- the authenticating proxy: an encapsulated context whose bodies stay streams.

  /** The API-key header of a provider, never echoed back to a proxy's caller. */
  const credentialHeaders = new Map<string, string | null>();
  const credentialHeaderOf = (provider: string): string | null => {
    let h = credentialHeaders.get(provider);
    if (h === undefined) {
      h = baton.providers.get(provider).apiKeyAuth?.header.toLowerCase() ?? null;
      credentialHeaders.set(provider, h);
    }
    return h;
  };

  const PROXY_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
  routes.push({
    method: 'PROXY',
    url: '/v1/proxy/:id/*',
    op: 'proxy',
    summary: 'Forward a request to the connection’s API with its credentials',
    schema: { params: S.proxyParams, response: {} },
  });
  await app.register(async (proxy) => {
    proxy.removeAllContentTypeParsers();
    proxy.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
    proxy.route({
      method: [...PROXY_METHODS],
      url: '/v1/proxy/:id/*',
      config: { op: 'proxy', audit: 'proxy' },
      schema: { params: S.proxyParams },
      handler: async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
        const id = req.params.id;
        // The raw path after the id, as sent: core's path confinement judges it undecoded.
        const raw = req.url.slice('/v1/proxy/'.length);
        const slash = raw.indexOf('/');
        const rest = slash === -1 ? '' : raw.slice(slash + 1);
        req.batonState.detail = `${req.method} ${pathOnly(rest)}`;
        const provider = await authorizeConnection(req, id);
        const pathPart = rest.split(/[?#]/)[0] as string;
        if (/^[a-z][a-z0-9+.-]*:/i.test(pathPart) || pathPart.includes('@')) {
          throw new ConfigError(
            `The proxied path "${redact(pathPart)}" is an absolute URL or carries "@", which could leave the API base.`,
            'Send a path relative to the connection’s API base; percent-encode an "@" that belongs to a value.',
            { connectionId: id, provider },
          );
        }
        // What goes upstream (README, "Proxy"): the caller's headers without the hop-by-hop
        // ones, its Authorization, its cookies (unless the provider opts in) and any header that
        // carries its caller key in some other name.
        const headers: Record<string, string> = {};
        const named = connectionOptions(req.headers.connection);
        const given = req.headers;
        const callerKey = [/^Bearer\s+(\S+)/i.exec(given.authorization ?? '')?.[1]];
        const cookies = baton.providers.get(provider).proxyCookies === true;
        for (const name in given) {
          const value = given[name];
          if (value === undefined || HOP_BY_HOP.has(name) || name === 'x-request-id') continue;
          if (named?.has(name) || (name === 'cookie' && !cookies)) continue;
          const joined = Array.isArray(value) ? value.join(', ') : value;
          if (carriesSecret(joined, callerKey)) continue;
          headers[name] = joined;
        }
        // Bodies pass through as sent: no decompression on the way back.
        headers['accept-encoding'] = 'identity';
        const length = req.headers['content-length'];
        if (length !== undefined) headers['content-length'] = length;
        // The upstream request is dropped when the caller goes away before its answer is sent.
        const abort = new EventEmitter();
        reply.raw.once('close', () => {
          if (!reply.raw.writableFinished) abort.emit('abort');
        });
        const hasBody = req.body !== undefined && req.method !== 'GET' && req.method !== 'HEAD';
        const res = await baton.request(id, rest, {
          method: req.method,
          headers,
          signal: abort,
          timeoutMs: proxyTimeoutMs,
          bodyTimeoutMs: proxyTimeoutMs,
          // A header that echoes the credential, whatever its name, never reaches the caller.
          dropCredentialHeaders: true,
          ...(hasBody ? { body: req.body as Readable } : {}),
        });
        const credentialHeader = credentialHeaderOf(provider);
        const answered = res.headers;
        const relayed: Record<string, string | string[]> = {};
        for (const name in answered) {
          const value = answered[name];
          if (value === undefined || RESPONSE_DROP.has(name) || name === credentialHeader) continue;
          if (name === 'set-cookie' && !cookies) continue;
          relayed[name] = value;
        }
        if (req.method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304) {
          await res.body.dump().catch(() => undefined);
          return reply.code(res.statusCode).headers(relayed).send();
        }
        // A small body of declared length is read whole before anything is relayed: an upstream
        // that stalls in it gets the caller a 504. Anything larger, or of unknown length, streams
        // through without being held; a stall then cuts the stream (the status is already sent).
        const declared = Number(res.headers['content-length']);
        if (declared >= 0 && declared <= SMALL_BODY) {
          let whole: Buffer;
          try {
            whole = Buffer.from(await res.body.arrayBuffer());
          } catch (err) {
            res.body.destroy();
            if (isBodyTimeout(err)) throw upstreamTimeout(id, provider, proxyTimeoutMs);
            throw err;
          }
          return reply.code(res.statusCode).headers(relayed).send(whole);
        }
        // A stream cut after the status went out (the upstream stalled or failed, or the caller
        // left) ends without 'finish', which is when fastify's onResponse runs: the row is
        // written here, with what cut it.
        res.body.once('error', (err) => {
          (reply as FastifyReply & { batonCode?: string }).batonCode = isBodyTimeout(err)
            ? 'upstream_timeout'
            : 'upstream_error';
          req.batonState.detail = `${req.batonState.detail ?? ''} (cut: ${isBodyTimeout(err) ? `the body stalled ${proxyTimeoutMs} ms` : 'the upstream failed'})`;
        });
        reply.raw.once('close', () => {
          if (reply.raw.writableFinished) return;
          const r = reply as FastifyReply & { batonCode?: string };
          r.batonCode ??= 'caller_gone';
          finished(req, reply);
        });
        return reply.code(res.statusCode).headers(relayed).send(res.body);
      },
    });
  });

  // ---- operations

  app.get('/healthz', { config: { op: null } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config: { op: null } }, async (_req, reply) => {
    if (draining)
      return reply
        .code(503)
        .type(PROBLEM_TYPE)
        .send(
          toProblem(
            new HttpProblem(
              503,
              'shutting_down',
              'The server is shutting down.',
              'Send requests to another replica.',
            ),
            _req.id,
          ),
        );
    // Something real on each side: the server tables' migration track, and one row of the
    // connections' index (README, "Health routes"). A StoreError answers 503 `store_error`.
    await serverStore.ping();
    await baton.store.list({ limit: 1 });
    return { status: 'ready' };
  });
  app.get('/metrics', { config: { op: null } }, async (_req, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  // The operations routes in the OpenAPI document too: it lists every route the server answers.
  const statusSchema = (value: string) => ({
    type: 'object',
    properties: { status: { type: 'string', enum: [value] } },
    required: ['status'],
  });
  routes.push(
    {
      method: 'GET',
      url: '/healthz',
      op: null,
      summary: 'Liveness: the process answers',
      schema: { response: { 200: statusSchema('ok') } },
      problems: false,
    },
    {
      method: 'GET',
      url: '/readyz',
      op: null,
      summary: 'Readiness: the stores answer and the server is not shutting down (503 otherwise)',
      schema: { response: { 200: statusSchema('ready') } },
    },
    {
      method: 'GET',
      url: '/metrics',
      op: null,
      summary: 'Prometheus metrics (text exposition format), every name prefixed baton_',
      schema: { response: {} },
      media: { 200: ['text/plain; version=0.0.4', 'the metrics'] },
      problems: false,
    },
    {
      method: 'GET',
      url: '/v1/openapi.json',
      op: null,
      summary: 'This document',
      schema: { response: { 200: { type: 'object' } } },
      problems: false,
    },
  );

  let openapi: object | null = null;
  app.get('/v1/openapi.json', { config: { op: null } }, async () => {
    openapi ??= buildOpenApi(routes);
    return openapi;
  });

  // ---- keeper: its passes are scheduled here so their duration can be measured.
  let keeperTimer: NodeJS.Timeout | null = null;
  if (options.keeper ?? true) {
    // The keeper knows the interval (a pass gives what the rate limits leave undone back to the
    // next one); the passes are timed here so their duration and report can be observed.
    const intervalMs = options.keeperIntervalMs ?? 60_000;
    const keeper = baton.startKeeper({ intervalMs });
    keeper.stop();
    keeperTimer = setInterval(() => {
      const end = metrics.keeperPass.startTimer();
      keeper.runOnce().then(
        (run) => {
          end();
          if (run.checked > 0) {
            const { refreshed, failed, ...counts } = run;
            logger.info({ ...counts, refreshed: refreshed.length, failed: failed.length }, 'keeper pass');
          }
        },
        (err: unknown) => logger.warn({ err }, 'keeper pass failed'),
      );
    }, intervalMs);
    keeperTimer.unref();
  }

  const host = options.host ?? '127.0.0.1';
  try {
    await app.listen({ host, port: options.port ?? 8080 });
  } catch (err) {
    if (keeperTimer) clearInterval(keeperTimer);
    unwake();
    await deliverer?.close();
    unsubscribe();
    metrics.close();
    await audit.close();
    await serverStore.close();
    if (ownsBaton) await baton.close();
    const code = (err as { code?: string }).code;
    throw new ConfigError(
      `The server could not listen on ${host}:${options.port ?? 8080} (${code ?? 'error'}).`,
      code === 'EADDRINUSE' ? 'Pick another --port, or stop what is using it.' : 'Check --host and --port.',
      { cause: err },
    );
  }
  const port = (app.server.address() as { port: number }).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const publicUrl = (options.publicUrl ?? url).replace(/\/$/, '');
  deliverer?.start();

  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      draining = true;
      if (keeperTimer) clearInterval(keeperTimer);
      const bound = setTimeout(() => app.server.closeAllConnections(), options.shutdownTimeoutMs ?? 10_000);
      bound.unref();
      await app.close();
      clearTimeout(bound);
      unwake();
      await deliverer?.close();
      unsubscribe();
      metrics.close();
      await audit.close();
      if (ownsBaton) await baton.close();
      await serverStore.close();
      logger.info('stopped');
    })();
    return closing;
  };
  logger.info({ url, store: baton.store.kind }, 'listening');
  return { url, app, baton, serverStore, routes: registered, close };
}
