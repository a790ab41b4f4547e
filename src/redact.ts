/**
 * Redaction: the one function every message, excerpt, event, log line and stored `lastError`
 * passes through before a person (or a database column) sees text that came from a provider.
 *
 * For each secret it removes, wherever they occur and however they are mixed:
 * - the raw value, each character either as itself, percent-encoded (UTF-8, `%XX` in either
 *   case), `+` for a space (HTML forms), a JSON `\uXXXX` / `\"` escape or an HTML character
 *   reference;
 * - base64 and base64url (padded or not, `+ / =` percent-encoded or not) of the raw value and of
 *   its URL- and form-encoded forms, at every byte alignment, so the secret is also found inside
 *   the base64 of a longer string;
 * - for a client (`{ clientId, clientSecret }`), the base64 of `client_id:client_secret`, also
 *   with both form-encoded first (RFC 6749 §2.3.1), with or without the `Basic ` prefix;
 * - any run of 8 or more characters copied from a secret (a provider that quotes part of it).
 *
 * Then anything shaped like a credential: `Bearer`/`Basic` values and token-ish JSON or form
 * fields. `excerpt` redacts before it cuts and never ends on a fragment that could be the start
 * of a secret.
 */

/** A client's credentials: the secret is a secret, and so is the HTTP Basic form of the pair. */
export interface ClientPair {
  clientId: string;
  clientSecret?: string | null | undefined;
}

export type Secret = string | ClientPair | null | undefined;
/** What callers pass: any mix of secret values and client pairs; empty and missing ones are skipped. */
export type Secrets = Iterable<Secret>;

export const REDACTED = '[redacted]';

/** Shorter values are too likely to be ordinary words to be removed everywhere. */
const MIN_SECRET = 4;
/** A run of this many characters copied from a secret is removed even when the rest is not there. */
const GRAM = 8;
/** Bodies longer than this are cut before redaction (an excerpt never needs more). */
const MAX_SCAN = 100_000;

interface Compiled {
  patterns: RegExp[];
  grams: string[];
  /** The grams as a set, made on first use by `carriesSecret`. */
  gramSet?: Set<string>;
}

const compiled = new Map<string, Compiled>();
const CACHE_LIMIT = 256;

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** A hex number as a pattern matching either letter case: `2f` → `2[fF]`. */
function hexRe(n: number, width: number): string {
  return n
    .toString(16)
    .padStart(width, '0')
    .replace(/[a-f]/g, (d) => `[${d}${d.toUpperCase()}]`);
}

/** JSON's two-character escapes for control characters (RFC 8259 §7). */
const JSON_SHORT: Record<string, string> = { '\b': 'b', '\f': 'f', '\n': 'n', '\r': 'r', '\t': 't' };

const HTML_NAMED: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};

/** Every way one character of a secret may be written in text Baton receives or produces. */
function charPattern(ch: string): string {
  // Longest forms first: the raw character must not win over an escape that starts with it.
  const alts = [[...Buffer.from(ch, 'utf8')].map((b) => `%${hexRe(b, 2)}`).join('')];
  let units = '';
  for (let i = 0; i < ch.length; i++) units += `\\\\[uU]${hexRe(ch.charCodeAt(i), 4)}`;
  alts.push(units);
  const cp = ch.codePointAt(0) as number;
  alts.push(`&#0*${cp};`, `&#[xX]0*${hexRe(cp, 1)};`);
  const named = HTML_NAMED[ch];
  if (named) alts.push(named);
  if (ch === '"' || ch === '\\' || ch === '/') alts.push(`\\\\${escapeRe(ch)}`);
  const jsonShort = JSON_SHORT[ch];
  if (jsonShort) alts.push(`\\\\${jsonShort}`);
  if (ch === ' ') alts.push('\\+');
  alts.push(escapeRe(ch));
  return `(?:${alts.join('|')})`;
}

function formEncode(s: string): string {
  return encodeURIComponent(s).replace(/%20/g, '+');
}

