import { redact, redactedCause, type Secret } from './redact.js';

/**
 * Every error Baton throws is a BatonError: a stable `code`, the connection and provider it
 * concerns (when known), and a `remediation` sentence telling a person what to do. Messages
 * never contain secrets: whatever text comes from a provider passes through `redact` first.
 *
 * What to do depends on who reads it, and each audience's sentence is data of the error, set
 * where it is made: `remediation` speaks to a program using the library, `cliRemediation` to a
 * person at the `baton` command line, `httpRemediation` to a client of `baton serve`'s HTTP API
 * (README, "Problems"); `forOperator` says that only the server's operator can act on it.
 * Where an audience's sentence is not given, the library's is used.
 */

export interface BatonErrorOptions {
  connectionId?: string | undefined;
  provider?: string | undefined;
  remediation?: string | undefined;
  /**
   * The remediation as a person at the `baton` command line needs it, when the library's speaks
   * to a program (`baton.beginAuthorization()`, `a pg.Pool`): the CLI shows this one instead.
   */
  cliRemediation?: string | undefined;
  /**
   * The remediation as a client of the HTTP API needs it (which route to call, what to send,
   * which operation the key needs), when the library's does not fit: the server answers this one.
   */
  httpRemediation?: string | undefined;
  /**
   * Only the operator of `baton serve` can fix this (its configuration, provider specs, clients,
   * store): the HTTP API says so — in `httpRemediation`'s words if given — and the library's
   * `remediation` goes to the server's log.
   */
  forOperator?: boolean | undefined;
  cause?: unknown;
  /**
   * Secrets the message (and a ProviderError's excerpt) may quote: given, they are redacted at
   * construction and an Error `cause` is replaced by a redacted stand-in. Never stored.
   */
  secrets?: readonly Secret[] | undefined;
}

export class BatonError extends Error {
  readonly code: string;
  readonly connectionId: string | undefined;
  readonly provider: string | undefined;
  readonly remediation: string;
  /** The command line's wording of the remediation, when it differs (see BatonErrorOptions). */
  readonly cliRemediation: string | undefined;
  /** The HTTP API's wording of the remediation, when it differs (see BatonErrorOptions). */
  readonly httpRemediation: string | undefined;
  /** Whether only the server's operator can act on it (see BatonErrorOptions). */
  readonly forOperator: boolean;

  constructor(code: string, message: string, remediation: string, options: BatonErrorOptions = {}) {
    const secrets = options.secrets;
    const cause =
      secrets === undefined || !(options.cause instanceof Error)
        ? options.cause
        : redactedCause(options.cause, secrets);
    super(
      secrets === undefined ? message : redact(message, secrets),
      cause === undefined ? undefined : { cause },
    );
    this.name = new.target.name;
    this.code = code;
    this.connectionId = options.connectionId;
    this.provider = options.provider;
    this.remediation = options.remediation ?? remediation;
    this.cliRemediation = options.cliRemediation;
    this.httpRemediation = options.httpRemediation;
    this.forOperator = options.forOperator ?? false;
  }

  /** What a CLI or log line shows: the message and what to do about it. */
  describe(): string {
    return `${this.message}\n${this.remediation}`;
  }

