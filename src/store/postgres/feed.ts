import pg from 'pg';
import type { StoreChangeListener } from '../store.js';
import type { PgRunner } from './runner.js';

/**
 * The change feed on PostgreSQL: every write NOTIFYs the schema's channel in its own statement;
 * one dedicated session LISTENs, and comes back with backoff if it drops.
 */
export class PgChangeFeed {
  /** One NOTIFY channel per schema, so stores in different schemas of a database do not hear each other. */
  readonly channel: string;
  readonly #config: pg.ClientConfig;
  readonly #listeners = new Set<StoreChangeListener>();
  #listener: pg.Client | null = null;
  #reconnectTimer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(runner: PgRunner) {
    this.channel = `baton_${runner.schema}`.slice(0, 63);
    this.#config = runner.clientConfig;
  }

  /** `pg_notify` of a write's (id, version) in SQL, for the statement that writes. */
  notify(id: string, version: string): string {
    return `pg_notify('${this.channel}', json_build_object('id', ${id}, 'version', ${version})::text)`;
  }

  subscribe(listener: StoreChangeListener): () => void {
    this.#listeners.add(listener);
    if (!this.#listener && !this.#reconnectTimer) void this.#listen(0);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  async #listen(attempt: number): Promise<void> {
    this.#reconnectTimer = null;
    if (this.#closed || this.#listeners.size === 0) return;
    const client = new pg.Client({
      ...this.#config,
      application_name: `${this.#config.application_name ?? 'baton'}-listen`,
    });
    let gone = false;
    const retry = () => {
      // 'error' and 'end' both fire for one lost session: reconnect once per client.
      if (gone) return;
      gone = true;
      if (this.#listener === client) this.#listener = null;
      client.removeAllListeners('notification');
      client.end().catch(() => undefined);
      if (this.#closed || this.#reconnectTimer) return;
      const delay = Math.min(5000, 100 * 2 ** attempt);
      this.#reconnectTimer = setTimeout(() => void this.#listen(attempt + 1), delay);
      this.#reconnectTimer.unref();
    };
    client.on('error', retry);
    client.on('end', retry);
    client.on('notification', (msg) => {
      if (msg.channel !== this.channel || !msg.payload) return;
      let id: unknown;
      let version: unknown;
      try {
        ({ id, version } = JSON.parse(msg.payload) as { id: unknown; version: unknown });
      } catch {
        return;
      }
      if (typeof id !== 'string' || (typeof version !== 'number' && version !== null)) return;
      for (const l of this.#listeners) l(id, version);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
      if (this.#closed) {
        await client.end();
        return;
      }
      this.#listener = client;
      attempt = 0;
      // Notifications sent while no session listened are gone — after a lost session, and
      // before the first one was up (a listener may have cached a connection as it subscribed):
      // every cached connection is suspect.
      for (const l of this.#listeners) l(null, null);
    } catch {
      retry();
    }
  }

  /** Resolves once the LISTEN session is up (tests and benchmarks wait on it). */
  async listening(timeoutMs = 5000): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (!this.#listener && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    return this.#listener !== null;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    this.#listeners.clear();
    const l = this.#listener;
    this.#listener = null;
    if (l) {
      l.removeAllListeners('end');
      l.removeAllListeners('error');
      l.on('error', () => undefined);
      await l.end().catch(() => undefined);
    }
  }
}
