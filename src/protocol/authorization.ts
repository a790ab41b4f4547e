import { AuthorizationError, ConfigError, excerpt } from '../errors.js';
import type { ProviderSpec } from '../providers/spec.js';
import type { Endpoints } from '../providers/template.js';

export interface AuthorizationUrlInput {
  spec: ProviderSpec;
  endpoints: Endpoints;
  clientId: string;
  redirectUri: string;
  scopes: string[];
  state: string;
  codeChallenge?: string;
  extraParams?: Record<string, string>;
}

const RESERVED = new Set([
  'client_id',
  'response_type',
  'redirect_uri',
  'state',
  'scope',
  'code_challenge',
  'code_challenge_method',
]);

/** RFC 6749 §4.1.1 (+ RFC 7636 §4.3): the URL a person opens to grant access. */
export function buildAuthorizationUrl(input: AuthorizationUrlInput): string {
  const { spec } = input;
  if (!input.endpoints.authorizationUrl) {
    throw new ConfigError(
      `${spec.displayName} has no authorization endpoint.`,
      'Use a mode that needs no consent step.',
      {
        provider: spec.id,
      },
    );
  }
  if (spec.singleScope && input.scopes.length !== 1) {
    throw new ConfigError(
      `${spec.displayName} takes exactly one scope per authorization; ${input.scopes.length} were given.`,
      `Pick one of: ${(spec.scopeOptions ?? spec.scopes).join(', ')}.`,
      { provider: spec.id },
    );
  }
  if (spec.scopeOptions) {
    const unknown = input.scopes.filter((s) => !spec.scopeOptions?.includes(s));
    if (unknown.length > 0) {
      throw new ConfigError(
        `${spec.displayName} does not know the scope ${unknown.map((s) => `"${s}"`).join(', ')}.`,
        `Use: ${spec.scopeOptions.join(', ')}.`,
        { provider: spec.id },
      );
    }
  }
  const url = new URL(input.endpoints.authorizationUrl);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', input.clientId);
  url.searchParams.set('redirect_uri', input.redirectUri);
  if (input.scopes.length > 0) url.searchParams.set('scope', input.scopes.join(spec.scopeSeparator));
  url.searchParams.set('state', input.state);
  if (input.codeChallenge) {
    url.searchParams.set('code_challenge', input.codeChallenge);
    url.searchParams.set('code_challenge_method', 'S256');
  }
  for (const [k, v] of Object.entries(input.extraParams ?? {})) {
    if (RESERVED.has(k)) {
      throw new ConfigError(
        `extraParams may not set "${k}"; Baton sets it.`,
        `Remove "${k}" from extraParams.`,
        {
          provider: spec.id,
        },
      );
    }
    url.searchParams.set(k, v);
  }
  return url.toString();
}

export interface Callback {
  state: string | undefined;
  code: string | undefined;
  error: string | undefined;
  errorDescription: string | undefined;
}

/** Reads the redirect a provider sent the browser back with (a full URL, a query string, or its fields). */
export function parseCallback(input: string | Record<string, string | undefined>): Callback {
  let get: (name: string) => string | undefined;
  if (typeof input === 'string') {
    const text = input.trim();
    let params: URLSearchParams;
    try {
      params = /^[a-z][a-z0-9+.-]*:\/\//i.test(text)
        ? new URL(text).searchParams
        : new URLSearchParams(text.replace(/^\?/, ''));
    } catch {
      throw new AuthorizationError('missing_code', 'The callback is not a URL or a query string.');
    }
    get = (name) => params.get(name) ?? undefined;
  } else {
    get = (name) => input[name];
  }
  const pick = (name: string) => {
    const v = get(name);
    return v === undefined || v === '' ? undefined : v;
  };
  return {
    state: pick('state'),
    code: pick('code'),
    error: pick('error'),
    errorDescription: pick('error_description'),
  };
}

/** RFC 6749 §4.1.2: the state must be ours, and the callback carries either a code or an error. */
export function checkCallback(
  cb: Callback,
  expectedState: string,
  opts: { provider?: string; connectionId?: string } = {},
): string {
  if (cb.state !== expectedState) {
    throw new AuthorizationError(
      'state_mismatch',
      'The callback state does not match the authorization that was started.',
      opts,
    );
  }
  if (cb.error) {
    // The description is the provider's text, quoted back: redacted, then cut.
    const description = cb.errorDescription
      ? `: ${excerpt(cb.errorDescription, [cb.code, expectedState], 200)}`
      : '';
    if (cb.error === 'access_denied') {
      throw new AuthorizationError('access_denied', `The account owner declined access${description}.`, opts);
    }
    throw new AuthorizationError(
      'provider_error',
      `The provider answered the authorization with "${cb.error}"${description}.`,
      opts,
    );
  }
  if (!cb.code)
    throw new AuthorizationError('missing_code', 'The callback carries no authorization code.', opts);
  return cb.code;
}
