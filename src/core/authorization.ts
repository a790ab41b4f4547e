import {
  AuthorizationError,
  ConfigError,
  ConnectionMismatch,
  InvalidClient,
  SecretKeyError,
} from '../errors.js';
import {
  buildAuthorizationUrl,
  checkCallback,
  checkCallbackAddress,
  checkCallbackIssuer,
  checkCallbackSignature,
  parseCallback,
} from '../protocol/authorization.js';
import type { DpopPrivateJwk } from '../protocol/dpop.js';
import {
  exchangeAuthorizationCode,
  type GrantContext,
  pushAuthorizationRequest,
  revokeToken,
} from '../protocol/grants.js';
import type { IdTokenClaims } from '../protocol/id-token.js';
import { createPkce, randomState } from '../protocol/pkce.js';
import type { TokenSet } from '../protocol/token-set.js';
import type { ClientConfig } from '../protocol/types.js';
import { captureFrom, missingRequired } from '../providers/capture.js';
import { resolveParams } from '../providers/params.js';
import { checkScopes } from '../providers/scopes.js';
import type { ProviderSpec } from '../providers/spec.js';
import { authEndpointsFor, resourcesFor } from '../providers/template.js';
import type { SealBinding } from '../store/sealer.js';
import type { AccountInfo, PendingAuthorization } from '../store/store.js';
import { checkReplace, type FacadeParts, saveConnection, specFor } from './connect.js';
import { runConnectSteps } from './connect-steps.js';
import { type ConnectionInfo, toConnectionInfo } from './connection-info.js';
import { type CoreContext, prepareProvider } from './context.js';
import { boundTo, dpopKeyOf, keyForGrant } from './dpop.js';
import { grantContextOf } from './grant-context.js';
import { checkIdToken } from './id-tokens.js';
import { str } from './identity.js';
import { toTokenSet } from './token-lifetime.js';

export interface BeginAuthorizationInput {
  provider: string;
  connectionId: string;
  params?: Record<string, string>;
  scopes?: string[];
  /** Defaults to the client's configured redirectUri. */
  redirectUri?: string;
  extraParams?: Record<string, string>;
  /** RFC 8707 resources for this authorization and its code exchange (the spec's `resource` otherwise). */
  resource?: string[];
  /** Re-authorize an existing connection under different params or client. */
  replace?: boolean;
}

export interface BeginAuthorizationResult {
  url: string;
  state: string;
  connectionId: string;
  /** The provider the connection is authorized for (`mcp:<issuer>` for an MCP server). */
  provider: string;
  /** The params it is stored under (an MCP server's `resource`). */
  params: Record<string, string>;
  scopes: string[];
  redirectUri: string;
  expiresAt: number;
}

export type CompleteAuthorizationInput =
  | { callbackUrl: string }
  | {
      state: string;
      code?: string;
      error?: string;
      errorDescription?: string;
      iss?: string;
      /** The callback's other query parameters, for providers that add their own (QuickBooks `realmId`). */
      query?: Record<string, string | undefined>;
    };

