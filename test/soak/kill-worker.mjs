/**
 * A SIGKILL-soak worker: plain node on the BUILT library (dist/), so it starts in a fraction of
 * tsx's time. Opens Baton on the shared store, prints {"ready"}, waits for "go", then fires
 * `callers` concurrent getAccessToken calls. It prints {"refreshed": <epoch ms>} the moment a
 * refresh it made is committed (the `refreshed` event), and {"done": …} at the end.
 * Its token requests carry `x-sim-tag: <tag>` so the simulator can say whose request it was.
 * Config: BATON_SOAK_WORKER (JSON): { store, secretKey, providers, clients, clockOffsetMs, callers, leaseTtlMs, connectionId, tag }.
 */
import { createInterface } from 'node:readline';
import { Agent } from 'undici';
import { Baton } from '../../dist/index.js';

const config = JSON.parse(process.env.BATON_SOAK_WORKER ?? '{}');
const wall = () => performance.timeOrigin + performance.now();
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const agent = new Agent().compose(
  (dispatch) => (o, handler) =>
    dispatch(
      {
        ...o,
        headers: Array.isArray(o.headers)
          ? [...o.headers, 'x-sim-tag', config.tag]
          : { ...(o.headers ?? {}), 'x-sim-tag': config.tag },
      },
      handler,
    ),
);
const baton = await Baton.open({
  store: config.store,
  secretKey: config.secretKey,
  providers: config.providers,
  clients: config.clients,
  clock: { now: () => Date.now() + config.clockOffsetMs },
  leaseTtlMs: config.leaseTtlMs,
  retry: { baseDelayMs: 20, maxDelayMs: 200 },
  http: { dispatcher: agent },
  env: { BATON_HOME: config.home },
});
baton.on('refreshed', () => out({ refreshed: wall() }));
out({ ready: process.pid });
const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (line.trim() !== 'go') continue;
  const results = await Promise.allSettled(
    Array.from({ length: config.callers }, () => baton.getAccessToken(config.connectionId)),
  );
  const errors = results
    .filter((r) => r.status === 'rejected')
    .map((r) => String(r.reason?.code ?? r.reason));
  const tokens = new Set(results.filter((r) => r.status === 'fulfilled').map((r) => r.value));
  out({ done: wall(), tokens: tokens.size, errors: [...new Set(errors)] });
  break;
}
rl.close();
await baton.close();
await agent.close();
