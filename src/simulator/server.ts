import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { VirtualClock } from './clock.js';
import {
  basicAuth,
  bearer,
  bodyFields,
  escapeHtml,
  html,
  json,
  redactedPath,
  redirect,
  type SimRequest,
  type SimResponse,
} from './http.js';
import { emptyCounters, type SavedState, SimState } from './state.js';
import type {
  Discovery,
  Endpoint,
  Fault,
  RequestLogEntry,
  Rotation,
  Simulator,
  SimulatorOptions,
  TokenLogEntry,
  TokenTap,
  Vendor,
} from './types.js';
import { VENDORS } from './types.js';
import { atlassian } from './vendors/atlassian.js';
import { checkbook } from './vendors/checkbook.js';
import { checkfront } from './vendors/checkfront.js';
import { checkissuing } from './vendors/checkissuing.js';
import { cronofy } from './vendors/cronofy.js';
import { dropbox } from './vendors/dropbox.js';
import { github } from './vendors/github.js';
import { google } from './vendors/google.js';
import { hubspot } from './vendors/hubspot.js';
import { mcp } from './vendors/mcp.js';
import { microsoft } from './vendors/microsoft.js';
import { notion } from './vendors/notion.js';
import { quickbooks } from './vendors/quickbooks.js';
import { salesforce } from './vendors/salesforce.js';
import { shopify } from './vendors/shopify.js';
import { slack } from './vendors/slack.js';
import type { SimVendor, VendorRoute } from './vendors/vendor.js';
import { xero } from './vendors/xero.js';
import { zoom } from './vendors/zoom.js';

const LOG_LIMIT = 10_000;