/** RFC 6749 §4.1.1 (+ RFC 7636): the URL to send the user to, and a pending authorization stored under its state. */
export async function beginAuthorization(
  parts: FacadeParts,
  input: BeginAuthorizationInput,
): Promise<BeginAuthorizationResult> {
  const { ctx } = parts;
  await prepareProvider(ctx, input.provider);
  const spec = specFor(ctx, input.provider, 'oauth2');
  const issuer = spec.issuer ?? null;
  const params = resolveParams(spec, input.params);
  const client = ctx.clients.require(spec.id, params, input.connectionId);
  const redirectUri = input.redirectUri ?? client.redirectUri;
  if (!redirectUri) {
    throw new ConfigError(
      `No redirect URI is configured for ${spec.displayName}.`,
      'Pass redirectUri to beginAuthorization(), or set it in the client configuration (redirectUri / BATON_<PROVIDER>_REDIRECT_URI).',
      {
        provider: spec.id,
        connectionId: input.connectionId,
        httpRemediation:
          "Send redirectUri in the body, or ask the server's operator to configure one for the client.",
        forOperator: true,
      },
    );
  }
  await checkReplace(ctx, input.connectionId, spec, params, client, input.replace);
  const endpoints = authEndpointsFor(spec, params, client.clientId);
  const state = randomState();
  const pkce = spec.pkce ? createPkce() : null;
  const scopes = input.scopes ?? spec.scopes;
  // OpenID Connect: a nonce whenever openid is asked for, sealed with the pending authorization.
  const nonce = scopes.includes('openid') ? randomState() : null;
  const resource = input.resource ?? resourcesFor(spec, params);
  if (nonce && !spec.issuer) {
    throw new ConfigError(
      `${spec.displayName} is asked for openid, but its spec names no issuer, so its id_tokens cannot be verified.`,
      `Give the ${spec.id} spec its issuer (providers: { ${spec.id}: { issuer } }), or leave openid out of its scopes.`,
      { provider: spec.id, connectionId: input.connectionId, forOperator: true },
    );
  }
  // RFC 9449 §10: the code is bound to the key its token request will prove.
  const dpop = await keyForGrant(ctx, spec, null);
  if (!endpoints.authorizationUrl) {
    throw new ConfigError(
      `${spec.displayName} has no authorization endpoint.`,
      'Use a mode that needs no consent step.',
      { provider: spec.id, connectionId: input.connectionId },
    );
  }
  checkScopes(spec, scopes);
  let url = buildAuthorizationUrl({
    authorizationUrl: endpoints.authorizationUrl,
    clientId: client.clientId,
    redirectUri,
    scopes,
    scopeSeparator: spec.scopeSeparator,
    state,
    ...(pkce ? { codeChallenge: pkce.challenge } : {}),
    ...(nonce ? { nonce } : {}),
    ...(resource.length > 0 ? { resource } : {}),
    ...(dpop ? { dpopJkt: await dpop.thumbprint() } : {}),
    // The spec's default parameters, then the caller's, which win.
    params: { ...spec.authorizationParams, ...input.extraParams },
    provider: spec.id,
  });
  const metadata = ctx.providers.metadata(spec.id);
  if (spec.par === true || metadata?.requirePushedAuthorizationRequests === true) {
    url = await pushed(parts, spec, params, client, input.connectionId, url);
  }
  const now = ctx.clock.now();
  const pending: PendingAuthorization = {
    state,
    connectionId: input.connectionId,
    provider: spec.id,
    params,
    clientId: client.clientId,
    redirectUri,
    scopes,
    // The row's other fields are sealed too, so an edited row is refused (README, security notes).
    sealed: ctx.sealer.seal(
      {
        codeVerifier: pkce?.verifier ?? null,
        connectionId: input.connectionId,
        redirectUri,
        scopes,
        expiresAt: now + parts.authorizationTtlMs,
        issuer,
        nonce,
        resource,
        dpopKey: dpop?.privateJwk ?? null,
      },
      pendingBinding({ state, provider: spec.id, params, clientId: client.clientId }),
    ),
    createdAt: now,
    expiresAt: now + parts.authorizationTtlMs,
  };
  await ctx.store.savePendingAuthorization(pending);
  return {
    url,
    state,
    connectionId: input.connectionId,
    provider: spec.id,
    params,
    scopes,
    redirectUri,
    expiresAt: pending.expiresAt,
  };
}