/** A base64 text as a pattern that also matches it with `+ / =` percent-encoded (in a form or URL). */
function base64Pattern(b64: string): string {
  return b64.replace(/[+/=]/g, (c) => `(?:\\${c}|%${hexRe(c.charCodeAt(0), 2)})`);
}

const B64_CHAR = '(?:[A-Za-z0-9_-]|\\+|/|%2[bBfF])';
const B64_PAD = '(?:=|%3[dD]){0,2}';

/**
 * base64 and base64url of `bytes` wherever they sit in a longer encoded string: for each of the
 * three byte alignments, the characters that depend on these bytes alone, widened by the
 * neighbouring characters that carry part of them.
 */
function base64Patterns(bytes: Buffer): string[] {
  const out: string[] = [];
  const whole = bytes.toString('base64');
  if (whole.length >= GRAM) {
    out.push(base64Pattern(whole), base64Pattern(bytes.toString('base64url')));
  }
  for (let j = 0; j < 3; j++) {
    const n = Math.floor((bytes.length - j) / 3) * 3;
    if (n < 6) continue;
    const core = bytes.subarray(j, j + n);
    for (const b64 of [core.toString('base64'), core.toString('base64url')]) {
      out.push(`${B64_CHAR}{0,3}${base64Pattern(b64)}${B64_CHAR}{0,3}${B64_PAD}`);
    }
  }
  return out;
}

function compileValue(value: string): Compiled {
  const hit = compiled.get(value);
  if (hit) return hit;
  const sources: string[] = [[...value].map(charPattern).join('')];
  const forms = new Set([
    value,
    encodeURIComponent(value),
    formEncode(value),
    new URLSearchParams({ v: value }).toString().slice(2),
  ]);
  for (const form of forms) sources.push(...base64Patterns(Buffer.from(form, 'utf8')));
  const grams: string[] = [];
  for (let i = 0; i + GRAM <= value.length; i++) grams.push(value.slice(i, i + GRAM));
  const out = { patterns: [...new Set(sources)].map((s) => new RegExp(s, 'g')), grams };
  if (compiled.size >= CACHE_LIMIT) compiled.clear();
  compiled.set(value, out);
  return out;
}

function compilePair(id: string, secret: string): Compiled {
  const key = `pair\n${id}\n${secret}`;
  const hit = compiled.get(key);
  if (hit) return hit;
  const sources = new Set<string>();
  for (const joined of [`${id}:${secret}`, `${formEncode(id)}:${formEncode(secret)}`]) {
    for (const p of base64Patterns(Buffer.from(joined, 'utf8'))) sources.add(p);
  }
  const out = { patterns: [...sources].map((s) => new RegExp(s, 'g')), grams: [] };
  if (compiled.size >= CACHE_LIMIT) compiled.clear();
  compiled.set(key, out);
  return out;
}

function compileAll(secrets: Secrets): Compiled[] {
  const out: Compiled[] = [];
  for (const s of secrets) {
    if (typeof s === 'string') {
      if (s.length >= MIN_SECRET) out.push(compileValue(s));
    } else if (s && typeof s.clientSecret === 'string' && s.clientSecret.length >= MIN_SECRET) {
      out.push(compileValue(s.clientSecret), compilePair(s.clientId, s.clientSecret));
    }
  }
  return out;
}

const BEARER_OR_BASIC = /\b(Bearer|Basic)(\s+|%20|\+)(?:[A-Za-z0-9._~+/=-]|%[0-9A-Fa-f]{2})+/gi;
const TOKEN_FIELD =
  /((?<![A-Za-z0-9_])"?(?:access_token|refresh_token|id_token|client_secret|code|api_secret|apiSecret|api_key|apiKey|password|token|code_verifier)"?\s*[:=]\s*"?)([^"&\s,}]+)/gi;

/** Baton's own bearer values: caller keys, connect-page tokens, webhook signing secrets. */
const BATON_SECRET = /\b(bk|cst|whsec)_[A-Za-z0-9_-]{16,}/g;

/** Removes what is shaped like a credential, whatever its value. */
function redactShapes(text: string): string {
  return text
    .replace(BEARER_OR_BASIC, `$1$2${REDACTED}`)
    .replace(TOKEN_FIELD, `$1${REDACTED}`)
    .replace(BATON_SECRET, `$1_${REDACTED}`);
}

