import type { CoreContext, LoadedConnection } from './context.js';
import { refreshPoint } from './due.js';

export interface KeeperOptions {
  /** How often to look at every connection. Default 60 s. */
  intervalMs?: number;
  /**
   * Refresh a connection whose refresh token would lapse within this long (sliding lifetimes:
   * Checkfront's 14 days end if the token is not used). Default 2 days.
   */
  keepAliveMs?: number;
}

export interface KeeperRun {
  checked: number;
  refreshed: string[];
  failed: { id: string; code: string }[];
}

/**
 * Background refresh: tokens that are about to expire, and refresh tokens about to lapse for
 * want of use. Failures are the refresher's to record (lastError, needs_reauth, events); the
 * keeper only decides who is due and goes on to the next.
 */
export class Keeper {
  readonly #ctx: CoreContext;
  readonly #refresh: (id: string, force: boolean) => Promise<LoadedConnection>;
  readonly #intervalMs: number;
  readonly #keepAliveMs: number;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<KeeperRun> | null = null;

  constructor(
    ctx: CoreContext,
    refresh: (id: string, force: boolean) => Promise<LoadedConnection>,
    options: KeeperOptions = {},
  ) {
    this.#ctx = ctx;
    this.#refresh = refresh;
    this.#intervalMs = options.intervalMs ?? 60_000;
    this.#keepAliveMs = options.keepAliveMs ?? 2 * 86_400_000;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      void this.runOnce().catch(() => undefined);
    }, this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** One pass over every connection. Overlapping calls share the pass in progress. */
  runOnce(): Promise<KeeperRun> {
    this.#running ??= this.#pass().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #pass(): Promise<KeeperRun> {
    const run: KeeperRun = { checked: 0, refreshed: [], failed: [] };
    const now = this.#ctx.clock.now();
    // Due before the next pass: the same refresh point getAccessToken uses.
    const horizon = now + this.#intervalMs;
    for (const record of await this.#ctx.store.list()) {
      if (record.status !== 'active') continue;
      if (record.authMode !== 'oauth2' && record.authMode !== 'client_credentials') continue;
      run.checked++;
      const accessDue =
        refreshPoint(
          record.accessTokenExpiresAt,
          record.lastRefreshedAt,
          this.#ctx.options.refreshWindowMs,
        ) <= horizon;
      const lapsing =
        record.refreshTokenExpiresAt !== null && record.refreshTokenExpiresAt - now <= this.#keepAliveMs;
      // Client-credentials tokens are cheap to get again on demand; only user grants need keeping alive.
      if (!(lapsing || (accessDue && record.authMode === 'oauth2'))) continue;
      try {
        await this.#refresh(record.id, lapsing);
        run.refreshed.push(record.id);
      } catch (err) {
        run.failed.push({ id: record.id, code: (err as { code?: string }).code ?? 'unknown' });
      }
    }
    return run;
  }
}
