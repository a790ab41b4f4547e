import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';
import { blocksUnder, commands, headings, links, readme } from './markdown.js';

const DOCS = [
  'README.md',
  ...readdirSync('docs')
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const text = (file: string) => readFileSync(file, 'utf8');

describe('README and docs/ render sensibly', () => {
  it('the README has a table of contents whose every entry is a heading, and every ## heading is in it', () => {
    const md = readme();
    const all = headings(md);
    const toc = md.slice(md.indexOf('## Contents'), md.indexOf('\n## ', md.indexOf('## Contents') + 1));
    const entries = [...toc.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1] as string);
    expect(entries.length).toBeGreaterThan(10);
    const anchors = new Set(all.map((h) => h.slug));
    expect(entries.filter((e) => !anchors.has(e))).toEqual([]);
    const sections = all.filter((h) => h.level === 2 && h.text !== 'Contents').map((h) => h.slug);
    expect(sections.filter((s) => !entries.includes(s))).toEqual([]);
  });

  it('the user path comes in order: what, install, quick start, CLI, library, server, configuration, security, troubleshooting', () => {
    const order = headings(readme())
      .filter((h) => h.level === 2)
      .map((h) => h.text);
    const expected = [
      'Install',
      'Quick start',
      'Command line',
      'Library',
      'Server',
      'Configuration',
      'Security',
      'Troubleshooting',
    ];
    const at = expected.map((t) => order.indexOf(t));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
  });

  it.each(DOCS)('%s: one title, and no heading skips a level', (file) => {
    const hs = headings(text(file));
    expect(hs.filter((h) => h.level === 1)).toHaveLength(1);
    expect(hs[0]?.level).toBe(1);
    const skips = hs.filter((h, i) => i > 0 && h.level > (hs[i - 1] as { level: number }).level + 1);
    expect(skips.map((h) => `${h.line}: ${h.text}`)).toEqual([]);
  });

  it.each(DOCS)(
    '%s: every relative link names a file that exists, and every anchor a heading in it',
    (file) => {
      const broken: string[] = [];
      for (const { target, line } of links(text(file))) {
        if (/^[a-z]+:/.test(target)) continue; // http(s), mailto: not checked offline
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const resolved = path ? normalize(join(dirname(file), path)) : file;
        if (!existsSync(resolved)) {
          broken.push(`${line}: ${target} (no ${resolved})`);
          continue;
        }
        if (anchor && resolved.endsWith('.md') && !headings(text(resolved)).some((h) => h.slug === anchor))
          broken.push(`${line}: ${target} (no heading #${anchor} in ${resolved})`);
      }
      expect(broken).toEqual([]);
    },
  );

  it('the README links every file of docs/', () => {
    const linked = new Set(links(readme()).map((l) => l.target.split('#')[0]));
    const docs = readdirSync('docs').filter((f) => f.endsWith('.md'));
    expect(docs.filter((f) => !linked.has(`docs/${f}`))).toEqual([]);
  });

  it('the README states the Node version package.json requires', () => {
    const engines = (JSON.parse(text('package.json')) as { engines: { node: string } }).engines.node;
    const min = /^>=\s*(\d+\.\d+\.\d+)$/.exec(engines)?.[1];
    expect(min, `engines.node is "${engines}"`).toBeDefined();
    const setup = readme().slice(readme().indexOf('### From a clone'));
    expect(setup.slice(0, 400)).toContain(`Node ${min} or later`);
  });

  it('the setup block holds the two commands, and .ci/run runs exactly those plus the checks', () => {
    const [block] = blocksUnder(readme(), 'From a clone', 'sh');
    const setup = commands(block as string);
    expect(setup).toEqual(['npm install', 'npx baton demo', 'npm test']);
    const ci = commands(text('.ci/run')).filter((l) => /^(npm|npx)\b/.test(l));
    // CI installs from the lockfile (`npm ci`) and runs the demo without installing anything.
    expect(ci).toEqual(['npm ci', 'npm run check', 'npx --no-install baton demo', 'npm test']);
    const ciInREADME = readme().includes(
      'runs `npm ci` (the lockfile install),\n`npm run check` (typecheck + Biome lint), `npx --no-install baton demo` and `npm test`',
    );
    expect(ciInREADME).toBe(true);
  });

  it('nothing cites DESIGN.md, which is not in the repository', () => {
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)],
      );
    const cited = [...DOCS, ...['src', 'test', 'bench', 'examples'].flatMap(files)].filter(
      (f) => !f.endsWith('links.test.ts') && /DESIGN(\.md| invariant)/.test(text(f)),
    );
    expect(cited).toEqual([]);
  });
});
