import { randomBytes } from 'node:crypto';
import type { ConnectionRecord, OutboxEvent, StoredError } from '../store/store.js';
import { type ConnectionInfo, type GrantLifetime, toConnectionInfo } from './connection-info.js';
import type { Operation } from './state.js';

/**
 * The events a connection's state changes produce (README, "Webhooks"). They are derived here,
 * from the operation the write path performs and the record before and after it, never from
 * an HTTP route: a refresh refused in a library-only process produces the same
 * `connection.refresh_failed` as one in `baton serve`. The write path hands them to the store
 * with the compare-and-swap, so the event lands in the same transaction as the change.
 */

export const WEBHOOK_EVENT_TYPES = [
  'connection.created',
  'connection.reconnected',
  'connection.refresh_failed',
  'connection.recovered',
  'connection.expiring',
  'connection.revoked',
  'connection.removed',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** What a webhook receiver gets (the JSON body): never a secret. Times are epoch milliseconds. */
export interface WebhookEvent {
  /** Unique per event: a redelivered or retried event keeps it (deduplicate on it). */
  id: string;
  type: WebhookEventType;
  createdAt: number;
  data: {
    /** The connection after the change (before it, for `connection.removed`). */
    connection: ConnectionInfo;
    /** Why: the refused refresh (`refresh_failed`), or the failure that is over (`recovered`). */
    error?: StoredError | null;
    /** The status before a new authorization (`reconnected`). */
    previousStatus?: ConnectionInfo['status'];
    /** When the grant ends (`expiring`): `absoluteExpiresAt` is the limit no refresh extends. */
    lifetime?: GrantLifetime;
    /**
     * Where the account owner can authorize the connection again (`refresh_failed`, `revoked`,
     * `expiring`),
     * added by the server that delivers the event: a connect page valid until `expiresAt`.
     */
    reconnect?: { url: string; expiresAt: number };
  };
}

export function newEventId(): string {
  return `evt_${randomBytes(15).toString('base64url')}`;
}

function toOutbox(type: WebhookEventType, record: ConnectionRecord, at: number, extra: object): OutboxEvent {
  const event: WebhookEvent = {
    id: newEventId(),
    type,
    createdAt: at,
    data: { connection: toConnectionInfo(record), ...extra },
  };
  return { id: event.id, type, connectionId: record.id, createdAt: at, payload: JSON.stringify(event) };
}

/**
 * The events of one write: `op` on `current` (null: absent) giving `next` (with its new status
 * and version). Most writes produce none.
 */
export function eventsFor(
  op: Operation,
  current: ConnectionRecord | null,
  next: ConnectionRecord,
  at: number,
): OutboxEvent[] {
  switch (op) {
    case 'authorize':
      return current === null
        ? [toOutbox('connection.created', next, at, {})]
        : [toOutbox('connection.reconnected', next, at, { previousStatus: current.status })];
    case 'needs_reauth':
      return current?.status === 'active' && next.status === 'needs_reauth'
        ? [toOutbox('connection.refresh_failed', next, at, { error: next.lastError })]
        : [];
    case 'commit_tokens':
      // A refresh that succeeded after failures it had recorded.
      return current?.lastError && next.lastError === null
        ? [toOutbox('connection.recovered', next, at, { error: current.lastError })]
        : [];
    case 'revoke':
      return current && current.status !== 'revoked' ? [toOutbox('connection.revoked', next, at, {})] : [];
    default:
      return [];
  }
}

/** The event of a grant whose absolute end is near (`connection.expiring`), written with the write that notes it. */
export function expiringEvent(record: ConnectionRecord, lifetime: GrantLifetime, at: number): OutboxEvent {
  return toOutbox('connection.expiring', record, at, { lifetime });
}

/** The event of a removal, from the record as it was last read. */
export function removedEvent(record: ConnectionRecord, at: number): OutboxEvent {
  return toOutbox('connection.removed', record, at, {});
}
