import { ConfigError, redact } from '../errors.js';

/**
 * Full stops that some servers and proxies fold into `.` (the WHATWG URL parser does so in host
 * names, not in paths): ideographic, halfwidth ideographic, fullwidth, one-dot leader.
 */
const DOT_LOOKALIKES = /[\u3002\uff61\uff0e\u2024]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses.
const CONTROL = /[\u0000-\u001f\u007f]/;
const PLAIN = /^[\x21-\x24\x26-\x7e]*$/;
const ABSOLUTE = /^https?:\/\//i;
const SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/** An API path that would leave the connection's API base: refused before any request. */
export class UnsafeApiPath extends ConfigError {}

/** How strictly a path is judged, and the connection a refusal names. */
export interface ApiPathRule {
  /**
   * Only a path under the base: an absolute URL (any scheme) or an `@` anywhere in the path is
   * refused too — for a path relayed from someone who may name no host (the server's proxy).
   */
  relativeOnly?: boolean;
  connectionId?: string;
  provider?: string;
}

function refuse(path: string, base: string, why: string, rule: ApiPathRule): ConfigError {
  const fix =
    'Give a path under the API base without "." or ".." segments, backslashes, encoded slashes or a leading "//"';
  return new UnsafeApiPath(
    `The API path "${redact(path)}" ${why}, which would leave the API base ${base}.`,
    `${fix}; percent-encode a value that contains them (e.g. encodeURIComponent) and check it before it goes into the path.`,
    { cliRemediation: `${fix}, e.g. baton request <id> api/3.0/ping.`, ...context(rule) },
  );
}

function context({ connectionId, provider }: ApiPathRule): { connectionId?: string; provider?: string } {
  return { ...(connectionId ? { connectionId } : {}), ...(provider ? { provider } : {}) };
}

/** Percent-decodes what decodes, leaving malformed escapes as they are. */
function decodeOnce(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run;
      }
    });
  }
}

/**
 * Why one path segment may not be sent, or null. A segment is judged as any server along the
 * way might read it: percent-decoded (up to three times, for double encoding), NFKC-folded,
 * with look-alike full stops read as dots and surrounding spaces ignored.
 */
function badSegment(segment: string): string | null {
  // The common case: printable ASCII with no escapes folds to itself.
  if (PLAIN.test(segment)) {
    if (segment === '.' || segment === '..') return `has a "${segment}" segment`;
    return segment.includes('\\') ? 'contains a backslash' : null;
  }
  let s = segment;
  for (let round = 0; round < 4; round++) {
    const folded = s.normalize('NFKC').replace(DOT_LOOKALIKES, '.');
    // Trimmed too: the URL parser drops spaces at the end of its input, and so do some servers.
    const dots = folded.trim();
    if (dots === '.' || dots === '..') return `has a "${segment}" segment`;
    if (folded.includes('\\')) return 'contains a backslash';
    if (round > 0 && folded.includes('/')) return 'contains an encoded slash';
    if (CONTROL.test(folded)) return 'contains a control character';
    if (!s.includes('%')) break;
    const next = decodeOnce(s);
    if (next === s) break;
    s = next;
  }
  return null;
}

/**
 * `base` + `path`, confined to the base's path prefix (the README's path-confinement rule). A
 * leading `/` means "from the base", not "from the host root". A path that could step outside
 * the prefix — a `.` or `..` segment raw, percent-encoded or spelt with look-alike dots, a
 * backslash, an encoded slash, a leading `//`, a control character — is a ConfigError naming
 * the path. An absolute URL is returned for the host policy to judge, but one on the API's own
 * origin must also lie under the base path, and none may carry userinfo (with `relativeOnly`,
 * absolute URLs and "@" are refused outright). Whatever the input, the result is checked: on
 * the base's origin, its pathname starts with the base's. A refusal names the connection the
 * rule gives.
 */
export function resolveApiUrl(base: string, path: string, rule: ApiPathRule = {}): URL {
  const b = base.endsWith('/') ? base : `${base}/`;
  const baseUrl = new URL(b);
  const end = path.search(/[?#]/);
  const pathPart = end === -1 ? path : path.slice(0, end);
  if (rule.relativeOnly && (SCHEME.test(pathPart) || pathPart.includes('@'))) {
    throw new UnsafeApiPath(
      `The API path "${redact(pathPart)}" is an absolute URL or carries "@", which could leave the API base.`,
      'Send a path relative to the API base; percent-encode an "@" that belongs to a value.',
      context(rule),
    );
  }
  const absolute = ABSOLUTE.test(path);
  if (!absolute && path.startsWith('//')) throw refuse(path, b, 'starts with "//"', rule);
  if (CONTROL.test(pathPart)) throw refuse(path, b, 'contains a control character', rule);
  const segments = (absolute ? pathPart.replace(ABSOLUTE, '').replace(/^[^/\\]*/, '') : pathPart).split('/');
  for (const segment of segments) {
    const why = badSegment(segment);
    if (why) throw refuse(path, b, why, rule);
  }
  if (absolute) {
    let url: URL;
    try {
      url = new URL(path);
    } catch {
      throw refuse(path, b, 'is not a URL', rule);
    }
    if (url.username || url.password) throw refuse(path, b, 'carries a user name or password', rule);
    if (url.origin === baseUrl.origin && !url.pathname.startsWith(baseUrl.pathname)) {
      throw refuse(path, b, `is outside the base path ${baseUrl.pathname}`, rule);
    }
    return url;
  }
  const url = new URL(b + path.replace(/^\/+/, ''));
  if (
    url.origin !== baseUrl.origin ||
    url.username !== baseUrl.username ||
    url.password !== baseUrl.password ||
    !url.pathname.startsWith(baseUrl.pathname)
  ) {
    throw refuse(path, b, `resolves outside the base path ${baseUrl.pathname}`, rule);
  }
  return url;
}
