import { ConfigError } from '../errors.js';
import type { AuthMode } from '../providers/spec.js';
import type {
  ClientRegistrationRow,
  DueBatch,
  DueCursor,
  DueQuery,
  ListQuery,
  MetadataDocument,
  PendingQuery,
} from './store.js';

/**
 * Keyset pagination (and the metadata and client registration row mappings) shared by the engines. Ids are ordered by code point, which is
 * SQLite's BINARY collation over UTF-8 and PostgreSQL's "C" collation: every engine pages the
 * same way.
 */
export function compareIds(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i) as number;
    const y = b.codePointAt(i) as number;
    if (x !== y) return x < y ? -1 : 1;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/**
 * The least string above every string that starts with `prefix` (its last code point + 1), so a
 * prefix is an index range `[prefix, end)`; null when there is none (only U+10FFFF characters).
 */
export function prefixEnd(prefix: string): string | null {
  const points = [...prefix];
  while (points.length > 0) {
    const last = (points.pop() as string).codePointAt(0) as number;
    if (last < 0x10ffff) {
      // Surrogates are not characters: the next one after U+D7FF is U+E000.
      const next = last + 1 === 0xd800 ? 0xe000 : last + 1;
      return points.join('') + String.fromCodePoint(next);
    }
  }
  return null;
}

function positive(name: string, value: number | undefined): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value <= 0) {
    throw new ConfigError(
      `${name} ${value} is not a positive integer.`,
      `Pass a whole number above 0 as ${name}.`,
    );
  }
}

/** Refuses a query no engine could answer sensibly, the same way on every engine. */
export function checkListQuery(query: ListQuery): void {
  positive('limit', query.limit);
}

export function checkDueQuery(query: DueQuery): void {
  positive('limit', query.limit);
}

export function checkPendingQuery(query: PendingQuery): void {
  positive('limit', query.limit);
}

/** The first `limit` found, and where the next batch starts if there was one more. */
export function dueBatch(
  found: { id: string; provider: string; cursor: DueCursor }[],
  limit: number,
): DueBatch {
  const items = found.slice(0, limit);
  const last = items[items.length - 1];
  return {
    items: items.map(({ id, provider, cursor }) => ({ id, provider, phase: cursor.phase })),
    next: found.length > limit && last ? last.cursor : null,
  };
}

/** One phase of a due query, as an engine runs it over its partial index. */
export interface DuePhase {
  phase: DueCursor['phase'];
  /** The expiry column of the phase. */
  column: 'access_token_expires_at' | 'refresh_token_expires_at';
  /** Due by this expiry (epoch ms). */
  by: number;
  /** The access phase's auth mode; null in the refresh phase. */
  mode: AuthMode | null;
  /** Resume after this position (in this phase). */
  from: DueCursor | null;
  limit: number;
}

/**
 * The due query over both phases, in order, from the cursor's phase on: `fetch` returns one
 * phase's rows (`at`: the expiry) in expiry-then-id order; one row past `limit` says there is more.
 */
export async function collectDue(
  query: DueQuery,
  fetch: (phase: DuePhase) => Promise<{ id: string; provider: string; at: number | string }[]>,
): Promise<DueBatch> {
  checkDueQuery(query);
  const found: { id: string; provider: string; cursor: DueCursor }[] = [];
  const phases: DueCursor['phase'][] = ['access', 'refresh'];
  for (const phase of phases.slice(phases.indexOf(query.after?.phase ?? 'access'))) {
    const rows = await fetch({
      phase,
      column: phase === 'access' ? 'access_token_expires_at' : 'refresh_token_expires_at',
      by: phase === 'access' ? query.accessExpiresBy : query.refreshExpiresBy,
      mode: phase === 'access' ? query.accessAuthMode : null,
      from: query.after?.phase === phase ? query.after : null,
      limit: query.limit + 1 - found.length,
    });
    for (const r of rows)
      found.push({ id: r.id, provider: r.provider, cursor: { phase, at: Number(r.at), id: r.id } });
    if (found.length > query.limit) break;
  }
  return dueBatch(found, query.limit);
}

/** A `server_metadata` row as both SQL engines return it (times as numbers or numeric strings). */
export interface MetadataRow {
  issuer: string;
  document: string;
  source: string;
  fetched_at: number | string;
  expires_at: number | string;
}

export const METADATA_COLUMNS = 'issuer, document, source, fetched_at, expires_at';

export function metadataFromRow(row: MetadataRow | undefined): MetadataDocument | null {
  return row
    ? {
        issuer: row.issuer,
        document: row.document,
        source: row.source,
        fetchedAt: Number(row.fetched_at),
        expiresAt: Number(row.expires_at),
      }
    : null;
}

/** A client registration as the SQL engines store it. */
export interface RegistrationRow {
  issuer: string;
  client_id: string;
  sealed: string;
  version: number | string;
  created_at: number | string;
  updated_at: number | string;
}

export const REGISTRATION_COLUMNS = 'issuer, client_id, sealed, version, created_at, updated_at';

export function registrationFromRow(row: RegistrationRow | undefined): ClientRegistrationRow | null {
  return row
    ? {
        issuer: row.issuer,
        clientId: row.client_id,
        sealed: row.sealed,
        version: Number(row.version),
        createdAt: Number(row.created_at),
        updatedAt: Number(row.updated_at),
      }
    : null;
}
