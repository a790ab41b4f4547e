import { fetch } from 'undici';
import {
  BatonError,
  ConfigError,
  ConnectionMismatch,
  CredentialsRejected,
  InvalidClient,
  NetworkError,
  ProviderError,
  ReauthorizationRequired,
  StoreError,
} from '../errors.js';
import { refreshAccessToken, requestClientCredentials } from '../protocol/grants.js';
import { describeNetworkError } from '../protocol/http.js';
import { followRedirects } from '../protocol/redirects.js';
import type { TokenSet } from '../protocol/token-set.js';
import { resolveApiUrl } from '../providers/api-url.js';
import { resolveParams } from '../providers/params.js';
import type { AuthMode, ProviderSpec } from '../providers/spec.js';
import { apiHeadersFor, authEndpointsFor } from '../providers/template.js';
import type { AccountInfo, ConnectionRecord } from '../store/store.js';
import { authHeader } from './api-fetch.js';
import { type ClientRegistration, noClientRemediations } from './clients.js';
import { type ConnectionInfo, toConnectionInfo } from './connection-info.js';
import { type CoreContext, connectionEndpoints, type LoadedConnection, prepareProvider } from './context.js';
import { grantContextOf } from './grant-context.js';
import { accountFromBody } from './identity.js';
import { type ConnectionSecrets, type StaticCredentials, sealSecrets } from './secrets.js';
import { endOf, grantTimes } from './token-lifetime.js';
import { WriteRefused, writeConnection } from './write-path.js';

/** What a provider's identity endpoint said about credentials that are not stored yet. */
export interface IdentityCheck {
  /** False when the provider has no identity endpoint: nothing could be checked. */
  checked: boolean;
  /** HTTP status of the identity endpoint (0 when not checked). */
  status: number;
  account: AccountInfo | null;
}

export interface VerifyCredentialsInput {
  provider: string;
  params?: Record<string, string>;
  authMode: AuthMode;
  credentials?: StaticCredentials;
  tokens?: TokenSet;
}

const MAX_REDIRECTS = 5;

/**
 * Calls the provider's identity endpoint with credentials before anything is stored, so wrong
 * credentials are refused instead of being saved as an active connection. Redirects are
 * followed only to hosts the spec lets credentials reach (the same rule as `baton.fetch`).
 */
export async function verifyCredentials(
  ctx: CoreContext,
  input: VerifyCredentialsInput,
): Promise<IdentityCheck> {
  const spec = ctx.providers.get(input.provider);
  const params = resolveParams(spec, input.params);
  const endpoints = connectionEndpoints(spec, { params, apiBaseUrl: null });
  if (!spec.identityPath) return { checked: false, status: 0, account: null };
  const now = ctx.clock.now();
  const conn: LoadedConnection = {
    record: draftRecord('(unsaved)', spec, input.authMode, params, null, now),
    secrets: { tokens: input.tokens ?? null, credentials: input.credentials ?? null },
    spec,
    client: null,
    endpoints,
  };
  const [name, value] = authHeader(conn);
  const first = resolveApiUrl(endpoints.apiBaseUrl, spec.identityPath);
  const timeoutMs = ctx.options.http.timeoutMs ?? 30_000;
  // The same redirect rule as every credentialed request (docs/architecture.md, invariant 5).
  const { response: res, refused } = await followRedirects<undefined, Answer>(
    { url: first, method: spec.identityMethod ?? 'GET', body: undefined },
    async (hop) => {
      try {
        const r = await fetch(hop.url, {
          method: hop.method,
          headers: {
            ...Object.fromEntries(apiHeadersFor(spec, params)),
            [name]: value,
            accept: 'application/json',
          },
          redirect: 'manual',
          signal: AbortSignal.timeout(timeoutMs),
          ...(ctx.options.http.dispatcher ? { dispatcher: ctx.options.http.dispatcher } : {}),
        });
        return { res: r, status: r.status, location: r.headers.get('location') };
      } catch (err) {
        throw new NetworkError(
          `${spec.displayName}'s identity endpoint could not be reached: ${describeNetworkError(err)}.`,
          { provider: spec.id, cause: err },
        );
      }
    },
    {
      maxRedirects: MAX_REDIRECTS,
      allowedHosts: spec.redirectAuthHosts,
      keepMethod: false,
      onFollow: async ({ res: r }) => {
        await r.body?.cancel().catch(() => undefined);
      },
    },
  );
  if (refused) {
    await res.res.body?.cancel().catch(() => undefined);
    return { checked: true, status: res.status, account: null };
  }
  const text = await res.res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: no account details.
  }
  const account = res.res.ok ? accountFromBody(body) : null;
  return {
    checked: true,
    status: res.status,
    account: account && Object.keys(account).length > 0 ? account : null,
  };
}

/**
 * Static credentials checked before they are stored (README, "Verifying credentials"): the
 * identity endpoint's answer, or a typed error — CredentialsRejected when it refused them (a
 * 4xx), a ProviderError when it failed (5xx), a NetworkError when it could not be reached. The
 * two last say the credentials were not judged; the remediation names the opt-out.
 */
