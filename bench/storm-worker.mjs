// One process of a cross-process refresh storm: waits for the start time, then fires its callers.
// argv: kind (baton | badgateway) ; env: SIM_URL, STORE, KEY, START_AT, CALLERS, CLOCK_OFFSET, ID, TOKEN_JSON
import { Baton, connectSimulator } from '../dist/index.js';
import { badgatewayFetch, sleepUntil } from './shared.mjs';

const kind = process.argv[2];
const callers = Number(process.env.CALLERS);
const startAt = Number(process.env.START_AT);
let tokens;
let elapsed = 0;
if (kind === 'baton') {
  const offset = Number(process.env.CLOCK_OFFSET);
  const profile = await connectSimulator(process.env.SIM_URL);
  const baton = await Baton.open({
    store: process.env.STORE,
    secretKey: process.env.KEY,
    providers: profile.providers,
    clients: profile.clients,
    clock: { now: () => Date.now() + offset },
    env: {},
  });
  await sleepUntil(startAt);
  tokens = await Promise.allSettled(
    Array.from({ length: callers }, () => baton.getAccessToken(process.env.ID)),
  );
  elapsed = Date.now() - startAt;
  await baton.close();
} else {
  const seed = JSON.parse(process.env.TOKEN_JSON);
  const wrapper = await badgatewayFetch(seed, seed, () => Date.now() - 1000);
  await sleepUntil(startAt);
  tokens = await Promise.allSettled(Array.from({ length: callers }, () => wrapper.getAccessToken()));
  elapsed = Date.now() - startAt;
}
const ok = tokens.filter((t) => t.status === 'fulfilled');
process.stdout.write(
  `${JSON.stringify({ ok: ok.length, failed: tokens.length - ok.length, distinct: new Set(ok.map((t) => t.value)).size, elapsed })}\n`,
);
