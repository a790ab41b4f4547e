import type Database from 'better-sqlite3';
import { OUTBOX_COLUMNS, type OutboxRow, outboxEventFromRow } from '../rows.js';
import type { OutboxEvent, OutboxReader } from '../store.js';
import type { SqliteRunner } from './runner.js';

/** Outbox events nobody dispatched within this long are dropped when new ones are written. */
const OUTBOX_KEEP_MS = 7 * 86_400_000;

/** Appends `events`, inside the transaction of the write that caused them. */
export function appendEvents(db: Database.Database, events: readonly OutboxEvent[]): void {
  const insert = db.prepare(
    `INSERT INTO outbox (${OUTBOX_COLUMNS}) VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING`,
  );
  for (const e of events) insert.run(e.id, e.type, e.connectionId, e.createdAt, e.payload);
  db.prepare('DELETE FROM outbox WHERE created_at < ?').run(Date.now() - OUTBOX_KEEP_MS);
}

/** The webhook outbox, read by the server's dispatcher. */
export function sqliteOutbox(runner: SqliteRunner): OutboxReader {
  return {
    pending: (limit) =>
      runner.run('read the outbox', (db) =>
        (
          db.prepare(`SELECT ${OUTBOX_COLUMNS} FROM outbox ORDER BY seq LIMIT ?`).all(limit) as OutboxRow[]
        ).map(outboxEventFromRow),
      ),
    remove: async (ids) => {
      if (ids.length === 0) return;
      await runner.transaction('remove outbox events', (db) => {
        const del = db.prepare('DELETE FROM outbox WHERE id = ?');
        for (const id of ids) del.run(id);
      });
    },
  };
}
