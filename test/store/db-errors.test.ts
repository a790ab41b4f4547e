import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/errors.js';
import { openStore } from '../../src/store/index.js';
import { PG_URL } from './pg.js';

/**
 * The common store failures are sentences: what is wrong and what to do, with the raw code in
 * brackets — never a bare SQLSTATE and a remedy for another problem (README, troubleshooting).
 */
async function failure(spec: string): Promise<StoreError> {
  const err = await openStore(spec).then(
    async (s) => {
      await s.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StoreError);
  return err as StoreError;
}

const dir = mkdtempSync(join(tmpdir(), 'baton-db-errors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SQLite failures', () => {
  it('a file that is not a database', async () => {
    writeFileSync(join(dir, 'text.db'), 'not a database at all, just text');
    const err = await failure(`sqlite:${join(dir, 'text.db')}`);
    expect(err.message).toMatch(/could not open: the file is not a SQLite database \(SQLITE_NOTADB\)\.$/);
    expect(err.remediation).toMatch(/restore it from a backup/);
    expect(err.cliRemediation).toMatch(/^Point --store \(or BATON_STORE\) at Baton's database file/);
  });

  it('a path whose directory is a file', async () => {
    writeFileSync(join(dir, 'plain'), 'x');
    const err = await failure(`sqlite:${join(dir, 'plain', 'baton.db')}`);
    expect(err.message).toMatch(/could not open: the file cannot be opened or created there/);
    expect(err.remediation).toMatch(/Make the directory of .* writable by this user, or point the store URL/);
  });
});

describe.skipIf(!PG_URL)('PostgreSQL failures', () => {
  const url = new URL(PG_URL as string);
  it('a user the server does not know (28000)', async () => {
    const err = await failure(`postgres://no_such_user_baton@${url.host}${url.pathname}`);
    expect(err.message).toMatch(
      /could not connect: the server refused the user name or password \(28000\)\.$/,
    );
    expect(err.remediation).toMatch(/^Check the user and password in the store URL/);
    expect(err.cliRemediation).toMatch(/^Check the user and password in --store \(or BATON_STORE\)/);
    expect(`${err.message} ${err.remediation}`).not.toMatch(/migrations ran/);
  });

  it('a database that does not exist (3D000)', async () => {
    const err = await failure(`postgres://${url.username}@${url.host}/no_such_db_baton`);
    expect(err.message).toMatch(/the database it names does not exist \(3D000\)\.$/);
    expect(err.remediation).toMatch(/^Create the database \(createdb <name>\)/);
  });
});

describe('PostgreSQL network failures (no server needed)', () => {
  it('connection refused', async () => {
    const err = await failure('postgres://postgres:pw-planted-991@127.0.0.1:1/x');
    expect(err.message).toMatch(
      /the server is unreachable: nothing accepts connections at 127\.0\.0\.1:1 \(ECONNREFUSED\)/,
    );
    expect(err.remediation).toMatch(/^Start PostgreSQL, or fix the host and port/);
    expect(`${err.message} ${err.remediation}`).not.toContain('pw-planted-991');
  });

  it('a host that is not found', async () => {
    const err = await failure('postgres://postgres@nonexistent.invalid/x');
    expect(err.message).toMatch(
      /the host of nonexistent\.invalid is not found \(DNS\) \(E(NOTFOUND|AI_AGAIN)\)/,
    );
  });
});