/**
 * Removes every known secret, in every encoding listed above, then anything shaped like a
 * credential. Safe on any text; meant for error paths (it compiles a pattern per secret, cached).
 */
export function redact(text: string, secrets: Secrets = []): string {
  const all = compileAll(secrets);
  if (all.length === 0) return redactShapes(text);
  const ranges: [number, number][] = [];
  const grams = new Set<string>();
  for (const c of all) {
    for (const re of c.patterns) {
      for (const m of text.matchAll(re)) ranges.push([m.index, m.index + m[0].length]);
    }
    for (const g of c.grams) grams.add(g);
  }
  if (grams.size > 0) {
    for (let i = 0; i + GRAM <= text.length; i++) {
      if (grams.has(text.slice(i, i + GRAM))) ranges.push([i, i + GRAM]);
    }
  }
  if (ranges.length === 0) return redactShapes(text);
  ranges.sort((a, b) => a[0] - b[0]);
  let out = '';
  let at = 0;
  let i = 0;
  while (i < ranges.length) {
    const [start] = ranges[i] as [number, number];
    let end = (ranges[i] as [number, number])[1];
    i++;
    while (i < ranges.length && (ranges[i] as [number, number])[0] <= end) {
      end = Math.max(end, (ranges[i] as [number, number])[1]);
      i++;
    }
    out += text.slice(at, start) + REDACTED;
    at = end;
  }
  return redactShapes(out + text.slice(at));
}

/**
 * Whether `text` carries one of `secrets`, in any of the forms `redact` removes (raw or
 * encoded, base64 at any alignment, the Basic pair, a run of 8 characters copied from one) —
 * without the credential shapes: a header such as `WWW-Authenticate: Bearer realm="x"` carries
 * no secret. The proxy drops a response header for which this holds.
 */
export function carriesSecret(text: string, secrets: Secrets): boolean {
  const all = compileAll(secrets);
  // The cheap test first: a run of 8 characters copied from a secret (its raw form included).
  for (const c of all) {
    if (c.grams.length === 0) continue;
    c.gramSet ??= new Set(c.grams);
    for (let i = 0; i + GRAM <= text.length; i++) if (c.gramSet.has(text.slice(i, i + GRAM))) return true;
  }
  for (const c of all) {
    for (const re of c.patterns) {
      re.lastIndex = 0;
      const hit = re.test(text);
      re.lastIndex = 0;
      if (hit) return true;
    }
  }
  return false;
}

/** The characters a secret (in any of its encodings) can be made of: what a cut must not leave behind. */
const TRAILING_FRAGMENT = /[^\s"'<>,;&=(){}]+$/;

/**
 * A short excerpt of a response body for an error: redacted first, whitespace collapsed, then
 * cut to `max` characters. A cut that falls inside a word drops that word: it could be the
 * start of a secret.
 */
export function excerpt(body: string, secrets: Secrets = [], max = 200): string {
  const scanned = body.length > MAX_SCAN ? body.slice(0, MAX_SCAN) : body;
  const flat = redact(scanned, secrets).replace(/\s+/g, ' ').trim();
  const cutByScan = scanned.length < body.length;
  if (flat.length <= max && !cutByScan) return flat;
  let clipped = flat.slice(0, max);
  const next = flat.length > max ? (flat[max] as string) : cutByScan ? 'x' : ' ';
  if (next !== ' ') clipped = clipped.replace(TRAILING_FRAGMENT, '');
  return `${clipped.trimEnd()}…`;
}

/**
 * A stand-in for an error caught from a library (undici, a driver), safe to keep as a `cause`:
 * its name, its message redacted, and its `code`.
 */
export function redactedCause(err: unknown, secrets: Secrets = []): Error {
  const source = err instanceof Error ? err : new Error(String(err));
  const out = new Error(redact(source.message, secrets));
  out.name = source.name;
  const code = (source as { code?: unknown }).code ?? (source.cause as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') (out as Error & { code?: string }).code = code;
  return out;
}
