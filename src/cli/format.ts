import { createRequire } from 'node:module';
import type pc from 'picocolors';

// Loaded on first use: `baton token` prints no colour and does not pay for it.
let colors: typeof pc | undefined;
const load = () => {
  colors ??= createRequire(import.meta.url)('picocolors') as typeof pc;
  return colors;
};

/** Colour only on a TTY and never with NO_COLOR (https://no-color.org). */
export function useColor(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv): boolean {
  return Boolean(stream.isTTY) && !('NO_COLOR' in env) && env['TERM'] !== 'dumb';
}

export type Paint = ReturnType<typeof pc.createColors>;

export function paint(enabled: boolean): Paint {
  return load().createColors(enabled);
}

/** "3 h 41 m", "12 m 5 s", "40 s", "14 d 2 h". */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.round(Math.abs(ms) / 1000));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d > 0) return h > 0 ? `${d} d ${h} h` : `${d} d`;
  if (h > 0) return m > 0 ? `${h} h ${m} m` : `${h} h`;
  if (m > 0) return sec > 0 && m < 10 ? `${m} m ${sec} s` : `${m} m`;
  return `${sec} s`;
}

/** "in 3 h 41 m", "2 m ago", "never" for a time relative to now. */
export function relative(at: number | null, now: number, never = '—'): string {
  if (at === null) return never;
  return at >= now ? `in ${humanDuration(at - now)}` : `${humanDuration(now - at)} ago`;
}

/** A plain table sized to the terminal: the widest column is cut with … when the line would not fit. */
export function table(rows: string[][], width: number | undefined): string {
  return tableRows(rows, columnWidths(rows, width));
}

/** The widths `table` gives these rows; a streamed table keeps its first page's for the rest. */
export function columnWidths(rows: string[][], width: number | undefined): number[] {
  if (rows.length === 0) return [];
  const cols = Math.max(...rows.map((r) => r.length));
  const widths = Array.from({ length: cols }, (_, i) =>
    Math.max(...rows.map((r) => visible(r[i] ?? '').length)),
  );
  const total = () => widths.reduce((a, b) => a + b, 0) + GAP * (cols - 1);
  if (width && width > 20) {
    while (total() > width) {
      const widest = widths.indexOf(Math.max(...widths));
      if ((widths[widest] ?? 0) <= 8) break;
      widths[widest] = (widths[widest] ?? 0) - 1;
    }
  }
  return widths;
}

const GAP = 2;

/** Rows laid out in columns of the given widths (a longer cell is cut with …). */
export function tableRows(rows: string[][], widths: number[]): string {
  if (rows.length === 0) return '';
  const cols = widths.length;
  const gap = GAP;
  return rows
    .map((r) =>
      r
        .map((cell, i) => {
          const w = widths[i] ?? 0;
          const text = visible(cell).length > w ? `${cell.slice(0, Math.max(0, w - 1))}…` : cell;
          return i === cols - 1 ? text : text + ' '.repeat(Math.max(0, w - visible(text).length));
        })
        .join(' '.repeat(gap))
        .trimEnd(),
    )
    .join('\n');
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes
const ANSI = /\u001b\[[0-9;]*m/g;
function visible(s: string): string {
  return s.replace(ANSI, '');
}
