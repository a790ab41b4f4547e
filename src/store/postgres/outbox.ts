import { OUTBOX_COLUMNS, type OutboxRow, outboxEventFromRow } from '../rows.js';
import type { OutboxEvent, OutboxReader } from '../store.js';
import type { PgRunner } from './runner.js';

/** Outbox events nobody dispatched within this long are dropped when new ones are written. */
const OUTBOX_KEEP_MS = 7 * 86_400_000;

/**
 * The CTE that appends `events` to the outbox only when the write CTE named `after` produced a
 * row: one statement, so both land or neither does. Its two parameters go at the end of `params`.
 */
export function outboxCte(params: unknown[], after: string, events: readonly OutboxEvent[]): string {
  const rows = JSON.stringify(
    events.map((e) => ({
      id: e.id,
      type: e.type,
      connection_id: e.connectionId,
      created_at: e.createdAt,
      payload: e.payload,
    })),
  );
  const n = params.push(rows, Date.now() - OUTBOX_KEEP_MS) - 1;
  return `e AS (INSERT INTO baton_outbox (${OUTBOX_COLUMNS})
              SELECT x.id, x.type, x.connection_id, x.created_at, x.payload
              FROM jsonb_to_recordset($${n}::jsonb) AS x(id text, type text, connection_id text, created_at bigint, payload text)
              WHERE EXISTS (SELECT 1 FROM ${after})
              ON CONFLICT (id) DO NOTHING),
       p AS (DELETE FROM baton_outbox WHERE created_at < $${n + 1} AND EXISTS (SELECT 1 FROM ${after}))`;
}

/** The webhook outbox, read by the server's dispatcher. */
export function pgOutbox(runner: PgRunner): OutboxReader {
  return {
    pending: async (limit) => {
      const { rows } = await runner.query<OutboxRow>(
        'read the outbox',
        `SELECT ${OUTBOX_COLUMNS} FROM baton_outbox ORDER BY seq LIMIT $1`,
        [limit],
      );
      return rows.map(outboxEventFromRow);
    },
    remove: async (ids) => {
      if (ids.length === 0) return;
      await runner.query('remove outbox events', 'DELETE FROM baton_outbox WHERE id = ANY($1::text[])', [
        [...ids],
      ]);
    },
  };
}
