import { setFlagsFromString } from 'node:v8';
import { runToken, type TokenOptions } from './commands/token.js';
import { Cli } from './runtime.js';

/**
 * `baton token <id>` when the fast path could not answer (a refresh is due, a status to
 * explain, another store engine, a simulator). `npm run build` bundles this file, Baton and its
 * HTTP stack into one CommonJS file, dist/cli/token.cjs, that bin.cjs loads: one file read
 * instead of the ES module loader resolving some hundred (README "Benchmark", cold start).
 */
export async function main(id: string, opts: TokenOptions = {}): Promise<void> {
  // undici parses HTTP with WebAssembly (llhttp). V8 compiles it twice: at once for a baseline,
  // then again optimised on background threads, and the process waits for that second compile
  // before it can exit — about 0.3 s a run on a busy 2-core machine, for a process that sends
  // one request. The baseline is all one request needs.
  setFlagsFromString('--liftoff-only');
  await loadUndici();
  const cli = Cli.fromProcess();
  process.exitCode = await runToken(cli, id, opts);
}

/**
 * undici's cookie helpers read `globalThis.Headers` once as they load, to accept Node's own
 * Headers as well as undici's; on Node 20 that read loads Node's internal copy of undici and
 * compiles its WebAssembly HTTP parser — about 20 ms this process never uses (it sends its one
 * request with the undici it bundles and passes no global Headers to it). The global is hidden
 * only while undici loads, then put back as it was.
 */
async function loadUndici(): Promise<void> {
  const headers = Object.getOwnPropertyDescriptor(globalThis, 'Headers');
  Object.defineProperty(globalThis, 'Headers', { value: undefined, configurable: true, writable: true });
  try {
    await import('undici');
  } finally {
    if (headers) Object.defineProperty(globalThis, 'Headers', headers);
    else delete (globalThis as { Headers?: unknown }).Headers;
  }
}
