import { mkdirSync, readFileSync, realpathSync, symlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/env.js';
import { type ShellRun, shell } from '../helpers/shell.js';
import { blocksUnder, commands, readme } from './markdown.js';

/**
 * The README's setup and PATH commands, run as written in a fresh `git clone` of this
 * repository: if they stop working, or stop printing what the README says they print, this
 * fails. The clone shares this checkout's node_modules (a symlink), so `npm install` — which
 * installs from the lockfile and then builds dist/ through the `prepare` script — is run as its
 * build step, `npm run build`; `npm test` is this suite and is not run again.
 */
const LIMIT_MS = 150_000;
let root: string;
let clone: string;
let prefix: string;
let cleanup: () => void;
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  version: string;
  scripts: Record<string, string>;
};

function sh(command: string, env: Record<string, string> = {}, cwd = clone): Promise<ShellRun> {
  return shell(command, {
    cwd,
    limitMs: LIMIT_MS,
    env: {
      HOME: join(root, 'home'),
      BATON_HOME: join(root, 'baton-home'),
      PATH: `${dirname(process.execPath)}:/usr/bin:/bin`,
      NO_COLOR: '1',
      // Nothing here needs the registry; never wait for it.
      npm_config_offline: 'true',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
      ...env,
    },
  });
}

beforeAll(async () => {
  ({ dir: root, cleanup } = tempDir('baton-readme-'));
  clone = join(root, 'clone');
  prefix = join(root, 'prefix');
  mkdirSync(join(root, 'home'));
  const cloned = await sh(`git clone --quiet '${resolve('.')}' '${clone}'`, {}, root);
  expect(cloned.code, cloned.stderr).toBe(0);
  symlinkSync(realpathSync('node_modules'), join(clone, 'node_modules'));
}, LIMIT_MS);

afterAll(() => cleanup?.());

describe("the README's commands, in a fresh clone", () => {
  it(
    '"From a clone": npm install (its build), then npx baton demo prints the Quick start excerpt',
    async () => {
      const setup = commands(blocksUnder(readme(), 'From a clone', 'sh')[0] as string);
      expect(setup).toEqual(['npm install', 'npx baton demo', 'npm test']);
      // `npm install` builds through `prepare`; the install itself is the shared node_modules.
      expect(pkg.scripts['prepare']).toBe('npm run build');
      const built = await sh('npm run build');
      expect(built.code, built.stderr).toBe(0);

      const demo = await sh(setup[1] as string);
      expect(demo.code, demo.stderr).toBe(0);
      const excerpt = blocksUnder(readme(), 'Quick start', 'text')[0] as string;
      const expected = excerpt
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
      expect(expected.length).toBeGreaterThan(5);
      const printed = demo.stdout.split('\n').map((l) => l.trim());
      expect(expected.filter((l) => !printed.includes(l))).toEqual([]);
    },
    LIMIT_MS,
  );

  it(
    '"Put baton on your PATH": npm link puts `baton` on PATH, and it runs',
    async () => {
      const steps = commands(blocksUnder(readme(), 'Put `baton` on your PATH', 'sh')[0] as string);
      expect(steps).toEqual(['npm link', 'baton --version']);
      // npm's global prefix is a temporary one; dist/ was built by the test above, so npm link's
      // `prepare` (the same build again) is skipped.
      const env = {
        npm_config_prefix: prefix,
        npm_config_ignore_scripts: 'true',
        PATH: `${join(prefix, 'bin')}:${dirname(process.execPath)}:/usr/bin:/bin`,
      };
      const before = await sh('command -v baton', env);
      expect(before.code).not.toBe(0); // not on PATH until linked
      const linked = await sh(steps[0] as string, env);
      expect(linked.code, linked.stderr).toBe(0);
      expect((await sh('command -v baton', env)).stdout.trim()).toBe(join(prefix, 'bin', 'baton'));
      const version = await sh(steps[1] as string, env);
      expect(version.code, version.stderr).toBe(0);
      expect(version.stdout.trim()).toBe(pkg.version);
      // Everywhere, not only in the clone.
      const elsewhere = await sh(`cd '${root}' && baton providers --json`, env);
      expect(elsewhere.code, elsewhere.stderr).toBe(0);
      expect(elsewhere.stdout).toContain('cronofy');
      // The README's undo.
      const undo = /Undo with\s+`([^`]+)`/.exec(readme())?.[1];
      expect(undo).toBe('npm unlink -g baton-oauth');
      const unlinked = await sh(undo as string, env);
      expect(unlinked.code, unlinked.stderr).toBe(0);
      expect((await sh('command -v baton', env)).code).not.toBe(0);
    },
    LIMIT_MS,
  );
});
