import type { AuthMode } from '../providers/spec.js';
import type { AccountInfo, ConnectionRecord, ConnectionStatus, StoredError } from '../store/store.js';

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