export async function requireAcceptedCredentials(
  ctx: CoreContext,
  input: VerifyCredentialsInput & { connectionId: string },
): Promise<IdentityCheck> {
  const spec = ctx.providers.get(input.provider);
  const where = { provider: spec.id, connectionId: input.connectionId };
  // The opt-out in each surface's words: the library's option, the CLI's flag, the HTTP API's
  // body field (README, "Verifying credentials").
  const fix = (text: string) => ({
    remediation: `${text}, or pass verify: false to store them without the check.`,
    cliRemediation: `${text}, or pass --no-verify to store them anyway.`,
    httpRemediation: `${text}, or send "verify": false in the body to store them unchecked.`,
    forOperator: false,
  });
  let check: IdentityCheck;
  try {
    check = await verifyCredentials(ctx, input);
  } catch (err) {
    if (!(err instanceof NetworkError)) throw err;
    throw new NetworkError(
      `${err.message.replace(/\.$/, '')}; the credentials were not checked and nothing was stored.`,
      {
        ...where,
        cause: err,
        ...fix('The provider could not be asked; try again when it is reachable'),
      },
    );
  }
  if (!check.checked || check.status < 400) return check;
  if (check.status >= 500) {
    throw new ProviderError(
      `${spec.displayName}'s identity endpoint failed (HTTP ${check.status}): the credentials were not checked and nothing was stored.`,
      { status: check.status },
      { ...where, ...fix('The provider is failing; try again later') },
    );
  }
  const env = spec.environmentParam ? input.params?.[spec.environmentParam] : undefined;
  const both = input.authMode === 'token_pair';
  const { remediation, ...remediations } = fix(
    `Check the API key${both ? ' and secret' : ''}${env ? ` (they must be the ${env} ones)` : ''}`,
  );
  throw new CredentialsRejected(
    `${spec.displayName}'s identity endpoint refused these credentials (HTTP ${check.status}); nothing was stored.`,
    check.status,
    remediation,
    { ...where, ...remediations },
  );
}

interface Answer {
  res: Awaited<ReturnType<typeof fetch>>;
  status: number;
  location: string | null;
}

/** The outcome of checking an OAuth client's id and secret without a user's grant. */
export interface ClientCheck {
  provider: string;
  params: Record<string, string>;
  clientId: string;
  /** ok: the provider accepted the client; rejected: it did not; unchecked: no way to tell. */
  result: 'ok' | 'rejected' | 'unchecked';
  detail: string;
  error?: BatonError;
}

/**
 * Checks a client's credentials at the token endpoint without a user grant: a client
 * credentials grant where the provider offers it, else a refresh-token grant with a token
 * that cannot exist — RFC 6749 §5.2 has the server authenticate the client first, so
 * `invalid_grant` means the client passed and `invalid_client` that it did not.
 */
export async function verifyClient(
  ctx: CoreContext,
  provider: string,
  params: Record<string, string> = {},
): Promise<ClientCheck> {
  // Its endpoints from the issuer's metadata, and a client Baton obtained itself (an MCP
  // authorization server's), as a grant would have them; metadata that cannot be read leaves the
  // check to say what it can without it, as before.
  await prepareProvider(ctx, ctx.providers.get(provider).id).catch(() => undefined);
  const spec = ctx.providers.get(provider);
  const resolved = resolveParams(spec, params);
  const client = ctx.clients.find(spec.id, resolved);
  if (!client) {
    throw new ConfigError(
      `No client is configured for ${spec.displayName}.`,
      `Configure one for ${spec.id} first.`,
      { provider: spec.id, ...noClientRemediations(spec.id) },
    );
  }
  const base = { provider: spec.id, params: resolved, clientId: client.clientId };
  const endpoints = authEndpointsFor(spec, resolved, client.clientId);
  if (!endpoints.tokenUrl)
    return { ...base, result: 'unchecked', detail: `${spec.displayName} has no token endpoint.` };
  const grant = grantContextOf(ctx, { spec, params: resolved, client });
  try {
    if (spec.authModes.includes('client_credentials')) {
      const granted = await requestClientCredentials(grant).then(
        () => true,
        (err: unknown) => {
          // A client for users (Zoom's user app beside its server-to-server one): checked as one.
          if (err instanceof InvalidClient && err.grantUnsupported) return false;
          throw err;
        },
      );
      if (granted) return { ...base, result: 'ok', detail: 'the client credentials grant succeeded' };
    }
    await refreshAccessToken(grant, { refreshToken: `baton-client-check-${Date.now()}` });
    return {
      ...base,
      result: 'unchecked',
      detail: 'the token endpoint accepted a refresh token that cannot exist',
    };
  } catch (err) {
    if (err instanceof InvalidClient) return { ...base, result: 'rejected', detail: err.message, error: err };
    if (err instanceof ReauthorizationRequired)
      return {
        ...base,
        result: 'ok',
        detail: 'the token endpoint authenticated the client (invalid_grant for a dummy token)',
      };
    if (err instanceof BatonError) return { ...base, result: 'unchecked', detail: err.message, error: err };
    throw err;
  }
}

