import type { Response } from 'undici';
import { ConfigError, ConnectionMismatch, connectionRef } from '../errors.js';
import { requestClientCredentials } from '../protocol/grants.js';
import { captureFrom } from '../providers/capture.js';
import { resolveParams } from '../providers/params.js';
import type { AuthMode, ProviderSpec } from '../providers/spec.js';
import type { AccountInfo, ConnectionRecord } from '../store/store.js';
import type { BatonRequestInit } from './api-fetch.js';
import type { ClientRegistration } from './clients.js';
import { type ConnectionInfo, toConnectionInfo } from './connection-info.js';
import { type CoreContext, openConnection, readRecord } from './context.js';
import { boundTo, keyForGrant } from './dpop.js';
import { grantContextOf } from './grant-context.js';
import type { Refresher } from './refresher.js';
import { type ConnectionSecrets, type StaticCredentials, sealSecrets } from './secrets.js';
import { toTokenSet } from './token-lifetime.js';
import type { TokenSource } from './token-source.js';
import { requireAcceptedCredentials } from './verify.js';
import { writeConnection } from './write-path.js';

/** What the facade's operations share: the context and the pieces a write must tell. */
export interface FacadeParts {
  ctx: CoreContext;
  tokens: TokenSource;
  refresher: Refresher;
  authorizationTtlMs: number;
  fetch(id: string, path: string, init?: BatonRequestInit): Promise<Response>;
}

export interface ConnectInput {
  provider: string;
  connectionId: string;
  params?: Record<string, string>;
  /** For token-pair and API-key modes. */
  credentials?: StaticCredentials;
  /** Defaults to the first of the provider's modes that fits the input. */
  authMode?: AuthMode;
  scopes?: string[];
  replace?: boolean;
  /**
   * Static credentials are checked at the provider's identity endpoint before they are stored
   * (README, "Verifying credentials"); false stores them unchecked. A provider without an
   * identity endpoint cannot check them: they are stored. Default true.
   */
  verify?: boolean;
}

/** Stores a connection that needs no user consent: static credentials, or client credentials. */
export async function connect(parts: FacadeParts, input: ConnectInput): Promise<ConnectionInfo> {
  const { ctx } = parts;
  const spec = ctx.providers.get(input.provider);
  const params = resolveParams(spec, input.params);
  const mode = input.authMode ?? chooseMode(spec, input);
  specFor(ctx, spec.id, mode);
  if (mode === 'token_pair' || mode === 'api_key') {
    const creds = input.credentials;
    if (!creds?.apiKey || (mode === 'token_pair' && !creds.apiSecret)) {
      throw new ConfigError(
        `Connecting "${input.connectionId}" with ${mode} needs ${mode === 'token_pair' ? 'an API key and secret' : 'an API key'}.`,
        'Pass credentials: { apiKey, apiSecret } (the CLI reads the secret from a hidden prompt, --secret-stdin or the environment).',
        {
          provider: spec.id,
          connectionId: input.connectionId,
          // (Not as a JSON object: the redactor takes `"apiKey": …` for a credential.)
          httpRemediation:
            'Send credentials with an apiKey, and an apiSecret for a token pair, in the request body.',
        },
      );
    }
    await checkReplace(ctx, input.connectionId, spec, params, null, input.replace);
    // Wrong credentials are refused here: nothing is stored and no event fires.
    const check =
      input.verify === false
        ? null
        : await requireAcceptedCredentials(ctx, {
            provider: spec.id,
            connectionId: input.connectionId,
            params,
            authMode: mode,
            credentials: creds,
          });
    const record = await saveConnection(parts, {
      id: input.connectionId,
      provider: spec.id,
      authMode: mode,
      params,
      clientId: null,
      secrets: { tokens: null, credentials: { ...creds } },
      scopes: null,
      account: check?.account ?? null,
    });
    return toConnectionInfo(record);
  }
  if (mode === 'client_credentials') {
    const client = ctx.clients.require(spec.id, params, input.connectionId);
    await checkReplace(ctx, input.connectionId, spec, params, client, input.replace);
    // The caller's scopes, else the spec's defaults ("requested when the caller names none").
    const scopes = input.scopes ?? spec.scopes;
    const key = await keyForGrant(ctx, spec, null);
    const tokens = boundTo(
      toTokenSet(
        await requestClientCredentials(
          grantContextOf(ctx, { spec, params, client, connectionId: input.connectionId }, { dpop: key }),
          scopes.length > 0 ? { scopes } : {},
        ),
        spec,
        'client_credentials',
      ),
      key,
    );
    const record = await saveConnection(parts, {
      id: input.connectionId,
      provider: spec.id,
      authMode: mode,
      params: { ...params, ...captureFrom(spec, 'token', tokens.extra) },
      clientId: client.clientId,
      secrets: { tokens, credentials: null },
      scopes: tokens.scope ?? (scopes.length > 0 ? scopes : null),
      account: null,
    });
    return toConnectionInfo(record);
  }
  throw new ConfigError(
    `${spec.displayName} ${mode} connections are made through the authorization flow.`,
    'Use baton.beginAuthorization() / completeAuthorization(), or `baton connect` which runs it.',
    {
      provider: spec.id,
      connectionId: input.connectionId,
      cliRemediation: `Run \`baton connect ${spec.id}\`, which runs the authorization flow.`,
      httpRemediation: `Begin the authorization with POST /v1/connections/${connectionRef(input.connectionId).path}/authorize, or send the account owner to a connect page (POST /v1/connect-sessions); both need manage.`,
    },
  );
}

