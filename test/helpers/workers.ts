import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface Worker {
  child: ChildProcess;
  /** Resolves with the next JSON line the worker prints. */
  next(): Promise<Record<string, unknown>>;
  send(line: string): void;
}

export function spawnWorker(script: string, env: Record<string, string>): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const w = waiters.shift();
    if (w) w(line);
    else lines.push(line);
  });
  return {
    child,
    send: (line) => child.stdin?.write(`${line}\n`),
    next: () =>
      new Promise((resolve, reject) => {
        const take = (line: string) => {
          try {
            resolve(JSON.parse(line) as Record<string, unknown>);
          } catch {
            reject(new Error(`worker printed ${line}\n${stderr}`));
          }
        };
        const ready = lines.shift();
        if (ready !== undefined) return take(ready);
        waiters.push(take);
        child.once('exit', (code) => reject(new Error(`worker exited ${code}: ${stderr.slice(-2000)}`)));
      }),
  };
}
