import { checkPendingQuery } from '../keyset.js';
import { sealedKeyId } from '../sealer.js';
import type { PendingAuthorization, PendingQuery } from '../store.js';
import type { SqliteRunner } from './runner.js';

/** Authorizations begun and not yet completed, keyed by their single-use `state`. */
export class SqlitePendingAuthorizations {
  readonly #runner: SqliteRunner;

  constructor(runner: SqliteRunner) {
    this.#runner = runner;
  }

  save(pending: PendingAuthorization): Promise<void> {
    return this.#runner.run('save a pending authorization', (db) => {
      db.prepare('DELETE FROM pending_authorizations WHERE expires_at < ?').run(Date.now() - 86_400_000);
      db.prepare(
        'INSERT OR REPLACE INTO pending_authorizations (state, body, expires_at, key_id) VALUES (?, ?, ?, ?)',
      ).run(pending.state, JSON.stringify(pending), pending.expiresAt, sealedKeyId(pending.sealed));
    });
  }

  take(state: string): Promise<PendingAuthorization | null> {
    return this.#runner.run('read a pending authorization', (db) => {
      const row = db
        .prepare('DELETE FROM pending_authorizations WHERE state = ? RETURNING body')
        .get(state) as { body: string } | undefined;
      return row ? (JSON.parse(row.body) as PendingAuthorization) : null;
    });
  }

  async list(query: PendingQuery): Promise<PendingAuthorization[]> {
    checkPendingQuery(query);
    const where = [
      ...(query.after !== undefined ? ['state > @after'] : []),
      ...(query.keyId !== undefined ? ['key_id = @keyId'] : []),
    ];
    const sql = `SELECT body FROM pending_authorizations ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY state LIMIT @limit`;
    return this.#runner.run('list pending authorizations', (db) =>
      (
        db.prepare(sql).all({ after: query.after, keyId: query.keyId, limit: query.limit }) as {
          body: string;
        }[]
      ).map((r) => JSON.parse(r.body) as PendingAuthorization),
    );
  }

  reseal(state: string, expectedSealed: string, sealed: string): Promise<boolean> {
    return this.#runner.run(
      'write a pending authorization',
      (db) =>
        db
          .prepare(
            `UPDATE pending_authorizations SET body = json_set(body, '$.sealed', @sealed), key_id = @keyId
             WHERE state = @state AND json_extract(body, '$.sealed') = @expected`,
          )
          .run({ state, expected: expectedSealed, sealed, keyId: sealedKeyId(sealed) }).changes === 1,
    );
  }
}
