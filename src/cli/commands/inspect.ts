import { existsSync } from 'node:fs';
import type { Baton, ConnectionQuery } from '../../core/baton.js';
import type { ConnectionInfo } from '../../core/connection-info.js';
import type { MetadataStatus } from '../../core/discovery.js';
import { BatonError } from '../../errors.js';
import type { ServerMetadata } from '../../protocol/discovery.js';
import { capturedNames } from '../../providers/param-value.js';
import { ProviderRegistry } from '../../providers/registry.js';
import type { ProviderSpec } from '../../providers/spec.js';
import { endpointsFor, templateVariables } from '../../providers/template.js';
import type { Store } from '../../store/store.js';
import { columnWidths, relative, table, tableRows } from '../format.js';
import { Cli, NoStore, tidy, UsageError } from '../runtime.js';

function statusText(cli: Cli, status: ConnectionInfo['status']): string {
  const p = cli.out;
  return status === 'active' ? p.green(status) : status === 'needs_reauth' ? p.yellow(status) : p.red(status);
}

function accountText(info: ConnectionInfo): string {
  const a = info.account;
  return a?.email ?? a?.name ?? a?.id ?? '—';
}

/**
 * The store's cache of metadata documents, when the store in force exists: looking never
 * creates one. A store that cannot be opened is said and skipped (the issuer is asked).
 */
async function metadataStore(cli: Cli): Promise<Store | undefined> {
  try {
    const spec = await cli.storeSpec();
    const path = Cli.sqlitePath(spec);
    if (path && !existsSync(path)) return undefined;
    const { openStore } = await import('../../store/index.js');
    return await openStore(spec, { env: cli.env });
  } catch (err) {
    cli.note(
      `${cli.err.yellow('!')} ${err instanceof BatonError ? tidy(err.message) : 'The store could not be opened.'} The issuer's metadata is read from the issuer.`,
    );
    return undefined;
  }
}

/**
 * A provider's metadata as Baton would have it now: the store's copy while it is fresh (no
 * network read), else read from the issuer and written to the store.
 */
export async function discover(
  cli: Cli,
  registry: ProviderRegistry,
  id: string,
): Promise<{ metadata: ServerMetadata | undefined; status: MetadataStatus | undefined }> {
  const [{ Discovery }, { systemClock }] = await Promise.all([
    import('../../core/discovery.js'),
    import('../../core/clock.js'),
  ]);
  const store = await metadataStore(cli);
  try {
    const discovery = new Discovery(
      registry,
      systemClock,
      {},
      {
        cache: store?.serverMetadata,
        onStoreError: (err) =>
          cli.note(
            `${cli.err.yellow('!')} ${tidy(err.message)} The issuer's metadata is read from the issuer.`,
          ),
      },
    );
    const metadata = await discovery.ensure(id);
    return { metadata, status: discovery.status(id) };
  } finally {
    await store?.close().catch(() => undefined);
  }
}

/** One provider as `--json` prints it: the spec in force and, for an issuer, what it published and where it was read. */
export function providerJson(
  spec: ProviderSpec,
  metadata: ServerMetadata | undefined,
  status: MetadataStatus | undefined,
): Record<string, unknown> {
  if (!metadata) return { ...spec };
  const { raw: _raw, ...discovered } = metadata;
  return {
    ...spec,
    discovered: {
      ...discovered,
      ...(status
        ? {
            readFrom: status.from,
            fetchedAt: status.fetchedAt,
            expiresAt: status.expiresAt,
            stale: status.stale,
          }
        : {}),
    },
  };
}

