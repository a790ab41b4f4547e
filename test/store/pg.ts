import pg from 'pg';

export const PG_URL = process.env['BATON_TEST_POSTGRES_URL'];

export function uniqueSchema(): string {
  return `baton_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}

export async function sql(text: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return await client.query(text, params);
  } finally {
    await client.end();
  }
}

export interface Engine {
  name: string;
  /** A fresh store of this engine: its spec (undefined: the default SQLite file), and how to drop it. */
  store(): { spec: string | undefined; drop(): Promise<void> };
}

/** Memory, SQLite, and PostgreSQL when BATON_TEST_POSTGRES_URL is set (a unique schema each). */
export function storeEngines(): Engine[] {
  const engines: Engine[] = [
    { name: 'memory', store: () => ({ spec: 'memory:', drop: async () => undefined }) },
    { name: 'sqlite', store: () => ({ spec: undefined, drop: async () => undefined }) },
  ];
  if (PG_URL) {
    engines.push({
      name: 'postgres',
      store: () => {
        const schema = uniqueSchema();
        const u = new URL(PG_URL as string);
        u.searchParams.set('schema', schema);
        return { spec: u.toString(), drop: () => dropSchema(schema) };
      },
    });
  }
  return engines;
}
