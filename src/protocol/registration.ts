import { fetch } from 'undici';
import { McpDiscoveryError } from '../errors.js';
import { describeNetworkError, type HttpOptions } from './http.js';

/** RFC 7591 §2 client metadata, the fields Baton sends. */
export interface ClientMetadata {
  redirect_uris: string[];
  client_name: string;
  grant_types: string[];
  response_types: string[];
  token_endpoint_auth_method: TokenEndpointAuthMethod;
  client_uri?: string;
  software_id?: string;
  software_version?: string;
  scope?: string;
}

/** The token endpoint authentication methods Baton registers with (RFC 7591 §2). */
export type TokenEndpointAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

/** What a registration gave (RFC 7591 §3.2.1). */
export interface RegisteredClient {
  clientId: string;
  clientSecret?: string;
  /** When the secret stops working (epoch ms); absent: never. */
  clientSecretExpiresAt?: number;
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  redirectUris: string[];
  /** RFC 7592: the registration's own credential and URL, when the server gives them. */
  registrationAccessToken?: string;
  registrationClientUri?: string;
}

/**
 * The method Baton asks for: a secret (it keeps secrets sealed), in a Basic header when the
 * server takes one (RFC 6749 §2.3.1's preference), else in the body, else none.
 */
export function chooseAuthMethod(supported: readonly string[]): TokenEndpointAuthMethod {
  // RFC 8414 §2: an absent list means client_secret_basic.
  if (supported.length === 0 || supported.includes('client_secret_basic')) return 'client_secret_basic';
  if (supported.includes('client_secret_post')) return 'client_secret_post';
  return 'none';
}

const METHODS: readonly string[] = ['client_secret_basic', 'client_secret_post', 'none'];

/**
 * Dynamic Client Registration (RFC 7591 §3): POSTs the metadata as JSON, and checks the answer
 * — a client id, a secret when the method needs one, and the redirect URIs it was given.
 */
export async function registerClient(
  endpoint: string,
  metadata: ClientMetadata,
  http: HttpOptions = {},
): Promise<RegisteredClient> {
  const fail = (message: string, remediation: string, cause?: unknown) =>
    new McpDiscoveryError('client', message, remediation, { url: endpoint, cause });
  let status: number;
  let text: string;
  try {
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(metadata),
      redirect: 'manual',
      signal: AbortSignal.timeout(http.timeoutMs ?? 30_000),
      ...(http.dispatcher ? { dispatcher: http.dispatcher } : {}),
    });
    status = res.status;
    text = await res.text();
  } catch (err) {
    const reason =
      err instanceof Error && err.name === 'TimeoutError' ? 'timed out' : describeNetworkError(err);
    throw fail(
      `Registering a client at ${endpoint} ${reason}.`,
      'The authorization server could not be reached; try again, or register a client there by hand and configure it.',
      err,
    );
  }
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
      body = parsed as Record<string, unknown>;
  } catch {
    body = {};
  }
  if (status !== 201 && status !== 200) {
    const code = typeof body['error'] === 'string' ? body['error'] : null;
    const said = typeof body['error_description'] === 'string' ? `: ${body['error_description']}` : '';
    throw fail(
      `The authorization server refused the client registration at ${endpoint} (HTTP ${status}${code ? `, ${code}` : ''}${said}).`,
      code === 'invalid_redirect_uri'
        ? 'Use a redirect URI the server accepts (https, or http on 127.0.0.1 / localhost) in redirectUri.'
        : 'Register a client at the authorization server by hand and configure it (clients in Baton.open), or ask its operator why registration is refused.',
    );
  }
  const clientId = body['client_id'];
  const method = body['token_endpoint_auth_method'] ?? metadata.token_endpoint_auth_method;
  const secret = body['client_secret'];
  if (
    typeof clientId !== 'string' ||
    clientId === '' ||
    typeof method !== 'string' ||
    !METHODS.includes(method)
  ) {
    throw fail(
      `The client registration at ${endpoint} answered without a usable client_id or token_endpoint_auth_method.`,
      'Register a client at the authorization server by hand and configure it, or ask its operator to fix registration.',
    );
  }
  if (method !== 'none' && (typeof secret !== 'string' || secret === '')) {
    throw fail(
      `The client registration at ${endpoint} gave no client_secret for ${method}.`,
      'Register a client at the authorization server by hand and configure it, or ask its operator to fix registration.',
    );
  }
  const uris = Array.isArray(body['redirect_uris'])
    ? (body['redirect_uris'] as unknown[]).filter((u): u is string => typeof u === 'string')
    : metadata.redirect_uris;
  const out: RegisteredClient = {
    clientId,
    tokenEndpointAuthMethod: method as TokenEndpointAuthMethod,
    redirectUris: uris,
  };
  if (typeof secret === 'string' && method !== 'none') out.clientSecret = secret;
  const expires = body['client_secret_expires_at'];
  if (typeof expires === 'number' && expires > 0) out.clientSecretExpiresAt = expires * 1000;
  if (typeof body['registration_access_token'] === 'string')
    out.registrationAccessToken = body['registration_access_token'];
  if (typeof body['registration_client_uri'] === 'string')
    out.registrationClientUri = body['registration_client_uri'];
  return out;
}

/**
 * A Client ID Metadata Document (draft-ietf-oauth-client-id-metadata-document): the JSON to
 * serve at `clientId`, an https URL with a path; the document names itself as `client_id`.
 */
export function clientMetadataDocument(
  clientId: string,
  metadata: Omit<ClientMetadata, 'token_endpoint_auth_method'>,
): Record<string, unknown> {
  return { client_id: clientId, ...metadata, token_endpoint_auth_method: 'none' };
}
