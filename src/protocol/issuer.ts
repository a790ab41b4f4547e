import { ConfigError } from '../errors.js';

/**
 * What an authorization server publishes about itself (RFC 8414 §2, OpenID Connect Discovery
 * 1.0 §3), the fields Baton reads. Unknown fields are kept in `raw` for display.
 */
export interface ServerMetadata {
  issuer: string;
  authorizationEndpoint?: string;
  tokenEndpoint?: string;
  revocationEndpoint?: string;
  introspectionEndpoint?: string;
  userinfoEndpoint?: string;
  jwksUri?: string;
  pushedAuthorizationRequestEndpoint?: string;
  /** RFC 7591 §3: where clients register themselves. */
  registrationEndpoint?: string;
  requirePushedAuthorizationRequests: boolean;
  /** The server takes a client id that is the URL of a Client ID Metadata Document. */
  clientIdMetadataDocumentSupported: boolean;
  /** RFC 9207 §3: the server puts `iss` in every authorization response. */
  authorizationResponseIssParameterSupported: boolean;
  codeChallengeMethodsSupported: string[];
  tokenEndpointAuthMethodsSupported: string[];
  tokenEndpointAuthSigningAlgValuesSupported: string[];
  idTokenSigningAlgValuesSupported: string[];
  scopesSupported: string[];
  /** RFC 9449 §5.1: the algorithms the server accepts DPoP proofs in. */
  dpopSigningAlgValuesSupported: string[];
  /** The URL the document was read from. */
  source: string;
  raw: Record<string, unknown>;
}

/** An issuer Baton accepts: https (RFC 8414 §2), or plain http only on a loopback host; no query, no fragment. */
export function checkIssuer(issuer: string, provider: string): void {
  let url: URL | null = null;
  try {
    url = new URL(issuer);
  } catch {
    url = null;
  }
  const loopback = url && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (
    !url ||
    url.search ||
    url.hash ||
    !(url.protocol === 'https:' || (url.protocol === 'http:' && loopback))
  ) {
    throw new ConfigError(
      `The ${provider} issuer "${issuer}" is not an https URL without query or fragment.`,
      `Set issuer to the authorization server's issuer identifier exactly as it publishes it (https://…), in Baton.open({ providers: { ${provider}: { issuer } } }) or baton.config.json.`,
      { provider, forOperator: true },
    );
  }
}
