import type { IncomingMessage } from 'node:http';

/** One request as the vendor handlers see it. */
export interface SimRequest {
  method: string;
  url: URL;
  headers: IncomingMessage['headers'];
  body: string;
  origin: 'main' | 'migration';
}

export interface SimResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Close the connection without answering. */
  drop?: boolean;
  /**
   * What the token log should record when the wire format hides it from the generic reading:
   * an API that refuses a token with 200 (Slack's `ok: false`), tokens in a form-encoded or
   * nested answer, a token revoked by its bearer header or its path.
   */
  oracle?: {
    accepted?: boolean;
    issuedAccessToken?: string | null;
    issuedRefreshToken?: string | null;
    revokedToken?: string | null;
  };
}

export function json(status: number, value: unknown, headers: Record<string, string> = {}): SimResponse {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(value) };
}

export function html(status: number, body: string): SimResponse {
  return {
    status,
    headers: { 'content-type': 'text/html; charset=utf-8' },
    body: `<!doctype html><html><body>${body}</body></html>`,
  };
}

export function redirect(location: string, status = 302): SimResponse {
  return { status, headers: { location }, body: '' };
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The body's fields: JSON or form, by content type (form when unsure). */
export function bodyFields(req: SimRequest): Record<string, string> | null {
  const type = String(req.headers['content-type'] ?? '');
  if (req.body === '') return {};
  if (/json/i.test(type)) {
    try {
      const v: unknown = JSON.parse(req.body);
      if (!v || typeof v !== 'object' || Array.isArray(v)) return null;
      return Object.fromEntries(
        Object.entries(v).map(([k, x]) => [k, typeof x === 'string' ? x : JSON.stringify(x)]),
      );
    } catch {
      return null;
    }
  }
  return Object.fromEntries(new URLSearchParams(req.body));
}

export function isForm(req: SimRequest): boolean {
  return /application\/x-www-form-urlencoded/i.test(String(req.headers['content-type'] ?? ''));
}

/** HTTP Basic credentials, decoded (RFC 6749 §2.3.1 form-encoding undone). */
export function basicAuth(req: SimRequest): { user: string; pass: string } | null {
  const h = String(req.headers['authorization'] ?? '');
  const m = /^basic\s+(.+)$/i.exec(h.trim());
  if (!m?.[1]) return null;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const i = text.indexOf(':');
  if (i < 0) return null;
  const dec = (s: string) => {
    try {
      return decodeURIComponent(s.replace(/\+/g, ' '));
    } catch {
      return s;
    }
  };
  return { user: dec(text.slice(0, i)), pass: dec(text.slice(i + 1)) };
}

/** A bearer token from the Authorization header, the scheme in any case. */
export function bearer(req: SimRequest): string | null {
  const m = /^bearer\s+(\S+)\s*$/i.exec(String(req.headers['authorization'] ?? ''));
  return m?.[1] ?? null;
}

const SECRET_PARAMS = [
  'code',
  'access_token',
  'refresh_token',
  'client_secret',
  'token',
  'state',
  'code_verifier',
];

/** The path and query as the request log keeps it: every secret-bearing value replaced. */
export function redactedPath(url: URL): string {
  const u = new URL(url.toString());
  for (const name of SECRET_PARAMS) if (u.searchParams.has(name)) u.searchParams.set(name, '[redacted]');
  return `${u.pathname}${u.search.replace(/%5Bredacted%5D/g, '[redacted]')}`;
}