export function specFor(ctx: CoreContext, provider: string, mode: AuthMode): ProviderSpec {
  const spec = ctx.providers.get(provider);
  if (!spec.authModes.includes(mode)) {
    throw new ConfigError(
      `${spec.displayName} does not support ${mode}; it supports ${spec.authModes.join(', ')}.`,
      `Use one of: ${spec.authModes.join(', ')}.`,
      { provider },
    );
  }
  return spec;
}

/**
 * The forum thread's trap: a connection id reused for another account. Re-authorizing the
 * same account is normal; another provider, params or client needs an explicit `replace`.
 */
export async function checkReplace(
  ctx: CoreContext,
  id: string,
  spec: ProviderSpec,
  params: Record<string, string>,
  client: ClientRegistration | null,
  replace: boolean | undefined,
): Promise<void> {
  if (replace) return;
  const existing = await readRecord(ctx, id);
  if (!existing) return;
  // A client Baton obtained itself may have replaced the one a connection was authorized under.
  const sameClient =
    existing.clientId === null ||
    client === null ||
    existing.clientId === client.clientId ||
    client.supersedes?.includes(existing.clientId) === true ||
    client.previous?.some((c) => c.clientId === existing.clientId) === true;
  // What the provider handed over while connecting (a realm, a tenant) is not the caller's to repeat.
  const same =
    existing.provider === spec.id &&
    sameParams(declaredParams(spec, existing.params), declaredParams(spec, params)) &&
    sameClient;
  if (!same) {
    throw new ConnectionMismatch(
      `Connection "${id}" already exists for another account or client`,
      { provider: existing.provider, clientId: existing.clientId, params: existing.params },
      { provider: spec.id, clientId: client?.clientId ?? null, params },
      { connectionId: id, provider: spec.id },
    );
  }
}

/** A new authorization (or static credentials) through the one write path: any status → active. */
export async function saveConnection(
  parts: FacadeParts,
  input: {
    id: string;
    provider: string;
    authMode: AuthMode;
    params: Record<string, string>;
    clientId: string | null;
    secrets: ConnectionSecrets;
    scopes: string[] | null;
    account: AccountInfo | null;
  },
): Promise<ConnectionRecord> {
  const { ctx } = parts;
  const now = ctx.clock.now();
  const tokens = input.secrets.tokens;
  const written = await writeConnection(ctx, input.id, 'authorize', (existing) => {
    const next: ConnectionRecord = {
      id: input.id,
      provider: input.provider,
      authMode: input.authMode,
      params: input.params,
      clientId: input.clientId,
      status: 'active',
      version: existing?.version ?? 0,
      sealed: '',
      accessTokenExpiresAt: tokens?.expiresAt ?? null,
      refreshTokenExpiresAt: tokens?.refreshTokenExpiresAt ?? null,
      lastRefreshedAt: tokens ? now : null,
      lastError: null,
      // A base learned from a redirect belongs to that account; other params start afresh.
      apiBaseUrl: existing && sameParams(existing.params, input.params) ? existing.apiBaseUrl : null,
      account: input.account ?? existing?.account ?? null,
      scopes: input.scopes,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
    return { ...next, sealed: sealSecrets(ctx.sealer, next, input.secrets) };
  });
  const record = written as ConnectionRecord;
  // Only once the new authorization is stored is a pair still held for the old one obsolete:
  // until then it may be the only valid grant the connection has.
  parts.refresher.forget(input.id);
  parts.tokens.remember(openConnection(ctx, record));
  return record;
}

function chooseMode(spec: ProviderSpec, input: ConnectInput): AuthMode {
  if (input.credentials) {
    const mode = spec.authModes.find((m) => m === 'token_pair' || m === 'api_key');
    if (mode) return mode;
  }
  if (spec.authModes.includes('client_credentials')) return 'client_credentials';
  return spec.authModes[0] ?? 'oauth2';
}

/**
 * The params the spec declares that tell accounts apart: without the values captured from the
 * provider, and without those whose spec says `identity: false`.
 */
export function declaredParams(spec: ProviderSpec, params: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(params).filter(([k]) => k in spec.params && spec.params[k]?.identity !== false),
  );
}

export function sameParams(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}
