import { ConfigError, StoreError } from '../errors.js';
import type { CallerKey, Permission } from './keys.js';
import type { AuditRow } from './server-store.js';

/** What the server tables' engines share: row mapping, and the errors they answer with. */

/** Refuses readiness when the server tables' migrations are not all applied. */
export function behind(applied: number, expected: number, where: string): void {
  if (applied < expected) {
    throw new StoreError(`The server tables in ${where} are at migration ${applied} of ${expected}.`, {
      remediation: 'Start one replica of this version so it applies them, or roll this replica back.',
    });
  }
}

export function duplicate(name: string): ConfigError {
  return new ConfigError(
    `A caller key named "${name}" already exists.`,
    'Pick another --name, or revoke the old key first (`baton keys revoke <name>`).',
    { forOperator: true },
  );
}

/** A caller key's columns in the order of the INSERT both engines use (`disabled` as 0/1, which PostgreSQL reads as a boolean too). */
export const KEY_COLUMNS = 'id, name, prefix, hash, allow, ops, disabled, created_at';

export function keyValues(k: CallerKey): unknown[] {
  return [
    k.id,
    k.name,
    k.prefix,
    k.hash,
    JSON.stringify(k.allow),
    JSON.stringify(k.ops),
    k.disabled ? 1 : 0,
    k.createdAt,
  ];
}

export interface KeyRow {
  id: string;
  name: string;
  prefix: string;
  hash: string;
  allow: string | string[];
  ops: string | string[];
  disabled: number | boolean;
  created_at: number | string;
}

export function keyFromRow(r: KeyRow): CallerKey {
  return {
    id: r.id,
    name: r.name,
    prefix: r.prefix,
    hash: r.hash,
    allow: typeof r.allow === 'string' ? (JSON.parse(r.allow) as string[]) : r.allow,
    ops: (typeof r.ops === 'string' ? JSON.parse(r.ops) : r.ops) as Permission[],
    disabled: r.disabled === true || r.disabled === 1,
    createdAt: Number(r.created_at),
  };
}

export interface AuditDbRow {
  at: number | string;
  request_id: string;
  key_name: string | null;
  connection_id: string | null;
  provider: string | null;
  operation: string;
  outcome: string;
  status: number;
  detail: string | null;
}

export function auditFromRow(r: AuditDbRow): AuditRow {
  return {
    at: Number(r.at),
    requestId: r.request_id,
    keyName: r.key_name,
    connectionId: r.connection_id,
    provider: r.provider,
    operation: r.operation,
    outcome: r.outcome,
    status: Number(r.status),
    detail: r.detail,
  };
}

/** Rows per multi-row INSERT (9 parameters each, well under SQLite's limit). */
export const AUDIT_BATCH = 100;
export const AUDIT_COLUMNS =
  'at, request_id, key_name, connection_id, provider, operation, outcome, status, detail';

export function auditValues(r: AuditRow): unknown[] {
  return [
    r.at,
    r.requestId,
    r.keyName,
    r.connectionId,
    r.provider,
    r.operation,
    r.outcome,
    r.status,
    r.detail,
  ];
}
