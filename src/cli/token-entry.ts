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
  const cli = Cli.fromProcess();
  process.exitCode = await runToken(cli, id, opts);
}
