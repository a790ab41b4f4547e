import { join, resolve } from 'node:path';
import type pg from 'pg';
import { ConfigError } from '../errors.js';
import { MemoryStore } from './memory-store.js';
import { redactUrl } from './redact-url.js';
import { dataDir } from './secret-key.js';
import type { Store } from './store.js';

export { MemoryStore } from './memory-store.js';

// The engines load on first use: a command that reads one SQLite row does not pay for pg.
const sqlite = async (path: string) => (await import('./sqlite/store.js')).SqliteStore.open(path);
const postgres = () => import('./postgres/store.js');

/** A pg.Pool, recognised without loading pg. */
function isPool(value: unknown): value is pg.Pool {
  const v = value as { connect?: unknown; query?: unknown; totalCount?: unknown } | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.connect === 'function' &&
    typeof v.query === 'function' &&
    typeof v.totalCount === 'number'
  );
}

const FORMS = "'memory:', 'sqlite:<path>', 'postgres://user@host/db', a pg.Pool, or a Store";
/** What --store and BATON_STORE accept (a pool or a Store object is for programs). */
const CLI_FORMS = "--store (or BATON_STORE) with 'sqlite:<path>', 'postgres://user@host/db' or 'memory:'";

function isStore(value: unknown): value is Store {
  const v = value as Partial<Store> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.get === 'function' &&
    typeof v.put === 'function' &&
    typeof v.list === 'function'
  );
}

/** The default store: a SQLite file in the user's data directory (BATON_HOME overrides). */
export function defaultStoreSpec(env: NodeJS.ProcessEnv): string {
  return `sqlite:${join(dataDir(env), 'baton.db')}`;
}

/** Opens a store from its spec: what `Baton.open({ store })`, BATON_STORE and `--store` accept. */
export async function openStore(
  spec: string | Store | pg.Pool | undefined,
  opts: { env?: NodeJS.ProcessEnv } = {},
): Promise<Store> {
  const env = opts.env ?? process.env;
  if (isPool(spec)) return (await postgres()).PostgresStore.open(spec);
  if (isStore(spec)) return spec;
  if (spec !== undefined && typeof spec !== 'string') {
    throw new ConfigError('The store option is an object Baton cannot use.', `Use ${FORMS}.`);
  }
  const text = (spec ?? (env['BATON_STORE'] || defaultStoreSpec(env))).trim();
  if (text === 'memory:' || text === 'memory') return new MemoryStore();
  if (/^postgres(ql)?:\/\//i.test(text)) return openPostgres(text);
  if (text.startsWith('sqlite:')) {
    const path = text.replace(/^sqlite:(\/\/)?/, '');
    if (!path)
      throw new ConfigError('The SQLite store spec names no file.', 'Write it as sqlite:./baton.db.');
    return sqlite(path === ':memory:' ? path : resolve(path));
  }
  if (/\.(db|sqlite3?)$/i.test(text)) return sqlite(resolve(text));
  throw new ConfigError(`"${describeStore(text)}" is not a store Baton can open.`, `Use ${FORMS}.`, {
    cliRemediation: `Use ${CLI_FORMS}.`,
  });
}

/**
 * Baton's own URL parameters, taken off before the URL reaches pg: `schema` (default public),
 * `pool_max` (default 10) and `statement_timeout` in ms (default 10000).
 */
async function openPostgres(text: string): Promise<Store> {
  const url = new URL(text);
  const take = (name: string) => {
    const v = url.searchParams.get(name);
    url.searchParams.delete(name);
    return v ?? undefined;
  };
  const schema = take('schema');
  const poolMax = take('pool_max');
  const statementTimeout = take('statement_timeout');
  const number = (name: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) {
      throw new ConfigError(
        `${name}=${v} in the PostgreSQL URL is not a positive integer.`,
        `Fix ${name} in BATON_STORE / --store.`,
        { forOperator: true },
      );
    }
    return n;
  };
  const max = number('pool_max', poolMax);
  const timeout = number('statement_timeout', statementTimeout);
  return (await postgres()).PostgresStore.open(url.toString(), {
    ...(schema ? { schema } : {}),
    ...(max ? { max } : {}),
    ...(timeout ? { statementTimeoutMs: timeout } : {}),
  });
}

/** A label for a store spec that is safe to print (passwords redacted). */
export function describeStore(spec: string | Store | pg.Pool | undefined): string {
  if (spec === undefined) return 'the default SQLite file';
  if (isPool(spec)) return 'a PostgreSQL pool';
  if (typeof spec !== 'string') return `a ${spec.kind} store`;
  if (/^postgres(ql)?:\/\//i.test(spec)) return redactUrl(spec);
  return spec;
}
