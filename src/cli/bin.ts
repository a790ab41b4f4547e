#!/usr/bin/env node
/**
 * The `baton` executable. `npm run build` bundles this file and what it imports into one
 * CommonJS file, dist/cli/bin.cjs, so `$(baton token alice)` with a token that needs nothing
 * runs without the ES module loader (docs/benchmarks.md, cold start). Every other command —
 * and a token that must be refreshed or explained — runs the full CLI in main.js.
 */
async function bin(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.length === 2 && argv[0] === 'token' && !argv[1]?.startsWith('-')) {
    // Bundled in, but evaluated only here: other commands do not pay for the store modules.
    const { fastToken } = await import('./fast-token.js');
    if (await fastToken(argv[1] as string, process.env, process.cwd())) return;
  }
  await import('./main.js');
}

void bin();
