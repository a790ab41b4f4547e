import { checkPendingQuery } from '../keyset.js';
import { sealedKeyId } from '../sealer.js';
import type { PendingAuthorization, PendingQuery } from '../store.js';
import type { PgRunner } from './runner.js';

/** Authorizations begun and not yet completed, keyed by their single-use `state`. */
export class PgPendingAuthorizations {
  readonly #runner: PgRunner;

  constructor(runner: PgRunner) {
    this.#runner = runner;
  }

  async save(pending: PendingAuthorization): Promise<void> {
    await this.#runner.query(
      'save a pending authorization',
      `WITH gc AS (DELETE FROM baton_pending_authorizations WHERE expires_at < $4)
       INSERT INTO baton_pending_authorizations (state, body, expires_at, key_id) VALUES ($1, $2, $3, $5)
       ON CONFLICT (state) DO UPDATE SET body = EXCLUDED.body, expires_at = EXCLUDED.expires_at, key_id = EXCLUDED.key_id`,
      [
        pending.state,
        JSON.stringify(pending),
        pending.expiresAt,
        Date.now() - 86_400_000,
        sealedKeyId(pending.sealed),
      ],
    );
  }

  async take(state: string): Promise<PendingAuthorization | null> {
    const { rows } = await this.#runner.query<{ body: PendingAuthorization }>(
      'read a pending authorization',
      'DELETE FROM baton_pending_authorizations WHERE state = $1 RETURNING body',
      [state],
    );
    return rows[0]?.body ?? null;
  }

  async list(query: PendingQuery): Promise<PendingAuthorization[]> {
    checkPendingQuery(query);
    const params: unknown[] = [query.limit];
    const where = [
      ...(query.after !== undefined ? [`state COLLATE "C" > $${params.push(query.after)}`] : []),
      ...(query.keyId !== undefined ? [`key_id = $${params.push(query.keyId)}`] : []),
    ];
    const { rows } = await this.#runner.query<{ body: PendingAuthorization }>(
      'list pending authorizations',
      `SELECT body FROM baton_pending_authorizations ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY state COLLATE "C" LIMIT $1`,
      params,
    );
    return rows.map((r) => r.body);
  }

  async reseal(state: string, expectedSealed: string, sealed: string): Promise<boolean> {
    const { rowCount } = await this.#runner.query(
      'write a pending authorization',
      `UPDATE baton_pending_authorizations SET body = jsonb_set(body, '{sealed}', to_jsonb($3::text)), key_id = $4
       WHERE state = $1 AND body->>'sealed' = $2`,
      [state, expectedSealed, sealed, sealedKeyId(sealed)],
    );
    return rowCount === 1;
  }
}
