import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/program.js';
import { tempDir } from '../helpers/env.js';
import { shell } from '../helpers/shell.js';
import { type World, world } from '../helpers/sim-baton.js';
import { BIN, run } from './run.js';

/**
 * `baton completion bash` in a real bash, as the README's "Shell completion" says to use it:
 * the script sourced, `baton` on PATH (a shim to the built executable, as `npm link` makes),
 * and the completion function called the way bash calls it (COMP_WORDS / COMP_CWORD).
 */
let w: World;
let dir: string;
let cleanup: () => void;
let env: Record<string, string>;
let script: string;
const IDS = ['acme-billing', 'acme-payroll', 'beta-ops'];
/** More than `baton list`'s first page (100), all sorting before IDS. */
const MANY = Array.from({ length: 105 }, (_, i) => `aaa-${String(i).padStart(3, '0')}`);

beforeAll(async () => {
  w = await world();
  for (const id of [...MANY, ...IDS])
    await w.baton.connect({ provider: 'checkissuing', connectionId: id, params: { environment: 'sandbox' } });
  ({ dir, cleanup } = tempDir());
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'baton'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`, { mode: 0o755 });
  env = {
    BATON_HOME: join(dir, 'home'),
    BATON_STORE: `sqlite:${w.dbPath}`,
    BATON_SECRET_KEY: w.secretKey,
    BATON_SIMULATOR: w.sim.url,
    NO_COLOR: '1',
    PATH: `${bin}:${process.env['PATH']}`,
  };
  const made = await run(['completion', 'bash'], env);
  expect(made.code, made.stderr).toBe(0);
  script = join(dir, 'baton.bash');
  writeFileSync(script, made.stdout);
});

afterAll(async () => {
  await w.close();
  cleanup();
});

/** Runs bash (asynchronously: `baton list` may ask the simulator, which runs in this process). */
async function bash(
  source: string,
  extraEnv: Record<string, string> = {},
): Promise<{ code: number | null; out: string; err: string }> {
  const r = await shell(source, { env: { ...env, ...extraEnv }, bash: true, limitMs: 25_000 });
  return { code: r.code, out: r.stdout, err: r.stderr };
}

/** What the completion function offers for the words typed so far (the last one being completed). */
async function complete(words: string[], extraEnv: Record<string, string> = {}): Promise<string[]> {
  const quoted = words.map((w) => `'${w}'`).join(' ');
  const r = await bash(
    `source '${script}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _baton; printf '%s\\n' "\${COMPREPLY[@]}"`,
    extraEnv,
  );
  expect(r.code, r.err).toBe(0);
  return r.out.split('\n').filter(Boolean);
}

describe('baton completion bash, in bash', () => {
  it('registers _baton for the baton command, from a file and from `source <(baton completion bash)`', async () => {
    const file = await bash(`source '${script}'; complete -p baton`);
    expect(file.out.trim()).toBe('complete -F _baton baton');
    const inline = await bash('source <(baton completion bash); complete -p baton');
    expect(inline.err).toBe('');
    expect(inline.out.trim()).toBe('complete -F _baton baton');
  });

  it('completes every command at the first word, and by prefix', async () => {
    const all = await complete(['baton', '']);
    expect(all).toEqual(expect.arrayContaining([...COMMANDS]));
    expect(await complete(['baton', 're'])).toEqual(COMMANDS.filter((c) => c.startsWith('re')));
  });

  it('completes stored connection ids, read through `baton list`, for the commands that take one', async () => {
    // All past `baton list`'s first page (the 105 aaa- ids sort first): the word typed goes to
    // the store as --prefix, so they are found all the same.
    expect((await complete(['baton', 'show', 'ac'])).sort()).toEqual(['acme-billing', 'acme-payroll']);
    expect((await complete(['baton', 'token', 'aaa-10'])).sort()).toEqual(MANY.slice(100));
    expect(await complete(['baton', 'refresh', 'be'])).toEqual(['beta-ops']);
    // Nothing typed: the first page.
    expect((await complete(['baton', 'remove', ''])).sort()).toEqual(MANY.slice(0, 100));
    expect(await complete(['baton', 'show', 'zzz'])).toEqual([]);
  });

  it('completes providers, subcommands and flags', async () => {
    expect(await complete(['baton', 'connect', 'cr'])).toEqual(['cronofy']);
    expect(await complete(['baton', 'config', ''])).toEqual(['get', 'set', 'list']);
    expect(await complete(['baton', 'completion', 'z'])).toEqual(['zsh']);
    expect(await complete(['baton', 'list', '--st'])).toEqual(['--store']);
    expect(await complete(['baton', 'mcp', ''])).toEqual(['connect', 'list', 'show']);
    expect(await complete(['baton', 'mcp', 's'])).toEqual(['show']);
    // `mcp show` offers MCP connections only: none of these is one.
    expect(await complete(['baton', 'mcp', 'show', ''])).toEqual([]);
  });

  it('offers no ids, and prints nothing, when `baton` is not on PATH (why the README says to npm link)', async () => {
    const r = await bash(
      `source '${script}'; COMP_WORDS=(baton show ''); COMP_CWORD=2; _baton; echo "[\${COMPREPLY[*]}]"`,
      { PATH: '/usr/bin:/bin' },
    );
    expect(r.out).toBe('[]\n');
    expect(r.err).toBe('');
  });
});
