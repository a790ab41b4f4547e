import type { GrantTimes } from '../protocol/token-set.js';
import type { AuthMode } from '../providers/spec.js';
import type { AccountInfo, ConnectionRecord, ConnectionStatus, StoredError } from '../store/store.js';
import { endOf } from './token-lifetime.js';

/** What Baton tells about a connection: everything but its secrets. Times are epoch ms. */
export interface ConnectionInfo {
  id: string;
  provider: string;
  authMode: AuthMode;
  params: Record<string, string>;
  clientId: string | null;
  status: ConnectionStatus;
  account: AccountInfo | null;
  scopes: string[] | null;
  accessTokenExpiresAt: number | null;
  refreshTokenExpiresAt: number | null;
  lastRefreshedAt: number | null;
  lastError: StoredError | null;
  /** The API base learned from a permanent redirect, when one was. */
  apiBaseUrl: string | null;
  version: number;
  createdAt: number;
  updatedAt: number;
}

export function toConnectionInfo(record: ConnectionRecord): ConnectionInfo {
  return {
    id: record.id,
    provider: record.provider,
    authMode: record.authMode,
    params: { ...record.params },
    clientId: record.clientId,
    status: record.status,
    account: record.account,
    scopes: record.scopes,
    accessTokenExpiresAt: record.accessTokenExpiresAt,
    refreshTokenExpiresAt: record.refreshTokenExpiresAt,
    lastRefreshedAt: record.lastRefreshedAt,
    lastError: record.lastError,
    apiBaseUrl: record.apiBaseUrl,
    version: record.version,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

/**
 * When a connection's grant ends (README, "When tokens are refreshed"). Times are epoch ms;
 * null where the provider and its spec say nothing.
 */
export interface GrantLifetime {
  /** The authorization that began the grant (or the import that stored it). */
  authorizedAt: number;
  /** When the refresh token held now was issued, and when it was last used. */
  refreshTokenIssuedAt: number;
  refreshTokenUsedAt: number | null;
  /** The refresh token's own end: moved by each use when its lifetime slides (the keeper uses it in time). */
  slidingExpiresAt: number | null;
  /** The hard end no refresh extends: only a new authorization starts the grant again. */
  absoluteExpiresAt: number | null;
  /** The earlier of the two (`ConnectionInfo.refreshTokenExpiresAt`). */
  endsAt: number | null;
}

export function toGrantLifetime(times: GrantTimes): GrantLifetime {
  const { authorizedAt, refreshTokenIssuedAt, refreshTokenUsedAt, slidingExpiresAt, absoluteExpiresAt } =
    times;
  return {
    authorizedAt,
    refreshTokenIssuedAt,
    refreshTokenUsedAt,
    slidingExpiresAt,
    absoluteExpiresAt,
    endsAt: endOf(times),
  };
}
