#!/usr/bin/env node
/**
 * The `baton` executable. `npm run build` bundles this file and what it imports into one
 * CommonJS file, dist/cli/bin.cjs, so `$(baton token alice)` with a token that needs nothing
 * runs without the ES module loader (docs/benchmarks.md, cold start). A token that must be
 * refreshed or explained runs dist/cli/token.cjs, a second bundle holding Baton; every other
 * command runs the full CLI in main.js.
 */
async function bin(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.length === 2 && argv[0] === 'token' && !argv[1]?.startsWith('-')) {
    const id = argv[1] as string;
    // Bundled in, but evaluated only here: other commands do not pay for the store modules.
    const { fastToken } = await import('./fast-token.js');
    const fast = await fastToken(id, process.env, process.cwd());
    if (fast === 'answered') return;
    // In the bundle `require` loads the token bundle; run from dist/cli/bin.js, the ES modules.
    const entry: typeof import('./token-entry.js') =
      typeof require === 'function' ? require('./token.cjs') : await import('./token-entry.js');
    return entry.main(id, { peeked: fast === 'needs-baton' });
  }
  await import('./main.js');
}

void bin();
