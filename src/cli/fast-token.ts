import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { peekAccessToken } from '../core/peek.js';
import { defaultStoreSpec } from '../store/index.js';
import { dataDir } from '../store/secret-key.js';
import { noAccessToken } from './commands/token.js';
import { resolveConfig } from './config.js';
import { batonOptions } from './options.js';
import { plainReporter, reportError } from './runtime.js';

/**
 * `baton token <id>` when the stored token needs nothing: read it (SQLite or PostgreSQL store)
 * and print it; for a static connection (API key, token pair), the command's "no access token"
 * error. Bundled into dist/cli/bin.cjs so a shell script's `$(baton token alice)` does not
 * pay for the ES module loader on thirty files (docs/benchmarks.md, cold start). Anything
 * else — a refresh due, a missing store or key, a simulator, any error — is not answered and the
 * full command runs and explains: `needs-baton` when the store was read and Baton must act (a
 * refresh, a status to explain), `declined` when it was not.
 */
export async function fastToken(
  id: string,
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<'answered' | 'needs-baton' | 'declined'> {
  try {
    const config = resolveConfig({}, env, cwd);
    if (config.simulator) return 'declined';
    const home = env['BATON_HOME'];
    if (home && existsSync(home) && !statSync(home).isDirectory()) return 'declined';
    const store = config.store ?? defaultStoreSpec(env);
    const sqlite = /^sqlite:(\/\/)?(.+)$/.exec(store.trim())?.[2];
    const postgres = /^postgres(ql)?:\/\//i.test(store.trim());
    if (!postgres && (!sqlite || sqlite === ':memory:' || !existsSync(resolve(sqlite)))) return 'declined';
    // pg asks whether it runs in a Cloudflare Worker by constructing a `Response` unless
    // `navigator.userAgent` answers, and that loads Node's own fetch and compiles its
    // WebAssembly HTTP parser, which this process never uses. Node 21+ defines navigator; this
    // process is short-lived and sends no request, so on Node 20 it says what Node 21 would.
    if (postgres && typeof (globalThis as { navigator?: unknown }).navigator !== 'object')
      Object.defineProperty(globalThis, 'navigator', {
        value: { userAgent: `Node.js/${process.versions.node.split('.')[0]}` },
        configurable: true,
      });
    if (!env['BATON_SECRET_KEY']) {
      const keyFile = config.keyFile ?? env['BATON_KEY_FILE'] ?? join(dataDir(env), 'secret.key');
      if (!existsSync(keyFile)) return 'declined';
    }
    const peeked = await peekAccessToken(batonOptions(config, env), id);
    if (!peeked) return 'needs-baton';
    if ('staticMode' in peeked) {
      // The full command's own error and printer: the same words, remediation and exit code 1.
      const error = noAccessToken(id, peeked.staticMode, peeked.provider);
      process.exitCode = reportError(plainReporter(env, config), error);
      return 'answered';
    }
    process.stdout.write(`${peeked.accessToken}\n`);
    return 'answered';
  } catch {
    return 'declined';
  }
}