  /** The fields a log line or `--json` output carries; never the `cause`, never the stack. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      remediation: this.remediation,
      connectionId: this.connectionId,
      provider: this.provider,
    };
  }
}

/**
 * How the HTTP API's remediations name a connection: `"acme"` in a sentence and `acme`
 * (percent-encoded) in a route; `the connection` and `{id}` when the error names none (or none
 * a route can carry).
 */
export function connectionRef(connectionId: string | undefined): { where: string; path: string } {
  if (!connectionId) return { where: 'the connection', path: '{id}' };
  let path = '{id}';
  try {
    path = encodeURIComponent(connectionId);
  } catch {
    // A broken UTF-16 surrogate names no route (and no stored connection).
  }
  return { where: `"${connectionId}"`, path };
}

/** The provider no longer honours the grant: a person must authorize the connection again. */
export class ReauthorizationRequired extends BatonError {
  constructor(message: string, options: BatonErrorOptions = {}) {
    super(
      'reauthorization_required',
      message,
      options.connectionId
        ? `Authorize it again with its stored provider, params and client: baton reconnect ${options.connectionId} (in code: baton.beginAuthorization()).`
        : 'Authorize the connection again with baton.beginAuthorization().',
      {
        cliRemediation: options.connectionId
          ? `Authorize it again with its stored provider, params and client: baton reconnect ${options.connectionId}`
          : 'Authorize the connection again: baton reconnect <id>',
        httpRemediation: reauthorizeOverHttp(options.connectionId),
        ...options,
      },
    );
  }
}

function reauthorizeOverHttp(id: string | undefined): string {
  const { where, path } = connectionRef(id);
  return `A person must authorize ${where} again: send them to the connect page in \`reconnect\` (given to keys with the manage operation, as is GET /v1/connections/${path}'s reconnectUrl), or make one with POST /v1/connect-sessions {"connectionId": ${JSON.stringify(id ?? '…')}} (manage).`;
}

/** The provider rejected the client credentials (RFC 6749 `invalid_client`, Checkissuing "Access Denied"). */
export class InvalidClient extends BatonError {
  readonly environment: string | undefined;
  /**
   * The client authenticated, but the server does not take the grant from it (RFC 6749 §5.2
   * `unsupported_grant_type`): a client for users sent where a machine-to-machine one is needed.
   */
  readonly grantUnsupported: boolean;
  constructor(
    message: string,
    options: BatonErrorOptions & { environment?: string | undefined; grantUnsupported?: boolean } = {},
  ) {
    const env = options.environment;
    super(
      'invalid_client',
      message,
      env
        ? `Check the client id and secret configured for ${options.provider ?? 'this provider'}: they must be the ${env} credentials (sandbox and production credentials differ).`
        : `Check the client id and secret configured for ${options.provider ?? 'this provider'} (BATON_<PROVIDER>_CLIENT_ID / _CLIENT_SECRET or Baton.open({ clients })).`,
      {
        cliRemediation: env ? undefined : clientCheckForCli(options.provider ?? '<provider>'),
        httpRemediation: `The provider refused this server's OAuth client for ${options.provider ?? 'this provider'}${env ? ` (it must be the ${env} one)` : ''}: the server's operator must fix the client id and secret.`,
        forOperator: true,
        ...options,
      },
    );
    this.environment = env;
    this.grantUnsupported = options.grantUnsupported ?? false;
  }
}

function clientCheckForCli(provider: string): string {
  const env = `BATON_${provider.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
  return `Check the client id and secret configured for ${provider} (${env}_CLIENT_ID / _CLIENT_SECRET, or clients.${provider} in baton.config.json — \`baton config list\`).`;
}

export interface MismatchSide {
  provider: string;
  clientId: string | null;
  params: Record<string, string>;
}

/** A stored connection was opened under another client, provider or account than the one that issued it. */
export class ConnectionMismatch extends BatonError {
  readonly stored: MismatchSide;
  readonly requested: MismatchSide;
  constructor(
    message: string,
    stored: MismatchSide,
    requested: MismatchSide,
    options: BatonErrorOptions = {},
  ) {
    super(
      'connection_mismatch',
      `${message} (stored: ${describeSide(stored)}; requested: ${describeSide(requested)})`,
      'This token was issued to another client or account. Use the configuration it was issued under, or remove the connection and authorize it again under the new one.',
      { httpRemediation: mismatchOverHttp(options.connectionId), ...options },
    );
    this.stored = stored;
    this.requested = requested;
  }
}

function mismatchOverHttp(id: string | undefined): string {
  const { where, path } = connectionRef(id);
  return `Send the provider and params ${where} was created with; or send "replace": true to overwrite it, or DELETE /v1/connections/${path} first (manage).`;
}

function describeSide(side: MismatchSide): string {
  const params = Object.entries(side.params)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return `provider=${side.provider} client=${side.clientId ?? '(none)'}${params ? ` ${params}` : ''}`;
}

export type AuthorizationFailure =
  | 'state_mismatch'
  | 'unknown_state'
  | 'expired_state'
  | 'access_denied'
  | 'missing_code'
  | 'invalid_code'
  | 'issuer_mismatch'
  | 'redirect_mismatch'
  | 'invalid_id_token'
  | 'no_resource'
  | 'bad_signature'
  | 'provider_error';

/** The authorization step failed: wrong or unknown state, the user said no, no code, or an expired code. */
export class AuthorizationError extends BatonError {
  readonly reason: AuthorizationFailure;
  constructor(
    reason: AuthorizationFailure,
    message: string,
    options: BatonErrorOptions & { codeLifetimeSeconds?: number | undefined } = {},
  ) {
    const { codeLifetimeSeconds, ...rest } = options;
    super(
      `authorization_${reason}`,
      message,
      reason === 'invalid_code' && codeLifetimeSeconds !== undefined
        ? `The authorization code was rejected (codes are single-use, and this provider's live ${codeLifetimeSeconds} seconds); start the authorization again and exchange the code promptly.`
        : AUTHORIZATION_REMEDIATION[reason],
      rest,
    );
    this.reason = reason;
  }
}

const AUTHORIZATION_REMEDIATION: Record<AuthorizationFailure, string> = {
  state_mismatch:
    'The callback does not belong to the authorization that was started; start the authorization again and use the URL it gives.',
  unknown_state:
    'No pending authorization matches this callback (it was already completed, or started against another store); start the authorization again.',
  expired_state: 'The authorization took too long; start it again and finish within the time allowed.',
  access_denied:
    'The account owner declined access; ask them to approve it, then start the authorization again.',
  missing_code:
    'The callback carried no authorization code; start the authorization again and complete the consent step.',
  invalid_code:
    'The authorization code was rejected (codes are single-use and short-lived); start the authorization again and exchange the code promptly.',
  issuer_mismatch:
    "The callback did not come from the provider's issuer (a mix-up or a forged callback, RFC 9207); check the provider's issuer setting and start the authorization again from Baton's URL.",
  redirect_mismatch:
    'The callback arrived at another address than the redirect URI the authorization was begun with; complete it on that redirect URI, or begin again with the redirect URI in use.',
  invalid_id_token:
    "The provider's id_token failed validation (signature, issuer, audience, expiry or nonce); nothing was stored. Start the authorization again; if it persists, check the provider's issuer and the client id.",
  no_resource:
    'The authorization reached nothing the API works on (no organisation, site or company was chosen, or not the one asked for); choose one on the consent screen and start the authorization again.',
  bad_signature:
    "The callback's signature did not verify (the callback was forged or altered, or the client secret configured is not the app's); nothing was stored. Check the client secret, then start the authorization again.",
  provider_error: 'The provider reported an error during authorization; start the authorization again.',
};

/**
 * Which link of the MCP discovery chain broke (docs/architecture.md, "MCP"): the MCP server
 * itself, its protected resource metadata (RFC 9728), its authorization server's metadata
 * (RFC 8414), or obtaining a client there (pre-registered, client metadata document, RFC 7591).
 */
export type McpLink = 'server' | 'resource_metadata' | 'authorization_server' | 'client';

/** A link of the MCP discovery chain broke; `link` says which, `url` where. */
export class McpDiscoveryError extends BatonError {
  readonly link: McpLink;
  readonly url: string | undefined;
  constructor(
    link: McpLink,
    message: string,
    remediation: string,
    options: BatonErrorOptions & { url?: string | undefined } = {},
  ) {
    const { url, ...rest } = options;
    super(`mcp_${link}`, message, remediation, rest);
    this.link = link;
    this.url = url;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), link: this.link, ...(this.url !== undefined ? { url: this.url } : {}) };
  }
}

