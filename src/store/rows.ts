import { sealedKeyId } from './sealer.js';
import type { ConnectionRecord, OutboxEvent } from './store.js';

/**
 * A connection as a row, the same on both SQL engines: the JSON fields travel as text (SQLite
 * keeps them so; PostgreSQL casts them to jsonb and returns them parsed), times as numbers
 * (PostgreSQL's bigint comes back as a numeric string).
 */
export const CONNECTION_COLUMNS = [
  'id',
  'provider',
  'auth_mode',
  'params',
  'client_id',
  'status',
  'version',
  'sealed',
  'access_token_expires_at',
  'refresh_token_expires_at',
  'last_refreshed_at',
  'last_error',
  'api_base_url',
  'account',
  'scopes',
  'created_at',
  'updated_at',
] as const;

/** What is written: the record's columns and the key id of its blob. */
export const WRITTEN_COLUMNS = [...CONNECTION_COLUMNS, 'key_id'] as const;

export type ConnectionRow = Record<(typeof WRITTEN_COLUMNS)[number], unknown>;

const text = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));
const json = <T>(v: unknown): T | null =>
  v === null || v === undefined ? null : ((typeof v === 'string' ? JSON.parse(v) : v) as T);
const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

/** The row written for `r` at `version`, its keys in `WRITTEN_COLUMNS` order. */
export function connectionRow(r: ConnectionRecord, version: number): ConnectionRow {
  return {
    id: r.id,
    provider: r.provider,
    auth_mode: r.authMode,
    params: JSON.stringify(r.params),
    client_id: r.clientId,
    status: r.status,
    version,
    sealed: r.sealed,
    access_token_expires_at: r.accessTokenExpiresAt,
    refresh_token_expires_at: r.refreshTokenExpiresAt,
    last_refreshed_at: r.lastRefreshedAt,
    last_error: text(r.lastError),
    api_base_url: r.apiBaseUrl,
    account: text(r.account),
    scopes: text(r.scopes),
    created_at: r.createdAt,
    updated_at: r.updatedAt,
    key_id: sealedKeyId(r.sealed),
  };
}

export function recordFromRow(row: Record<string, unknown>): ConnectionRecord {
  return {
    id: row['id'] as string,
    provider: row['provider'] as string,
    authMode: row['auth_mode'] as ConnectionRecord['authMode'],
    params: json<Record<string, string>>(row['params']) ?? {},
    clientId: (row['client_id'] as string | null) ?? null,
    status: row['status'] as ConnectionRecord['status'],
    version: Number(row['version']),
    sealed: row['sealed'] as string,
    accessTokenExpiresAt: num(row['access_token_expires_at']),
    refreshTokenExpiresAt: num(row['refresh_token_expires_at']),
    lastRefreshedAt: num(row['last_refreshed_at']),
    lastError: json(row['last_error']),
    apiBaseUrl: (row['api_base_url'] as string | null) ?? null,
    account: json(row['account']),
    scopes: json(row['scopes']),
    createdAt: Number(row['created_at']),
    updatedAt: Number(row['updated_at']),
  };
}

/** The outbox's columns, and an event as both engines return its row. */
export const OUTBOX_COLUMNS = 'id, type, connection_id, created_at, payload';

export interface OutboxRow {
  id: string;
  type: string;
  connection_id: string;
  created_at: number | string;
  payload: string;
}

export function outboxEventFromRow(r: OutboxRow): OutboxEvent {
  return {
    id: r.id,
    type: r.type,
    connectionId: r.connection_id,
    createdAt: Number(r.created_at),
    payload: r.payload,
  };
}