/** RFC 6749 §4.1.2–4.1.3: checks the callback against its pending authorization, exchanges the code, stores the connection. */
export async function completeAuthorization(
  parts: FacadeParts,
  input: CompleteAuthorizationInput,
): Promise<ConnectionInfo> {
  const { ctx } = parts;
  const cb =
    'callbackUrl' in input
      ? parseCallback(input.callbackUrl)
      : parseCallback({
          ...input.query,
          state: input.state,
          ...(input.code !== undefined ? { code: input.code } : {}),
          ...(input.error !== undefined ? { error: input.error } : {}),
          ...(input.errorDescription !== undefined ? { error_description: input.errorDescription } : {}),
          ...(input.iss !== undefined ? { iss: input.iss } : {}),
        });
  if (!cb.state) {
    throw new AuthorizationError('state_mismatch', 'The callback carries no state parameter.');
  }
  const pending = await ctx.store.takePendingAuthorization(cb.state);
  if (!pending) {
    throw new AuthorizationError(
      'unknown_state',
      'No pending authorization matches the state of this callback.',
    );
  }
  const opts = { provider: pending.provider, connectionId: pending.connectionId };
  const secret = openPending(ctx, pending);
  if (pending.expiresAt <= ctx.clock.now()) {
    throw new AuthorizationError(
      'expired_state',
      `The authorization of "${pending.connectionId}" expired before it was completed.`,
      opts,
    );
  }
  await prepareProvider(ctx, pending.provider, pending.clientId);
  const spec = ctx.providers.get(pending.provider);
  // The issuer the authorization began with (sealed), and whether its server always sends iss.
  const issuer = typeof secret['issuer'] === 'string' ? secret['issuer'] : null;
  const issRequired = ctx.providers.metadata(spec.id)?.authorizationResponseIssParameterSupported === true;
  checkCallbackIssuer(cb, issuer, issRequired, opts);
  checkCallbackAddress(cb, pending.redirectUri, opts);
  const code = checkCallback(cb, pending.state, opts);
  const configured = ctx.clients.require(spec.id, pending.params, pending.connectionId);
  // A client Baton obtained keeps the older ones it replaced for other redirect URIs.
  const client = configured.previous?.find((c) => c.clientId === pending.clientId) ?? configured;
  if (client.clientId !== pending.clientId) {
    throw new ConnectionMismatch(
      'The client configured now is not the one the authorization was started with',
      { provider: spec.id, clientId: pending.clientId, params: pending.params },
      { provider: spec.id, clientId: client.clientId, params: pending.params },
      opts,
    );
  }
  if (spec.callbackSignature) {
    if (!client.clientSecret) {
      throw new ConfigError(
        `${spec.displayName} signs its callbacks with the client secret, and the client configured has none.`,
        `Configure the ${spec.id} client's secret (clientSecret / BATON_${spec.id.toUpperCase()}_CLIENT_SECRET), then start the authorization again.`,
        { ...opts, forOperator: true },
      );
    }
    checkCallbackSignature(cb, spec.callbackSignature, client.clientSecret, opts);
  }
  const codeVerifier = typeof secret['codeVerifier'] === 'string' ? secret['codeVerifier'] : undefined;
  const dpopJwk = secret['dpopKey'] as DpopPrivateJwk | null | undefined;
  const dpop = dpopJwk ? await dpopKeyOf(dpopJwk) : null;
  const grant = grantContextOf(
    ctx,
    { spec, params: pending.params, client, connectionId: pending.connectionId },
    { dpop },
  );
  const response = await exchangeAuthorizationCode(grant, {
    code,
    redirectUri: pending.redirectUri,
    ...(codeVerifier ? { codeVerifier } : {}),
    ...(Array.isArray(secret['resource']) ? { resource: secret['resource'] as string[] } : {}),
  }).catch(async (err: unknown) => {
    // A client Baton registered that the server no longer knows: registered again now, so the
    // authorization begun next uses the new one (the code was issued to the old one).
    if (!(err instanceof InvalidClient) || client.obtained !== 'registered' || !ctx.registrar) throw err;
    const renewed = await ctx.registrar.renew(spec.id, client).catch(() => null);
    throw renewed
      ? new InvalidClient(err.message, {
          provider: spec.id,
          connectionId: pending.connectionId,
          remediation: `${spec.displayName} no longer knew the client Baton had registered; Baton registered a new one. Start the authorization again (baton.beginAuthorization()).`,
          cause: err,
        })
      : err;
  });
  const tokens = boundTo(toTokenSet(response, spec, 'authorization_code'), dpop);
  const nonce = typeof secret['nonce'] === 'string' ? secret['nonce'] : null;
  const claims = nonce
    ? await checkIdToken(ctx, tokens, { nonce, issuer, clientId: client.clientId, ...opts })
    : null;
  const params = await capturedParams(parts, spec, pending.params, cb.query, tokens, grant, opts);
  const record = await saveConnection(parts, {
    id: pending.connectionId,
    provider: spec.id,
    authMode: 'oauth2',
    params,
    clientId: client.clientId,
    secrets: { tokens, credentials: null },
    scopes: tokens.scope ?? pending.scopes,
    account: claims ? accountFromClaims(claims) : accountFromTokens(tokens),
  });
  return toConnectionInfo(record);
}

/**
 * The connection's params once the provider has handed over what the spec captures (README,
 * "Providers"): the callback's query, the token response, then the connect steps' answers. A
 * value the spec requires and did not get, or a step that reached nothing, fails the
 * authorization before anything is stored, and the new grant is revoked where the provider
 * allows it.
 */
