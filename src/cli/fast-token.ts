import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { peekAccessToken } from '../core/peek.js';
import { defaultStoreSpec } from '../store/index.js';
import { dataDir } from '../store/secret-key.js';
import { resolveConfig } from './config.js';
import { batonOptions } from './options.js';

/**
 * `baton token <id>` when the stored token needs nothing: read it and print it. Built into one
 * CommonJS file (dist/cli/fast-token.cjs) so a shell script's `$(baton token alice)` does not
 * pay for the ES module loader on thirty files (docs/benchmarks.md, cold start). Anything
 * else — a refresh due, a missing store or key, a simulator, any error — answers false and the
 * full command runs and explains.
 */
export async function fastToken(id: string, env: NodeJS.ProcessEnv, cwd: string): Promise<boolean> {
  try {
    const config = resolveConfig({}, env, cwd);
    if (config.simulator) return false;
    const home = env['BATON_HOME'];
    if (home && existsSync(home) && !statSync(home).isDirectory()) return false;
    const store = config.store ?? defaultStoreSpec(env);
    const sqlite = /^sqlite:(\/\/)?(.+)$/.exec(store.trim())?.[2];
    if (!sqlite || sqlite === ':memory:' || !existsSync(resolve(sqlite))) return false;
    if (!env['BATON_SECRET_KEY']) {
      const keyFile = config.keyFile ?? env['BATON_KEY_FILE'] ?? join(dataDir(env), 'secret.key');
      if (!existsSync(keyFile)) return false;
    }
    const token = await peekAccessToken(batonOptions(config, env), id);
    if (token === undefined) return false;
    process.stdout.write(`${token}\n`);
    return true;
  } catch {
    return false;
  }
}
