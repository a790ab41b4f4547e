import { spawn } from 'node:child_process';

export interface ShellRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `script` in a real shell (`sh -c`, or `bash --norc --noprofile -c`) with exactly `env`,
 * asynchronously (a command may need a server in this process), killed after `limitMs`.
 */
export function shell(
  script: string,
  opts: { env: Record<string, string>; cwd?: string; bash?: boolean; limitMs: number },
): Promise<ShellRun> {
  const [cmd, args] = opts.bash ? ['bash', ['--norc', '--noprofile', '-c', script]] : ['sh', ['-c', script]];
  return new Promise((done) => {
    const child = spawn(cmd as string, args as string[], {
      cwd: opts.cwd ?? process.cwd(),
      env: opts.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), opts.limitMs);
    child.on('error', (err) => {
      clearTimeout(killer);
      done({ code: null, stdout, stderr: `${stderr}${err}` });
    });
    child.on('close', (code) => {
      clearTimeout(killer);
      done({ code, stdout, stderr });
    });
  });
}