async function capturedParams(
  parts: FacadeParts,
  spec: ProviderSpec,
  given: Record<string, string>,
  query: URLSearchParams | undefined,
  tokens: TokenSet,
  grant: GrantContext,
  opts: { provider: string; connectionId: string },
): Promise<Record<string, string>> {
  if (!spec.captures && !spec.connectSteps) return given;
  try {
    let params = {
      ...given,
      ...captureFrom(spec, 'callback', query ?? new URLSearchParams()),
      ...captureFrom(spec, 'token', tokens.extra),
    };
    params = await runConnectSteps(parts.ctx, spec, params, tokens, opts);
    const missing = missingRequired(spec, params);
    if (missing.length > 0) {
      throw new AuthorizationError(
        'no_resource',
        `${spec.displayName} did not give ${missing.join(', ')} with the authorization (${missing.map((m) => spec.captures?.[m]?.description ?? m).join('; ')}).`,
        opts,
      );
    }
    return params;
  } catch (err) {
    const refresh = tokens.refreshToken !== null && spec.revocation?.takes !== 'access_token';
    if (grant.revocationUrl) {
      await revokeToken(grant, {
        token: refresh ? (tokens.refreshToken as string) : tokens.accessToken,
        tokenTypeHint: refresh ? 'refresh_token' : 'access_token',
      }).catch(() => undefined);
    }
    throw err;
  }
}

/** What a pending authorization's sealed part is bound to: its state, provider, params and client. */
export function pendingBinding(
  pending: Pick<PendingAuthorization, 'state' | 'provider' | 'params' | 'clientId'>,
): SealBinding {
  return {
    id: `pending:${pending.state}`,
    provider: pending.provider,
    params: pending.params,
    clientId: pending.clientId,
  };
}

/**
 * Opens a pending authorization's sealed part (bound to its state, provider, params and
 * client) and checks the row's other fields against their sealed copies.
 */
function openPending(ctx: CoreContext, pending: PendingAuthorization): Record<string, unknown> {
  const opened = ctx.sealer.open(pending.sealed, pendingBinding(pending));
  const sealedCopy = {
    connectionId: opened['connectionId'],
    redirectUri: opened['redirectUri'],
    scopes: opened['scopes'],
    expiresAt: opened['expiresAt'],
  };
  for (const [field, value] of Object.entries(sealedCopy)) {
    // Pending authorizations begun before these fields were sealed carry none of them.
    if (value === undefined) continue;
    if (JSON.stringify(value) !== JSON.stringify(pending[field as keyof PendingAuthorization])) {
      throw new SecretKeyError(
        `The pending authorization of "${String(sealedCopy.connectionId)}" was altered in the store (${field}).`,
        { provider: pending.provider },
      );
    }
  }
  return opened;
}

/** Account hints a token response carries (Cronofy's account_id and sub). */
function accountFromTokens(tokens: TokenSet): AccountInfo | null {
  const id = str(tokens.extra['account_id']) ?? str(tokens.extra['sub']) ?? str(tokens.extra['user_id']);
  return id ? { id } : null;
}

function accountFromClaims(claims: IdTokenClaims): AccountInfo {
  const out: AccountInfo = { id: claims.sub };
  if (claims.email) out.email = claims.email;
  if (claims.name) out.name = claims.name;
  return out;
}

/**
 * RFC 9126 §4: the parameters go to the server's pushed authorization request endpoint; the
 * authorization URL carries only the client id and the `request_uri` standing for them.
 */
async function pushed(
  parts: FacadeParts,
  spec: ProviderSpec,
  params: Record<string, string>,
  client: ClientConfig,
  connectionId: string,
  url: string,
): Promise<string> {
  const parUrl = parts.ctx.providers.metadata(spec.id)?.pushedAuthorizationRequestEndpoint;
  if (!parUrl) {
    throw new ConfigError(
      `${spec.displayName} is set to push authorization requests (par), but publishes no pushed_authorization_request_endpoint.`,
      `Give the ${spec.id} spec its issuer so the endpoint is discovered, or remove par from it.`,
      { provider: spec.id, connectionId, forOperator: true },
    );
  }
  const full = new URL(url);
  const grant = grantContextOf(parts.ctx, { spec, params, client, connectionId });
  const { requestUri } = await pushAuthorizationRequest(grant, { url: parUrl, params: full.searchParams });
  const short = new URL(`${full.origin}${full.pathname}`);
  short.searchParams.set('client_id', client.clientId);
  short.searchParams.set('request_uri', requestUri);
  return short.toString();
}
