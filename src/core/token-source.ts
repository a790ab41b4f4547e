import { ConfigError } from '../errors.js';
import { assertUsable, type CoreContext, type LoadedConnection, loadConnection } from './context.js';
import { isDue, type Refresher, type RefreshRequest } from './refresher.js';

interface Cached {
  conn: LoadedConnection;
  accessToken: string | null;
  /** When the token stops being handed out from memory (expiry minus the refresh window). */
  freshUntil: number;
}

const STATIC_MODES = new Set(['token_pair', 'api_key']);

export function isStatic(conn: LoadedConnection): boolean {
  return STATIC_MODES.has(conn.record.authMode);
}

/**
 * Hands out valid tokens. A warm token comes from memory without touching the store; anything
 * else goes through one promise per connection, so a thousand concurrent callers in this
 * process cause one load and at most one refresh.
 */
export class TokenSource {
  readonly #ctx: CoreContext;
  readonly #refresher: Refresher;
  readonly #cache = new Map<string, Cached>();
  readonly #inflight = new Map<string, Promise<LoadedConnection>>();

  constructor(ctx: CoreContext, refresher: Refresher) {
    this.#ctx = ctx;
    this.#refresher = refresher;
  }

  async getAccessToken(id: string): Promise<string> {
    const hit = this.#cache.get(id);
    if (hit !== undefined && hit.accessToken !== null && hit.freshUntil > this.#ctx.clock.now())
      return hit.accessToken;
    return accessTokenOf(await this.connection(id));
  }

  /** The connection with a token that is not due, refreshing first if it is. */
  connection(id: string): Promise<LoadedConnection> {
    const hit = this.#cache.get(id);
    if (hit !== undefined && hit.freshUntil > this.#ctx.clock.now()) return Promise.resolve(hit.conn);
    return this.#single(id, () => this.#loadFresh(id));
  }

  /** After the provider rejected `token` (a 401): the stored token if another process refreshed, else a forced refresh. */
  async afterRejection(id: string, token: string): Promise<LoadedConnection> {
    const inflight = this.#inflight.get(id);
    if (inflight) {
      const conn = await inflight.catch(() => null);
      if (conn?.secrets.tokens && conn.secrets.tokens.accessToken !== token) return conn;
    }
    return this.#single(id, () => this.#refreshed(id, { force: true, rejectedToken: token }));
  }

  /** An explicit refresh (`baton.refresh`). */
  refresh(id: string, force: boolean): Promise<LoadedConnection> {
    return this.#single(id, () => this.#refreshed(id, { force }));
  }

  /** Puts a connection that was just written into the cache. */
  remember(conn: LoadedConnection): LoadedConnection {
    const tokens = conn.secrets.tokens;
    const now = this.#ctx.clock.now();
    let freshUntil: number;
    if (isStatic(conn)) freshUntil = Number.POSITIVE_INFINITY;
    else if (!tokens || conn.record.status !== 'active') freshUntil = 0;
    else if (tokens.expiresAt === null) freshUntil = Number.POSITIVE_INFINITY;
    else freshUntil = tokens.expiresAt - this.#ctx.options.refreshWindowMs;
    if (freshUntil > now) {
      this.#cache.set(id(conn), { conn, accessToken: tokens?.accessToken ?? null, freshUntil });
    } else {
      this.#cache.delete(id(conn));
    }
    return conn;
  }

  /** Forgets a connection (another process changed it, or it was removed). */
  invalidate(connectionId: string, version?: number): void {
    const hit = this.#cache.get(connectionId);
    if (hit && (version === undefined || hit.conn.record.version < version)) this.#cache.delete(connectionId);
  }

  clear(): void {
    this.#cache.clear();
  }

  #single(connectionId: string, run: () => Promise<LoadedConnection>): Promise<LoadedConnection> {
    const existing = this.#inflight.get(connectionId);
    if (existing) return existing;
    const p = run()
      .then((conn) => this.remember(conn))
      .finally(() => {
        if (this.#inflight.get(connectionId) === p) this.#inflight.delete(connectionId);
      });
    this.#inflight.set(connectionId, p);
    return p;
  }

  async #loadFresh(connectionId: string): Promise<LoadedConnection> {
    const conn = await loadConnection(this.#ctx, connectionId);
    assertUsable(conn);
    if (isStatic(conn)) return conn;
    const tokens = conn.secrets.tokens;
    if (tokens && !isDue(tokens.expiresAt, this.#ctx.clock.now(), this.#ctx.options.refreshWindowMs))
      return conn;
    return this.#refresher.refresh(connectionId, { force: false });
  }

  async #refreshed(connectionId: string, req: RefreshRequest): Promise<LoadedConnection> {
    const conn = await loadConnection(this.#ctx, connectionId);
    assertUsable(conn);
    if (isStatic(conn)) {
      throw new ConfigError(
        `Connection "${connectionId}" uses ${conn.record.authMode} credentials, which do not expire or refresh.`,
        'Static credentials are replaced by connecting again with new ones (`baton connect`).',
        { connectionId, provider: conn.record.provider },
      );
    }
    return this.#refresher.refresh(connectionId, req);
  }
}

function id(conn: LoadedConnection): string {
  return conn.record.id;
}

export function accessTokenOf(conn: LoadedConnection): string {
  const token = conn.secrets.tokens?.accessToken;
  if (token) return token;
  throw new ConfigError(
    `Connection "${conn.record.id}" uses ${conn.record.authMode} credentials and has no access token.`,
    'Use baton.fetch() (or `baton request`), which sends the right credentials for every auth mode.',
    { connectionId: conn.record.id, provider: conn.record.provider },
  );
}
