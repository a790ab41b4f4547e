import type { TokenSet } from '../protocol/token-set.js';
import type { ConnectionRecord, OutboxEvent } from '../store/store.js';
import { type GrantLifetime, toConnectionInfo, toGrantLifetime } from './connection-info.js';
import { type CoreContext, type LoadedConnection, openConnection } from './context.js';
import { expiringEvent } from './outbox.js';
import { openSecrets, sealSecrets } from './secrets.js';
import { expiringDue, withExpiringNoted } from './token-lifetime.js';
import { spentOf, WriteRefused, writeConnection } from './write-path.js';

/**
 * `connection.expiring`, once per grant (README, "When tokens are refreshed"): when a grant's
 * absolute end is within `expiringWithinMs`, the write that finds it notes the event in the
 * sealed token set and carries the webhook event in the same compare-and-swap; the library
 * event follows the write. A write that loses its swap is built again from the newer record,
 * where the note, if someone else wrote it, stops a second event.
 */
export class ExpiringNotice {
  #noted: GrantLifetime | null = null;

  constructor(private readonly ctx: CoreContext) {}

  /** A write attempt begins: nothing noted yet. */
  clear(): void {
    this.#noted = null;
  }

  /** `tokens` as they go into this attempt's write: noted now when the notice is due. */
  note(tokens: TokenSet): TokenSet {
    this.#noted = null;
    const now = this.ctx.clock.now();
    if (!expiringDue(tokens, now, this.ctx.options.expiringWithinMs)) return tokens;
    const noted = withExpiringNoted(tokens, now);
    this.#noted = noted.grant ? toGrantLifetime(noted.grant) : null;
    return noted;
  }

  /** The webhook event of the attempt being written (WriteOptions.events). */
  readonly events = (_current: ConnectionRecord | null, next: ConnectionRecord, at: number): OutboxEvent[] =>
    this.#noted ? [expiringEvent(next, this.#noted, at)] : [];

  /** After the write landed: the library event. */
  emit(record: ConnectionRecord): void {
    if (this.#noted) this.ctx.events.emit('connection.expiring', toConnectionInfo(record), this.#noted);
  }
}

/**
 * A rotated pair about to be written onto `current`, which is newer than the record it was
 * granted from: a notice noted there for the same grant meanwhile is kept.
 */
export function carryNotice(
  ctx: CoreContext,
  current: ConnectionRecord,
  fromVersion: number,
  tokens: TokenSet,
): TokenSet {
  const g = tokens.grant;
  if (current.version === fromVersion || !g || g.expiringNoticeAt !== null) return tokens;
  let stored: TokenSet | null = null;
  try {
    stored = openSecrets(ctx.sealer, current).tokens;
  } catch {
    return tokens;
  }
  const at = stored?.grant?.authorizedAt === g.authorizedAt ? stored.grant.expiringNoticeAt : null;
  return at === null ? tokens : withExpiringNoted(tokens, at);
}

/**
 * The keeper met a connection that needs no refresh but whose grant's absolute end is near:
 * the notice is written on its own (`note_expiring`), onto the token set it was found with.
 * A refresh committed meanwhile wrote its own notice; any refusal leaves nothing to do.
 */
export async function noteExpiring(ctx: CoreContext, conn: LoadedConnection): Promise<LoadedConnection> {
  const notice = new ExpiringNotice(ctx);
  const { record } = conn;
  let written: ConnectionRecord | null;
  try {
    written = await writeConnection(
      ctx,
      record.id,
      'note_expiring',
      (current) => {
        notice.clear();
        if (!current) return null;
        const secrets = openSecrets(ctx.sealer, current);
        if (!secrets.tokens) return null;
        const tokens = notice.note(secrets.tokens);
        if (tokens === secrets.tokens) return null;
        return { ...current, sealed: sealSecrets(ctx.sealer, current, { ...secrets, tokens }) };
      },
      {
        from: { version: record.version, spent: spentOf(conn.secrets.tokens) },
        known: record,
        events: notice.events,
      },
    );
  } catch (err) {
    if (err instanceof WriteRefused) return conn;
    throw err;
  }
  if (!written || written.version === record.version) return conn;
  notice.emit(written);
  return openConnection(ctx, written);
}
