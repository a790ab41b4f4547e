import { fetch } from 'undici';
import type { Discovery, Simulator, Vendor } from '../../src/simulator/index.js';

export const CB = 'http://127.0.0.1:9/cb';

export function url(template: string, params: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => params[k] ?? `{${k}}`);
}

export function basic(user: string, pass: string): string {
  return `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
}

export function form(fields: Record<string, string>): { body: string; headers: Record<string, string> } {
  return {
    body: new URLSearchParams(fields).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  };
}

async function call(u: string, init: { method?: string; body?: string; headers: Record<string, string> }) {
  const res = await fetch(u, { ...init, redirect: 'manual' });
  const text = await res.text();
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = null;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export function get(u: string, headers: Record<string, string> = {}) {
  return call(u, { headers });
}

export function post(u: string, body: string, headers: Record<string, string>) {
  return call(u, { method: 'POST', body, headers });
}

export function vendor(sim: Simulator, v: Vendor): Discovery['vendors'][Vendor] {
  return sim.discovery().vendors[v];
}

/** Runs the consent step and returns the code from the redirect. */
export async function code(
  sim: Simulator,
  v: Vendor,
  params: Record<string, string>,
  extra: Record<string, string> = {},
): Promise<string> {
  const d = vendor(sim, v);
  const client =
    d.clients.find((c) => Object.entries(c.params).every(([k, x]) => params[k] === x)) ?? d.clients[0];
  const u = new URL(url(d.endpoints.authorize as string, params));
  u.searchParams.set('client_id', client?.clientId ?? '');
  u.searchParams.set('response_type', 'code');
  u.searchParams.set('redirect_uri', CB);
  u.searchParams.set('state', 'st');
  for (const [k, x] of Object.entries(extra)) u.searchParams.set(k, x);
  const res = await get(u.toString());
  const location = res.headers.get('location');
  if (!location) throw new Error(`authorize answered ${res.status}: ${res.text}`);
  const c = new URL(location).searchParams.get('code');
  if (!c) throw new Error(`no code in ${location}`);
  return c;
}
