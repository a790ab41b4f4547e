import type { ClientCredentials, Simulator, Vendor } from '../../src/simulator/index.js';
import { basic, CB, form, get, post, url, vendor } from './helpers.js';

/** A client's walk through a persona over loopback HTTP, as a program would make it. */

/** The authorize URL for a client, with the query a program would send. */
export function authorizeUrl(
  sim: Simulator,
  v: Vendor,
  params: Record<string, string>,
  query: Record<string, string>,
  client?: ClientCredentials,
): string {
  const d = vendor(sim, v);
  const c = client ?? d.clients[0];
  const u = new URL(url(d.endpoints.authorize as string, params));
  u.searchParams.set('client_id', c?.clientId ?? '');
  u.searchParams.set('redirect_uri', CB);
  u.searchParams.set('state', 'st-1');
  if (!('response_type' in query)) u.searchParams.set('response_type', 'code');
  for (const [k, x] of Object.entries(query)) if (x !== '') u.searchParams.set(k, x);
  return u.toString();
}

/** Runs the consent step; returns the callback URL the browser was sent to. */
export async function consent(
  sim: Simulator,
  v: Vendor,
  params: Record<string, string>,
  query: Record<string, string>,
  client?: ClientCredentials,
): Promise<URL> {
  const res = await get(authorizeUrl(sim, v, params, query, client));
  const location = res.headers.get('location');
  if (!location) throw new Error(`authorize answered ${res.status}: ${res.text}`);
  return new URL(location);
}

/** The code from a callback, failing when the callback carries an error. */
export function codeOf(callback: URL): string {
  const c = callback.searchParams.get('code');
  if (!c) throw new Error(`no code in ${callback.href}`);
  return c;
}

export type ClientAuth = 'basic' | 'body' | 'json';

/** A token-endpoint request with the client credentials where the vendor wants them. */
export function tokenRequest(
  endpoint: string,
  fields: Record<string, string>,
  client: ClientCredentials,
  auth: ClientAuth,
) {
  if (auth === 'json')
    return post(
      endpoint,
      JSON.stringify({ ...fields, client_id: client.clientId, client_secret: client.clientSecret }),
      { 'content-type': 'application/json' },
    );
  if (auth === 'basic') {
    const f = form(fields);
    return post(endpoint, f.body, {
      ...f.headers,
      authorization: basic(client.clientId, client.clientSecret),
    });
  }
  const f = form({ ...fields, client_id: client.clientId, client_secret: client.clientSecret });
  return post(endpoint, f.body, f.headers);
}

/** The string fields of a JSON answer. */
export function fieldsOf(res: { json: Record<string, unknown> | null }): Record<string, string> {
  return Object.fromEntries(
    Object.entries(res.json ?? {}).filter((e): e is [string, string] => typeof e[1] === 'string'),
  );
}

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
