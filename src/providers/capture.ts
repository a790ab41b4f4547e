import { readPath } from '../protocol/json-path.js';
import { checkCapturedValue, isUrlCapture, normaliseBaseUrl } from './param-value.js';
import type { CaptureSpec, ProviderSpec } from './spec.js';

export { readPath } from '../protocol/json-path.js';

/**
 * Values a provider hands over while a connection is made (spec `captures`, `connectSteps`):
 * read from a JSON answer or a callback's query, checked like any param before they are kept,
 * and — for an API base the provider names (`kind: 'url'`) — checked against the spec's hosts
 * at every use.
 */

const MAX_VALUE = 2048;

/** A JSON scalar as the text a param holds: a non-empty string, or a finite number. */
export function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string') return value.length > 0 && value.length <= MAX_VALUE ? value : undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

/** A value read from the provider as it is kept: URLs normalised, anything else as given. */
function keep(spec: ProviderSpec, name: string, raw: string): string {
  return isUrlCapture(spec, name) ? (normaliseBaseUrl(raw) ?? raw) : raw;
}

/**
 * What the spec captures from one source: `token` — the token response's members (as its
 * `extra` keeps them), `callback` — the callback URL's query. Absent values are left out; each
 * present one is checked (ConfigError) before it is returned.
 */
export function captureFrom(
  spec: ProviderSpec,
  from: CaptureSpec['from'],
  source: Record<string, unknown> | URLSearchParams,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, capture] of Object.entries(spec.captures ?? {})) {
    if (capture.from !== from) continue;
    const raw =
      source instanceof URLSearchParams
        ? (source.get(capture.path) ?? undefined)
        : scalarText(readPath(source, capture.path));
    if (raw === undefined || raw === '') continue;
    const value = keep(spec, name, raw);
    checkCapturedValue(spec, name, value);
    out[name] = value;
  }
  return out;
}

/** The captures the spec requires that `params` still lacks. */
export function missingRequired(spec: ProviderSpec, params: Record<string, string>): string[] {
  return Object.entries(spec.captures ?? {})
    .filter(([name, c]) => c.required === true && params[name] === undefined)
    .map(([name]) => name);
}