function faultResponse(f: Fault): SimResponse | null {
  switch (f.kind) {
    case 'status':
      return {
        status: f.status ?? 500,
        headers: { 'content-type': 'application/json' },
        body: f.body ?? '{"error":"server_error"}',
      };
    case 'html':
      return html(f.status ?? 502, f.body ?? '<h1>502 Bad Gateway</h1><p>nginx</p>');
    case 'malformed-json':
      return {
        status: f.status ?? 200,
        headers: { 'content-type': 'application/json' },
        body: f.body ?? '{"access_token": "trunc',
      };
    case 'empty':
      return { status: f.status ?? 200, headers: {}, body: '' };
    case 'drop':
      return { status: 0, drop: true };
    case 'rate-limit':
      return json(429, { error: 'too_many_requests' }, { 'retry-after': String(f.retryAfter ?? 1) });
    case 'delay':
    case 'slow-answer':
      return null;
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

/**
 * A token request's fields, from the query and the body (the body wins): some vendors take
 * them in the query (Zoom's account_credentials, GitHub's token endpoint).
 */
function requestFields(req: SimRequest): Record<string, string> {
  return { ...Object.fromEntries(req.url.searchParams), ...(bodyFields(req) ?? {}) };
}

const isVendor = (v: unknown): v is Vendor =>
  typeof v === 'string' && (VENDORS as readonly string[]).includes(v);

interface StateFile {
  seed: string;
  state?: SavedState;
}

/** The state file's seed and saved state; a new file with a fresh seed when there is none. */
function readStateFile(path: string, seed: string | undefined): StateFile {
  if (!existsSync(path)) {
    const file: StateFile = { seed: seed ?? randomBytes(32).toString('hex') };
    writeFileSync(path, `${JSON.stringify(file)}\n`, { mode: 0o600 });
    return file;
  }
  let file: StateFile;
  try {
    file = JSON.parse(readFileSync(path, 'utf8')) as StateFile;
  } catch (err) {
    throw new Error(
      `The simulator state file ${path} is not JSON (${(err as Error).message}); move it away to start with new credentials.`,
    );
  }
  if (typeof file?.seed !== 'string' || !file.seed)
    throw new Error(
      `The simulator state file ${path} holds no seed; move it away to start with new credentials.`,
    );
  return seed === undefined || seed === file.seed ? file : { seed };
}

/** Starts the simulator: every vendor on one loopback origin, plus the migration origin. */
export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const host = options.host ?? '127.0.0.1';
  const clock = new VirtualClock();
  const file = options.stateFile ? readStateFile(options.stateFile, options.seed) : undefined;
  const state = new SimState(clock, {
    cronofyRotation: options.cronofyRotation ?? 'always',
    cronofyRateLimit: options.cronofyRateLimit,
    codeLifetimeSeconds: options.codeLifetimeSeconds ?? 60,
    seed: file?.seed ?? options.seed,
  });
  if (file?.state) state.load(file.state);
  const consent = () => options.consent ?? 'auto';
  const mcpPersona = mcp(state, consent, () => origin, options.mcp);
  const vendors: Record<Vendor, SimVendor> = {
    checkfront: checkfront(state, consent),
    checkbook: checkbook(state, consent),
    checkissuing: checkissuing(state),
    cronofy: cronofy(state, consent),
    xero: xero(state, consent),
    quickbooks: quickbooks(state, consent),
    atlassian: atlassian(state, consent),
    shopify: shopify(state, consent),
    salesforce: salesforce(state, consent),
    google: google(state, consent),
    microsoft: microsoft(state, consent),
    slack: slack(state, consent),
    github: github(state, consent),
    hubspot: hubspot(state, consent),
    zoom: zoom(state, consent),
    dropbox: dropbox(state, consent),
    notion: notion(state, consent),
    mcp: mcpPersona,
  };
  /** Sets a vendor's switch; a RangeError names what it takes. */
  const setSwitch = (vendor: Vendor, name: string, value: unknown): void => {
    const sw = vendors[vendor]?.switches?.[name];
    if (!sw) {
      const known = Object.keys(vendors[vendor]?.switches ?? {});
      throw new RangeError(
        `${vendor} has no switch "${name}"${known.length ? `; it has ${known.join(', ')}` : ''}.`,
      );
    }
    const problem = sw.set(value);
    if (problem) throw new RangeError(`The ${vendor} switch ${name} takes ${problem}.`);
  };
  for (const [vendor, settings] of Object.entries(options.switches ?? {}))
    for (const [name, value] of Object.entries(settings ?? {})) setSwitch(vendor as Vendor, name, value);
  const log: RequestLogEntry[] = [];
  let tokenLog: TokenLogEntry[] = [];
  const taps = new Set<TokenTap>();
  const wallNow = () => performance.timeOrigin + performance.now();
  const header = (req: SimRequest, name: string): string | null => {
    const v = req.headers[name];
    return typeof v === 'string' ? v : Array.isArray(v) ? (v[0] ?? null) : null;
  };
  const tapAll: TokenTap = (phase, info, entry) => {
    for (const t of taps) {
      try {
        t(phase, info, entry);
      } catch {
        // A watcher's failure is its own; the vendor still answers.
      }
    }
  };

  /** The token log's entry for one answered token, revocation or API request. */
  function tokenEntry(
    req: SimRequest,
    vendor: Vendor,
    endpoint: 'token' | 'revoke' | 'api',
    response: SimResponse,
    fault: Fault | null,
    receivedWallMs: number,
  ): TokenLogEntry {
    const fields = endpoint === 'api' ? {} : requestFields(req);
    let answer: Record<string, unknown> = {};
    if (endpoint === 'token' && response.status === 200 && response.body) {
      try {
        const parsed: unknown = JSON.parse(response.body);
        if (parsed && typeof parsed === 'object') answer = parsed as Record<string, unknown>;
      } catch {
        // Not JSON (a fault): nothing was issued.
      }
    }
    const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null);
    const presented = endpoint === 'token' ? str(fields['refresh_token']) : null;
    const oracle = response.oracle ?? {};
    const issuedRefresh =
      oracle.issuedRefreshToken !== undefined ? oracle.issuedRefreshToken : str(answer['refresh_token']);
    const accessToken = endpoint === 'api' ? bearer(req) : null;
    return {
      seq: ++state.seq,
      at: clock.now(),
      receivedWallMs,
      answeredWallMs: wallNow(),
      vendor,
      endpoint,
      tag: header(req, 'x-sim-tag'),
      op: header(req, 'x-sim-op'),
      status: response.drop ? 0 : response.status,
      fault: fault?.kind ?? null,
      grantType: endpoint === 'token' ? str(fields['grant_type']) : null,
      presentedRefreshToken: presented,
      scope: endpoint === 'token' ? str(fields['scope']) : null,
      issuedAccessToken:
        oracle.issuedAccessToken !== undefined ? oracle.issuedAccessToken : str(answer['access_token']),
      issuedRefreshToken: issuedRefresh,
      rotated: presented !== null && issuedRefresh !== null && issuedRefresh !== presented,
      accessToken,
      accepted:
        endpoint !== 'api' ||
        accessToken === null ||
        (fault && fault.kind !== 'delay' && fault.kind !== 'slow-answer')
          ? null
          : (oracle.accepted ?? response.status !== 401),
      revokedToken:
        endpoint !== 'revoke'
          ? null
          : oracle.revokedToken !== undefined
            ? oracle.revokedToken
            : (str(fields['token']) ?? str(fields['refresh_token'])),
    };
  }
  let origin = '';
  let migrationOrigin = '';

  const discovery = (): Discovery => ({
    simulator: 'baton-simulator',
    version: 1,
    origin,
    migrationOrigin,
    admin: `${origin}/_sim/`,
    callback: `${origin}/callback`,
    vendors: Object.fromEntries(
      VENDORS.map((v) => {
        const switches = vendors[v].switches;
        const described = vendors[v].discovery(origin, migrationOrigin);
        if (!switches) return [v, described];
        const values = Object.fromEntries(Object.entries(switches).map(([k, sw]) => [k, sw.get()]));
        return [v, { ...described, switches: values }];
      }),
    ) as Discovery['vendors'],
  });

  /** Counts what reached a token endpoint, before faults or validation, as a vendor's own metering would. */
  function count(vendor: Vendor, endpoint: Endpoint, req: SimRequest): void {
    if (endpoint === 'api') state.counters.api[vendor]++;
    else if (endpoint === 'revoke') state.counters.revoke[vendor]++;
    else if (endpoint === 'token') {
      const f = requestFields(req);
      state.countToken(
        vendor,
        f['grant_type'] ?? '(none)',
        basicAuth(req)?.user ?? f['client_id'] ?? '(none)',
      );
    }
  }

  function admin(req: SimRequest, path: string): SimResponse {
    let body: Record<string, unknown> = {};
    if (req.body) {
      try {
        body = JSON.parse(req.body) as Record<string, unknown>;
      } catch {
        return json(400, { error: 'invalid_json', message: 'The admin API takes JSON bodies.' });
      }
    }
    const bad = (message: string) => json(400, { error: 'invalid_request', message });
    const get = req.method === 'GET';
    switch (`${req.method} ${path}`) {
      case 'GET ':
        // The discovery document advertises this URL: answer it with the list of controls.
        return json(200, {
          endpoints: [
            'GET counters',
            'POST reset-counters',
            'GET clock',
            'POST clock/advance {"ms"}',
            'POST clock/set {"now"}',
            'POST revoke {"vendor", "account"?, "clientId"?}',
            'POST expire-access-tokens {"vendor"?}',
            'POST fail {"vendor", "endpoint", "kind", …}',
            'POST cronofy-rotation {"mode"}',
            'POST switch {"vendor", "name", "value"}',
            'POST checkfront/migrate {"company", "region"?}',
            'POST mcp/settings {"dcr"?, "cimd"?, "resourceMetadataInHeader"?, "resourceMetadataServed"?, "authorizationServerUp"?}',
            'POST mcp/resources {"resource"}',
            'POST mcp/evict-clients',
            'GET mcp/counters',
            'GET requests',
          ].map((e) => `${e.split(' ')[0]} /_sim/${e.split(' ').slice(1).join(' ')}`),
        });
      case 'GET counters':
        return json(200, state.counters);
      case 'POST reset-counters':
        state.counters = emptyCounters();
        return json(200, { ok: true });
      case 'POST clock/advance':
        if (typeof body['ms'] !== 'number') return bad('Give {"ms": <milliseconds>}.');
        clock.advance(body['ms']);
        return json(200, { now: clock.now() });
      case 'POST clock/set':
        if (typeof body['now'] !== 'number') return bad('Give {"now": <epoch ms>}.');
        clock.set(body['now']);
        return json(200, { now: clock.now() });
      case 'GET clock':
        return json(200, { now: clock.now() });
      case 'POST revoke': {
        if (!isVendor(body['vendor'])) return bad(`Give {"vendor": one of ${VENDORS.join(', ')}}.`);
        const n = state.revokeGrants({
          vendor: body['vendor'],
          ...(typeof body['account'] === 'string' ? { account: body['account'] } : {}),
          ...(typeof body['clientId'] === 'string' ? { clientId: body['clientId'] } : {}),
        });
        return json(200, { revoked: n });
      }
      case 'POST expire-access-tokens': {
        if (body['vendor'] !== undefined && !isVendor(body['vendor']))
          return bad(`vendor must be one of ${VENDORS.join(', ')}.`);
        return json(200, {
          expired: state.expireAccessTokens(isVendor(body['vendor']) ? { vendor: body['vendor'] } : {}),
        });
      }
      case 'POST fail': {
        const kinds = [
          'status',
          'html',
          'malformed-json',
          'empty',
          'drop',
          'delay',
          'slow-answer',
          'rate-limit',
        ];
        const endpoints = ['authorize', 'token', 'revoke', 'api', 'register', 'introspect'];
        if (
          !isVendor(body['vendor']) ||
          !endpoints.includes(String(body['endpoint'])) ||
          !kinds.includes(String(body['kind']))
        ) {
          return bad(
            `Give {"vendor", "endpoint": ${endpoints.join('|')}, "kind": ${kinds.join('|')}, "count"?, "status"?, "body"?, "delayMs"?, "retryAfter"?}.`,
          );
        }
        state.addFault(body as unknown as Fault);
        return json(200, { ok: true });
      }
      case 'POST cronofy-rotation':
        if (!['never', 'always', 'sometimes'].includes(String(body['mode'])))
          return bad('Give {"mode": "never" | "always" | "sometimes"}.');
        state.cronofyRotation = body['mode'] as Rotation;
        return json(200, { ok: true });
      case 'POST switch': {
        if (!isVendor(body['vendor']) || typeof body['name'] !== 'string')
          return bad('Give {"vendor", "name", "value"}; discovery lists each vendor\'s switches.');
        try {
          setSwitch(body['vendor'], body['name'], body['value']);
        } catch (err) {
          return bad((err as Error).message);
        }
        return json(200, { ok: true });
      }
      case 'POST checkfront/migrate':
        if (typeof body['company'] !== 'string') return bad('Give {"company": …, "region"?: …}.');
        state.migrated.set(body['company'], typeof body['region'] === 'string' ? body['region'] : 'na1');
        return json(200, { ok: true });
      case 'POST mcp/settings':
        return json(200, mcpPersona.configure(body as Record<string, boolean>));
      case 'POST mcp/resources':
        if (typeof body['resource'] !== 'string') return bad('Give {"resource": <absolute URL>}.');
        mcpPersona.addResource(body['resource']);
        return json(200, { ok: true });
      case 'POST mcp/evict-clients':
        return json(200, mcpPersona.evictClients());
      case 'GET mcp/counters':
        return json(200, mcpPersona.counters());
      case 'GET requests':
        return json(200, log);
      default:
        return json(get ? 404 : 405, {
          error: 'not_found',
          message: `No admin endpoint ${req.method} /_sim/${path}.`,
        });
    }
  }

  interface Routed {
    vendor?: Vendor;
    route?: VendorRoute;
    response?: SimResponse;
    kind?: RequestLogEntry['endpoint'];
  }

  /**
   * Where a consent ends when the program gave no redirect URI of its own (the discovery
   * document's `callback`, the default of connectSimulator): a page with the URL to hand to
   * completeAuthorization.
   */
  function callbackPage(url: URL): SimResponse {
    const href = escapeHtml(url.href);
    return html(
      200,
      `<h1>Authorization answered</h1><p>Pass this URL to <code>baton.completeAuthorization({ callbackUrl })</code>:</p><pre>${href}</pre>`,
    );
  }

  function routeMain(req: SimRequest): Routed {
    const segments = req.url.pathname.split('/').filter(Boolean);
    if (req.url.pathname === '/.well-known/baton-simulator')
      return { response: json(200, discovery()), kind: 'discovery' };
    if (segments[0] === '_sim') return { response: admin(req, segments.slice(1).join('/')), kind: 'admin' };
    if (req.url.pathname === '/callback') return { response: callbackPage(req.url), kind: 'admin' };
    if (segments[0] === '.well-known') {
      const doc = mcpPersona.wellKnown(req);
      return doc ? { vendor: 'mcp', response: doc, kind: 'discovery' } : {};
    }
    const vendor = segments[0];
    if (!isVendor(vendor)) return {};
    if (vendor === 'checkfront' && segments[1] && state.migrated.has(segments[1])) {
      // "all requests to your .checkfront.com URL will receive an HTTP 301 redirect response"
      const region = state.migrated.get(segments[1]);
      const rest =
        segments.slice(2).join('/') + (req.url.pathname.endsWith('/') && segments.length > 2 ? '/' : '');
      return {
        vendor,
        response: redirect(`${migrationOrigin}/${region}/${segments[1]}/${rest}${req.url.search}`, 301),
      };
    }
    const route = vendors[vendor].route(req, segments.slice(1));
    return route ? { vendor, route } : { vendor };
  }

  function routeMigration(req: SimRequest): Routed {
    const [region, company, ...rest] = req.url.pathname.split('/').filter(Boolean);
    if (!region || !company || state.migrated.get(company) !== region) return {};
    const trailing = req.url.pathname.endsWith('/') ? [''] : [];
    const route = vendors.checkfront.route(req, [company, ...rest, ...trailing]);
    return route ? { vendor: 'checkfront', route } : { vendor: 'checkfront' };
  }

  const handler = (which: 'main' | 'migration') => async (raw: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    const base = which === 'main' ? origin : migrationOrigin;
    const req: SimRequest = {
      method: raw.method ?? 'GET',
      url: new URL(raw.url ?? '/', base),
      headers: raw.headers,
      body: await readBody(raw),
      origin: which,
    };
    const routed: Routed = which === 'main' ? routeMain(req) : routeMigration(req);
    let response = routed.response;
    if (!response && routed.vendor && routed.route) {
      const vendor = routed.vendor;
      const endpoint = routed.route.endpoint;
      const watched = endpoint === 'token' || endpoint === 'revoke' || endpoint === 'api' ? endpoint : null;
      const receivedWallMs = wallNow();
      const info = watched && {
        vendor,
        endpoint: watched,
        tag: header(req, 'x-sim-tag'),
        op: header(req, 'x-sim-op'),
      };
      if (info && taps.size > 0) tapAll('request', info, null);
      count(vendor, endpoint, req);
      const fault = state.takeFault(vendor, endpoint);
      if (fault?.kind === 'delay') await new Promise((r) => setTimeout(r, fault.delayMs ?? 1000));
      response = (fault ? faultResponse(fault) : null) ?? (await routed.route.handle());
      if (fault?.kind === 'slow-answer') await new Promise((r) => setTimeout(r, fault.delayMs ?? 1000));
      if (info && watched) {
        const entry = tokenEntry(req, vendor, watched, response, fault, receivedWallMs);
        tokenLog.push(entry);
        if (taps.size > 0) tapAll('response', info, entry);
      }
    }
    response ??= json(404, {
      error: 'not_found',
      message: `The simulator serves nothing at ${req.url.pathname}; see /.well-known/baton-simulator.`,
    });
    log.push({
      at: clock.now(),
      origin: which,
      method: req.method,
      path: routed.route?.logPath ?? redactedPath(req.url),
      ...(routed.vendor ? { vendor: routed.vendor } : {}),
      ...(routed.route ? { endpoint: routed.route.endpoint } : routed.kind ? { endpoint: routed.kind } : {}),
      status: response.drop ? 0 : response.status,
      durationMs: Math.round((performance.now() - started) * 10) / 10,
    });
    // Keep the newest entries; trim in batches so a busy simulator does not shift the array per request.
    if (log.length > LOG_LIMIT * 1.5) log.splice(0, log.length - LOG_LIMIT);
    if (response.drop) {
      raw.socket.destroy();
      return;
    }
    // A length, as the vendors' APIs send one (not chunked), unless the response names its own.
    const body = response.body ?? '';
    const headers = response.headers ?? {};
    if (
      !Object.keys(headers).some(
        (h) => h.toLowerCase() === 'content-length' || h.toLowerCase() === 'transfer-encoding',
      )
    ) {
      res.setHeader('content-length', Buffer.byteLength(body));
    }
    res.writeHead(response.status, headers);
    res.end(body);
  };

  // Like a server behind a load balancer: idle keep-alive sockets outlive a client's own timeout.
  const main = createServer(handler('main'));
  const migration = createServer(handler('migration'));
  for (const s of [main, migration]) s.keepAliveTimeout = 65_000;
  const mainPort = await listen(main, options.port ?? 0, host);
  const migrationPort = await listen(migration, options.migrationPort ?? 0, host);
  const hostPart = host.includes(':') ? `[${host}]` : host;
  origin = `http://${hostPart}:${mainPort}`;
  migrationOrigin = `http://${hostPart}:${migrationPort}`;

  const close = (s: Server) =>
    new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });

  return {
    url: origin,
    migrationUrl: migrationOrigin,
    discovery,
    clock: { now: () => clock.now(), advance: (ms) => clock.advance(ms), set: (at) => clock.set(at) },
    revokeGrants: (filter) => state.revokeGrants(filter),
    expireAccessTokens: (filter) => state.expireAccessTokens(filter),
    failNext: (fault) => state.addFault(fault),
    counters: () => structuredClone(state.counters),
    resetCounters: () => {
      state.counters = emptyCounters();
    },
    setCronofyRotation: (mode) => {
      state.cronofyRotation = mode;
    },
    migrateCheckfront: (company, region = 'na1') => {
      state.migrated.set(company, region);
    },
    requestLog: () => log.map((e) => ({ ...e })),
    tokenLog: () => tokenLog.map((e) => ({ ...e })),
    clearTokenLog: () => {
      tokenLog = [];
    },
    tokenStatus: (token) => state.tokenInfo(token).status,
    tokenInfo: (token) => state.tokenInfo(token),
    grantStatus: (grantId) => {
      const g = state.grants.get(grantId);
      return g ? { revoked: g.revoked, revokedSeq: g.revokedSeq, createdSeq: g.createdSeq } : null;
    },
    seq: () => state.seq,
    tap: (listener) => {
      taps.add(listener);
      return () => {
        taps.delete(listener);
      };
    },
    mcp: {
      get issuer() {
        return mcpPersona.issuer(origin);
      },
      get resource() {
        return mcpPersona.resource(origin);
      },
      configure: (settings) => mcpPersona.configure(settings),
      addResource: (resource) => mcpPersona.addResource(resource),
      evictClients: () => mcpPersona.evictClients(),
      counters: () => mcpPersona.counters(),
      resetCounters: () => mcpPersona.resetCounters(),
    },
    setSwitch,
    setAccessTokenLifetime: (vendor, seconds) => {
      if (seconds === null) state.accessLifetimeMs.delete(vendor);
      else state.accessLifetimeMs.set(vendor, seconds * 1000);
    },
    setRefreshReuse: (vendor, reuse) => {
      if (reuse === null) state.refreshReuse.delete(vendor);
      else state.refreshReuse.set(vendor, { ...reuse });
    },
    close: async () => {
      await Promise.all([close(main), close(migration)]);
      if (options.stateFile && file) {
        const saved: StateFile = { seed: file.seed, state: state.save() };
        writeFileSync(options.stateFile, `${JSON.stringify(saved)}\n`, { mode: 0o600 });
      }
    },
  };
}
