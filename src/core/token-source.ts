import { ConfigError, StoreError } from '../errors.js';
import { assertUsable, type CoreContext, type LoadedConnection, loadConnection } from './context.js';
import { isDue, isSingleUse, refreshPoint } from './due.js';
import type { GrantGate, Refresher, RefreshRequest } from './refresher.js';
import { openSecrets, reconnectWithCredentials, sealSecrets } from './secrets.js';
import { writeConnection } from './write-path.js';

export { isSingleUse } from './due.js';

const STATIC_MODES = new Set(['token_pair', 'api_key']);

export function isStatic(conn: LoadedConnection): boolean {
  return STATIC_MODES.has(conn.record.authMode);
}

/**
 * Hands out valid tokens. A warm token comes from the cache without touching the store;
 * anything else goes through one promise per connection, so a thousand concurrent callers in
 * this process cause one load and at most one refresh.
 */
export class TokenSource {
  readonly #ctx: CoreContext;
  readonly #refresher: Refresher;
  readonly #inflight = new Map<string, Promise<LoadedConnection>>();

  constructor(ctx: CoreContext, refresher: Refresher) {
    this.#ctx = ctx;
    this.#refresher = refresher;
  }

  async getAccessToken(id: string): Promise<string> {
    const hit = this.#ctx.cache.fresh(id, this.#ctx.clock.now());
    if (hit !== undefined && hit.accessToken !== null) return hit.accessToken;
    return accessTokenOf(await this.usable(id));
  }

  /**
   * The connection whose credentials a request may use now. A single-use token is claimed
   * first (marked spent in the store), so it goes to exactly one request; the next caller
   * gets a new one from a refresh, or a ReauthorizationRequired before any request is sent.
   */
  async usable(id: string): Promise<LoadedConnection> {
    for (let attempt = 0; ; attempt++) {
      const conn = await this.connection(id);
      if (!isSingleUse(conn)) return conn;
      const token = conn.secrets.tokens?.accessToken;
      if (!token) return conn;
      const claimed = await writeConnection(this.#ctx, id, 'spend', (current) => {
        if (!current || current.version !== conn.record.version) return null;
        const secrets = openSecrets(this.#ctx.sealer, current);
        const tokens = secrets.tokens;
        if (!tokens || tokens.accessToken !== token) return null;
        const now = this.#ctx.clock.now();
        const spent = { ...tokens, expiresAt: now };
        return {
          ...current,
          sealed: sealSecrets(this.#ctx.sealer, current, { ...secrets, tokens: spent }),
          accessTokenExpiresAt: now,
          lastError: tokens.refreshToken
            ? current.lastError
            : {
                code: 'single_use_spent',
                message: `The single-use token of "${id}" was used by a request; another request needs a new authorization.`,
                at: now,
              },
        };
      });
      if (claimed && claimed.version === conn.record.version + 1) return conn;
      if (attempt >= 3) {
        throw new StoreError(
          `Could not claim the single-use token of "${id}": others kept taking it; try again.`,
          {
            connectionId: id,
            provider: conn.record.provider,
          },
        );
      }
    }
  }

  /** The connection with a token that is not due, refreshing first if it is. */
  connection(id: string): Promise<LoadedConnection> {
    const hit = this.#ctx.cache.fresh(id, this.#ctx.clock.now());
    if (hit !== undefined) return Promise.resolve(hit.conn);
    return this.#single(id, () => this.#loadFresh(id));
  }

  /** After the provider rejected `token` (a 401): it leaves the cache, and a refresh (or another process's result) replaces it. */
  async afterRejection(id: string, token: string): Promise<LoadedConnection> {
    this.#ctx.cache.reject(id, token);
    const inflight = this.#inflight.get(id);
    if (inflight) {
      const conn = await inflight.catch(() => null);
      if (conn?.secrets.tokens && conn.secrets.tokens.accessToken !== token) return conn;
    }
    return this.#single(`${id}\0rejected`, () => this.#refreshed(id, { force: true, rejectedToken: token }));
  }

  /**
   * An explicit refresh (`baton.refresh`): a failure is thrown, never the old token. It joins
   * only other explicit refreshes: a plain load in flight would answer without refreshing.
   */
  refresh(id: string, force: boolean): Promise<LoadedConnection> {
    return this.#single(`${id}\0${force ? 'forced' : 'explicit'}`, () =>
      this.#refreshed(id, { force, explicit: true }),
    );
  }

