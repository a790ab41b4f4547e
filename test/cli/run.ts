import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import type { Simulator } from '../../src/simulator/index.js';

/** The `baton` executable as installed (package.json "bin"). */
export const BIN = resolve('dist/cli/bin.cjs');

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The process outlived its hard limit and was killed: a command that does not exit. */
  timedOut: boolean;
}

/** Every spawn is killed after this long: a command that never exits fails its test instead of hanging. */
export const HARD_LIMIT_MS = 30_000;

/** Every byte any command printed in this test file, for the secrets scan. */
export const transcript: string[] = [];

export function start(
  args: string[],
  env: Record<string, string>,
  cwd?: string,
  limitMs = HARD_LIMIT_MS,
): { child: ChildProcess; done: Promise<Ran>; stderrSoFar(): string } {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env['PATH'] ?? '', NO_COLOR: '1', ...env },
    cwd: cwd ?? process.cwd(),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  let timedOut = false;
  const limit = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, limitMs);
  const done = new Promise<Ran>((resolveDone) => {
    child.on('close', (code) => {
      clearTimeout(limit);
      transcript.push(stdout, stderr);
      resolveDone({ code, stdout, stderr, timedOut });
    });
  });
  return { child, done, stderrSoFar: () => stderr };
}

export async function run(
  args: string[],
  env: Record<string, string>,
  input?: string | Buffer,
  cwd?: string,
  limitMs?: number,
): Promise<Ran> {
  const p = start(args, env, cwd, limitMs);
  p.child.stdin?.on('error', () => undefined); // a command may exit before reading its input
  p.child.stdin?.end(input ?? '');
  return p.done;
}

/** Waits until the process has printed something matching `pattern` on stderr. */
export async function waitFor(
  p: ReturnType<typeof start>,
  pattern: RegExp,
  ms = 10_000,
): Promise<RegExpExecArray> {
  const until = Date.now() + ms;
  for (;;) {
    const m = pattern.exec(p.stderrSoFar());
    if (m) return m;
    if (Date.now() > until)
      throw new Error(`timed out waiting for ${pattern}; stderr so far:\n${p.stderrSoFar()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The client and API secrets a simulator issued: planted secrets no command may print. */
export function simulatorSecrets(sim: Simulator): string[] {
  return Object.values(sim.discovery().vendors).flatMap((v) => [
    ...v.clients.map((c) => c.clientSecret),
    ...v.apiKeys.flatMap((k) => (k.apiSecret ? [k.apiSecret] : [])),
  ]);
}
