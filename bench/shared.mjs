// Helpers shared by the benchmark and its worker processes.
import { spawn } from 'node:child_process';
import { fetch } from 'undici';

export const CALLBACK = 'http://127.0.0.1:9/callback';

/** Calls the simulator's admin API (`/_sim/…`): GET without a body, POST with a JSON one. */
export function simulatorAdmin(discovery) {
  return async (path, body) => {
    const res = await fetch(
      `${discovery.admin}${path}`,
      body === undefined
        ? {}
        : { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } },
    );
    return res.json();
  };
}

/** Authorizes a Cronofy connection through the simulator's consent shortcut. */
export async function authorizeCronofy(baton, id) {
  const { url } = await baton.beginAuthorization({
    provider: 'cronofy',
    connectionId: id,
    params: { dataCenter: 'us' },
    redirectUri: CALLBACK,
    replace: true,
  });
  const u = new URL(url);
  u.searchParams.set('sim_decision', 'approve');
  const res = await fetch(u, { redirect: 'manual' });
  await res.text();
  return baton.completeAuthorization({ callbackUrl: res.headers.get('location') });
}

export function sleepUntil(at) {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
}

/** @badgateway/oauth2-client's fetch wrapper over a token we seeded, expiring at `expiresAt`. */
export async function badgatewayFetch({ clientId, clientSecret, tokenUrl }, seed, expiresAt) {
  const { OAuth2Client, OAuth2Fetch } = await import('@badgateway/oauth2-client');
  return new OAuth2Fetch({
    client: new OAuth2Client({
      clientId,
      clientSecret,
      tokenEndpoint: tokenUrl,
      authenticationMethod: 'client_secret_post',
    }),
    getNewToken: () => null,
    getStoredToken: () => ({
      accessToken: seed.accessToken,
      refreshToken: seed.refreshToken,
      expiresAt: expiresAt(),
    }),
    scheduleRefresh: false,
  });
}

/** Authorizes any OAuth2 connection through the simulator's consent shortcut. */
export async function authorizeAt(baton, provider, id, params, account) {
  const { url } = await baton.beginAuthorization({
    provider,
    connectionId: id,
    params,
    redirectUri: CALLBACK,
    replace: true,
  });
  const u = new URL(url);
  u.searchParams.set('sim_decision', 'approve');
  if (account) u.searchParams.set('sim_account', account);
  const res = await fetch(u, { redirect: 'manual' });
  await res.text();
  return baton.completeAuthorization({ callbackUrl: res.headers.get('location') });
}

/** Wall time of one process, from spawn to exit; rejects unless it exits with `expect`. */
export function wallTime(args, { cwd, env, expect = 0 }) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { cwd, env, stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === expect
        ? resolve(performance.now() - started)
        : reject(new Error(`${args.join(' ')} exited ${code}, not ${expect}`)),
    );
  });
}