/** One provider in full, for a person: the spec in force and, for an issuer, its metadata document. */
export function providerLines(
  cli: Cli,
  s: ProviderSpec,
  metadata: ServerMetadata | undefined,
  status: MetadataStatus | undefined,
): string[] {
  const lines = [`${cli.out.bold(s.displayName)} (${s.id})`, `  auth modes:     ${s.authModes.join(', ')}`];
  for (const [name, p] of Object.entries(s.params)) {
    // A description that already lists the values is not followed by them again.
    const allowed = p.values
      ? p.description.includes(p.values.join(', '))
        ? ''
        : ` [${p.values.join(', ')}]`
      : p.pattern
        ? ` /${p.pattern}/`
        : '';
    lines.push(
      `  param ${name}:${' '.repeat(Math.max(1, 9 - name.length))}${p.description}${allowed}${p.default ? ` (default ${p.default})` : ''}`,
    );
  }
  if (s.issuer) lines.push(`  issuer:         ${s.issuer}`);
  if (metadata) {
    lines.push(`  discovered at:  ${metadata.source}`);
    if (status) {
      const now = Date.now();
      const origin =
        status.from === 'network'
          ? 'read from the issuer now'
          : `from the store's cache (read from the issuer ${relative(status.fetchedAt, now)})`;
      const next = status.stale
        ? `the issuer did not answer; asked again ${relative(status.expiresAt, now)}`
        : `expires ${relative(status.expiresAt, now)} (${new Date(status.expiresAt).toISOString()})`;
      lines.push(`  metadata:       ${origin}; ${next}`);
    }
    lines.push(
      `  iss in callback: ${metadata.authorizationResponseIssParameterSupported ? 'yes (RFC 9207, checked)' : 'not advertised'}`,
    );
    if (metadata.jwksUri) lines.push(`  JWKS:           ${metadata.jwksUri}`);
    if (metadata.idTokenSigningAlgValuesSupported.length > 0)
      lines.push(`  id_token algs:  ${metadata.idTokenSigningAlgValuesSupported.join(', ')}`);
    if (metadata.tokenEndpointAuthMethodsSupported.length > 0)
      lines.push(`  client auth methods: ${metadata.tokenEndpointAuthMethodsSupported.join(', ')}`);
    if (metadata.dpopSigningAlgValuesSupported.length > 0)
      lines.push(`  DPoP algs:      ${metadata.dpopSigningAlgValuesSupported.join(', ')}`);
    if (metadata.pushedAuthorizationRequestEndpoint)
      lines.push(
        `  PAR:            ${metadata.pushedAuthorizationRequestEndpoint}${metadata.requirePushedAuthorizationRequests ? ' (required)' : ''}`,
      );
  }
  lines.push(`  authorization:  ${s.authorizationUrl ?? '—'}`, `  token:          ${s.tokenUrl ?? '—'}`);
  lines.push(`  revocation:     ${s.revocationUrl ?? '—'}`, `  API base:       ${s.apiBaseUrl}`);
  lines.push(`  client auth:    ${s.clientAuth}${s.pkce ? ' + PKCE' : ''}${s.par ? ' + PAR' : ''}`);
  if (s.dpop)
    lines.push('  tokens:         DPoP-bound (RFC 9449): a key per connection, proofs on every request');
  lines.push(
    `  scopes:         ${(s.scopeOptions ?? s.scopes).join(' ') || '—'}${s.singleScope ? ' (exactly one)' : ''}`,
  );
  lines.push(
    `  token lifetime: ${typeof s.defaultExpiresIn === 'number' ? `${s.defaultExpiresIn} s` : 'as the provider says'}; refresh token: ${s.refreshTokenLifetime ? `${s.refreshTokenLifetime.seconds} s${s.refreshTokenLifetime.sliding ? ', renewed by each refresh' : ''}` : 'no documented limit'}`,
  );
  const captured = capturedNames(s);
  const baseNeedsCapture = templateVariables(s.apiBaseUrl).some((v) => captured.includes(v));
  if (!baseNeedsCapture && Object.keys(s.params).every((n) => s.params[n]?.default !== undefined)) {
    const defaults = Object.fromEntries(Object.entries(s.params).map(([n, p]) => [n, p.default as string]));
    lines.push(`  with defaults:  ${endpointsFor(s, defaults).apiBaseUrl}`);
  }
  for (const [name, c] of Object.entries(s.captures ?? {})) {
    const where = c.from === 'callback' ? `the callback's ${c.path}` : `the token response's ${c.path}`;
    lines.push(`  keeps ${name}:${' '.repeat(Math.max(1, 9 - name.length))}${c.description} (from ${where})`);
  }
  for (const step of s.connectSteps ?? []) {
    const kept = Object.entries(step.capture)
      .map(([n, path]) => (n === path ? n : `${n} (${path})`))
      .join(', ');
    lines.push(`  after consent:  GET ${s.urls?.[step.endpoint] ?? step.endpoint} → ${kept}`);
  }
  const headers = [
    ...(s.tokenHeader ? [`${s.tokenHeader.header}: ${s.tokenHeader.template}`] : []),
    ...Object.entries(s.apiHeaders ?? {}).map(([k, v]) => `${k}: ${v}`),
  ];
  if (headers.length > 0) lines.push(`  API headers:    ${headers.join('; ')}`);
  const extras = [
    ...Object.entries(s.tokenParams ?? {}).map(([k, v]) => `${k}=${v} on the code exchange`),
    ...Object.entries(s.refreshParams ?? {}).map(([k, v]) => `${k}=${v} on each refresh`),
    ...(s.refreshScopes ? ['the scopes again on each refresh'] : []),
  ];
  if (extras.length > 0) lines.push(`  token requests: ${extras.join('; ')}`);
  if (s.notes) lines.push('', `  ${s.notes}`);
  return lines;
}

