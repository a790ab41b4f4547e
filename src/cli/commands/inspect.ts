import type { ConnectionInfo } from '../../core/connection-info.js';
import { fetchServerMetadata, type ServerMetadata } from '../../protocol/discovery.js';
import { ProviderRegistry } from '../../providers/registry.js';
import { endpointsFor } from '../../providers/template.js';
import { relative, table } from '../format.js';
import { type Cli, NoStore } from '../runtime.js';

function statusText(cli: Cli, status: ConnectionInfo['status']): string {
  const p = cli.out;
  return status === 'active' ? p.green(status) : status === 'needs_reauth' ? p.yellow(status) : p.red(status);
}

function accountText(info: ConnectionInfo): string {
  const a = info.account;
  return a?.email ?? a?.name ?? a?.id ?? '—';
}

export async function providers(cli: Cli, id: string | undefined): Promise<void> {
  const config = cli.config();
  const registry = ProviderRegistry.create(config.providers);
  let metadata: ServerMetadata | undefined;
  const issuer = id ? registry.get(id).issuer : undefined;
  // One provider shown in full: what its issuer publishes now, applied as Baton would.
  if (id && issuer) {
    metadata = (await fetchServerMetadata(issuer, id, {})).metadata;
    registry.applyMetadata(id, metadata);
  }
  const specs = id ? [registry.get(id)] : registry.list();
  if (cli.json) {
    if (!id) return cli.printJson(specs);
    const { raw: _raw, ...discovered } = metadata ?? { raw: null };
    return cli.printJson(metadata ? { ...specs[0], discovered } : specs[0]);
  }
  if (!id) {
    const rows = [['PROVIDER', 'NAME', 'AUTH MODES', 'PARAMS']];
    for (const s of specs) {
      rows.push([s.id, s.displayName, s.authModes.join(', '), Object.keys(s.params).join(', ') || '—']);
    }
    return cli.print(table(rows, cli.width));
  }
  const s = specs[0]!;
  const lines = [`${cli.out.bold(s.displayName)} (${s.id})`, `  auth modes:     ${s.authModes.join(', ')}`];
  for (const [name, p] of Object.entries(s.params)) {
    const allowed = p.values ? ` [${p.values.join(', ')}]` : p.pattern ? ` /${p.pattern}/` : '';
    lines.push(
      `  param ${name}:${' '.repeat(Math.max(1, 9 - name.length))}${p.description}${allowed}${p.default ? ` (default ${p.default})` : ''}`,
    );
  }
  if (s.issuer) lines.push(`  issuer:         ${s.issuer}`);
  if (metadata) {
    lines.push(`  discovered at:  ${metadata.source}`);
    lines.push(
      `  iss in callback: ${metadata.authorizationResponseIssParameterSupported ? 'yes (RFC 9207, checked)' : 'not advertised'}`,
    );
    if (metadata.jwksUri) lines.push(`  JWKS:           ${metadata.jwksUri}`);
    if (metadata.idTokenSigningAlgValuesSupported.length > 0)
      lines.push(`  id_token algs:  ${metadata.idTokenSigningAlgValuesSupported.join(', ')}`);
    if (metadata.tokenEndpointAuthMethodsSupported.length > 0)
      lines.push(`  client auth methods: ${metadata.tokenEndpointAuthMethodsSupported.join(', ')}`);
    if (metadata.pushedAuthorizationRequestEndpoint)
      lines.push(
        `  PAR:            ${metadata.pushedAuthorizationRequestEndpoint}${metadata.requirePushedAuthorizationRequests ? ' (required)' : ''}`,
      );
  }
  lines.push(`  authorization:  ${s.authorizationUrl ?? '—'}`, `  token:          ${s.tokenUrl ?? '—'}`);
  lines.push(`  revocation:     ${s.revocationUrl ?? '—'}`, `  API base:       ${s.apiBaseUrl}`);
  lines.push(`  client auth:    ${s.clientAuth}${s.pkce ? ' + PKCE' : ''}`);
  lines.push(
    `  scopes:         ${(s.scopeOptions ?? s.scopes).join(' ') || '—'}${s.singleScope ? ' (exactly one)' : ''}`,
  );
  lines.push(
    `  token lifetime: ${s.defaultExpiresIn ?? 'as the provider says'} s; refresh token: ${s.refreshTokenLifetime ? `${s.refreshTokenLifetime.seconds} s${s.refreshTokenLifetime.sliding ? ', renewed by each refresh' : ''}` : 'no documented limit'}`,
  );
  if (Object.keys(s.params).every((n) => s.params[n]?.default !== undefined)) {
    const defaults = Object.fromEntries(Object.entries(s.params).map(([n, p]) => [n, p.default as string]));
    lines.push(`  with defaults:  ${endpointsFor(s, defaults).apiBaseUrl}`);
  }
  if (s.notes) lines.push('', `  ${s.notes}`);
  cli.print(lines.join('\n'));
}

