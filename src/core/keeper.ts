import { ConfigError } from '../errors.js';
import { checkRateLimit } from '../providers/registry.js';
import type { TokenRateLimit } from '../providers/spec.js';
import type { DueBatch, DueCursor } from '../store/store.js';
import type { CoreContext, LoadedConnection } from './context.js';
import { isDue } from './due.js';
import { DEFAULT_TOKEN_RATE_LIMIT, ProviderRateLimits } from './rate-limit.js';
import { type GrantGate, RefreshDeferred } from './refresher.js';

export interface KeeperOptions {
  /** How long between passes (each one ± `jitter`). Default 60 s. */
  intervalMs?: number;
  /**
   * Refresh a connection whose refresh token would lapse within this long (sliding lifetimes:
   * Checkfront's 14 days end if the token is not used). Default 2 days.
   */
  keepAliveMs?: number;
  /** Refreshes in flight at once. Default 8. */
  concurrency?: number;
  /** Due connections read from the store per query. Default 500. */
  batchSize?: number;
  /**
   * Each wait between passes is `intervalMs` × (1 ± `jitter`), drawn afresh, so replicas
   * started together drift apart instead of asking the store and the providers at the same
   * moment. Default 0.1.
   */
  jitter?: number;
  /**
   * Token-endpoint rate limits per provider id, over the spec's `tokenRateLimit` and the
   * default (5 per second, 10 at once). A 429's `Retry-After` pauses the provider on top.
   */
  rateLimits?: Record<string, TokenRateLimit>;
  /**
   * Called after every pass, scheduled or `runOnce`, with what it did, or with what stopped it
   * (the store down, say): for metrics and logs. What it throws is ignored.
   */
  onPass?: (outcome: { run: KeeperRun; error?: undefined } | { run?: undefined; error: unknown }) => void;
}

/** What one pass did. */
export interface KeeperRun {
  /** Due connections looked at (each once, however many reasons it was due for). */
  checked: number;
  /** Refreshed by this process (a token-endpoint call that left the connection a fresh pair). */
  refreshed: string[];
  /** This process's refresh failed (`lastError`, `needs_reauth` and the events say more). */
  failed: { id: string; code: string }[];
  /** Left for the next pass: the provider's rate limit (or its `Retry-After`) had no room before the pass's end. */
  skippedByLimit: number;
  /** Another process held the connection's lease: it is refreshing it. */
  leased: number;
  /** Not due when reached: refreshed elsewhere meanwhile, or due only a little later. */
  fresh: number;
  /** Backing off after an earlier failure (the refresher's cooldown). */
  coolingDown: number;
  /** Wall-clock time of the pass. */
  durationMs: number;
}

type DueItem = DueBatch['items'][number];

/**
 * Background refresh: tokens that are about to expire, and refresh tokens about to lapse for
 * want of use. Each pass costs what is due, not what is stored: the store's due index yields
 * the connections in order of urgency, in batches; `concurrency` of them are refreshed at once,
 * each provider's token endpoint within its rate limit; the refresh lease makes each due
 * connection one refresh across every replica, and a lease held elsewhere is not waited for.
 * Failures are the refresher's to record (lastError, needs_reauth, events); the keeper counts
 * them and goes on.
 */
export class Keeper {
  readonly #ctx: CoreContext;
  readonly #refresh: (id: string, keepAliveUntil: number, gate: GrantGate) => Promise<LoadedConnection>;
  readonly #intervalMs: number;
  readonly #keepAliveMs: number;
  readonly #concurrency: number;
  readonly #batchSize: number;
  readonly #jitter: number;
  readonly #limits: ProviderRateLimits;
  readonly #onPass: KeeperOptions['onPass'];
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<KeeperRun> | null = null;

