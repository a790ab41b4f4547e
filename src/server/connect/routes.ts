import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ConnectionInfo } from '../../core/connection-info.js';
import { BatonError, ConnectionNotFound } from '../../errors.js';
import { checkParamValue } from '../../providers/params.js';
import type { AuthMode, ProviderSpec } from '../../providers/spec.js';
import type { Caller } from '../keys.js';
import type { RouteDoc } from '../openapi.js';
import type { ServerParts } from '../parts.js';
import { HttpProblem } from '../problem.js';
import { callbackQuery, connectionSchema } from '../schemas.js';
import { authorizationSources, paramLabel } from './labels.js';
import { pageHeaders } from './page.js';
import * as S from './schemas.js';
import { type ConnectOptions, ConnectService, type CreateSessionInput, sha256, TERMINAL } from './service.js';
import type { ConnectSession } from './store.js';
import { STYLE } from './style.js';
import {
  choicePage,
  type FormState,
  formPage,
  modePage,
  type ProblemKind,
  problemView,
  resultView,
} from './views.js';

/**
 * The connect pages and their API (README, "Connect pages"):
 *
 * - `POST /v1/connect-sessions` (manage) → a single-use link `/connect/{token}`;
 * - `/connect/{token}` binds the session to the first browser that opens it (a cookie) and
 *   moves to `/connect/s/{id}`, so the token leaves the address bar and history;
 * - every form carries the session's CSRF token and needs the binding cookie;
 * - the OAuth callback arrives at `/v1/callback` (the one redirect URI to register), here: a
 *   state that belongs to a session finishes the page's flow, any other completes the
 *   authorization for the API caller that began it.
 */

export interface ConnectFeature {
  service: ConnectService;
  /** A fresh reconnect link for GET /v1/connections/{id}, for callers with `manage`. */
  withReconnect(
    info: ConnectionInfo,
    caller: Caller | null,
  ): Promise<ConnectionInfo & { reconnectUrl?: string }>;
}

const BROWSER_ID = /^[A-Za-z0-9_-]{32}$/;

