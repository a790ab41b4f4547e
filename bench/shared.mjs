// Helpers shared by the benchmark and its worker processes.
import { fetch } from 'undici';

export const CALLBACK = 'http://127.0.0.1:9/callback';

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
