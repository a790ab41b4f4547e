/** A database URL fit to show: the password replaced. No driver is loaded for it (cold start). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return `${u.protocol}//${u.username ? `${u.username}${u.password ? `:${u.password}` : ''}@` : ''}${u.host}${u.pathname}`;
  } catch {
    return 'postgres://(unparseable URL)';
  }
}