function cookies(req: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of String(req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

export async function registerConnect(
  parts: ServerParts,
  options: ConnectOptions = {},
): Promise<ConnectFeature> {
  const { app, baton } = parts;
  const service = new ConnectService(baton, parts.serverStore.connectSessions, parts.publicUrl, options);
  const secure = () => parts.publicUrl().startsWith('https:');
  const cookieName = () => (secure() ? '__Host-baton_connect' : 'baton_connect');
  const browserOf = (req: FastifyRequest): string | null => {
    const v = cookies(req)[cookieName()];
    return v && BROWSER_ID.test(v) ? v : null;
  };
  const setBrowser = (reply: FastifyReply, id: string) =>
    reply.header(
      'set-cookie',
      `${cookieName()}=${id}; Path=/; HttpOnly; SameSite=Lax; Max-Age=86400${secure() ? '; Secure' : ''}`,
    );
  const bound = (req: FastifyRequest, s: ConnectSession) => {
    const b = browserOf(req);
    return b !== null && service.same(sha256(b), s.browserHash);
  };

  const send = (reply: FastifyReply, status: number, html: string, formAction: string[] = []) =>
    reply.code(status).headers(pageHeaders({ formAction })).send(html);
  const problem = (req: FastifyRequest, reply: FastifyReply, kind: ProblemKind) => {
    const v = problemView(kind, req.id);
    (reply as FastifyReply & { batonCode?: string }).batonCode = `connect_${kind}`;
    return send(reply, v.status, v.html);
  };
  const specOf = (id: string | null): ProviderSpec | null => {
    try {
      return id ? service.spec(id) : null;
    } catch {
      return null;
    }
  };
  const result = (reply: FastifyReply, s: ConnectSession) =>
    send(reply, 200, resultView(s, specOf(s.provider), service.returnTo(s)));
  const sources = (s: ConnectSession, spec: ProviderSpec) =>
    authorizationSources(spec, s.reconnect ? s.reconnect.params : s.params);
  const goTo = (reply: FastifyReply, s: ConnectSession) =>
    reply
      .code(303)
      .headers({
        location: `/connect/s/${encodeURIComponent(s.id)}`,
        'referrer-policy': 'no-referrer',
        'cache-control': 'no-store',
      })
      .send();

  // ---- the API

  parts.route<Record<string, never>, unknown, CreateSessionInput>({
    method: 'POST',
    url: '/v1/connect-sessions',
    op: 'manage',
    audit: 'connect_session',
    summary:
      'Create a connect session: a short-lived, single-use page where an end user connects (or reconnects) an account',
    schema: { body: S.createSessionBody, response: { 201: S.createdSession } },
    handler: async (req, reply) => {
      const caller = parts.caller(req);
      req.batonState.connectionId = req.body.connectionId;
      const made = await service.create(req.body, caller, caller.key.name);
      return reply.code(201).send(made);
    },
  });

  parts.route<{ id: string }>({
    method: 'GET',
    url: '/v1/connect-sessions/:id',
    op: 'read',
    summary: 'A connect session’s progress and outcome (never its token)',
    schema: { params: S.sessionIdParams, response: { 200: S.sessionView } },
    handler: async (req) => {
      const s = await service.store.byId(req.params.id);
      const caller = parts.caller(req);
      if (!s?.providers.some((p) => caller.scope.allows(s.connectionId, p))) {
        throw new HttpProblem(
          404,
          'connect_session_not_found',
          `No connect session "${req.params.id}" is visible to this key.`,
          'Check the id POST /v1/connect-sessions returned.',
        );
      }
      req.batonState.connectionId = s.connectionId;
      return {
        id: s.id,
        connectionId: s.connectionId,
        status: TERMINAL.has(s.status) || s.expiresAt > Date.now() ? s.status : 'expired',
        outcomeCode: s.outcomeCode,
        provider: s.provider,
        account: s.account,
        reconnect: s.reconnect !== null,
        expiresAt: s.expiresAt,
        createdAt: s.createdAt,
        updatedAt: s.updatedAt,
      };
    },
  });

  app.get('/connect/assets/baton.css', { config: { op: null } }, async (_req, reply) =>
    reply
      .headers({
        'content-type': 'text/css; charset=utf-8',
        'cache-control': 'public, max-age=3600',
        'x-content-type-options': 'nosniff',
      })
      .send(STYLE),
  );

  // ---- the pages (their own context: forms are parsed here only)

  await app.register(async (pages) => {
    pages.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: 16 * 1024 },
      (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );

    const guard = async (
      req: FastifyRequest,
      reply: FastifyReply,
      run: () => Promise<unknown>,
    ): Promise<unknown> => {
      try {
        return await run();
      } catch (err) {
        req.log.error({ err }, 'connect page failed');
        return problem(req, reply, 'error');
      }
    };

    pages.get<{ Params: { token: string } }>(
      '/connect/:token',
      { config: { op: null } },
      async (req, reply) =>
        guard(req, reply, async () => {
          const s = /^cst_[A-Za-z0-9_-]{43}$/.test(req.params.token)
            ? await service.store.byTokenHash(sha256(req.params.token))
            : null;
          if (!s) return problem(req, reply, 'invalid');
          req.batonState.connectionId = s.connectionId;
          if (s.browserHash === null) {
            if (TERMINAL.has(s.status)) return problem(req, reply, 'used');
            if (s.expiresAt <= Date.now()) return problem(req, reply, 'expired');
            const browser = browserOf(req) ?? service.newBrowserId();
            const claimed = await service.update(s, {
              browserHash: sha256(browser),
              csrf: service.newCsrf(),
            });
            if (!claimed) return problem(req, reply, 'used');
            setBrowser(reply, browser);
            return goTo(reply, claimed);
          }
          if (!bound(req, s)) return problem(req, reply, TERMINAL.has(s.status) ? 'used' : 'elsewhere');
          return goTo(reply, s);
        }),
    );

    /** The session of a page request: bound to this browser, or a problem page. */
    const load = async (req: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
      const s = await service.store.byId(req.params.id);
      if (!s) {
        await problem(req, reply, 'invalid');
        return null;
      }
      req.batonState.connectionId = s.connectionId;
      if (!bound(req, s)) {
        await problem(
          req,
          reply,
          TERMINAL.has(s.status) ? 'used' : browserOf(req) === null ? 'cookies' : 'elsewhere',
        );
        return null;
      }
      return s;
    };

    const render = (
      reply: FastifyReply,
      s: ConnectSession,
      providerId: string | undefined,
      modeId: string | undefined,
      state: FormState = {},
      status = 200,
    ) => {
      if (TERMINAL.has(s.status)) return result(reply, s);
      const chosen = providerId && s.providers.includes(providerId) ? providerId : undefined;
      if (!chosen && s.providers.length > 1) {
        return send(
          reply,
          status,
          choicePage(
            s,
            s.providers.map((p) => service.spec(p)),
          ),
        );
      }
      const spec = service.spec(chosen ?? (s.providers[0] as string));
      const modes = service.modes(s, spec.id);
      const mode = modeId && modes.includes(modeId as AuthMode) ? (modeId as AuthMode) : undefined;
      if (!mode && modes.length > 1) return send(reply, status, modePage(s, spec, modes));
      const m = mode ?? (modes[0] as AuthMode);
      return send(reply, status, formPage(s, spec, m, state), m === 'oauth2' ? sources(s, spec) : []);
    };

    pages.get<{ Params: { id: string }; Querystring: { provider?: string; mode?: string } }>(
      '/connect/s/:id',
      { config: { op: null } },
      async (req, reply) =>
        guard(req, reply, async () => {
          const s = await load(req, reply);
          if (!s) return reply;
          if (!TERMINAL.has(s.status) && s.expiresAt <= Date.now()) return problem(req, reply, 'expired');
          return render(reply, s, req.query.provider, req.query.mode);
        }),
    );

    /**
     * A form post: this browser's session, its CSRF token, not from another site, still open.
     * `Origin: null` (a sandboxed frame, a `data:` page, a privacy redirect) names no site and
     * is refused like any foreign origin; a client that sends no Origin at all is judged by the
     * cookie and the CSRF token alone.
     */
    const posted = async (
      req: FastifyRequest<{ Params: { id: string }; Body: Record<string, string> }>,
      reply: FastifyReply,
    ) => {
      const s = await load(req, reply);
      if (!s) return null;
      const origin = req.headers.origin;
      const ours = new URL(parts.publicUrl()).origin;
      if (
        typeof req.body !== 'object' ||
        req.body === null ||
        !service.same(req.body['csrf'], s.csrf) ||
        (origin !== undefined && origin !== ours)
      ) {
        await problem(req, reply, 'forbidden');
        return null;
      }
      if (TERMINAL.has(s.status)) {
        await problem(req, reply, 'used');
        return null;
      }
      if (s.expiresAt <= Date.now()) {
        await problem(req, reply, 'expired');
        return null;
      }
      return s;
    };

    pages.post<{ Params: { id: string }; Body: Record<string, string> }>(
      '/connect/s/:id/cancel',
      { config: { op: null, audit: 'connect_page' } },
      async (req, reply) =>
        guard(req, reply, async () => {
          const s = await posted(req, reply);
          if (!s) return reply;
          const done = await service.finish(s, 'denied', { code: 'cancelled' });
          if (!done) return problem(req, reply, 'used');
          return goTo(reply, done);
        }),
    );

    pages.post<{ Params: { id: string }; Body: Record<string, string> }>(
      '/connect/s/:id',
      { config: { op: null, audit: 'connect_page' } },
      async (req, reply) =>
        guard(req, reply, async () => {
          const s = await posted(req, reply);
          if (!s) return reply;
          const body = req.body;
          const providerId = body['provider'] ?? '';
          if (!s.providers.includes(providerId)) return render(reply, s, undefined, undefined, {}, 400);
          req.batonState.provider = providerId;
          const spec = service.spec(providerId);
          const mode = body['mode'] as AuthMode;
          if (!service.modes(s, providerId).includes(mode))
            return render(reply, s, providerId, undefined, {}, 400);
          const values: Record<string, string> = {};
          for (const name of Object.keys(spec.params))
            values[`param.${name}`] = (body[`param.${name}`] ?? '').trim();
          const errors = checkFields(s, spec, mode, body);
          if (Object.keys(errors).length > 0)
            return render(reply, s, providerId, mode, { values, errors }, 400);
          let params: Record<string, string>;
          try {
            params = service.params(
              s,
              spec,
              Object.fromEntries(Object.keys(spec.params).map((n) => [n, values[`param.${n}`] ?? ''])),
            );
          } catch (err) {
            if (!(err instanceof BatonError)) throw err;
            return render(reply, s, providerId, mode, { values, notice: err.message }, 400);
          }
          if (mode === 'oauth2') return startOAuth(req, reply, s, spec, params, values);
          return connectWithKey(req, reply, s, spec, mode, params, values, body);
        }),
    );

    const startOAuth = async (
      req: FastifyRequest,
      reply: FastifyReply,
      s: ConnectSession,
      spec: ProviderSpec,
      params: Record<string, string>,
      values: Record<string, string>,
    ) => {
      let begun: Awaited<ReturnType<typeof baton.beginAuthorization>>;
      try {
        const client = baton.clientFor(spec.id, params);
        begun = await baton.beginAuthorization({
          provider: spec.id,
          connectionId: s.connectionId,
          params,
          redirectUri: client?.redirectUri ?? `${parts.publicUrl()}/v1/callback`,
          ...(s.reconnect?.scopes ? { scopes: s.reconnect.scopes } : {}),
        });
      } catch (err) {
        if (!(err instanceof BatonError)) throw err;
        req.log.warn({ err }, 'a connect page could not start the authorization');
        return render(
          reply,
          s,
          spec.id,
          'oauth2',
          {
            values,
            notice: `${spec.displayName} cannot be connected from here right now (${err.code}). Tell the application's support.`,
          },
          400,
        );
      }
      const next = await service.update(s, {
        status: 'authorizing',
        provider: spec.id,
        stateHash: sha256(begun.state),
      });
      if (!next) return problem(req, reply, 'used');
      return reply
        .code(303)
        .headers({ location: begun.url, 'referrer-policy': 'no-referrer', 'cache-control': 'no-store' })
        .send();
    };

    const connectWithKey = async (
      req: FastifyRequest,
      reply: FastifyReply,
      s: ConnectSession,
      spec: ProviderSpec,
      mode: AuthMode,
      params: Record<string, string>,
      values: Record<string, string>,
      body: Record<string, string>,
    ) => {
      const credentials = {
        apiKey: (body['apiKey'] ?? '').trim(),
        ...(body['apiSecret'] ? { apiSecret: body['apiSecret'] } : {}),
      };
      const check = await baton
        .verifyCredentials({ provider: spec.id, params, authMode: mode, credentials })
        .catch((err: unknown) => (err instanceof BatonError ? err : Promise.reject(err)));
      // A provider that could not be asked (unreachable, or failing with a 5xx) judged nothing:
      // the person may try again, and it does not count as a refused key.
      const unasked = check instanceof BatonError || (check.checked && check.status >= 500);
      const refused = unasked || (check.checked && check.status >= 400);
      if (refused) {
        const failures = unasked ? s.failures : s.failures + 1;
        const environment = spec.environmentParam ? params[spec.environmentParam] : undefined;
        const why = unasked
          ? `${spec.displayName} could not be reached to check the key. Try again in a moment.`
          : `${spec.displayName} did not accept this key${mode === 'token_pair' ? ' and secret' : ''}. Check that you copied ${mode === 'token_pair' ? 'both' : 'it'} whole${environment ? ` and that they are ${environment} keys` : ''}.`;
        if (failures >= service.maxFailures && !unasked) {
          const done = await service.finish({ ...s, provider: spec.id }, 'failed', {
            code: 'credentials_refused',
            message: `${spec.displayName} refused the key ${failures} times.`,
          });
          return done ? goTo(reply, done) : problem(req, reply, 'used');
        }
        const next = await service.update(s, { failures, provider: spec.id });
        if (!next) return problem(req, reply, 'used');
        return render(reply, next, spec.id, mode, { values, notice: why }, 422);
      }
      let info: ConnectionInfo;
      try {
        info = await baton.connect({
          provider: spec.id,
          connectionId: s.connectionId,
          params,
          authMode: mode,
          credentials,
          ...(s.reconnect ? { replace: true } : {}),
          // Checked just above, with the page's own answers to a refusal.
          verify: false,
        });
        if (check.checked) await baton.identify(s.connectionId).catch(() => undefined);
        info = await baton.get(s.connectionId);
      } catch (err) {
        const o = ConnectService.outcomeOf(err);
        const done = await service.finish({ ...s, provider: spec.id }, o.status, {
          code: o.code,
          message: o.message,
        });
        return done ? goTo(reply, done) : problem(req, reply, 'used');
      }
      const done = await service.finish({ ...s, provider: spec.id }, 'connected', {
        account: info.account ?? check.account,
      });
      return done ? goTo(reply, done) : problem(req, reply, 'used');
    };
  });

  // ---- the OAuth callback

  /** Completes an authorization begun by a connect page; false when the state is not one. */
  const callback = async (req: FastifyRequest, reply: FastifyReply): Promise<boolean> => {
    const q = (req.query ?? {}) as Record<string, string | undefined>;
    const state = q['state'];
    if (!state) return false;
    const s = await service.store.byStateHash(sha256(state));
    if (!s) return false;
    req.batonState.connectionId = s.connectionId;
    req.batonState.provider = s.provider;
    if (!bound(req, s)) {
      await problem(req, reply, browserOf(req) === null ? 'cookies' : 'elsewhere');
      return true;
    }
    if (TERMINAL.has(s.status)) {
      await problem(req, reply, 'used');
      return true;
    }
    if (s.expiresAt <= Date.now()) {
      await problem(req, reply, 'expired');
      return true;
    }
    // Nobody else may complete it while this request does: claim it first.
    const mine = await service.update(s, { stateHash: null });
    if (!mine) {
      await problem(req, reply, 'used');
      return true;
    }
    let done: ConnectSession | null;
    try {
      const info = await baton.completeAuthorization({
        query: q,
        state,
        ...(q['code'] !== undefined ? { code: q['code'] } : {}),
        ...(q['error'] !== undefined ? { error: q['error'] } : {}),
        ...(q['error_description'] !== undefined ? { errorDescription: q['error_description'] } : {}),
        ...(q['iss'] !== undefined ? { iss: q['iss'] } : {}),
      });
      await baton.identify(info.id).catch(() => undefined);
      const latest = await baton.get(info.id).catch(() => info);
      done = await service.finish(mine, 'connected', { account: latest.account });
    } catch (err) {
      if (!(err instanceof BatonError)) {
        req.log.error({ err }, 'a connect page authorization failed unexpectedly');
      }
      const o = ConnectService.outcomeOf(err);
      done = await service.finish(mine, o.status, { code: o.code, message: o.message });
    }
    if (!done) await problem(req, reply, 'used');
    else await goTo(reply, done);
    return true;
  };

  parts.route<Record<string, never>, Record<string, string>>({
    method: 'GET',
    url: '/v1/callback',
    op: null,
    audit: 'callback',
    summary:
      'The authorization callback (the provider redirects the browser here; the state authenticates it)',
    schema: { querystring: callbackQuery, response: { 200: connectionSchema } },
    handler: async (req, reply) => {
      // A state begun by a connect page: that page's flow answers (with a page, not JSON).
      if (await callback(req, reply)) return reply;
      const q = req.query;
      const info = await baton.completeAuthorization({
        query: q,
        state: q['state'] ?? '',
        ...(q['code'] !== undefined ? { code: q['code'] } : {}),
        ...(q['error'] !== undefined ? { error: q['error'] } : {}),
        ...(q['error_description'] !== undefined ? { errorDescription: q['error_description'] } : {}),
        ...(q['iss'] !== undefined ? { iss: q['iss'] } : {}),
      });
      req.batonState.connectionId = info.id;
      req.batonState.provider = info.provider;
      parts.connectionChanged(info.id);
      return info;
    },
  });

  const withReconnect = async (info: ConnectionInfo, caller: Caller | null) => {
    if (!caller?.key.ops.includes('manage') || info.status === 'active') return info;
    const link = await service.reconnectLink(info.id).catch((err: unknown) => {
      if (err instanceof ConnectionNotFound) return null;
      throw err;
    });
    return link ? { ...info, reconnectUrl: link.url } : info;
  };

  // The pages in the OpenAPI document: every route the server answers is listed there.
  const html = (what: string): [string, string] => ['text/html; charset=utf-8', what];
  const form = {
    type: 'object',
    description: 'the page’s form: its CSRF token, and the fields the page shows',
    properties: { csrf: { type: 'string' } },
    required: ['csrf'],
  };
  const sessionParams = { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] };
  const pageDoc = { op: null, problems: false } as const;
  const docs: Omit<RouteDoc, 'op' | 'problems'>[] = [
    {
      method: 'GET',
      url: '/connect/assets/baton.css',
      summary: 'The connect pages’ stylesheet',
      schema: { response: {} },
      media: { 200: ['text/css; charset=utf-8', 'the stylesheet'] },
    },
    {
      method: 'GET',
      url: '/connect/:token',
      summary:
        'A connect link (single use): binds the session to this browser (a cookie) and redirects to its page',
      schema: {
        params: { type: 'object', properties: { token: { type: 'string' } }, required: ['token'] },
        response: {},
      },
      media: {
        303: html('to /connect/s/{id}'),
        404: html('an unknown link'),
        409: html('open in another browser'),
        410: html('an expired or used link'),
      },
    },
    {
      method: 'GET',
      url: '/connect/s/:id',
      summary: 'A connect session’s page, for the browser it is bound to',
      schema: {
        params: sessionParams,
        querystring: {
          type: 'object',
          properties: { provider: { type: 'string' }, mode: { type: 'string' } },
        },
        response: {},
      },
      media: { 200: html('the page'), 400: html('cookies are off'), 409: html('bound to another browser') },
    },
    {
      method: 'POST',
      url: '/connect/s/:id',
      summary:
        'The page’s form: connects with an API key, or starts the authorization (a form post from the page itself; Origin must be this server)',
      schema: { params: sessionParams, body: form, response: {} },
      bodyType: 'application/x-www-form-urlencoded',
      media: {
        303: html('to the provider, or to the result'),
        400: html('the form again, with what to fix'),
        403: html('no CSRF token, or another origin'),
        422: html('the form again: the provider refused the key'),
      },
    },
    {
      method: 'POST',
      url: '/connect/s/:id/cancel',
      summary: 'The page’s cancel button: ends the session as denied',
      schema: { params: sessionParams, body: form, response: {} },
      bodyType: 'application/x-www-form-urlencoded',
      media: { 303: html('to the result'), 403: html('no CSRF token, or another origin') },
    },
  ];
  for (const doc of docs) parts.document({ ...pageDoc, ...doc });

  return { service, withReconnect };
}

