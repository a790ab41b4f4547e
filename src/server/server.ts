import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import { Baton, type BatonOptions } from '../core/baton.js';
import { ConfigError } from '../errors.js';
import { AuditLog, auditEvents, auditRequests } from './audit.js';
import { registerAuth } from './auth.js';
import { registerConnect } from './connect/routes.js';
import type { ConnectOptions } from './connect/service.js';
import { scheduleKeeper } from './keeper.js';
import { type Caller, KeyRing, ProviderSwitches } from './keys.js';
import { serverLogger } from './log.js';
import { Metrics } from './metrics.js';
import type { RouteDoc } from './openapi.js';
import type { ServerParts } from './parts.js';
import { answerProblems, sendProblem, toProblem } from './problem.js';
import { registerConnections } from './routes/connections.js';
import { registerMcp } from './routes/mcp.js';
import { registerOps } from './routes/ops.js';
import { PROXY_TIMEOUT_MS, registerProxy } from './routes/proxy.js';
import type { ServerStore } from './server-store.js';
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
   * `upstream_timeout`. Default 30 s. For `/v1/mcp/{id}`, only the bound on the headers: an MCP
   * event stream may be silent for as long as it is open.
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

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * Starts the HTTP server: the composition root. It opens the stores, the log, the audit writer
 * and the metrics, builds the fastify app with the hooks every route runs through (`auth.ts`:
 * key, permission, input; `audit.ts`: the request's row, metric and log line; `problem.ts`:
 * errors and unknown routes as problem documents), registers each group of routes through
 * `ServerParts` (`routes/connections.ts`, `routes/proxy.ts`, `routes/mcp.ts`, `routes/ops.ts`, `connect/`,
 * `webhooks/`), schedules the keeper's passes (`keeper.ts`), listens, and closes it all again.
 */
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
  const metrics = new Metrics(baton);
  const logger = serverLogger(options.logLevel ?? 'info', options.logStream);
  const audit = new AuditLog(
    serverStore,
    { ...(options.auditRetentionMs ? { retentionMs: options.auditRetentionMs } : {}) },
    auditEvents(logger, metrics),
  );

  const app = Fastify({
    loggerInstance: logger,
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

  // The hooks every route runs through, then each group of routes through the parts.
  let draining = false;
  const auth = registerAuth(app, {
    baton,
    keys: new KeyRing(serverStore, ttl),
    switches: new ProviderSwitches(serverStore, ttl),
  });
  const finish = auditRequests(app, audit, metrics);
  answerProblems(app, { routes: registered, reconnectLink: (id) => connect.service.reconnectLink(id) });

  const documents: RouteDoc[] = [];
  const parts: ServerParts = {
    app,
    route: (def) => {
      const { method, url, op, summary, schema } = def;
      documents.push({ method, url, op, summary, schema });
      app.route({
        method,
        url,
        config: { op, ...(def.audit ? { audit: def.audit } : {}) },
        schema,
        handler: def.handler as never,
      });
    },
    document: (doc) => documents.push(doc),
    baton,
    serverStore,
    logger,
    metrics,
    publicUrl: () => publicUrl,
    authorizeConnection: auth.authorizeConnection,
    connectionChanged: auth.connectionChanged,
    caller: (req) => req.batonState.caller as Caller,
  };
  registerConnections(parts, { withReconnect: (info, caller) => connect.withReconnect(info, caller) });
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
  await registerProxy(parts, { timeoutMs: options.proxyTimeoutMs ?? PROXY_TIMEOUT_MS, finish });
  await registerMcp(parts, { timeoutMs: options.proxyTimeoutMs ?? PROXY_TIMEOUT_MS, finish });
  registerOps(parts, { draining: () => draining, documents: () => documents });
  const stopKeeper =
    (options.keeper ?? true)
      ? scheduleKeeper(baton, {
          intervalMs: options.keeperIntervalMs ?? 60_000,
          metrics,
          logger,
        })
      : () => undefined;

  /** Everything opened above, in reverse (the app itself is closed first, by its caller). */
  const release = async () => {
    unwake();
    await deliverer?.close();
    auth.close();
    metrics.close();
    await audit.close();
  };
  const host = options.host ?? '127.0.0.1';
  try {
    await app.listen({ host, port: options.port ?? 8080 });
  } catch (err) {
    stopKeeper();
    await release();
    await serverStore.close();
    if (ownsBaton) await baton.close();
    const code = (err as { code?: string }).code;
    throw new ConfigError(
      `The server could not listen on ${host}:${options.port ?? 8080} (${code ?? 'error'}).`,
      code === 'EADDRINUSE' ? 'Pick another --port, or stop what is using it.' : 'Check --host and --port.',
      { cause: err, forOperator: true },
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
      stopKeeper();
      const bound = setTimeout(() => app.server.closeAllConnections(), options.shutdownTimeoutMs ?? 10_000);
      bound.unref();
      await app.close();
      clearTimeout(bound);
      await release();
      if (ownsBaton) await baton.close();
      await serverStore.close();
      logger.info('stopped');
    })();
    return closing;
  };
  logger.info({ url, store: baton.store.kind }, 'listening');
  return { url, app, baton, serverStore, routes: registered, close };
}
