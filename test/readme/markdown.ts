import { readFileSync } from 'node:fs';

export interface Heading {
  level: number;
  text: string;
  slug: string;
  line: number;
}

export interface Block {
  lang: string;
  text: string;
  /** The heading the block sits under. */
  section: string;
}

/** The lines of a Markdown file outside fenced code blocks, with their line numbers. */
function prose(md: string): { text: string; line: number }[] {
  const out: { text: string; line: number }[] = [];
  let fenced = false;
  md.split('\n').forEach((text, i) => {
    if (/^\s*```/.test(text)) fenced = !fenced;
    else if (!fenced) out.push({ text, line: i + 1 });
  });
  return out;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Every heading outside code blocks, with its anchor (repeats get -1, -2… as on GitHub). */
export function headings(md: string): Heading[] {
  const seen = new Map<string, number>();
  const out: Heading[] = [];
  for (const { text, line } of prose(md)) {
    const m = /^(#{1,6})\s+(.*?)\s*$/.exec(text);
    if (!m) continue;
    const base = slug(m[2] as string);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.push({ level: (m[1] as string).length, text: m[2] as string, slug: n ? `${base}-${n}` : base, line });
  }
  return out;
}

/** Every inline link `[text](target)` outside code blocks. */
export function links(md: string): { text: string; target: string; line: number }[] {
  return prose(md).flatMap(({ text, line }) =>
    [...text.replace(/`[^`]*`/g, '').matchAll(/!?\[([^\]]*)\]\(([^)\s]+)\)/g)].map((m) => ({
      text: m[1] as string,
      target: m[2] as string,
      line,
    })),
  );
}

/** Fenced code blocks with their language and the heading above them. */
export function blocks(md: string): Block[] {
  const out: Block[] = [];
  let section = '';
  let open: { lang: string; lines: string[] } | undefined;
  for (const line of md.split('\n')) {
    const fence = /^\s*```(\S*)/.exec(line);
    if (fence && !open) open = { lang: fence[1] as string, lines: [] };
    else if (fence && open) {
      out.push({ lang: open.lang, text: open.lines.join('\n'), section });
      open = undefined;
    } else if (open) open.lines.push(line);
    else {
      const h = /^#{1,6}\s+(.*?)\s*$/.exec(line);
      if (h) section = h[1] as string;
    }
  }
  return out;
}

/** A README section's blocks of one language, by heading text. */
export function blocksUnder(md: string, section: string, lang: string): string[] {
  return blocks(md)
    .filter((b) => b.section === section && b.lang === lang)
    .map((b) => b.text);
}

/** The commands of a shell block: one a line, comments dropped. */
export function commands(block: string): string[] {
  return block
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l && !l.startsWith('#'));
}

export const readme = (): string => readFileSync('README.md', 'utf8');
