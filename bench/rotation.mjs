// The rotation window: from the token endpoint's last byte to the durable commit of the rotated
// pair. Until the commit, the provider has replaced the refresh token and only this process
// knows the new one (docs/architecture.md, invariant 2): the shorter the window, the less a crash can lose.
//
// Measured in a warm process, with no test-only code in Baton: the instant the token response's
// last byte arrived is undici's `undici:request:trailers` diagnostics message (published when the
// response is complete), the instant the commit resolved is Baton's `refreshed` event (emitted
// as soon as the store accepted the compare-and-swap). The store's `put` is timed as well (by
// wrapping it here, in the bench), to split the window into Baton's part before the write and
// the store's durable write itself (an fsync on SQLite, a commit on PostgreSQL).
import diagnostics from 'node:diagnostics_channel';

const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

/**
 * Forced refreshes of `id`, one after another (the simulator rotates the refresh token on each):
 * `warmup` unmeasured, then `samples` measured. `tokenUrl` is the connection's token endpoint.
 */
export async function rotationWindow(baton, id, tokenUrl, { samples = 300, warmup = 30 } = {}) {
  const token = new URL(tokenUrl);
  let lastByte = null;
  let put = null;
  const windows = [];
  const before = [];
  const writes = [];
  const store = baton.store;
  const originalPut = store.put;
  store.put = async function (...args) {
    const started = performance.now();
    const written = await originalPut.apply(this, args);
    put = { started, ended: performance.now() };
    return written;
  };
  const onTrailers = ({ request }) => {
    if (request.method !== 'POST') return;
    if (`${request.origin}${request.path.split('?')[0]}` !== `${token.origin}${token.pathname}`) return;
    lastByte = performance.now();
  };
  let measuring = false;
  const onRefreshed = (info) => {
    if (info.id !== id || lastByte === null) return;
    if (measuring && put) {
      windows.push(performance.now() - lastByte);
      before.push(put.started - lastByte);
      writes.push(put.ended - put.started);
    }
    lastByte = null;
    put = null;
  };
  diagnostics.subscribe('undici:request:trailers', onTrailers);
  baton.on('refreshed', onRefreshed);
  try {
    for (let i = 0; i < warmup; i++) await baton.refresh(id, { force: true });
    measuring = true;
    while (windows.length < samples) await baton.refresh(id, { force: true });
  } finally {
    store.put = originalPut;
    baton.off('refreshed', onRefreshed);
    diagnostics.unsubscribe('undici:request:trailers', onTrailers);
  }
  const stats = (xs) => ({ p50: percentile(xs, 50), p99: percentile(xs, 99) });
  return {
    ...stats(windows),
    max: Math.max(...windows),
    n: windows.length,
    before: stats(before),
    write: stats(writes),
  };
}

export function rotationTable(rows) {
  const ms = (x) => `${x.toFixed(2)} ms`;
  return [
    '| rotation window, warm process (token endpoint’s last byte → rotated pair committed) | p50 | p99 | max | of which Baton, before the write: p50 / p99 | of which the store’s write: p50 / p99 | samples | target |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.max)} | ${ms(r.before.p50)} / ${ms(r.before.p99)} | ${ms(r.write.p50)} / ${ms(r.write.p99)} | ${r.n} | p99 ≤ 5 ms |`,
    ),
  ].join('\n');
}