  constructor(
    ctx: CoreContext,
    refresh: (id: string, keepAliveUntil: number, gate: GrantGate) => Promise<LoadedConnection>,
    options: KeeperOptions = {},
  ) {
    this.#ctx = ctx;
    this.#refresh = refresh;
    this.#intervalMs = positive('intervalMs', options.intervalMs ?? 60_000);
    this.#keepAliveMs = positive('keepAliveMs', options.keepAliveMs ?? 2 * 86_400_000);
    this.#concurrency = whole('concurrency', options.concurrency ?? 8);
    this.#batchSize = whole('batchSize', options.batchSize ?? 500);
    const jitter = options.jitter ?? 0.1;
    if (!(jitter >= 0 && jitter < 1)) {
      throw new ConfigError(`The keeper's jitter ${jitter} is not between 0 and 1.`, 'Use e.g. jitter: 0.1.');
    }
    this.#jitter = jitter;
    this.#onPass = options.onPass;
    const overrides = options.rateLimits ?? {};
    for (const [provider, limit] of Object.entries(overrides)) {
      ctx.providers.get(provider); // an unknown provider is a ConfigError naming it
      checkRateLimit(limit, `The keeper's rate limit for ${provider}`, provider);
    }
    this.#limits = new ProviderRateLimits(
      (provider) =>
        overrides[provider] ??
        (ctx.providers.has(provider) ? ctx.providers.get(provider).tokenRateLimit : undefined) ??
        DEFAULT_TOKEN_RATE_LIMIT,
    );
  }

  start(): void {
    if (this.#timer) return;
    this.#schedule();
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** The next pass, after the interval ± jitter. */
  #schedule(): void {
    // setTimeout fires at once past 2^31 - 1 ms: a very long interval is held to that.
    const delay = Math.min(2 ** 31 - 1, this.#intervalMs * (1 + this.#jitter * (2 * Math.random() - 1)));
    this.#timer = setTimeout(() => {
      void this.runOnce()
        .catch(() => undefined)
        .finally(() => {
          if (this.#timer) this.#schedule();
        });
    }, delay);
    this.#timer.unref();
  }

  /** One pass over what is due. Overlapping calls share the pass in progress. */
  runOnce(): Promise<KeeperRun> {
    this.#running ??= this.#pass().then(
      (run) => {
        this.#running = null;
        this.#report({ run });
        return run;
      },
      (error: unknown) => {
        this.#running = null;
        this.#report({ error });
        throw error;
      },
    );
    return this.#running;
  }

  #report(outcome: Parameters<NonNullable<KeeperOptions['onPass']>>[0]): void {
    try {
      this.#onPass?.(outcome);
    } catch {
      // A hook's failure is its own: the keeper goes on.
    }
  }

  async #pass(): Promise<KeeperRun> {
    const started = performance.now();
    // A pass ends by the next one: what the rate limits leave undone by then waits for it.
    const deadline = Date.now() + this.#intervalMs;
    const run: KeeperRun = {
      checked: 0,
      refreshed: [],
      failed: [],
      skippedByLimit: 0,
      leased: 0,
      fresh: 0,
      coolingDown: 0,
      durationMs: 0,
    };
    const now = this.#ctx.clock.now();
    const window = this.#ctx.options.refreshWindowMs;
    const keepAliveUntil = now + this.#keepAliveMs;
    const next = this.#dueItems({
      // A token is due at most `window` before it expires (due.ts): the store's index finds every
      // candidate; the refresher decides on each, under its lease, with the exact refresh point.
      accessExpiresBy: now + window,
      accessAuthMode: 'oauth2',
      refreshExpiresBy: keepAliveUntil,
    });
    const looked = new Set<string>();
    /** Connections this pass already acted on (or left to another process): once is enough. */
    const handled = new Set<string>();
    const worker = async () => {
      for (let item = await next(); item && !this.#ctx.closed(); item = await next()) {
        if (handled.has(item.id)) continue;
        if (!looked.has(item.id)) {
          looked.add(item.id);
          run.checked++;
        }
        handled.add(item.id);
        await this.#one(item, keepAliveUntil, deadline, run);
      }
    };
    await Promise.all(Array.from({ length: this.#concurrency }, worker));
    run.durationMs = performance.now() - started;
    return run;
  }

  /** The due items, one store batch at a time, shared by the workers. */
  #dueItems(query: { accessExpiresBy: number; accessAuthMode: 'oauth2'; refreshExpiresBy: number }) {
    const buffer: DueItem[] = [];
    let cursor: DueCursor | null = null;
    let exhausted = false;
    let fetching: Promise<void> | null = null;
    return async (): Promise<DueItem | undefined> => {
      for (;;) {
        const item = buffer.shift();
        if (item || exhausted) return item;
        fetching ??= this.#ctx.store
          .due({ ...query, limit: this.#batchSize, after: cursor })
          .then((batch) => {
            buffer.push(...batch.items);
            cursor = batch.next;
            exhausted = batch.next === null;
          })
          .finally(() => {
            fetching = null;
          });
        await fetching;
      }
    };
  }

  async #one(item: DueItem, keepAliveUntil: number, deadline: number, run: KeeperRun): Promise<void> {
    const { id, provider } = item;
    if (this.#limits.pausedBeyond(provider, deadline)) {
      // The provider asked us to wait (Retry-After) past this pass: nothing of it runs now.
      run.skippedByLimit++;
      return;
    }
    let outcome: { error?: { code: string } } | undefined;
    const gate: GrantGate = {
      admit: async () => {
        if (!(await this.#limits.admit(provider, deadline))) throw new RefreshDeferred('rate_limit');
        // Closed while waiting for the slot: nothing more goes out.
        if (this.#ctx.closed()) throw new RefreshDeferred('rate_limit');
      },
      rateLimited: (retryAfter) => this.#limits.pause(provider, retryAfter),
      done: (error) => {
        outcome = error ? { error } : {};
      },
    };
    try {
      // Whichever phase found it, both reasons are weighed: an access token due now, or a
      // refresh token that lapses by `keepAliveUntil`.
      const conn = await this.#refresh(id, keepAliveUntil, gate);
      if (outcome?.error) run.failed.push({ id, code: outcome.error.code });
      else if (outcome) run.refreshed.push(id);
      else if (this.#stillDue(conn)) run.coolingDown++;
      else run.fresh++;
    } catch (err) {
      if (err instanceof RefreshDeferred) {
        if (err.reason === 'leased') run.leased++;
        else run.skippedByLimit++;
      } else {
        run.failed.push({ id, code: outcome?.error?.code ?? (err as { code?: string }).code ?? 'unknown' });
      }
    }
  }

  #stillDue(conn: LoadedConnection): boolean {
    const t = conn.secrets.tokens;
    return !!t && isDue(t.expiresAt, t.issuedAt, this.#ctx.clock.now(), this.#ctx.options.refreshWindowMs);
  }
}

function positive(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new ConfigError(`The keeper's ${name} ${value} is not a positive number.`, `Set ${name} above 0.`);
  }
  return value;
}

function whole(name: string, value: number): number {
  if (!(Number.isInteger(value) && value > 0)) {
    throw new ConfigError(
      `The keeper's ${name} ${value} is not a positive whole number.`,
      `Set ${name} to 1 or more.`,
    );
  }
  return value;
}
