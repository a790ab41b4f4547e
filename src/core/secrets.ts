import type { Secret } from '../errors.js';
import { connectionRef, SecretKeyError } from '../errors.js';
import type { DpopPrivateJwk } from '../protocol/dpop.js';
import type { TokenSet } from '../protocol/token-set.js';
import type { SealBinding, Sealer } from '../store/sealer.js';
import type { ConnectionRecord } from '../store/store.js';

/** Static credentials for token-pair and API-key connections. */
/** For the HTTP API: static credentials are replaced by connecting again with new ones. */
export function reconnectWithCredentials(connectionId: string): string {
  return `Connect ${connectionRef(connectionId).where} again with its credentials: POST /v1/connections with "replace": true, or a connect page (POST /v1/connect-sessions); both need manage.`;
}

export interface StaticCredentials {
  apiKey: string;
  apiSecret?: string;
}

/** What a connection's sealed blob holds. */
export interface ConnectionSecrets {
  tokens: TokenSet | null;
  credentials: StaticCredentials | null;
}

/** The record fields a connection's sealed blob is bound to. */
export type Bound = Pick<
  ConnectionRecord,
  'id' | 'provider' | 'params' | 'clientId' | 'authMode' | 'apiBaseUrl'
>;

export function bindingOf(record: Bound): SealBinding {
  return {
    id: record.id,
    provider: record.provider,
    params: record.params,
    clientId: record.clientId,
    authMode: record.authMode,
    apiBaseUrl: record.apiBaseUrl,
  };
}

export function sealSecrets(sealer: Sealer, record: Bound, secrets: ConnectionSecrets): string {
  return sealer.seal({ tokens: secrets.tokens, credentials: secrets.credentials }, bindingOf(record));
}

export function openSecrets(sealer: Sealer, record: ConnectionRecord): ConnectionSecrets {
  let raw: Record<string, unknown>;
  try {
    raw = sealer.open(record.sealed, bindingOf(record));
  } catch (err) {
    if (err instanceof SecretKeyError) {
      throw new SecretKeyError(
        `The secrets of connection "${record.id}" could not be opened: ${err.message}`,
        { connectionId: record.id, provider: record.provider, cause: err },
      );
    }
    throw err;
  }
  return {
    tokens: (raw['tokens'] as TokenSet | null | undefined) ?? null,
    credentials: (raw['credentials'] as StaticCredentials | null | undefined) ?? null,
  };
}

/** The private members of a DPoP key (RFC 7518 §6.2.2, §6.3.2, RFC 8037 §2). */
export function dpopKeySecrets(jwk: DpopPrivateJwk): string[] {
  return (['d', 'p', 'q', 'dp', 'dq', 'qi'] as const)
    .map((k) => jwk[k])
    .filter((v): v is string => typeof v === 'string');
}

/**
 * Every secret a connection holds, for scrubbing text before it is shown: its tokens, its
 * static credentials (also as the pair HTTP Basic joins) and its OAuth client's secret with id.
 */
export function secretValues(
  secrets: ConnectionSecrets | null | undefined,
  client?: { clientId: string; clientSecret?: string | undefined } | null,
): Secret[] {
  const out: Secret[] = [];
  if (secrets?.tokens) {
    out.push(secrets.tokens.accessToken);
    if (secrets.tokens.refreshToken) out.push(secrets.tokens.refreshToken);
    if (secrets.tokens.dpopKey) out.push(...dpopKeySecrets(secrets.tokens.dpopKey));
  }
  if (secrets?.credentials) {
    const { apiKey, apiSecret } = secrets.credentials;
    out.push(apiKey);
    if (apiSecret) out.push(apiSecret, { clientId: apiKey, clientSecret: apiSecret });
  }
  if (client?.clientSecret) out.push({ clientId: client.clientId, clientSecret: client.clientSecret });
  return out;
}