function paramsText(info: ConnectionInfo): string {
  return (
    Object.entries(info.params)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ') || '—'
  );
}

export async function list(cli: Cli): Promise<void> {
  try {
    await cli.requireExisting();
  } catch (err) {
    // No store yet is an empty list, and stays that way: nothing is created by looking.
    if (!(err instanceof NoStore)) throw err;
    if (cli.json) return cli.printJson([]);
    return cli.note(`No connections yet: ${err.message} Create one with \`baton connect <provider>\`.`);
  }
  await cli.withBaton(async (baton) => {
    const all = await baton.list();
    if (cli.json) return cli.printJson(all);
    if (all.length === 0) return cli.note('No connections yet. Create one with `baton connect <provider>`.');
    const now = Date.now();
    const rows = [
      ['ID', 'PROVIDER', 'MODE', 'PARAMS', 'STATUS', 'ACCOUNT', 'TOKEN EXPIRES', 'REFRESH TOKEN'],
    ];
    for (const c of all) {
      rows.push([
        c.id,
        c.provider,
        c.authMode,
        paramsText(c),
        statusText(cli, c.status),
        accountText(c),
        relative(
          c.accessTokenExpiresAt,
          now,
          c.authMode === 'token_pair' || c.authMode === 'api_key' ? 'static' : '—',
        ),
        relative(c.refreshTokenExpiresAt, now),
      ]);
    }
    cli.print(table(rows, cli.width));
  });
}

export async function show(cli: Cli, id: string, opts: { reveal?: boolean }): Promise<void> {
  await cli.withBaton(async (baton) => {
    const info = await baton.get(id);
    const secrets = opts.reveal ? await baton.reveal(id) : undefined;
    if (cli.json) return cli.printJson(secrets ? { ...info, secrets } : info);
    const now = Date.now();
    const rows: [string, string][] = [
      ['id', info.id],
      ['provider', info.provider],
      ['auth mode', info.authMode],
      [
        'params',
        Object.entries(info.params)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ') || '—',
      ],
      ['status', statusText(cli, info.status)],
      ['account', accountText(info)],
      ['client id', info.clientId ?? '—'],
      ['scopes', info.scopes?.join(' ') ?? '—'],
      [
        'access token',
        info.accessTokenExpiresAt === null ? '—' : `expires ${relative(info.accessTokenExpiresAt, now)}`,
      ],
      [
        'refresh token',
        info.refreshTokenExpiresAt === null ? '—' : `expires ${relative(info.refreshTokenExpiresAt, now)}`,
      ],
      ['last refresh', relative(info.lastRefreshedAt, now, 'never')],
      [
        'last error',
        info.lastError ? `${info.lastError.message} (${relative(info.lastError.at, now)})` : '—',
      ],
    ];
    if (info.apiBaseUrl) rows.push(['API base', `${info.apiBaseUrl} (learned from a permanent redirect)`]);
    if (secrets?.tokens) {
      rows.push(['ACCESS TOKEN', secrets.tokens.accessToken]);
      if (secrets.tokens.refreshToken) rows.push(['REFRESH TOKEN', secrets.tokens.refreshToken]);
    }
    if (secrets?.credentials) {
      rows.push(['API KEY', secrets.credentials.apiKey]);
      if (secrets.credentials.apiSecret) rows.push(['API SECRET', secrets.credentials.apiSecret]);
    }
    cli.print(
      table(
        rows.map(([k, v]) => [cli.out.dim(k), v]),
        cli.width,
      ),
    );
  });
}
