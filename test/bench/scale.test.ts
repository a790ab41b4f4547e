import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/env.js';
import { PG_URL } from '../store/pg.js';

const SIZE = 10_000;

interface Result {
  engine: string;
  size: number;
  dueCount: number;
  stored: number;
  samples: number;
  samplesOpen: number;
  keyIdsBefore: { keyId: string; connections: number }[];
  keeperIdle: { run: { checked: number; refreshed: string[]; failed: unknown[] } };
  dueQuery: { ids: string[]; expected: string[] };
  keeperDue: {
    run: { checked: number; refreshed: string[]; failed: unknown[]; skippedByLimit: number; leased: number };
    tokenCalls: number;
  };
  keeperAfter: { checked: number; refreshed: number };
  list: { firstPage: string[]; middlePage: string[]; filteredPage: string[] };
  memory: { warmed: number; heapMB: number; bytesPerConnection: number; readsWhenWarm: number };
  rekey: {
    rekeyed: number;
    verified: boolean;
    failed: number;
    newKeyId: string;
    keyIdsAfter: { keyId: string; connections: number }[];
  };
}

/** `npm run bench -- --scale` at 10 k, as CI runs it: the figures are not checked, what they measured is. */
function scaleBench(engines: string[], out: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['bench/run.mjs', '--scale', '--sizes', String(SIZE), '--engines', engines.join(','), '--json', out],
      {
        env: { ...process.env, BATON_BENCH_POSTGRES_URL: PG_URL ?? '' },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

const id = (prefix: string, i: number, width: number) => `${prefix}${String(i).padStart(width, '0')}`;

describe('the scale benchmark at 10 k connections', () => {
  it(`generates, queries, refreshes, pages, warms and rekeys correctly on ${PG_URL ? 'SQLite and PostgreSQL' : 'SQLite'}`, async () => {
    const { dir, cleanup } = tempDir();
    try {
      const out = join(dir, 'results.json');
      const engines = PG_URL ? ['sqlite', 'postgres'] : ['sqlite'];
      const ran = await scaleBench(engines, out);
      expect(ran.code, ran.stderr).toBe(0);
      const results = JSON.parse(readFileSync(out, 'utf8')) as Result[];
      expect(results.map((r) => r.engine)).toEqual(engines);
      for (const r of results) {
        const due = Array.from({ length: SIZE / 1000 }, (_, i) => id('due-', i, 5));
        expect(r.dueCount).toBe(due.length);
        // Every row stored, sealed under the one key, and a sample opens to what was generated.
        expect(r.stored).toBe(SIZE);
        expect(r.keyIdsBefore).toEqual([{ keyId: expect.any(String), connections: SIZE }]);
        expect(r.samples).toBeGreaterThan(0);
        expect(r.samplesOpen).toBe(r.samples);
        // Nothing due: the keeper looks at nothing.
        expect(r.keeperIdle.run).toMatchObject({ checked: 0, refreshed: [], failed: [] });
        // 0.1 % due: the index finds exactly those, the keeper refreshes each once.
        expect([...r.dueQuery.ids].sort()).toEqual(due);
        expect(r.dueQuery.expected).toEqual(due);
        expect(r.keeperDue.run).toMatchObject({
          checked: due.length,
          refreshed: due,
          failed: [],
          skippedByLimit: 0,
          leased: 0,
        });
        expect(r.keeperDue.tokenCalls).toBe(due.length);
        expect(r.keeperAfter).toEqual({ checked: 0, refreshed: 0 });
        // Pages in id order, from the start and from the middle; a filtered page holds only matches.
        const synthetic = (from: number, n: number) =>
          Array.from({ length: n }, (_, i) => id('s-', from + i, 7));
        expect(r.list.firstPage).toEqual([...due, ...synthetic(0, 100 - due.length)]);
        expect(r.list.middlePage).toEqual(synthetic(SIZE / 2 + 1, 100));
        expect(r.list.filteredPage.length).toBeGreaterThan(0);
        expect(new Set(r.list.filteredPage)).toEqual(new Set(['checkfront/needs_reauth']));
        // A warm cache answers without the store.
        expect(r.memory.warmed).toBeGreaterThan(SIZE * 0.9);
        expect(r.memory.readsWhenWarm).toBe(0);
        expect(r.memory.heapMB).toBeGreaterThan(0);
        // Rekey: every row re-sealed under the new key, verified.
        expect(r.rekey).toMatchObject({ rekeyed: SIZE, verified: true, failed: 0 });
        expect(r.rekey.keyIdsAfter).toEqual([{ keyId: r.rekey.newKeyId, connections: SIZE }]);
        expect(r.rekey.newKeyId).not.toBe(r.keyIdsBefore[0]?.keyId);
      }
    } finally {
      cleanup();
    }
  }, 600_000);
});
