import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Baton } from '../core/baton.js';
import type { TokenEndpointEvent } from '../core/events.js';
import type { ConnectionStatus } from '../store/store.js';

/**
 * The server's Prometheus metrics, all prefixed `baton_`. Labels are provider ids, statuses,
 * outcomes and error codes: never a connection id, a key or anything from a request.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly releases: Counter<'status'>;
  readonly proxied: Counter<'status'>;
  readonly mcp: Counter<'status'>;
  readonly refreshes: Counter<'provider' | 'outcome'>;
  readonly tokenEndpoint: Histogram<'provider'>;
  readonly cache: Counter<'result'>;
  readonly keeperPass: Histogram;
  readonly auditDropped: Counter<'reason'>;
  readonly #unsubscribe: () => void;

  constructor(baton: Baton) {
    const r = this.registry;
    // prom-client's own names already start process_ / nodejs_: baton_process_cpu_user_seconds_total.
    collectDefaultMetrics({ register: r, prefix: 'baton_' });
    this.auditDropped = new Counter({
      name: 'baton_audit_rows_dropped_total',
      help: 'Audit rows that could not be written: refused by the store while it answered (refused), beyond the queue kept while it was unreachable (overflow), still unwritten when the server stopped (shutdown)',
      labelNames: ['reason'],
      registers: [r],
    });
    for (const reason of ['refused', 'overflow', 'shutdown']) this.auditDropped.inc({ reason }, 0);
    this.releases = new Counter({
      name: 'baton_token_releases_total',
      help: 'Token releases by HTTP status',
      labelNames: ['status'],
      registers: [r],
    });
    this.proxied = new Counter({
      name: 'baton_proxy_requests_total',
      help: 'Proxied requests by HTTP status answered to the caller',
      labelNames: ['status'],
      registers: [r],
    });
    this.mcp = new Counter({
      name: 'baton_mcp_requests_total',
      help: 'MCP requests forwarded at /v1/mcp/{id}, by HTTP status answered to the caller',
      labelNames: ['status'],
      registers: [r],
    });
    this.refreshes = new Counter({
      name: 'baton_refreshes_total',
      help: 'Token refreshes seen by this process, by provider and outcome (refreshed, needs_reauth, or an error code)',
      labelNames: ['provider', 'outcome'],
      registers: [r],
    });
    this.tokenEndpoint = new Histogram({
      name: 'baton_token_endpoint_seconds',
      help: 'Latency of grants at providers’ token endpoints that the provider answered, until the answer was read',
      labelNames: ['provider'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [r],
    });
    this.cache = new Counter({
      name: 'baton_token_cache_total',
      help: 'Token releases answered from the in-memory cache (hit) or not (miss); the hit ratio is hit / (hit + miss)',
      labelNames: ['result'],
      registers: [r],
    });
    this.keeperPass = new Histogram({
      name: 'baton_keeper_pass_seconds',
      help: 'Duration of the keeper’s passes over every connection',
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60],
      registers: [r],
    });
    new Gauge({
      name: 'baton_held_pairs',
      help: 'Rotated token pairs held in memory (and the rescue journal) while the store is unreachable',
      registers: [r],
      collect() {
        this.set(baton.pendingCommits.length);
      },
    });
    let tally: { at: number; rows: [string, ConnectionStatus, number][] } | null = null;
    let tallying: Promise<[string, ConnectionStatus, number][]> | null = null;
    new Gauge({
      name: 'baton_connections',
      help: 'Stored connections by provider and status',
      labelNames: ['provider', 'status'],
      registers: [r],
      // Counted per provider and status by the store's indexes, at most every 30 s: a scrape
      // never reads every connection (README, "Many connections").
      async collect() {
        if (!tally || Date.now() - tally.at > 30_000) {
          tallying ??= countConnections(baton).finally(() => {
            tallying = null;
          });
          tally = { at: Date.now(), rows: await tallying };
        }
        this.reset();
        for (const [provider, status, n] of tally.rows) if (n > 0) this.set({ provider, status }, n);
      },
    });
    const onRefreshed = (info: { provider: string }) =>
      this.refreshes.inc({ provider: info.provider, outcome: 'refreshed' });
    const onReauth = (info: { provider: string }) =>
      this.refreshes.inc({ provider: info.provider, outcome: 'needs_reauth' });
    const onError = (err: { code: string; provider?: string | undefined }) =>
      this.refreshes.inc({ provider: err.provider ?? 'unknown', outcome: err.code });
    // Core tells of every grant at a token endpoint; one the provider never answered has no latency.
    const onTokenEndpoint = (call: TokenEndpointEvent) => {
      if (call.outcome !== 'network_error')
        this.tokenEndpoint.observe({ provider: call.provider }, call.durationMs / 1000);
    };
    baton
      .on('refreshed', onRefreshed)
      .on('needs_reauth', onReauth)
      .on('error', onError)
      .on('token_endpoint', onTokenEndpoint);
    this.#unsubscribe = () => {
      baton
        .off('refreshed', onRefreshed)
        .off('needs_reauth', onReauth)
        .off('error', onError)
        .off('token_endpoint', onTokenEndpoint);
    };
  }

  close(): void {
    this.#unsubscribe();
  }
}

const STATUSES: readonly ConnectionStatus[] = ['active', 'needs_reauth', 'revoked'];

async function countConnections(baton: Baton): Promise<[string, ConnectionStatus, number][]> {
  const rows: [string, ConnectionStatus, number][] = [];
  for (const spec of baton.providers.list()) {
    for (const status of STATUSES)
      rows.push([spec.id, status, await baton.count({ provider: spec.id, status })]);
  }
  return rows;
}
