import { hostAllowed } from './redirect-policy.js';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** One request of a redirect chain: where it goes, and with which method and body. */
export interface Hop<B> {
  url: URL;
  method: string;
  body: B | undefined;
  /** 0 for the first request. */
  index: number;
}

export interface RedirectPolicy<R> {
  /** Hops after the first request. */
  maxRedirects: number;
  /** Host patterns that may receive this request's credentials (the spec's redirectAuthHosts). */
  allowedHosts: readonly string[];
  /**
   * RFC 9110 §15.4: a 303 is followed with GET, and so (as browsers do) is a POST answered
   * 301/302. A token request keeps its method: a migrated token endpoint must get the POST.
   */
  keepMethod: boolean;
  /** Called before a redirect is followed (the response can be discarded, a new base learned). */
  onFollow?(response: R, from: Hop<unknown>, to: URL): Promise<void> | void;
}

export interface RedirectOutcome<R> {
  response: R;
  /** The target of a redirect that was not followed because it may not see the credentials. */
  refused: URL | null;
}

/**
 * The one redirect-following loop for every credentialed request, token endpoint and API alike
 * (docs/architecture.md, invariant 5): requests go out with `redirect: 'manual'`, and a redirect is followed
 * only to the origin the chain started at or to a host the provider spec allows, never from
 * https down to http, at most `maxRedirects` times. Anything else comes back to the caller.
 */
export async function followRedirects<B, R extends { status: number; location: string | null }>(
  first: { url: URL; method: string; body: B | undefined },
  send: (hop: Hop<B>) => Promise<R>,
  policy: RedirectPolicy<R>,
): Promise<RedirectOutcome<R>> {
  const origin = first.url;
  let hop: Hop<B> = { ...first, index: 0 };
  for (;;) {
    const response = await send(hop);
    if (!REDIRECTS.has(response.status) || response.location === null) return { response, refused: null };
    const target = new URL(response.location, hop.url);
    if (hop.index >= policy.maxRedirects || !hostAllowed(target, policy.allowedHosts, origin)) {
      return { response, refused: target };
    }
    await policy.onFollow?.(response, hop, target);
    let { method, body } = hop;
    if (
      !policy.keepMethod &&
      (response.status === 303 || ((response.status === 301 || response.status === 302) && method === 'POST'))
    ) {
      method = 'GET';
      body = undefined;
    }
    hop = { url: target, method, body, index: hop.index + 1 };
  }
}
