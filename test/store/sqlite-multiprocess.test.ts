import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/store/sqlite/schema.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';

const dir = mkdtempSync(join(tmpdir(), 'baton-sqlite-mp-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function worker(
  path: string,
  count: number,
  startAt: number,
): Promise<{ done: number; conflicts: number; created: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/fixtures/sqlite-cas-worker.ts', path, String(count), String(startAt)],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`worker exited ${code}: ${err}`)),
    );
  });
}

describe('SQLite shared by processes', () => {
  it('processes racing to create and migrate a new file agree, and no compare-and-swap update is lost', async () => {
    const path = join(dir, 'fresh.db');
    // Workers race to create the file, migrate it and insert the counter, all at once.
    const runs = Array.from({ length: 4 }, () => worker(path, 50, Date.now() + 1500));
    const results = await Promise.all(runs);
    const store = await SqliteStore.open(path);
    const counter = await store.get('counter');
    expect(results.reduce((n, r) => n + r.done, 0)).toBe(200);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(counter?.sealed).toBe('200');
    expect(counter?.version).toBe(201);
    expect(store.schemaVersion).toBe(MIGRATIONS.length);
    await store.close();
  }, 60_000);
});
