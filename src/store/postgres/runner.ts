import pg from 'pg';
import { BatonError, StoreError } from '../../errors.js';
import { postgresFailure } from '../db-errors.js';
import { redactUrl } from '../redact-url.js';

export interface PgRunnerOptions {
  /**
   * Schema for Baton's tables (created if missing). Default: public. Applies to stores opened
   * from a URL; a pool passed in uses its own search_path.
   */
  schema?: string;
  /** application_name of the store's sessions, for pg_stat_activity. */
  applicationName?: string;
  /** Pool size. Default 10. */
  max?: number;
  /** Server-side statement timeout. Default 10 s: a stuck query fails as a StoreError instead of hanging a refresh. */
  statementTimeoutMs?: number;
}

/**
 * The one place PostgreSQL statements run: one pool, shared by every table kept in the schema
 * — the connections and, under `baton serve`, the server's. Each statement is atomic on its
 * own (a write and its outbox events are one statement); a lock another session holds is waited
 * for by the server, bounded by `statement_timeout`. Every failure leaves as a StoreError that
 * says what to do, mapped here once.
 */
export class PgRunner {
  readonly schema: string;
  /** Where it connects, without a password. */
  readonly label: string;
  /** What a dedicated session (the change feed's LISTEN) connects with. */
  readonly clientConfig: pg.ClientConfig;
  readonly #pool: pg.Pool;
  readonly #ownsPool: boolean;

  private constructor(
    pool: pg.Pool,
    ownsPool: boolean,
    label: string,
    config: pg.ClientConfig,
    schema: string,
  ) {
    this.#pool = pool;
    this.#ownsPool = ownsPool;
    this.label = label;
    this.clientConfig = config;
    this.schema = schema;
    // An idle client losing its server (a restart) must not crash the process; the pool
    // replaces it on the next query.
    pool.on('error', () => undefined);
  }

  /** A pool on `target` (a URL: the runner owns the pool; a pool: its owner ends it). Connects lazily. */
  static create(target: string | pg.Pool, options: PgRunnerOptions = {}): PgRunner {
    const schema = options.schema ?? 'public';
    if (!/^[a-z_][a-z0-9_]*$/.test(schema)) {
      throw new StoreError(`"${schema}" is not a usable PostgreSQL schema name.`, {
        remediation: 'Use lower-case letters, digits and underscores.',
      });
    }
    if (typeof target !== 'string') {
      const o = target.options as pg.PoolConfig;
      return new PgRunner(
        target,
        false,
        `${o.host ?? 'localhost'}:${o.port ?? 5432}/${o.database ?? ''}`,
        o,
        schema,
      );
    }
    const config: pg.ClientConfig = {
      connectionString: target,
      application_name: options.applicationName ?? 'baton',
      options: `-c search_path=${schema} -c statement_timeout=${options.statementTimeoutMs ?? 10_000}`,
      connectionTimeoutMillis: 5000,
    };
    return new PgRunner(
      new pg.Pool({ ...config, max: options.max ?? 10 }),
      true,
      redactUrl(target),
      config,
      schema,
    );
  }

  /** Names the database and schema (no password). */
  get location(): string {
    return `${this.label}#${this.schema}`;
  }

  /** One statement from the pool. `op` completes "could not …" in the error. */
  async query<T extends pg.QueryResultRow>(
    op: string,
    text: string,
    params: unknown[] = [],
  ): Promise<pg.QueryResult<T>> {
    try {
      return await this.#pool.query<T>(text, params);
    } catch (err) {
      throw this.fail(op, err);
    }
  }

  /** One session for several statements (a transaction), released after `fn`. */
  async withClient<T>(op: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw this.fail('connect', err);
    }
    try {
      return await fn(client);
    } catch (err) {
      throw this.fail(op, err);
    } finally {
      client.release();
    }
  }

  fail(op: string, err: unknown): StoreError | BatonError {
    // A typed error a table module threw on purpose passes as it is.
    if (err instanceof BatonError) return err;
    const code = (err as { code?: string }).code;
    const hostPort = URL.canParse(this.label) ? new URL(this.label).host : this.label;
    const known = postgresFailure(code, hostPort);
    if (known) {
      return new StoreError(
        `The PostgreSQL store at ${this.label} could not ${op}: ${known.what} (${code}).`,
        {
          cause: err,
          remediation: known.remediation,
          cliRemediation: known.cliRemediation,
        },
      );
    }
    const unreachable =
      code === 'ECONNREFUSED' ||
      code === 'ECONNRESET' ||
      code === 'ETIMEDOUT' ||
      code === 'ENOTFOUND' ||
      code === '57P01' ||
      code === '57P03' ||
      /terminat|Connection terminated|timeout/i.test(String((err as Error)?.message));
    return new StoreError(
      unreachable
        ? `The PostgreSQL store at ${this.label} is unreachable (${code ?? 'connection lost'}) while trying to ${op}.`
        : `The PostgreSQL store at ${this.label} failed to ${op} (${code ?? 'error'}).`,
      {
        cause: err,
        remediation: unreachable
          ? 'Check that PostgreSQL is running and reachable; Baton retries, and keeps new tokens in memory until it is back.'
          : 'Check the database permissions and that `baton migrate`/startup migrations ran (`baton doctor`).',
      },
    );
  }

  /** Ends the pool if this runner made it. */
  async close(): Promise<void> {
    if (this.#ownsPool) await this.#pool.end().catch(() => undefined);
  }
}
