import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Baton } from '../../core/baton.js';
import type { ConnectionInfo } from '../../core/connection-info.js';
import { AuthorizationError, BatonError, ConfigError, ConnectionNotFound, redact } from '../../errors.js';
import { resolveParams } from '../../providers/params.js';
import type { AuthMode, ProviderSpec } from '../../providers/spec.js';
import type { Caller } from '../keys.js';
import { HttpProblem, outOfScope } from '../problem.js';
import { PERSON_MODES } from './labels.js';
import type { ConnectSession, ConnectSessionStore } from './store.js';

/**
 * Connect sessions (README, "Connect pages"): the application asks for one, the end user opens
 * its page, picks a provider and params, and is sent through OAuth2 or enters a key; the
 * outcome is recorded on the session. Every step is a compare-and-swap on the session, so a
 * session completes at most once.
 */

export const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const random = (bytes: number) => randomBytes(bytes).toString('base64url');

export interface ConnectOptions {
  /** Default lifetime of a session's link. Default 15 minutes. */
  sessionTtlMs?: number;
  /**
   * URL prefixes a session's `returnUrl` must start with (same origin, path under the prefix).
   * Without any, sessions cannot carry a return URL.
   */
  returnUrls?: string[];
  /** Credentials refused this many times end the session as `failed`. Default 5. */
  maxFailures?: number;
}

export interface CreateSessionInput {
  connectionId: string;
  providers?: string[];
  authModes?: AuthMode[];
  params?: Record<string, string | string[]>;
  label?: string;
  returnUrl?: string;
  ttlSeconds?: number;
}

export interface CreatedSession {
  id: string;
  token: string;
  url: string;
  expiresAt: number;
  connectionId: string;
  reconnect: boolean;
}

export const TERMINAL = new Set(['connected', 'denied', 'failed']);

function bad(message: string, remediation: string): HttpProblem {
  return new HttpProblem(400, 'invalid_request', message, remediation);
}

export class ConnectService {
  readonly #baton: Baton;
  readonly #store: ConnectSessionStore;
  readonly #publicUrl: () => string;
  readonly ttlMs: number;
  readonly #returnUrls: URL[];
  readonly maxFailures: number;

