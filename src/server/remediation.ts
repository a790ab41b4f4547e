import {
  type BatonError,
  ConfigError,
  ConnectionMismatch,
  ConnectionNotFound,
  CredentialsRejected,
  InvalidClient,
  NetworkError,
  ProviderError,
  ReauthorizationRequired,
  SecretKeyError,
  StoreError,
} from '../errors.js';

/**
 * What a caller of the HTTP API should do about an error, in the HTTP API's words (README,
 * "Problems"): which route to call, what to send, which operation the key needs. The library's
 * remediations speak to a program (`Baton.open({ providers })`, `baton.beginAuthorization()`)
 * and the CLI's to a terminal (`baton connect`); neither is any use to a client of the server.
 * What only the server's operator can fix (its configuration, its provider specs, its store)
 * says so, and the operator finds the library's own sentence in the server's log.
 */
export function httpRemediation(err: BatonError): { text: string; operator?: string } {
  const id = err.connectionId;
  const where = id ? `"${id}"` : 'the connection';
  const path = id ? encodeURIComponent(id) : '{id}';
  if (err instanceof ReauthorizationRequired) {
    return {
      text: `A person must authorize ${where} again: send them to the connect page in \`reconnect\` (given to keys with the manage operation, as is GET /v1/connections/${path}'s reconnectUrl), or make one with POST /v1/connect-sessions {"connectionId": ${JSON.stringify(id ?? '…')}} (manage).`,
    };
  }
  if (err instanceof ConnectionNotFound) {
    return {
      text: `Check the id (GET /v1/connections lists the connections this key may see), or create it (manage): POST /v1/connections for an API key, a token pair or client credentials; POST /v1/connections/${path}/authorize or POST /v1/connect-sessions for OAuth.`,
    };
  }
  if (err instanceof ConnectionMismatch) {
    return {
      text: `Send the provider and params ${where} was created with; or send "replace": true to overwrite it, or DELETE /v1/connections/${path} first (manage).`,
    };
  }
  const unverified = /pass verify: false to store them without the check/;
  if (
    (err instanceof CredentialsRejected || err instanceof NetworkError || err instanceof ProviderError) &&
    unverified.test(err.remediation)
  ) {
    return {
      text: err.remediation.replace(unverified, 'send "verify": false in the body to store them unchecked'),
    };
  }
  if (err instanceof InvalidClient) {
    return {
      text: `The provider refused this server's OAuth client for ${err.provider ?? 'this provider'}${err.environment ? ` (it must be the ${err.environment} one)` : ''}: the server's operator must fix the client id and secret.`,
      operator: err.remediation,
    };
  }
  if (err instanceof StoreError) {
    return {
      text: 'The server could not reach its store; retry shortly. Nothing stored was lost.',
      operator: err.remediation,
    };
  }
  if (err instanceof SecretKeyError) {
    return {
      text: `The server cannot open the sealed secrets of ${where}: its operator must check the server's secret key, or ${where} must be connected again.`,
      operator: err.remediation,
    };
  }
  if (err instanceof ProviderError && (err.status === undefined || err.status < 500)) {
    return {
      text: "The provider answered in a way Baton did not expect; the server's operator can check the provider configuration (URLs, environment).",
      operator: err.remediation,
    };
  }
  if (err instanceof ConfigError) {
    const configured = configRemediation(err, where, path);
    if (configured) return configured;
  }
  if (LIBRARY_SPEAK.test(err.remediation)) {
    return {
      text: `This is a matter of the server's configuration${err.provider ? ` for ${err.provider}` : ''}: tell its operator (the server's log has the details under this request's id).`,
      operator: err.remediation,
    };
  }
  return { text: err.remediation };
}

/** Words of the library or the CLI that mean nothing to a client of the HTTP API. */
const LIBRARY_SPEAK =
  /Baton\.open|baton\.[a-zA-Z]+\b|\bin code\b|`baton [a-z]|--[a-z][a-z-]+|providers: \{|provider spec|\bspec\b|baton\.config\.json|BATON_[A-Z_]+|redirectAuthHosts/;

function configRemediation(
  err: ConfigError,
  where: string,
  path: string,
): { text: string; operator?: string } | null {
  const m = err.message;
  const unknown = /^Baton does not know the provider "([^"]+)"/.exec(m);
  if (unknown) {
    const known = /^Use one of: (.*?), or add it/.exec(err.remediation)?.[1];
    return {
      text: `${known ? `Use one of: ${known}. ` : ''}A provider is added to the server's configuration by its operator.`,
    };
  }
  const param = /needs the param "([^"]+)"/.exec(m);
  if (param) return { text: `Send params: {"${param[1]}": …} in the request body.` };
  if (/^Connecting ".*" with (token_pair|api_key) needs/.test(m)) {
    // (Not as a JSON object: the redactor takes `"apiKey": …` for a credential.)
    return {
      text: 'Send credentials with an apiKey, and an apiSecret for a token pair, in the request body.',
    };
  }
  if (/connections are made through the authorization flow/.test(m)) {
    return {
      text: `Begin the authorization with POST /v1/connections/${path}/authorize, or send the account owner to a connect page (POST /v1/connect-sessions); both need manage.`,
    };
  }
  if (/has no stored .* credentials|uses (token_pair|api_key) credentials, which do not expire/.test(m)) {
    return {
      text: `Connect ${where} again with its credentials: POST /v1/connections with "replace": true, or a connect page (POST /v1/connect-sessions); both need manage.`,
    };
  }
  if (/DPoP-bound token but not the key|stored API base of connection/.test(m)) {
    return {
      text: `Connect ${where} again: send the account owner to a connect page (POST /v1/connect-sessions, manage).`,
      operator: err.remediation,
    };
  }
  if (/sender-constrained \(DPoP\) token/.test(m)) {
    return {
      text: `Call the API through the proxy instead: /v1/proxy/${path}/<path> (a key with the proxy operation).`,
    };
  }
  if (/^Refusing to send the credentials of/.test(m)) {
    return { text: err.remediation.replace(/, or add the host to the provider's redirectAuthHosts/, '') };
  }
  if (/^No client is configured/.test(m)) {
    return {
      text: `This server has no OAuth client for ${err.provider ?? 'this provider'}: its operator must configure one.`,
      operator: err.remediation,
    };
  }
  if (/^No redirect URI is configured/.test(m)) {
    return {
      text: "Send redirectUri in the body, or ask the server's operator to configure one for the client.",
      operator: err.remediation,
    };
  }
  return null;
}