  /**
   * A background refresh (the keeper): the old token stays fine while it lives. The keeper's
   * gate rate-limits the token endpoint and hears the outcome; a lease held elsewhere is not
   * waited for.
   */
  refreshSoft(id: string, keepAliveUntil: number, gate?: GrantGate): Promise<LoadedConnection> {
    return this.#single(`${id}\0keeper`, () =>
      this.#refreshed(id, { force: false, keepAliveUntil, ...(gate ? { gate, waitForLease: false } : {}) }),
    );
  }

  /** Puts a connection that was just read or written into the cache, until its refresh point. */
  remember(conn: LoadedConnection): LoadedConnection {
    const tokens = conn.secrets.tokens;
    let freshUntil: number;
    if (conn.record.status !== 'active') freshUntil = 0;
    else if (isStatic(conn)) freshUntil = Number.POSITIVE_INFINITY;
    else if (!tokens || isSingleUse(conn)) freshUntil = 0;
    else freshUntil = refreshPoint(tokens.expiresAt, tokens.issuedAt, this.#ctx.options.refreshWindowMs);
    if (freshUntil > this.#ctx.clock.now())
      this.#ctx.cache.set(conn, tokens?.accessToken ?? null, freshUntil);
    else this.#ctx.cache.drop(conn.record.id);
    return conn;
  }

  /** One promise per kind of work per connection (`key`); a load is never mistaken for a refresh. */
  #single(key: string, run: () => Promise<LoadedConnection>): Promise<LoadedConnection> {
    const existing = this.#inflight.get(key);
    if (existing) return existing;
    const p = run()
      .then((conn) => this.remember(conn))
      .finally(() => {
        if (this.#inflight.get(key) === p) this.#inflight.delete(key);
      });
    this.#inflight.set(key, p);
    return p;
  }

  async #loadFresh(connectionId: string): Promise<LoadedConnection> {
    const conn = await loadConnection(this.#ctx, connectionId);
    assertUsable(conn);
    if (isStatic(conn)) return conn;
    const tokens = conn.secrets.tokens;
    if (
      tokens &&
      !this.#ctx.cache.isRejected(connectionId, tokens.accessToken) &&
      !isDue(tokens.expiresAt, tokens.issuedAt, this.#ctx.clock.now(), this.#ctx.options.refreshWindowMs)
    )
      return conn;
    return this.#refresher.refresh(connectionId, { force: false }, conn);
  }

  async #refreshed(connectionId: string, req: RefreshRequest): Promise<LoadedConnection> {
    const conn = await loadConnection(this.#ctx, connectionId);
    assertUsable(conn);
    if (isStatic(conn)) {
      throw new ConfigError(
        `Connection "${connectionId}" uses ${conn.record.authMode} credentials, which do not expire or refresh.`,
        'Static credentials are replaced by connecting again with new ones (`baton connect`).',
        {
          connectionId,
          provider: conn.record.provider,
          httpRemediation: reconnectWithCredentials(connectionId),
        },
      );
    }
    return this.#refresher.refresh(connectionId, req, conn);
  }
}

export function accessTokenOf(conn: LoadedConnection): string {
  const token = conn.secrets.tokens?.accessToken;
  if (token) return token;
  throw new ConfigError(
    `Connection "${conn.record.id}" uses ${conn.record.authMode} credentials and has no access token.`,
    'Use baton.fetch() (or `baton request`), which sends the right credentials for every auth mode.',
    {
      connectionId: conn.record.id,
      provider: conn.record.provider,
      cliRemediation: `Use \`baton request ${conn.record.id} <path>\`, which sends the right credentials for every auth mode.`,
      forOperator: true,
    },
  );
}
