import { BatonError, ConfigError } from '../errors.js';

/** A usage error: exit 2 with the message and what to type instead. */
export class UsageError extends ConfigError {
  constructor(message: string, remediation: string) {
    super(message, remediation);
    Object.defineProperty(this, 'code', { value: 'usage_error', enumerable: true });
  }
}

/** Something the command was asked about is not there (a key, an endpoint, a delivery): exit 1. */
export class NotFound extends BatonError {
  constructor(message: string, remediation: string) {
    super('not_found', message, remediation);
  }
}

/**
 * A flag's value checked by the library, which answers a bad one with a ConfigError: on the
 * command line that is a usage error (exit 2), with the library's sentence.
 */
export function asUsage<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof ConfigError && !(err instanceof UsageError))
      throw new UsageError(err.message, err.cliRemediation ?? err.remediation);
    throw err;
  }
}

/** A URL flag (--simulator, --public-url, --issuer): a usage error naming the flag when it is not one. */
export function checkUrlFlag(flag: string, value: string, example: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    throw new UsageError(
      `${flag} "${value}" is not an http(s) URL.`,
      `Give the full URL, e.g. ${flag} ${example}.`,
    );
  return value;
}

/** RFC 6749 §3.3 scope-token: printable ASCII without space, `"` and `\`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** `--scope a --scope b,c` → [a, b, c]; undefined when no --scope was given. */
export function parseScopes(values: string[] | undefined): string[] | undefined {
  if (values === undefined) return undefined;
  const scopes = [...new Set(values.flatMap((v) => v.split(',')).map((s) => s.trim()))].filter(Boolean);
  if (scopes.length === 0)
    throw new UsageError('--scope names no scope.', 'Give one or more, e.g. --scope openid --scope email.');
  for (const s of scopes)
    if (!SCOPE_TOKEN.test(s))
      throw new UsageError(
        `--scope ${JSON.stringify(s)} is not a scope (RFC 6749 §3.3: printable characters, no space, quote or backslash).`,
        'Give each scope on its own --scope, or as a comma-separated list: --scope openid,email.',
      );
  return scopes;
}

/** A connection id a person can type again: 1 to 200 characters, no spaces or control characters. */
export function checkId(id: string, flag = '--id'): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refuses control characters
  if (!/^[^\s\u0000-\u001f\u007f]{1,200}$/u.test(id))
    throw new UsageError(
      `${flag} ${JSON.stringify(id)} is not a connection id.`,
      'Use 1 to 200 characters without spaces, e.g. --id alice or --id acme-prod.',
    );
  return id;
}

/** Collects repeatable `--param k=v` flags. */
export function collectPairs(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const i = value.indexOf('=');
  if (i <= 0)
    throw new UsageError(`"${value}" is not of the form key=value.`, 'Write it as --param company=acme.');
  return { ...previous, [value.slice(0, i)]: value.slice(i + 1) };
}

export function collectList(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
