import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

function imports(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)]
    .map((m) => m[1] as string)
    .filter((s) => s.startsWith('.'));
}

/** The layers of docs/architecture.md ("Layers"): imports point down only, and the simulator stands alone. */
describe('architecture', () => {
  const layerOf = (file: string) => relative('src', file).split('/')[0] as string;
  const allowed: Record<string, string[]> = {
    simulator: ['simulator'],
    providers: ['providers', 'protocol', 'errors.ts'],
    protocol: ['protocol', 'errors.ts'],
    store: ['store', 'providers', 'errors.ts'],
    core: ['core', 'protocol', 'providers', 'store', 'errors.ts'],
    server: ['server', 'core', 'providers', 'store', 'errors.ts'],
    mcp: ['mcp', 'core', 'errors.ts'],
    'simulator-client': ['simulator-client', 'core', 'providers', 'errors.ts'],
    cli: [
      'cli',
      'core',
      'protocol',
      'providers',
      'store',
      'simulator',
      'simulator-client',
      'server',
      'errors.ts',
    ],
  };
  for (const [layer, may] of Object.entries(allowed)) {
    it(`${layer}/ imports only ${may.join(', ')}`, () => {
      const bad: string[] = [];
      for (const file of files(join('src', layer))) {
        for (const spec of imports(file)) {
          const target = relative('src', join(file, '..', spec)).split('/')[0] as string;
          const name = target.replace(/\.js$/, '.ts');
          if (!may.includes(layerOf(join('src', name))) && !may.includes(name)) bad.push(`${file} → ${spec}`);
        }
      }
      expect(bad).toEqual([]);
    });
  }
});
