import { fetch } from 'undici';
import { ConfigError, NetworkError, ProviderError } from '../errors.js';
import { describeNetworkError, type HttpOptions } from './http.js';
import { checkIssuer, type ServerMetadata } from './issuer.js';

const OIDC_PATH = '/.well-known/openid-configuration';
const RFC8414_PATH = '/.well-known/oauth-authorization-server';

/**
 * Where the documents live: OpenID Connect Discovery §4 appends its path to the issuer;
 * RFC 8414 §3 inserts its well-known path between the host and the issuer's path; and for an
 * issuer with a path, the OpenID path inserted the same way (RFC 8414 §5, which MCP clients
 * also try).
 */
export function metadataUrls(issuer: string): string[] {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/+$/, '');
  const urls = [`${url.origin}${path}${OIDC_PATH}`, `${url.origin}${RFC8414_PATH}${path}`];
  if (path) urls.push(`${url.origin}${OIDC_PATH}${path}`);
  return urls;
}

const STRING_FIELDS = {
  authorizationEndpoint: 'authorization_endpoint',
  tokenEndpoint: 'token_endpoint',
  revocationEndpoint: 'revocation_endpoint',
  introspectionEndpoint: 'introspection_endpoint',
  userinfoEndpoint: 'userinfo_endpoint',
  jwksUri: 'jwks_uri',
  pushedAuthorizationRequestEndpoint: 'pushed_authorization_request_endpoint',
  registrationEndpoint: 'registration_endpoint',
} as const;

const LIST_FIELDS = {
  codeChallengeMethodsSupported: 'code_challenge_methods_supported',
  tokenEndpointAuthMethodsSupported: 'token_endpoint_auth_methods_supported',
  tokenEndpointAuthSigningAlgValuesSupported: 'token_endpoint_auth_signing_alg_values_supported',
  idTokenSigningAlgValuesSupported: 'id_token_signing_alg_values_supported',
  scopesSupported: 'scopes_supported',
  dpopSigningAlgValuesSupported: 'dpop_signing_alg_values_supported',
} as const;

/**
 * Validates a metadata document (RFC 8414 §3.3): a JSON object whose `issuer` is the configured
 * issuer, character for character, so that a document served for another server is never used;
 * every endpoint an absolute http(s) URL.
 */
export function parseServerMetadata(
  body: string,
  issuer: string,
  provider: string,
  source: string,
): ServerMetadata {
  const fix = `Check the issuer configured for ${provider}: it must be exactly the "issuer" the server publishes at ${source}.`;
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    throw new ConfigError(`The metadata document at ${source} is not JSON.`, fix, { provider });
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(`The metadata document at ${source} is not a JSON object.`, fix, { provider });
  }
  const doc = raw as Record<string, unknown>;
  if (doc['issuer'] !== issuer) {
    throw new ConfigError(
      `The metadata document at ${source} names the issuer ${JSON.stringify(doc['issuer'])}, not the configured "${issuer}".`,
      `Set the ${provider} issuer to the value the server publishes (RFC 8414 §3.3 requires them to be identical), or check that ${source} belongs to the server you mean.`,
      { provider },
    );
  }
  const out: ServerMetadata = {
    issuer,
    requirePushedAuthorizationRequests: doc['require_pushed_authorization_requests'] === true,
    clientIdMetadataDocumentSupported: doc['client_id_metadata_document_supported'] === true,
    authorizationResponseIssParameterSupported:
      doc['authorization_response_iss_parameter_supported'] === true,
    codeChallengeMethodsSupported: [],
    tokenEndpointAuthMethodsSupported: [],
    tokenEndpointAuthSigningAlgValuesSupported: [],
    idTokenSigningAlgValuesSupported: [],
    scopesSupported: [],
    dpopSigningAlgValuesSupported: [],
    source,
    raw: doc,
  };
  for (const [field, name] of Object.entries(STRING_FIELDS) as [keyof typeof STRING_FIELDS, string][]) {
    const value = doc[name];
    if (value === undefined) continue;
    let ok = false;
    try {
      ok = typeof value === 'string' && ['https:', 'http:'].includes(new URL(value).protocol);
    } catch {
      ok = false;
    }
    if (!ok) {
      throw new ConfigError(
        `The metadata document at ${source} has an invalid ${name}.`,
        `Set the ${provider} field explicitly in the provider spec, or ask the server's operator to fix its metadata.`,
        { provider, forOperator: true },
      );
    }
    out[field] = value as string;
  }
  for (const [field, name] of Object.entries(LIST_FIELDS) as [keyof typeof LIST_FIELDS, string][]) {
    const value = doc[name];
    if (value === undefined) continue;
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
      throw new ConfigError(
        `The metadata document at ${source} has an invalid ${name}.`,
        `Ask the server's operator to fix its metadata, or set the ${provider} endpoints explicitly.`,
        { provider },
      );
    }
    out[field] = value as string[];
  }
  return out;
}

/** Reads the issuer's metadata: OpenID Connect Discovery first, RFC 8414 when that is not found. */
export type { ServerMetadata };

export async function fetchServerMetadata(
  issuer: string,
  provider: string,
  http: HttpOptions = {},
): Promise<{ metadata: ServerMetadata; maxAgeMs: number | null }> {
  checkIssuer(issuer, provider);
  const urls = metadataUrls(issuer);
  let lastStatus = 0;
  for (const source of urls) {
    let res: Awaited<ReturnType<typeof fetch>>;
    try {
      res = await fetch(source, {
        headers: { accept: 'application/json' },
        redirect: 'manual',
        signal: AbortSignal.timeout(http.timeoutMs ?? 30_000),
        ...(http.dispatcher ? { dispatcher: http.dispatcher } : {}),
      });
    } catch (err) {
      const reason =
        err instanceof Error && err.name === 'TimeoutError' ? 'timed out' : describeNetworkError(err);
      throw new NetworkError(`Reading the ${provider} metadata at ${source} ${reason}.`, {
        provider,
        cause: err,
      });
    }
    const body = await res.text();
    if (res.status === 200) {
      const maxAge = /max-age=(\d+)/.exec(res.headers.get('cache-control') ?? '')?.[1];
      return {
        metadata: parseServerMetadata(body, issuer, provider, source),
        maxAgeMs: maxAge === undefined ? null : Number(maxAge) * 1000,
      };
    }
    lastStatus = res.status;
    if (res.status >= 500 || res.status === 429) {
      throw new ProviderError(
        `${provider}'s metadata at ${source} answered HTTP ${res.status}.`,
        { status: res.status },
        {
          provider,
          remediation: 'The authorization server is failing; Baton reads its metadata again at the next use.',
        },
      );
    }
    if (res.status !== 404) break;
  }
  throw new ConfigError(
    `${provider}'s issuer ${issuer} publishes no metadata (HTTP ${lastStatus} at ${urls.join(' and ')}).`,
    `Check the issuer URL, or give the endpoints explicitly (authorizationUrl, tokenUrl) in the ${provider} provider spec.`,
    { provider, forOperator: true },
  );
}
