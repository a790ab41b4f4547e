import { STYLE, STYLE_HASH } from './style.js';

/** HTML-escapes text and attribute values. */
export function esc(value: unknown): string {
  return String(value ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );
}

export interface PageInput {
  title: string;
  /** Trusted HTML (built with `esc` for every value). */
  body: string;
  /** A line under the card. */
  footer?: string;
  /** The stylesheet's URL; absent: the style is inlined (allowed by its hash in the CSP). */
  stylesheet?: string;
}

/** A whole page in the common look. */
export function page(input: PageInput): string {
  const style = input.stylesheet
    ? `<link rel="stylesheet" href="${esc(input.stylesheet)}">`
    : `<style>${STYLE}</style>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="robots" content="noindex">
<title>${esc(input.title)} · Baton</title>
${style}
</head>
<body>
<header class="brand"><span class="mark" aria-hidden="true"></span><span>Baton</span></header>
<main id="main">
${input.body}
</main>
<footer><p>${input.footer ?? 'Secured by Baton. Your credentials go only to the service you connect.'}</p></footer>
</body>
</html>
`;
}

/**
 * Headers for every page: no script at all, styles only from this server (or the inline
 * style's hash), forms only to `formAction` sources, never framed, never cached. The referrer
 * goes to this server only (`same-origin`): no other site learns a page's URL, and a form post
 * carries the page's real `Origin` — under `no-referrer` browsers send `Origin: null`, which the
 * pages refuse like any foreign origin. (A URL that carries a token or a code is answered by a
 * redirect with `no-referrer` before any page shows.)
 */
export function pageHeaders(
  options: { inlineStyle?: boolean; formAction?: string[] } = {},
): Record<string, string> {
  const csp = [
    "default-src 'none'",
    `style-src ${options.inlineStyle ? STYLE_HASH : "'self'"}`,
    "img-src 'self' data:",
    `form-action ${["'self'", ...(options.formAction ?? [])].join(' ')}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
  return {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': csp,
    'referrer-policy': 'same-origin',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
  };
}

/** The result of an authorization, in the common look: the CLI's loopback page uses it. */
export function resultPage(input: {
  ok: boolean;
  title: string;
  message: string;
  facts?: [string, string][];
  next?: string;
  stylesheet?: string;
}): string {
  const facts =
    input.facts && input.facts.length > 0
      ? `<dl class="facts">${input.facts.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>`
      : '';
  return page({
    title: input.title,
    ...(input.stylesheet ? { stylesheet: input.stylesheet } : {}),
    body: `<div class="badge ${input.ok ? 'ok' : 'bad'}" aria-hidden="true">${input.ok ? '✓' : '!'}</div>
<h1>${esc(input.title)}</h1>
<p>${input.message}</p>
${facts}
${input.next ?? ''}`,
  });
}
