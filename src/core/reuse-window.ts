import { NetworkError, ReauthorizationRequired } from '../errors.js';
import type { TokenSet } from '../protocol/token-set.js';
import type { ConnectionRecord } from '../store/store.js';
import type { CoreContext, LoadedConnection } from './context.js';
import type { HeldLease } from './lease.js';
import { openSecrets, sealSecrets } from './secrets.js';
import { timesOf } from './token-lifetime.js';
import { writeConnection } from './write-path.js';

/**
 * A refresh token in doubt (docs/architecture.md, invariant 13). A refresh whose answer never
 * came back — a timeout, a connection dropped after the request left, a process that stopped
 * while its refresh was in flight — may have been carried out: the provider may have replaced
 * the refresh token it spent, and the new one is lost. Sending the old one again is a recovery
 * only inside the provider's documented reuse window (`refreshTokenReuse`); outside it the
 * provider has said the token is dead, and some (`revokesFamily`) revoke every token of the
 * grant when it is presented. So, for a provider that documents a window:
 *
 * - the doubt is dated from when the lost request was sent (or the lost process took the lease),
 *   kept sealed with the token set (`GrantTimes.inDoubtSince`, through the failure's
 *   `record_error` write) and in this process, so every process and every later refresh knows;
 * - before each send the window is checked: the retry must arrive before the window ends, with
 *   the request timeout to spare; otherwise nothing is sent, and the connection goes to
 *   `needs_reauth` (`refresh_lost`) with a message that says why;
 * - an answer from the provider ends the doubt: a new pair is committed (its set holds none), a
 *   refusal is the provider's word.
 *
 * A provider without `refreshTokenReuse` keeps the old behaviour: a lost answer is retried as
 * any transient failure is.
 */
export class RotationDoubt {
  #since: number | null;
  readonly #process: { owner: string; since: number } | null;

  private constructor(
    private readonly conn: LoadedConnection,
    since: number | null,
    process: { owner: string; since: number } | null,
  ) {
    this.#since = since;
    this.#process = process;
  }

  /**
   * The doubt over `conn`'s refresh token as this refresh starts: what the token set records,
   * what this process remembers for that token, and a lease taken over from a holder that
   * stopped mid-refresh. None for a provider without a reuse window, or without a refresh token.
   */
  static of(conn: LoadedConnection, lease: HeldLease, remembered: number | undefined): RotationDoubt | null {
    const tokens = conn.secrets.tokens;
    if (!conn.spec.refreshTokenReuse || conn.record.authMode !== 'oauth2' || !tokens?.refreshToken)
      return null;
    const lost = lease.takenOver;
    const since = earliest(tokens.grant?.inDoubtSince ?? null, remembered ?? null, lost?.since ?? null);
    return new RotationDoubt(conn, since, lost);
  }

  /** Since when the refresh token is in doubt; null: it is not. */
  get since(): number | null {
    return this.#since;
  }

  /** The refresh token in doubt. */
  get spent(): string | null {
    return this.conn.secrets.tokens?.refreshToken ?? null;
  }

  /**
   * The last moment a send may start and still reach the provider within its window (the
   * request timeout to spare); null: no limit (not in doubt, or the window lasts until the new
   * token is used, which a lost one never is).
   */
  lastChance(ctx: CoreContext): number | null {
    const reuse = this.conn.spec.refreshTokenReuse;
    if (this.#since === null || !reuse || reuse.mode !== 'window') return null;
    return this.#since + reuse.seconds * 1000 - (ctx.options.http.timeoutMs ?? 30_000);
  }

  /** Before a send: throws (`ReuseWindowClosed`) when the refresh token may be dead by the provider's own rule. */
  check(ctx: CoreContext): void {
    const last = this.lastChance(ctx);
    if (last === null || ctx.clock.now() < last) return;
    throw new ReuseWindowClosed(this.#describe(), {
      connectionId: this.conn.record.id,
      provider: this.conn.record.provider,
    });
  }

  /** After a failed send that left at `sentAt`: an answer that may have been lost puts the token in doubt. */
  failed(err: unknown, sentAt: number): void {
    if (err instanceof NetworkError && err.mayHaveArrived && this.#since === null) this.#since = sentAt;
  }

  /**
   * The failure's `record_error` write, with the doubt sealed into the token set — only onto a
   * record that still holds the refresh token in doubt (someone may have stored a newer pair).
   */
  mark(ctx: CoreContext, current: ConnectionRecord, next: ConnectionRecord): ConnectionRecord {
    const since = this.#since;
    if (since === null) return next;
    let secrets: ReturnType<typeof openSecrets>;
    try {
      secrets = openSecrets(ctx.sealer, current);
    } catch {
      return next;
    }
    const tokens = secrets.tokens;
    if (!tokens || tokens.refreshToken !== this.spent || tokens.grant?.inDoubtSince === since) return next;
    const marked: TokenSet = { ...tokens, grant: { ...timesOf(tokens), inDoubtSince: since } };
    return { ...next, sealed: sealSecrets(ctx.sealer, current, { ...secrets, tokens: marked }) };
  }

  /**
   * Seals the doubt on its own (a refresh left for later, or a closing Baton, after an answer
   * was lost): the lease is about to go, and the next holder must know. Best effort.
   */
  async persist(ctx: CoreContext): Promise<void> {
    if (this.#since === null) return;
    await writeConnection(ctx, this.conn.record.id, 'record_error', (current) => {
      if (!current) return null;
      const marked = this.mark(ctx, current, current);
      return marked === current ? null : marked;
    }).catch(() => undefined);
  }

  /** What a refusal or a closed window says about the lost answer, for the connection's lastError. */
  explain(said?: string): string {
    const { spec, record } = this.conn;
    const at = new Date(this.#since ?? 0).toISOString();
    const lost = this.#process
      ? `A refresh of "${record.id}" was in flight in process ${this.#process.owner.split(':')[0]} at ${at} and its result was lost (the process stopped before storing it)`
      : `A refresh of "${record.id}" sent at ${at} got no answer (the request may have reached ${spec.displayName}, which then replaced the refresh token)`;
    return said === undefined
      ? `${lost}; ${this.#windowRule()}`
      : `${lost}; ${spec.displayName} now refuses the old one: ${said}`;
  }

  #describe(): string {
    return `${this.explain()} Baton did not send it again.`;
  }

  #windowRule(): string {
    const { spec } = this.conn;
    const reuse = spec.refreshTokenReuse;
    const seconds = reuse?.mode === 'window' ? reuse.seconds : 0;
    const family = reuse?.revokesFamily ? ', and presenting it later revokes every token of the grant' : '';
    return `${spec.displayName} accepts a replaced refresh token only within ${seconds} s of its replacement${family}, and that window has passed.`;
  }
}

/** The reuse window of a refresh token in doubt has passed: it was not sent (code `refresh_lost` on the connection). */
export class ReuseWindowClosed extends ReauthorizationRequired {}

function earliest(...times: (number | null)[]): number | null {
  const known = times.filter((t): t is number => t !== null);
  return known.length > 0 ? Math.min(...known) : null;
}