export interface ImportTokensInput {
  provider: string;
  connectionId: string;
  params?: Record<string, string>;
  accessToken: string;
  refreshToken?: string | null;
  /** Epoch ms; null when the provider did not say. */
  expiresAt?: number | null;
  scopes?: string[] | null;
  replace?: boolean;
}

/**
 * Stores OAuth tokens obtained elsewhere (another tool, a previous system) as a connection,
 * after the identity endpoint accepted the access token. The configured client is recorded:
 * the refresh token is only good with the client that it was issued to.
 */
export async function importTokens(ctx: CoreContext, input: ImportTokensInput): Promise<ConnectionInfo> {
  const spec = ctx.providers.get(input.provider);
  if (!spec.authModes.includes('oauth2')) {
    throw new ConfigError(
      `${spec.displayName} does not issue OAuth2 user tokens; it supports ${spec.authModes.join(', ')}.`,
      `Connect it with \`baton connect ${spec.id}\` instead.`,
      { provider: spec.id, connectionId: input.connectionId, forOperator: true },
    );
  }
  const params = resolveParams(spec, input.params);
  const client: ClientRegistration = ctx.clients.require(spec.id, params, input.connectionId);
  const now = ctx.clock.now();
  // The grant's times count from the import: Baton cannot know when it was first authorized.
  const times = input.refreshToken ? grantTimes(spec, now, null, null, input.refreshToken) : undefined;
  const tokens: TokenSet = {
    accessToken: input.accessToken,
    tokenType: 'Bearer',
    expiresAt: input.expiresAt ?? null,
    refreshToken: input.refreshToken ?? null,
    refreshTokenExpiresAt: times ? endOf(times) : null,
    scope: input.scopes ?? null,
    issuedAt: now,
    extra: {},
    ...(times ? { grant: times } : {}),
  };
  const check = await verifyCredentials(ctx, { provider: spec.id, params, authMode: 'oauth2', tokens });
  if (check.checked && (check.status === 401 || check.status === 403)) {
    throw new ConfigError(
      `${spec.displayName}'s identity endpoint refused the access token (HTTP ${check.status}); nothing was stored.`,
      'Check that the token belongs to this provider and params and has not expired, then import it again.',
      { provider: spec.id, connectionId: input.connectionId },
    );
  }
  if (check.checked && check.status >= 400) {
    throw new ConfigError(
      `${spec.displayName}'s identity endpoint answered HTTP ${check.status} for the access token; nothing was stored.`,
      'Check the provider params (environment, data center, company), then import it again.',
      { provider: spec.id, connectionId: input.connectionId },
    );
  }
  const secrets: ConnectionSecrets = { tokens, credentials: null };
  // A new authorization through the one write path (docs/architecture.md, invariant 7).
  const written = await writeConnection(ctx, input.connectionId, 'authorize', (existing) => {
    if (existing && !input.replace) {
      throw new ConnectionMismatch(
        `Connection "${input.connectionId}" already exists`,
        { provider: existing.provider, clientId: existing.clientId, params: existing.params },
        { provider: spec.id, clientId: client.clientId, params },
        { connectionId: input.connectionId, provider: spec.id },
      );
    }
    const record: ConnectionRecord = {
      ...draftRecord(input.connectionId, spec, 'oauth2', params, client.clientId, now),
      version: existing?.version ?? 0,
      accessTokenExpiresAt: tokens.expiresAt,
      refreshTokenExpiresAt: tokens.refreshTokenExpiresAt,
      account: check.account,
      scopes: tokens.scope,
      createdAt: existing?.createdAt ?? now,
    };
    return { ...record, sealed: sealSecrets(ctx.sealer, record, secrets) };
  }).catch((err: unknown) => {
    throw err instanceof WriteRefused ? err.toBatonError(input.connectionId) : err;
  });
  if (!written) {
    throw new StoreError(`Connection "${input.connectionId}" could not be written; try again.`, {
      connectionId: input.connectionId,
      provider: spec.id,
    });
  }
  return toConnectionInfo(written);
}

function draftRecord(
  id: string,
  spec: ProviderSpec,
  authMode: AuthMode,
  params: Record<string, string>,
  clientId: string | null,
  now: number,
): ConnectionRecord {
  return {
    id,
    provider: spec.id,
    authMode,
    params,
    clientId,
    status: 'active',
    version: 0,
    sealed: '',
    accessTokenExpiresAt: null,
    refreshTokenExpiresAt: null,
    lastRefreshedAt: null,
    lastError: null,
    apiBaseUrl: null,
    account: null,
    scopes: null,
    createdAt: now,
    updatedAt: now,
  };
}
