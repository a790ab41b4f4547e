import type { PgRunner } from './postgres/runner.js';
import type { SqliteRunner } from './sqlite/runner.js';

/**
 * The engine under a built-in SQL store: the runner its tables use, which tables kept beside
 * the connections (the server's) use too, so a process holds one SQLite connection or one
 * PostgreSQL pool per store. The store that opened it closes it.
 */
export type StoreEngine =
  | { readonly kind: 'sqlite'; readonly runner: SqliteRunner }
  | { readonly kind: 'postgres'; readonly runner: PgRunner };
