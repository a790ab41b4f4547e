// Run by bench/scale.mjs with --expose-gc: how much heap a process holding WARM warm
// connections uses (their tokens in Baton's cache, as getAccessToken leaves them).
import { readFileSync } from 'node:fs';
import { Baton, simulatorProfile } from '../dist/index.js';

const profile = simulatorProfile(JSON.parse(readFileSync(process.env.DISCOVERY, 'utf8')));
const offset = Number(process.env.OFFSET);
const want = Number(process.env.WARM);
const baton = await Baton.open({
  store: process.env.STORE,
  secretKey: process.env.KEY,
  providers: profile.providers,
  clients: profile.clients,
  clock: { now: () => Date.now() + offset },
  env: {},
});
// Which ones: the first active connections with tokens, read page by page before measuring.
const ids = [];
for await (const c of baton.connections({ status: 'active', pageSize: 1000 })) {
  if (c.authMode === 'oauth2' || c.authMode === 'client_credentials') ids.push(c.id);
  if (ids.length === want) break;
}
const heap = () => {
  globalThis.gc();
  globalThis.gc();
  return process.memoryUsage().heapUsed;
};
// One connection first, so code paths and shared structures are warm before the baseline.
await baton.getAccessToken(ids[0]);
const before = heap();
for (const id of ids) await baton.getAccessToken(id);
const after = heap();
// Still warm: a second round is served from the cache (no store read).
const get = baton.store.get.bind(baton.store);
let reads = 0;
baton.store.get = (id) => {
  reads++;
  return get(id);
};
for (const id of ids) await baton.getAccessToken(id);
process.stdout.write(
  JSON.stringify({
    warmed: ids.length,
    heapMB: (after - before) / 1e6,
    bytesPerConnection: (after - before) / ids.length,
    rssMB: process.memoryUsage().rss / 1e6,
    readsWhenWarm: reads,
  }),
);
await baton.close();
