/**
 * Which hosts may receive a connection's credentials when a request is redirected. The API
 * origin itself always may; anything else must match a pattern of the provider spec:
 * `api.example.com` (any port), `127.0.0.1:4011` (that port only) or `*.example.com` (any
 * subdomain, on a dot boundary, never `example.com` itself or `evilexample.com`).
 * Credentials never follow a redirect from https down to plain http.
 */
export function hostAllowed(target: URL, patterns: readonly string[], origin?: URL): boolean {
  if (origin) {
    if (target.origin === origin.origin) return true;
    if (origin.protocol === 'https:' && target.protocol !== 'https:') return false;
  }
  if (target.protocol !== 'https:' && target.protocol !== 'http:') return false;
  const hostname = target.hostname.toLowerCase();
  const host = target.host.toLowerCase();
  return patterns.some((raw) => {
    const pattern = raw.trim().toLowerCase();
    if (pattern === '') return false;
    const hasPort = /:\d+$/.test(pattern) && !pattern.startsWith('[');
    const subject = hasPort ? host : hostname;
    if (pattern.startsWith('*.')) {
      const suffix = pattern.slice(1);
      return subject.endsWith(suffix) && subject.length > suffix.length;
    }
    return subject === pattern;
  });
}