export async function providers(cli: Cli, id: string | undefined): Promise<void> {
  const config = cli.config();
  const registry = ProviderRegistry.create(config.providers);
  // One provider shown in full: for an issuer, its metadata applied as Baton would.
  const { metadata, status } =
    id && registry.get(id).issuer
      ? await discover(cli, registry, id)
      : { metadata: undefined, status: undefined };
  if (!id) {
    const specs = registry.list();
    if (cli.json) return cli.printJson(specs);
    const rows = [['PROVIDER', 'NAME', 'AUTH MODES', 'PARAMS']];
    for (const s of specs) {
      rows.push([s.id, s.displayName, s.authModes.join(', '), Object.keys(s.params).join(', ') || '—']);
    }
    return cli.print(table(rows, cli.width));
  }
  const spec = registry.get(id);
  if (cli.json) return cli.printJson(providerJson(spec, metadata, status));
  cli.print(providerLines(cli, spec, metadata, status).join('\n'));
}

function paramsText(info: ConnectionInfo): string {
  return (
    Object.entries(info.params)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ') || '—'
  );
}

export interface ListOptions {
  limit?: string;
  after?: string;
  provider?: string;
  status?: string;
  prefix?: string;
  all?: boolean;
}

const STATUSES = ['active', 'needs_reauth', 'revoked'] as const;
const DEFAULT_PAGE = 100;
const STREAM_PAGE = 500;

/** The flags of `baton list`, checked before anything is opened. */
function listQuery(opts: ListOptions): { query: ConnectionQuery; limit: number } {
  if (opts.all && opts.limit !== undefined)
    throw new UsageError(
      '--all lists every connection; --limit sets the size of one page.',
      'Use one of them.',
    );
  if (opts.all && opts.after !== undefined)
    throw new UsageError(
      '--all lists every connection from the first; --after starts a page.',
      'Use one of them.',
    );
  let limit = DEFAULT_PAGE;
  if (opts.limit !== undefined) {
    limit = Number(opts.limit);
    if (!/^\d+$/.test(opts.limit.trim()) || !Number.isSafeInteger(limit) || limit < 1)
      throw new UsageError(`--limit ${opts.limit} is not a positive whole number.`, 'Use e.g. --limit 50.');
  }
  if (opts.status !== undefined && !(STATUSES as readonly string[]).includes(opts.status))
    throw new UsageError(`--status ${opts.status} is not a status.`, `Use one of: ${STATUSES.join(', ')}.`);
  const query: ConnectionQuery = {};
  if (opts.after !== undefined) query.after = opts.after;
  if (opts.provider !== undefined) query.provider = opts.provider;
  if (opts.status !== undefined) query.status = opts.status as ConnectionInfo['status'];
  if (opts.prefix !== undefined) query.idPrefix = opts.prefix;
  return { query, limit: opts.all ? STREAM_PAGE : limit };
}

function listRow(cli: Cli, c: ConnectionInfo, now: number): string[] {
  return [
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
    // When the refresh token expires; an OAuth2 connection's without one given has no expiry.
    relative(c.refreshTokenExpiresAt, now, c.authMode === 'oauth2' ? 'no expiry' : '—'),
  ];
}

/** `show`'s refresh token line: whether there is one, and when it expires. */
function refreshText(info: ConnectionInfo, has: boolean | undefined, now: number): string {
  if (info.authMode !== 'oauth2') return '— (not used by this auth mode)';
  if (has === undefined) return 'not known now (the sealed record could not be opened)';
  if (!has) return 'none (the provider gave no refresh token)';
  return info.refreshTokenExpiresAt === null
    ? 'held, no expiry given'
    : `held, expires ${relative(info.refreshTokenExpiresAt, now)}`;
}

const HEADER = ['ID', 'PROVIDER', 'MODE', 'PARAMS', 'STATUS', 'ACCOUNT', 'TOKEN EXPIRES', 'REFRESH EXPIRES'];

/**
 * `baton list`: one page of connections in id order (`--limit`, default 100; the next page is
 * `--after` the last id), filtered by `--provider`, `--status`, `--prefix`; `--all` streams
 * every page, with a progress line on a terminal.
 */
