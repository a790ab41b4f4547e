import { type Dispatcher, fetch } from 'undici';
import { NetworkError, ProviderError, type Secret } from '../errors.js';
import type { DpopSigner } from './dpop.js';
import { followRedirects } from './redirects.js';

export interface HttpOptions {
  /** Per-request timeout. Default 30 s. */
  timeoutMs?: number;
  /** An undici dispatcher (a proxy agent, a pool with custom TLS, a mock). */
  dispatcher?: Dispatcher;
}

/** A response read in full: token endpoints answer small bodies, and errors need the text. */
export interface RawResponse {
  status: number;
  headers: Headers;
  body: string;
  url: string;
}

export interface PostInput {
  url: string;
  /** Default POST (a revocation may DELETE). */
  method?: 'POST' | 'DELETE';
  headers: Record<string, string>;
  body: string;
  /** Hosts a redirect may go to with this request's credentials (the provider's redirectAuthHosts). */
  redirectAuthHosts: readonly string[];
  connectionId?: string | undefined;
  provider?: string | undefined;
  /** What this request carries (client pair, refresh token, code): scrubbed from any error it causes. */
  secrets?: readonly Secret[] | undefined;
  /** Proves possession of the connection's DPoP key on each hop (RFC 9449 §5), and hears the server's nonce. */
  dpop?: DpopSigner | undefined;
}

const MAX_REDIRECTS = 3;

/**
 * POSTs to a token or revocation endpoint. Redirects are followed by the one redirect loop
 * (redirects.ts) and only to hosts the provider allows: a client secret never leaves for a
 * host the spec does not name (Checkfront moves migrated companies, token endpoint included,
 * with a 301).
 */
export async function postTokenEndpoint(input: PostInput, options: HttpOptions = {}): Promise<RawResponse> {
  const origin = new URL(input.url);
  const { response, refused } = await followRedirects(
    { url: origin, method: input.method ?? 'POST', body: input.body },
    async (hop) => {
      const raw = await send(hop.url, input, options);
      return { ...raw, location: raw.headers.get('location') };
    },
    { maxRedirects: MAX_REDIRECTS, allowedHosts: input.redirectAuthHosts, keepMethod: true },
  );
  if (refused) {
    throw new ProviderError(
      `${origin.host} redirected the token request to ${refused.host}, where Baton will not send client credentials.`,
      { status: response.status },
      {
        connectionId: input.connectionId,
        provider: input.provider,
        remediation: `If ${refused.host} is the provider's new host, add it to the provider's redirectAuthHosts or update its tokenUrl.`,
      },
    );
  }
  return response;
}

async function send(url: URL, input: PostInput, options: HttpOptions): Promise<RawResponse> {
  // A proof names the URL it is sent to: one per hop.
  const proof = input.dpop ? { dpop: await input.dpop.proof(input.method ?? 'POST', url) } : undefined;
  try {
    const res = await fetch(url, {
      method: input.method ?? 'POST',
      headers: { accept: 'application/json', ...input.headers, ...proof },
      ...(input.body === '' ? {} : { body: input.body }),
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    });
    const body = await res.text();
    input.dpop?.observe(url, res.headers.get('dpop-nonce'));
    return { status: res.status, headers: res.headers as unknown as Headers, body, url: url.toString() };
  } catch (err) {
    const reason =
      err instanceof Error && err.name === 'TimeoutError' ? 'timed out' : describeNetworkError(err);
    throw new NetworkError(`The request to ${url.host} ${reason}.`, {
      connectionId: input.connectionId,
      provider: input.provider,
      cause: err,
      secrets: input.secrets ?? [],
      notSent: neverConnected(err),
    });
  }
}

/** Failures that happen before a connection exists: the request cannot have reached the server. */
const NOT_CONNECTED = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function neverConnected(err: unknown): boolean {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  const code = (cause as { code?: unknown } | null)?.code;
  return typeof code === 'string' && NOT_CONNECTED.has(code);
}

export function describeNetworkError(err: unknown): string {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  const code = (cause as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return `failed (${code})`;
  return 'failed before the server answered';
}
