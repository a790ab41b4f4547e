import { UsageError } from './usage.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A flag's `90s`, `15m`, `1h`, `30d` → milliseconds; anything else is a usage error (exit 2). */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) {
    throw new UsageError(
      `"${text}" is not a duration.`,
      `Write ${flag} as a number and a unit: 90s, 15m, 1h, 30d.`,
    );
  }
  return Number(m[1]) * (UNITS[m[2] as string] as number);
}