export async function list(cli: Cli, opts: ListOptions = {}): Promise<void> {
  const { query, limit } = listQuery(opts);
  try {
    await cli.requireExisting();
  } catch (err) {
    // No store yet is an empty list, and stays that way: nothing is created by looking.
    if (!(err instanceof NoStore)) throw err;
    if (cli.json) return cli.printJson([]);
    return cli.note(`No connections yet: ${err.message} Create one with \`baton connect <provider>\`.`);
  }
  await cli.withBaton(
    async (baton) => {
      simulatorDownNote(cli);
      if (opts.all) return streamAll(cli, baton, query);
      // One more than the page says whether there is a next one.
      const found = await baton.list({ ...query, limit: limit + 1 });
      const page = found.slice(0, limit);
      const more = found.length > limit;
      const last = page[page.length - 1];
      if (cli.json) cli.printJson(page);
      else if (page.length === 0) {
        const filtered = Object.keys(query).length > 0;
        cli.note(
          filtered
            ? 'No connections match.'
            : 'No connections yet. Create one with `baton connect <provider>`.',
        );
      } else {
        const now = Date.now();
        cli.print(table([HEADER, ...page.map((c) => listRow(cli, c, now))], cli.width));
      }
      if (more && last && !cli.json) {
        const flags = [
          ...(opts.limit !== undefined ? [`--limit ${limit}`] : []),
          ...(opts.provider !== undefined ? [`--provider ${opts.provider}`] : []),
          ...(opts.status !== undefined ? [`--status ${opts.status}`] : []),
          ...(opts.prefix !== undefined ? [`--prefix ${opts.prefix}`] : []),
        ];
        cli.note(
          `${page.length} shown; more after ${last.id}: baton list ${[...flags, `--after ${last.id}`].join(' ')} (or --all)`,
        );
      }
    },
    { offline: true },
  );
}

/** A read-only command ran with the configured simulator down: say what that means. */
function simulatorDownNote(cli: Cli): void {
  if (!cli.simulatorDown) return;
  cli.note(
    `The simulator at ${cli.config().simulator} does not answer; this shows what is stored. Commands that call a provider (connect, token, request, refresh, doctor's connection checks) need it: start it with \`baton simulate\`.`,
  );
}

/** Every page, written as it arrives: a JSON array, or one table whose widths the first page sets. */
async function streamAll(cli: Cli, baton: Baton, query: ConnectionQuery): Promise<void> {
  const progress = Boolean(cli.stderr.isTTY);
  const total = progress ? await baton.count(query) : 0;
  let shown = 0;
  let widths: number[] | null = null;
  const now = Date.now();
  const clear = () => {
    if (progress) cli.stderr.write('\r\u001b[K');
  };
  if (cli.json) cli.stdout.write('[');
  let page: ConnectionInfo[] = [];
  for (let after = query.after; ; after = page[page.length - 1]?.id) {
    page = await baton.list({ ...query, limit: STREAM_PAGE, ...(after !== undefined ? { after } : {}) });
    clear();
    if (cli.json) {
      const items = page.map((c) => JSON.stringify(c, null, 2).replace(/^/gm, '  '));
      if (items.length > 0) cli.stdout.write(`${shown > 0 ? ',' : ''}\n${items.join(',\n')}`);
    } else if (page.length > 0) {
      const rows = page.map((c) => listRow(cli, c, now));
      if (!widths) {
        widths = columnWidths([HEADER, ...rows], cli.width);
        cli.print(tableRows([HEADER], widths));
      }
      cli.print(tableRows(rows, widths));
    }
    shown += page.length;
    if (progress && page.length === STREAM_PAGE)
      cli.stderr.write(
        `${shown.toLocaleString('en-US')} of ${Math.max(total, shown).toLocaleString('en-US')} listed…`,
      );
    if (page.length < STREAM_PAGE) break;
  }
  if (cli.json) cli.stdout.write(shown > 0 ? '\n]\n' : ']\n');
  else if (shown === 0) cli.note('No connections match.');
  if (progress && shown > 0) cli.note(`${shown.toLocaleString('en-US')} listed.`);
}

export async function show(cli: Cli, id: string, opts: { reveal?: boolean }): Promise<void> {
  await cli.withBaton(
    async (baton) => {
      simulatorDownNote(cli);
      const info = await baton.get(id);
      const secrets = opts.reveal ? await baton.reveal(id) : undefined;
      // Whether a refresh token is held is read from the sealed part (never printed without
      // --reveal); unknown when it cannot be unsealed now (a simulator that is down).
      const hasRefresh =
        info.authMode === 'oauth2'
          ? await (secrets ? Promise.resolve(secrets) : baton.reveal(id)).then(
              (s) => Boolean(s.tokens?.refreshToken),
              () => undefined,
            )
          : false;
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
        ['refresh token', refreshText(info, hasRefresh, now)],
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
    },
    // Revealing unseals with the simulator's clients: that needs it.
    { offline: !opts.reveal },
  );
}
