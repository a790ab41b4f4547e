import type { Discovery } from './types.js';

/** The discovery document as `baton simulate` prints it for a person. */
export function formatDiscovery(d: Discovery): string {
  const lines = [
    `Baton simulator at ${d.origin} (migration origin ${d.migrationOrigin})`,
    `Discovery: ${d.origin}/.well-known/baton-simulator   Admin: ${d.admin}`,
  ];
  for (const [id, v] of Object.entries(d.vendors)) {
    lines.push(
      '',
      `${id}  (${Object.entries(v.params)
        .map(([k, vals]) => `${k}: ${vals.join('|')}`)
        .join('; ')})`,
    );
    for (const [name, url] of Object.entries(v.endpoints)) lines.push(`  ${name.padEnd(16)}${url}`);
    lines.push(`  ${'identity'.padEnd(16)}${v.identityPath}`);
    for (const c of v.clients) {
      const scope =
        Object.entries(c.params)
          .map(([k, x]) => `${k}=${x}`)
          .join(' ') || 'all';
      lines.push(`  client (${scope}): id ${c.clientId}  secret ${c.clientSecret}`);
    }
    for (const k of v.apiKeys) {
      const scope =
        Object.entries(k.params)
          .map(([p, x]) => `${p}=${x}`)
          .join(' ') || 'all';
      lines.push(`  api key (${scope}): ${k.apiKey}${k.apiSecret ? `  secret ${k.apiSecret}` : ''}`);
    }
    if (v.accounts.length > 0) lines.push(`  accounts: ${v.accounts.join(', ')}`);
  }
  lines.push(
    '',
    'These credentials are the simulator’s own, made fresh at each start; they are not secrets of any real account.',
  );
  return lines.join('\n');
}
