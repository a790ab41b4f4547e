/**
 * `WWW-Authenticate` challenges (RFC 9110 §11.6.1): a scheme, then a token68 or auth-params
 * whose values are tokens or quoted strings. A header may carry several challenges.
 */
export interface Challenge {
  /** As sent; compare case-insensitively. */
  scheme: string;
  /** Parameter names in lower case (RFC 9110: they are case-insensitive). */
  params: Record<string, string>;
}

/** What a Bearer challenge says (RFC 6750 §3, RFC 9728 §5.1), the fields an MCP client acts on. */
export interface BearerChallenge {
  /** RFC 9728 §5.1: where the protected resource's metadata is. */
  resourceMetadata?: string;
  /** RFC 6750 §3: the scopes the request needs. */
  scope?: string[];
  /** `invalid_token`, `insufficient_scope`, `invalid_request`. */
  error?: string;
  errorDescription?: string;
}

const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let current: Challenge | null = null;
  let i = 0;
  const skip = (chars: string) => {
    while (i < header.length && chars.includes(header[i] as string)) i++;
  };
  const token = () => {
    const start = i;
    while (i < header.length && TOKEN.test(header[i] as string)) i++;
    return header.slice(start, i);
  };
  while (i < header.length) {
    skip(' \t,');
    const name = token();
    if (!name) {
      i++; // a character no challenge may hold here: step over it
      continue;
    }
    skip(' \t');
    if (header[i] === '=' && current && header[i + 1] !== '=') {
      i++;
      skip(' \t');
      let value = '';
      if (header[i] === '"') {
        for (i++; i < header.length && header[i] !== '"'; i++) {
          if (header[i] === '\\') i++;
          value += header[i] ?? '';
        }
        i++;
      } else {
        value = token();
      }
      current.params[name.toLowerCase()] = value;
      continue;
    }
    if (header[i] === '=') {
      // A token68 (`Basic dXNlcg==`): part of the challenge, not a parameter.
      skip('=');
      continue;
    }
    current = { scheme: name, params: {} };
    out.push(current);
  }
  return out;
}

/** The Bearer challenge of a `WWW-Authenticate` header, if it has one. */
export function bearerChallenge(header: string | null | undefined): BearerChallenge | null {
  if (!header) return null;
  const bearer = parseChallenges(header).find((c) => c.scheme.toLowerCase() === 'bearer');
  if (!bearer) return null;
  const p = bearer.params;
  const out: BearerChallenge = {};
  if (p['resource_metadata']) out.resourceMetadata = p['resource_metadata'];
  if (p['scope'] !== undefined) out.scope = p['scope'].split(' ').filter(Boolean);
  if (p['error']) out.error = p['error'];
  if (p['error_description']) out.errorDescription = p['error_description'];
  return out;
}
