import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * A smoke run of the SIGKILL soak (`npm run soak -- --kill`), so its runner and worker keep
 * working: a few runs on SQLite, each killing a process mid-refresh. The full counts are run by
 * hand (docs/soak.md gives the figures). Needs the build (`npm test` builds first).
 */
describe('SIGKILL soak (smoke)', () => {
  it('three runs on SQLite: every loss is inside the named window', () => {
    expect(existsSync('dist/index.js')).toBe(true);
    const run = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'test/soak/run.ts',
        '--kill',
        '--runs',
        '3',
        '--engine',
        'sqlite',
        '--seed',
        '7',
        '--max-procs',
        '3',
      ],
      { encoding: 'utf8', timeout: 90_000 },
    );
    const out = `${run.stdout}\n${run.stderr}`;
    expect(out).toMatch(
      /SIGKILL soak on sqlite: runs=3 ok=\d+ losses inside the window=\d+ losses outside=0/,
    );
    expect(run.status, out).toBe(0);
  }, 120_000);
});