/**
 * An MCP server refused a token for lack of scope (RFC 6750 §3.1 `insufficient_scope`): the
 * connection must be authorized again with `scopes` — what it holds plus what the server asked
 * for — which `baton.mcp.stepUp()` begins.
 */
export class InsufficientScope extends BatonError {
  /** The scopes to authorize with: those granted and those the server asked for, together. */
  readonly scopes: string[];
  /** The scopes the server named in its challenge. */
  readonly requested: string[];
  constructor(
    message: string,
    scopes: string[],
    requested: string[],
    options: BatonErrorOptions & { connectionId: string },
  ) {
    super(
      'insufficient_scope',
      message,
      `Authorize "${options.connectionId}" again with the scopes ${scopes.join(' ')}: baton.mcp.stepUp({ connectionId: "${options.connectionId}", scopes }) gives the URL to send its user to; the grant in use keeps working meanwhile.`,
      options,
    );
    this.scopes = scopes;
    this.requested = requested;
  }
}

/** The provider asked us to slow down (HTTP 429). */
export class RateLimited extends BatonError {
  /** Seconds the provider asked us to wait, when it said. */
  readonly retryAfter: number | undefined;
  constructor(message: string, retryAfter: number | undefined, options: BatonErrorOptions = {}) {
    super(
      'rate_limited',
      message,
      retryAfter !== undefined
        ? `The provider is rate limiting this client; retry after ${retryAfter} s.`
        : 'The provider is rate limiting this client; retry later.',
      options,
    );
    this.retryAfter = retryAfter;
  }
}

/** The provider answered with something Baton could not use: a 5xx, HTML, malformed JSON, an unknown error. */
export class ProviderError extends BatonError {
  readonly status: number | undefined;
  /** A short, redacted excerpt of the response body. */
  readonly excerpt: string | undefined;
  /** The provider's own error code, when it gave one. */
  readonly providerCode: string | undefined;
  constructor(
    message: string,
    details: {
      status?: number | undefined;
      excerpt?: string | undefined;
      providerCode?: string | undefined;
    } = {},
    options: BatonErrorOptions = {},
  ) {
    super(
      'provider_error',
      message,
      details.status !== undefined && details.status >= 500
        ? 'The provider is failing; Baton retries with backoff. If it persists, check the provider status page.'
        : 'The provider answered in a way Baton did not expect; check the provider configuration (URLs, environment) with `baton doctor`.',
      details.status !== undefined && details.status >= 500
        ? options
        : {
            httpRemediation:
              "The provider answered in a way Baton did not expect; the server's operator can check the provider configuration (URLs, environment).",
            forOperator: true,
            ...options,
          },
    );
    this.status = details.status;
    this.excerpt =
      details.excerpt === undefined || options.secrets === undefined
        ? details.excerpt
        : redact(details.excerpt, options.secrets);
    this.providerCode = details.providerCode;
  }
}

