import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * What someone outside this clone does (README, installing from the repository): `npm pack`
 * here, `npm install <tarball>` in their project. Offline, from the npm cache this clone's
 * install filled: the cache holds the dependencies' tarballs but not the registry's package
 * documents a fresh resolution asks for, so the consumer project is given a lockfile made from
 * this clone's (the same versions, production entries only). better-sqlite3's install step
 * finds its binding as a local prebuild (prebuild-install's `local-prebuilds`), made from the
 * one this clone compiled, instead of compiling it again for minutes.
 */
const root = resolve('.');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  dependencies: Record<string, string>;
  engines: Record<string, string>;
  allowScripts: Record<string, boolean>;
  scripts: Record<string, string>;
};
let dir: string;
let project: string;
let tarball: string;
const env: Record<string, string> = {
  PATH: process.env['PATH'] ?? '',
  HOME: process.env['HOME'] ?? '',
  NO_COLOR: '1',
};

function sh(cmd: string, args: string[], cwd: string, extra: Record<string, string> = {}) {
  const r = spawnSync(cmd, args, { cwd, env: { ...env, ...extra }, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'baton-install-'));
  // Packed as its README says, with its scripts, from a clone of this repository's HEAD (so the
  // working tree's package.json is never rewritten under the other tests): prepack builds dist/
  // and takes `prepare` out of the packed manifest, postpack puts it back.
  const clone = join(dir, 'clone');
  expect(sh('git', ['clone', '-q', root, clone], dir).code).toBe(0);
  symlinkSync(join(root, 'node_modules'), join(clone, 'node_modules'));
  const packed = sh('npm', ['pack', '--json', '--pack-destination', dir], clone);
  expect(packed.code, packed.stderr).toBe(0);
  expect(
    sh('git', ['diff', '--exit-code', 'package.json'], clone).code,
    'postpack restores package.json',
  ).toBe(0);
  const listing = packed.stdout.slice(packed.stdout.search(/^\[/m));
  tarball = join(dir, (JSON.parse(listing) as { filename: string }[])[0]?.filename as string);
  project = join(dir, 'consumer');
  mkdirSync(project);
  const spec = `file:${tarball}`;
  // The consumer's own policy (npm 11 asks each project to approve install scripts): the README
  // tells them to allow better-sqlite3's, which fetches or builds the SQLite binding.
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({
      name: 'consumer',
      version: '1.0.0',
      private: true,
      type: 'module',
      dependencies: { [pkg.name]: spec },
      allowScripts: { 'better-sqlite3': true },
    }),
  );
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; link?: boolean }>;
  };
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', version: '1.0.0', dependencies: { [pkg.name]: spec } },
    [`node_modules/${pkg.name}`]: {
      version: pkg.version,
      resolved: spec,
      integrity: `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`,
      dependencies: pkg.dependencies,
      bin: { baton: 'dist/cli/bin.cjs' },
      engines: pkg.engines,
    },
  };
  for (const [path, entry] of Object.entries(lock.packages))
    if (path && !entry.dev && !entry.link) packages[path] = entry;
  writeFileSync(
    join(project, 'package-lock.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages }),
  );
  const sqlite = JSON.parse(readFileSync(join(root, 'node_modules/better-sqlite3/package.json'), 'utf8')) as {
    version: string;
  };
  const prebuilds = join(dir, 'prebuilds');
  mkdirSync(prebuilds);
  const name = `better-sqlite3-v${sqlite.version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  const tar = sh(
    'tar',
    ['czf', join(prebuilds, name), 'build/Release/better_sqlite3.node'],
    join(root, 'node_modules/better-sqlite3'),
  );
  expect(tar.code, tar.stderr).toBe(0);
  // Read by prebuild-install from the consumer project upwards (an environment variable would
  // make npm itself warn about an unknown config).
  writeFileSync(join(project, '.prebuild-installrc'), `local-prebuilds=${prebuilds}\n`);
}, 120_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('installing the packed tarball into another project', () => {
  it('npm install --offline prints no warning', () => {
    const r = sh('npm', ['install', '--offline', '--no-audit', '--no-fund', tarball], project);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    // A clone's `npm install` builds dist/ (prepare); the packed package has no script to approve.
    const manifest = sh('tar', ['xzf', tarball, '-O', 'package/package.json'], dir);
    const packedScripts = (JSON.parse(manifest.stdout) as { scripts: Record<string, string> }).scripts;
    expect(Object.keys(packedScripts)).not.toContain('prepare');
    expect(pkg.scripts['prepare']).toBe('npm run build');
    expect(r.stdout).toMatch(/added \d+ packages/);
  }, 180_000);

  it('the baton bin answers --help and runs the demo', () => {
    const help = sh(join(project, 'node_modules/.bin/baton'), ['--help'], project);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/Usage: baton/);
    const demo = sh('npx', ['--offline', 'baton', 'demo'], project);
    expect(demo.code, demo.stderr).toBe(0);
    expect(demo.stdout).toMatch(/Demo complete/);
  }, 120_000);

  it('baton-oauth/simulator exports connectSimulator, whose default redirect URI completes a consent', () => {
    writeFileSync(
      join(project, 'flow.js'),
      `import { Baton } from 'baton-oauth';
import { connectSimulator, startSimulator } from 'baton-oauth/simulator';
const sim = await startSimulator();
const baton = await Baton.open({ ...(await connectSimulator(sim.url)), store: 'memory:', secretKey: '${Buffer.alloc(32, 7).toString('base64')}', env: {} });
const { url } = await baton.beginAuthorization({ provider: 'cronofy', connectionId: 'alice', params: { dataCenter: 'us' } });
const consent = await fetch(url + '&sim_decision=approve', { redirect: 'manual' });
const callbackUrl = consent.headers.get('location');
const page = await fetch(callbackUrl);
const info = await baton.completeAuthorization({ callbackUrl });
console.log(JSON.stringify({ callback: new URL(callbackUrl).pathname, page: page.status, status: info.status }));
await baton.close();
await sim.close();
`,
    );
    const r = sh(process.execPath, ['flow.js'], project);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ callback: '/callback', page: 200, status: 'active' });
  }, 60_000);
});