/** Field-by-field checks, in plain words, before anything is sent anywhere. */
function checkFields(
  s: ConnectSession,
  spec: ProviderSpec,
  mode: AuthMode,
  body: Record<string, string>,
): Record<string, string> {
  const errors: Record<string, string> = {};
  if (!s.reconnect) {
    for (const [name, param] of Object.entries(spec.params)) {
      const fixed = s.params[name];
      if (typeof fixed === 'string') continue;
      const v = (body[`param.${name}`] ?? '').trim();
      const label = paramLabel(spec, name).toLowerCase();
      const choices = Array.isArray(fixed) ? fixed : param.values;
      if (v === '' && param.default === undefined && !param.optional)
        errors[`param.${name}`] = `Enter your ${label}.`;
      else if (v !== '' && choices && !choices.includes(v))
        errors[`param.${name}`] = `Pick one of the ${label} choices.`;
      else if (v !== '') {
        let ok = true;
        try {
          checkParamValue(spec, name, v);
          if (param.pattern && !new RegExp(`^(?:${param.pattern})$`).test(v)) ok = false;
        } catch {
          ok = false;
        }
        if (!ok)
          errors[`param.${name}`] =
            name === spec.accountParam
              ? `"${v}" is not a ${spec.displayName} ${label} name.${param.format ? ` Use ${param.format}.` : ''}`
              : `"${v}" is not a valid ${label}.`;
      }
    }
  }
  if (mode === 'token_pair' || mode === 'api_key') {
    if (!(body['apiKey'] ?? '').trim()) errors['apiKey'] = 'Enter the API key.';
    const needsSecret = mode === 'token_pair' || spec.apiKeyAuth?.template.includes('{apiSecret}');
    if (needsSecret && !body['apiSecret']) errors['apiSecret'] = 'Enter the API secret.';
  }
  return errors;
}