/** The configuration is wrong or incomplete: unknown provider, bad template, missing param or client. */
export class ConfigError extends BatonError {
  constructor(message: string, remediation: string, options: BatonErrorOptions = {}) {
    super('config_error', message, remediation, options);
  }
}

/**
 * The provider refused static credentials (an API key, a token pair) when they were checked
 * at its identity endpoint before storing: nothing was stored. A provider that could not be
 * asked is a NetworkError or a ProviderError instead.
 */
export class CredentialsRejected extends BatonError {
  /** The identity endpoint's HTTP status. */
  readonly status: number;
  constructor(message: string, status: number, remediation: string, options: BatonErrorOptions = {}) {
    super('credentials_rejected', message, remediation, options);
    this.status = status;
  }
}

/** The store could not be read or written. Nothing stored was lost. */
export class StoreError extends BatonError {
  constructor(message: string, options: BatonErrorOptions = {}) {
    super(
      'store_error',
      message,
      'Check that the store is reachable and writable (`baton doctor`); Baton keeps any new token pair in memory and commits it when the store is back.',
      {
        httpRemediation: 'The server could not reach its store; retry shortly. Nothing stored was lost.',
        forOperator: true,
        ...options,
      },
    );
  }
}

/** The connection id is not in the store. */
export class ConnectionNotFound extends BatonError {
  constructor(connectionId: string) {
    super(
      'connection_not_found',
      `No connection named "${connectionId}" is stored.`,
      `Check the id with \`baton list\`, or create it with \`baton connect <provider> --id ${connectionId}\`.`,
      {
        connectionId,
        httpRemediation: `Check the id (GET /v1/connections lists the connections this key may see), or create it (manage): POST /v1/connections for an API key, a token pair or client credentials; POST /v1/connections/${connectionRef(connectionId).path}/authorize or POST /v1/connect-sessions for OAuth.`,
      },
    );
  }
}

/** The network failed before the provider answered (refused, reset, timed out). */
export class NetworkError extends BatonError {
  /**
   * Whether the request may have reached the server (a timeout, a connection dropped after it
   * was sent): its answer was lost, not necessarily its effect. False only when the connection
   * was never made (refused, unknown host).
   */
  readonly mayHaveArrived: boolean;
  constructor(message: string, options: BatonErrorOptions & { notSent?: boolean } = {}) {
    super(
      'network_error',
      message,
      'The provider could not be reached; Baton retries with backoff. Check connectivity and the provider URL.',
      options,
    );
    this.mayHaveArrived = options.notSent !== true;
  }
}

/** The sealed secrets could not be opened: wrong key, or the row was altered or moved. */
export class SecretKeyError extends BatonError {
  constructor(message: string, options: BatonErrorOptions = {}) {
    super(
      'secret_key_error',
      message,
      'Use the secret key the connection was sealed with (BATON_SECRET_KEY or the key file), or authorize the connection again.',
      { httpRemediation: secretKeyOverHttp(options.connectionId), forOperator: true, ...options },
    );
  }
}

function secretKeyOverHttp(id: string | undefined): string {
  const { where } = connectionRef(id);
  return `The server cannot open the sealed secrets of ${where}: its operator must check the server's secret key, or ${where} must be connected again.`;
}

export type WebhookSignatureFailure = 'missing' | 'malformed' | 'too_old' | 'in_future' | 'mismatch';

/** A webhook's `Baton-Signature` did not verify: it is not from this server, or not fresh. */
export class WebhookSignatureError extends BatonError {
  readonly reason: WebhookSignatureFailure;
  constructor(reason: WebhookSignatureFailure, message: string) {
    super(
      `webhook_signature_${reason}`,
      message,
      reason === 'too_old' || reason === 'in_future'
        ? 'Refuse the request. If genuine events arrive late, check the clocks of both machines (NTP).'
        : 'Refuse the request. Check that the receiver verifies the raw body with the signing secret `baton webhooks add` printed for this endpoint.',
    );
    this.reason = reason;
  }
}

export type { ClientPair, Secret, Secrets } from './redact.js';
export { carriesSecret, excerpt, REDACTED, redact, redactedCause } from './redact.js';
