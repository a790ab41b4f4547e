import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory-store.js';
import { PostgresStore } from '../../src/store/postgres/store.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { storeContract } from './contract.js';
import { dropSchema, PG_URL, uniqueSchema } from './pg.js';

storeContract(
  'memory',
  async () => new MemoryStore(),
  undefined,
  async (first) => first,
);

const dir = mkdtempSync(join(tmpdir(), 'baton-store-'));
storeContract(
  'sqlite',
  async () => SqliteStore.open(join(dir, 'contract.db')),
  async () => rmSync(dir, { recursive: true, force: true }),
);

if (PG_URL) {
  const schema = uniqueSchema();
  storeContract(
    'postgres',
    () => PostgresStore.open(PG_URL as string, { schema }),
    () => dropSchema(schema),
  );
} else {
  describe('Store contract: postgres', () => {
    it.skip('needs BATON_TEST_POSTGRES_URL (set by .ci/run)', () => undefined);
  });
}
