import type { Discovery } from './types.js';

/** The discovery document as `baton simulate` prints it for a person. */
export function formatDiscovery(d: Discovery): string {
  const lines = [
    `Baton simulator at ${d.origin} (migration origin ${d.migrationOrigin})`,
    `Discovery: ${d.origin}/.well-known/baton-simulator   Admin: ${d.admin}`,
  ];
  for (const [id, v] of Object.entries(d.vendors)) {
    const params = Object.entries(v.params).map(([k, vals]) => `${k}: ${vals.join('|')}`);
    lines.push('', params.length > 0 ? `${id}  (${params.join('; ')})` : id);
    for (const [name, url] of Object.entries(v.endpoints))
      lines.push(`  ${name.padEnd(Math.max(16, name.length + 1))}${url}`);
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
    const switches = Object.entries(v.switches ?? {}).map(([k, x]) => `${k}=${String(x)}`);
    if (switches.length > 0) lines.push(`  switches: ${switches.join(' ')}`);
  }
  lines.push(
    '',
    'These credentials are the simulator’s own, made fresh at each start; they are not secrets of any real account.',
  );
  return lines.join('\n');
}
