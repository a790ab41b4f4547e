import { ConfigError } from '../errors.js';
import { hostAllowed } from '../protocol/redirect-policy.js';
import type { ProviderSpec } from './spec.js';

/**
 * What a param value may be made of before it goes into a URL template (RFC 3986 §2.3
 * unreserved characters), and never `.` or `..`: percent-encoding alone does not keep a value
 * like `..` from stepping out of a path prefix (`/t/{tenant}/api/` → `/api/`). A captured API
 * base (`kind: 'url'`) is an absolute URL instead, held to the spec's hosts.
 */
export const SAFE_PARAM = /^[A-Za-z0-9._~-]+$/;

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses.
const CONTROL = /[\u0000-\u001f\u007f]/;
const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** An absolute URL a `kind: 'url'` param may hold: https, or http on a loopback host; no fragment. */
export function isUrlParamValue(value: string): boolean {
  try {
    const u = new URL(value);
    return (
      !value.includes('#') &&
      !u.username &&
      !u.password &&
      (u.protocol === 'https:' || (u.protocol === 'http:' && LOOPBACK.has(u.hostname)))
    );
  } catch {
    return false;
  }
}

/** A ConfigError naming the param unless `value` is safe to put into a URL template. */
export function checkParamValue(
  spec: Pick<ProviderSpec, 'id' | 'displayName'> & Partial<Pick<ProviderSpec, 'params'>>,
  name: string,
  value: string,
): void {
  if (spec.params?.[name]?.kind === 'url') {
    if (isUrlParamValue(value)) return;
    throw new ConfigError(
      `The ${spec.displayName} param "${name}" has the value "${value}", which is not an absolute https URL (or http on a loopback host) without a fragment.`,
      `Give ${name} as the server's URL, e.g. https://mcp.example.com/mcp.`,
      { provider: spec.id },
    );
  }
  if (SAFE_PARAM.test(value) && value !== '.' && value !== '..') return;
  throw new ConfigError(
    `The ${spec.displayName} param "${name}" has the value "${value}", which may not go into a URL.`,
    `Use letters, digits and "-", ".", "_", "~" only (not "." or ".." alone) for ${name}.`,
    { provider: spec.id },
  );
}

/** The names a spec keeps from the provider: its captures and what its connect steps keep. */
export function capturedNames(spec: Pick<ProviderSpec, 'captures' | 'connectSteps'>): string[] {
  const names = new Set(Object.keys(spec.captures ?? {}));
  for (const step of spec.connectSteps ?? []) for (const name of Object.keys(step.capture)) names.add(name);
  return [...names];
}

/** Whether `name` is a captured text, which no URL template may use (Dropbox's account id). */
export function isTextCapture(spec: Pick<ProviderSpec, 'captures'>, name: string): boolean {
  return spec.captures?.[name]?.kind === 'text';
}

/** Whether `name` is a captured value holding an absolute URL (Salesforce `instanceUrl`). */
export function isUrlCapture(spec: Pick<ProviderSpec, 'captures'>, name: string): boolean {
  return spec.captures?.[name]?.kind === 'url';
}

/**
 * An API base a provider names, as Baton keeps it: the URL's origin and path without a trailing
 * slash, or null when it is no absolute http(s) URL, carries a user name, a query or a fragment.
 */
export function normaliseBaseUrl(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
  if (url.username || url.password || url.search || url.hash) return null;
  if (/[?#\\]/.test(value)) return null;
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/**
 * Whether an API base the provider named may receive the connection's credentials: https (plain
 * http only on this machine's loopback) and a host the spec's `redirectAuthHosts` name.
 */
export function baseUrlAllowed(value: string, hosts: readonly string[]): boolean {
  const normal = normaliseBaseUrl(value);
  if (normal === null || normal !== value) return false;
  const url = new URL(value);
  if (url.protocol === 'http:' && !LOOPBACK.has(url.hostname)) return false;
  return hostAllowed(url, hosts);
}

/**
 * A captured value checked for its kind: a plain value like any param, a URL against the
 * spec's hosts. A ConfigError naming the param otherwise (a stored value the spec no longer
 * accepts, or one the provider should not have sent).
 */
export function checkCapturedValue(
  spec: Pick<ProviderSpec, 'id' | 'displayName' | 'captures' | 'redirectAuthHosts'> &
    Partial<Pick<ProviderSpec, 'params'>>,
  name: string,
  value: string,
): void {
  const kind = spec.captures?.[name]?.kind;
  if (kind === 'text') {
    if (value.length <= 2048 && !CONTROL.test(value)) return;
    throw new ConfigError(
      `The ${spec.displayName} ${name} holds a control character or is longer than 2048 characters.`,
      'Check what the provider sent; connect the account again (`baton connect`).',
      { provider: spec.id },
    );
  }
  if (kind !== 'url') {
    checkParamValue(spec, name, value);
    return;
  }
  if (baseUrlAllowed(value, spec.redirectAuthHosts)) return;
  let host = 'an unparseable URL';
  try {
    host = new URL(value).host;
  } catch {
    // keep the wording
  }
  throw new ConfigError(
    `The ${spec.displayName} ${name} points to ${host}, which ${spec.displayName}'s spec does not allow to receive credentials.`,
    `If ${host} is genuinely ${spec.displayName}'s, add it to the provider's redirectAuthHosts (an https host); otherwise connect the account again (\`baton connect\`).`,
    { provider: spec.id },
  );
}