  constructor(
    baton: Baton,
    store: ConnectSessionStore,
    publicUrl: () => string,
    options: ConnectOptions = {},
  ) {
    this.#baton = baton;
    this.#store = store;
    this.#publicUrl = publicUrl;
    this.ttlMs = options.sessionTtlMs ?? 15 * 60_000;
    this.maxFailures = options.maxFailures ?? 5;
    this.#returnUrls = (options.returnUrls ?? []).map((u) => {
      try {
        return new URL(u);
      } catch {
        throw new ConfigError(
          `The connect return URL "${u}" is not a URL.`,
          'Give full URLs, e.g. https://app.example.com/connected.',
        );
      }
    });
  }

  get store(): ConnectSessionStore {
    return this.#store;
  }

  spec(provider: string): ProviderSpec {
    return this.#baton.providers.get(provider);
  }

  /** The modes a session lets a person use for `provider`. */
  modes(session: ConnectSession, provider: string): AuthMode[] {
    if (session.reconnect) return [session.reconnect.authMode];
    const spec = this.spec(provider);
    return spec.authModes.filter(
      (m) => PERSON_MODES.includes(m) && (session.authModes === null || session.authModes.includes(m)),
    );
  }

  #checkReturnUrl(text: string): string {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw bad(`The returnUrl "${text}" is not a URL.`, 'Send an absolute URL on an allowed prefix.');
    }
    const ok = this.#returnUrls.some(
      (p) => p.origin === url.origin && url.pathname.startsWith(p.pathname) && !url.username && !url.password,
    );
    if (!ok) {
      throw new HttpProblem(
        400,
        'return_url_not_allowed',
        `The returnUrl ${url.origin}${url.pathname} is not on this server's allow-list.`,
        this.#returnUrls.length === 0
          ? 'This server allows no return URLs; its operator allows some (--connect-return-url <prefix>), or leave returnUrl out.'
          : `Use a URL under one of: ${this.#returnUrls.map((u) => u.href).join(', ')}.`,
      );
    }
    return url.toString();
  }

  /** POST /v1/connect-sessions. */
  async create(
    input: CreateSessionInput,
    caller: Caller | null,
    createdBy: string | null,
  ): Promise<CreatedSession> {
    const id = input.connectionId;
    // A key scoped by ids alone is judged before anything is read.
    if (caller && !caller.scope.matchesId(id) && !caller.scope.byProvider) throw outOfScope(caller, id);
    let existing: ConnectionInfo | null = null;
    try {
      existing = await this.#baton.get(id);
    } catch (err) {
      if (!(err instanceof ConnectionNotFound)) throw err;
    }
    // The scope first, before anything that depends on whether the connection exists or how
    // it authenticates (README, "Out-of-scope ids"): a key outside the id's scope gets the
    // same 403 either way. A key scoped by provider covers the providers it is allowed.
    if (caller && !caller.scope.matchesId(id)) {
      const named = [...(existing ? [existing.provider] : []), ...(input.providers ?? [])];
      if (named.length === 0 || !named.every((p) => caller.scope.allows(id, p))) throw outOfScope(caller, id);
    }
    const params = input.params ?? {};
    let providers: string[];
    let reconnect: ConnectSession['reconnect'] = null;
    if (existing) {
      if (input.providers && !input.providers.includes(existing.provider)) {
        throw new HttpProblem(
          409,
          'connection_exists',
          `Connection "${id}" exists for ${existing.provider}, which this session does not allow.`,
          `Use another connectionId, or allow ${existing.provider} to reconnect it.`,
        );
      }
      if (!PERSON_MODES.includes(existing.authMode)) {
        throw new HttpProblem(
          409,
          'nothing_to_reconnect',
          `Connection "${id}" uses client credentials: no person needs to connect it.`,
          'Refresh it with POST /v1/connections/{id}/refresh, or fix the client configuration.',
        );
      }
      providers = [existing.provider];
      reconnect = {
        provider: existing.provider,
        params: existing.params,
        authMode: existing.authMode,
        scopes: existing.scopes,
      };
    } else {
      providers = [...new Set(input.providers ?? [])];
      if (providers.length === 0) {
        throw bad(
          `Connection "${id}" does not exist yet, and the session names no providers to create it with.`,
          'Send providers: ["cronofy", …] with the session.',
        );
      }
      for (const p of providers) {
        const spec = this.spec(p);
        const usable = spec.authModes.filter(
          (m) => PERSON_MODES.includes(m) && (!input.authModes || input.authModes.includes(m)),
        );
        if (usable.length === 0) {
          throw bad(
            `${spec.displayName} has no auth mode a person can use among those allowed (${(input.authModes ?? spec.authModes).join(', ')}).`,
            `Allow one of ${spec.authModes.filter((m) => PERSON_MODES.includes(m)).join(', ') || 'oauth2, token_pair, api_key'}, or drop ${p}.`,
          );
        }
      }
      for (const [name, constraint] of Object.entries(params)) {
        const specs = providers.map((p) => this.spec(p)).filter((s) => name in s.params);
        if (specs.length === 0) {
          throw bad(
            `No provider of this session has a param "${name}".`,
            'Drop it, or add the provider that has it.',
          );
        }
        const values = typeof constraint === 'string' ? [constraint] : constraint;
        if (values.length === 0)
          throw bad(`The param "${name}" allows no value.`, 'Give at least one value.');
        for (const spec of specs) {
          for (const v of values) {
            try {
              resolveParams({ ...spec, params: { [name]: spec.params[name] as never } }, { [name]: v });
            } catch (err) {
              if (err instanceof BatonError) throw bad(err.message, err.remediation);
              throw err;
            }
          }
        }
      }
    }
    const label = input.label?.trim() ? input.label.trim().slice(0, 200) : null;
    const returnUrl = input.returnUrl ? this.#checkReturnUrl(input.returnUrl) : null;
    const ttl = input.ttlSeconds !== undefined ? input.ttlSeconds * 1000 : this.ttlMs;
    const now = Date.now();
    const token = `cst_${random(32)}`;
    const session: ConnectSession = {
      id: `cs_${random(16)}`,
      tokenHash: sha256(token),
      connectionId: id,
      providers,
      authModes: input.authModes ?? null,
      params: reconnect ? {} : params,
      label,
      returnUrl,
      reconnect,
      status: 'open',
      outcomeCode: null,
      outcomeMessage: null,
      provider: reconnect?.provider ?? null,
      account: null,
      browserHash: null,
      csrf: null,
      stateHash: null,
      failures: 0,
      createdBy,
      createdAt: now,
      expiresAt: now + ttl,
      updatedAt: now,
      version: 1,
    };
    await this.#store.prune(now - 86_400_000).catch(() => 0);
    await this.#store.create(session);
    return {
      id: session.id,
      token,
      url: `${this.#publicUrl()}/connect/${token}`,
      expiresAt: session.expiresAt,
      connectionId: id,
      reconnect: reconnect !== null,
    };
  }

  /**
   * A reconnect link for a connection that needs a person (webhooks, GET /v1/connections/{id});
   * else null. `active`: also for one that still works (`connection.expiring`: its grant ends soon).
   */
  async reconnectLink(
    connectionId: string,
    ttlMs?: number,
    options: { active?: boolean } = {},
  ): Promise<{ url: string; expiresAt: number } | null> {
    let info: ConnectionInfo;
    try {
      info = await this.#baton.get(connectionId);
    } catch (err) {
      if (err instanceof ConnectionNotFound) return null;
      throw err;
    }
    if ((info.status === 'active' && !options.active) || !PERSON_MODES.includes(info.authMode)) return null;
    const made = await this.create(
      { connectionId, ...(ttlMs !== undefined ? { ttlSeconds: Math.ceil(ttlMs / 1000) } : {}) },
      null,
      'baton',
    );
    return { url: made.url, expiresAt: made.expiresAt };
  }

  /** The params a form submits, checked against the session's constraints and the provider. */
  params(session: ConnectSession, spec: ProviderSpec, given: Record<string, string>): Record<string, string> {
    if (session.reconnect) return session.reconnect.params;
    const out: Record<string, string> = {};
    for (const name of Object.keys(spec.params)) {
      const c = session.params[name];
      const v = typeof c === 'string' ? c : (given[name] ?? '').trim();
      if (Array.isArray(c) && !c.includes(v)) {
        throw new ConfigError(
          `"${v}" is not one of the choices for ${name}.`,
          `Pick one of: ${c.join(', ')}.`,
          {
            provider: spec.id,
          },
        );
      }
      if (v !== '') out[name] = v;
    }
    return resolveParams(spec, out);
  }

  async update(session: ConnectSession, patch: Partial<ConnectSession>): Promise<ConnectSession | null> {
    return this.#store.update({ ...session, ...patch, updatedAt: Date.now() });
  }

  /** Ends a session with an outcome. */
  finish(
    session: ConnectSession,
    status: 'connected' | 'denied' | 'failed',
    extra: { code?: string | null; message?: string | null; account?: ConnectSession['account'] } = {},
  ): Promise<ConnectSession | null> {
    return this.update(session, {
      status,
      outcomeCode: extra.code ?? null,
      outcomeMessage: extra.message ? redact(extra.message) : null,
      account: extra.account ?? session.account,
      stateHash: null,
    });
  }

  /** Where the result page sends the user back, with the outcome. */
  returnTo(session: ConnectSession): string | null {
    if (!session.returnUrl || !TERMINAL.has(session.status)) return null;
    const url = new URL(session.returnUrl);
    url.searchParams.set('outcome', session.status);
    url.searchParams.set('connectionId', session.connectionId);
    url.searchParams.set('session', session.id);
    if (session.outcomeCode) url.searchParams.set('code', session.outcomeCode);
    return url.toString();
  }

  newCsrf(): string {
    return random(24);
  }

  newBrowserId(): string {
    return random(24);
  }

  /** Constant-time comparison of two short strings. */
  same(a: string | null | undefined, b: string | null | undefined): boolean {
    if (typeof a !== 'string' || typeof b !== 'string') return false;
    const x = Buffer.from(a);
    const y = Buffer.from(b);
    return x.length === y.length && timingSafeEqual(x, y);
  }

  /** The outcome of a failed authorization, for the session and the return URL. */
  static outcomeOf(err: unknown): { status: 'denied' | 'failed'; code: string; message: string } {
    if (err instanceof AuthorizationError && err.reason === 'access_denied') {
      return {
        status: 'denied',
        code: 'access_denied',
        message: 'You declined access, so nothing was connected.',
      };
    }
    if (err instanceof BatonError)
      return { status: 'failed', code: err.code, message: `${err.message} ${err.remediation}` };
    return { status: 'failed', code: 'internal', message: 'The connection could not be completed.' };
  }
}
