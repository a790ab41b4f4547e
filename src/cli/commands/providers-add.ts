import { existsSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { ConfigError, NetworkError, ProviderError } from '../../errors.js';
import { fetchServerMetadata, type ServerMetadata } from '../../protocol/discovery.js';
import { checkIssuer } from '../../protocol/issuer.js';
import { presets } from '../../providers/presets/index.js';
import { ProviderRegistry } from '../../providers/registry.js';
import type { ProviderSpec } from '../../providers/spec.js';
import { findConfigFile, readConfigFile } from '../config.js';
import { envName } from '../program.js';
import type { Cli } from '../runtime.js';
import { parseScopes, UsageError } from '../usage.js';
import { providerJson, providerLines } from './inspect.js';

export interface ProvidersAddOptions {
  issuer: string;
  scope?: string[];
  force?: boolean;
  dpop?: boolean;
}

/** What `providers add` writes for a provider: its issuer and, when there are any, its scopes. */
interface Entry {
  issuer: string;
  scopes?: string[];
  dpop?: true;
}

/** The nearest config file (or --config), else a new baton.config.json in the working directory. */
function configPath(cli: Cli): string {
  const flag = cli.globals.config;
  if (flag) return resolve(cli.cwd, flag);
  return findConfigFile(cli.cwd) ?? join(cli.cwd, 'baton.config.json');
}

/**
 * The file's text with `providers.<id>` set to `entry`. JSON is parsed and written again;
 * YAML is edited as a document, so its comments and layout survive.
 */
function withProvider(path: string, text: string, id: string, entry: Entry): string {
  if (path.endsWith('.json')) {
    const raw = (text.trim() === '' ? {} : (JSON.parse(text) ?? {})) as Record<string, unknown>;
    const providers = (raw['providers'] ?? {}) as Record<string, unknown>;
    raw['providers'] = { ...providers, [id]: entry };
    return `${JSON.stringify(raw, null, 2)}\n`;
  }
  const YAML = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  const doc = YAML.parseDocument(text);
  const providers = doc.get('providers');
  if (YAML.isMap(providers)) providers.set(id, doc.createNode(entry));
  else doc.set('providers', doc.createNode({ [id]: entry }));
  return doc.toString();
}

/** Replaces the file in one step (a reader sees the old file or the new one), keeping its mode. */
function writeAtomically(path: string, text: string): void {
  const mode = existsSync(path) ? statSync(path).mode & 0o777 : 0o600;
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text, { mode });
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // Never written.
    }
    throw new ConfigError(
      `The config file ${path} could not be written.`,
      'Check the directory and its permissions.',
      {
        cause: err,
      },
    );
  }
}

/** The error, saying the config file was left alone (and how to retry, where the library's words speak of retries). */
function untouched(err: unknown, path: string, issuer: string): unknown {
  const note = `Nothing was written to ${path}.`;
  if (err instanceof NetworkError)
    return new NetworkError(err.message, {
      provider: err.provider,
      cause: err.cause,
      remediation: `Check the issuer URL and that ${issuer} is reachable from here, then run the command again. ${note}`,
    });
  if (err instanceof ProviderError)
    return new ProviderError(
      err.message,
      { status: err.status, excerpt: err.excerpt, providerCode: err.providerCode },
      {
        provider: err.provider,
        remediation: `The authorization server is failing; run the command again later. ${note}`,
      },
    );
  if (err instanceof ConfigError)
    return new ConfigError(err.message, `${err.remediation} ${note}`, { provider: err.provider });
  return err;
}

/** The environment variables a provider's client is read from (README, "Configuration"). */
function clientVariables(id: string): { name: string; what: string }[] {
  return [
    { name: envName(id, 'CLIENT_ID'), what: 'the client id the authorization server issued' },
    { name: envName(id, 'CLIENT_SECRET'), what: 'its secret (client_secret_basic, _post or _jwt)' },
    { name: envName(id, 'PRIVATE_KEY'), what: 'or its private key, PEM or JWK (clientAuth private_key_jwt)' },
    { name: envName(id, 'KEY_ID'), what: "that key's id, when the JWK has no kid" },
    { name: envName(id, 'REDIRECT_URI'), what: 'the redirect URI registered (default: a loopback listener)' },
  ];
}

/**
 * `baton providers add <id> --issuer <url>`: reads the issuer's metadata now and, when it is
 * valid and makes a usable spec, writes `providers.<id>: { issuer, scopes }` into the config
 * file. Nothing secret is written: the client comes from the environment. On any error the
 * file is left as it was.
 */
export async function providersAdd(cli: Cli, id: string, opts: ProvidersAddOptions): Promise<void> {
  if (!/^[a-z][a-z0-9_-]*$/.test(id))
    throw new UsageError(
      `"${id}" is not a provider id.`,
      'Use lower-case letters, digits, - and _, starting with a letter (e.g. acme).',
    );
  try {
    checkIssuer(opts.issuer, id);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new UsageError(
      `--issuer ${JSON.stringify(opts.issuer)} is not an issuer: an https URL without query or fragment (plain http only on a loopback host).`,
      `Give the authorization server's issuer identifier exactly as it publishes it, e.g. baton providers add ${id} --issuer https://id.example.com.`,
    );
  }
  const scopes = parseScopes(opts.scope);
  const path = configPath(cli);
  const exists = existsSync(path);
  const current = exists ? readConfigFile(path) : {};
  const again = `baton providers add ${id} --issuer ${opts.issuer}${opts.scope ? ` --scope ${scopes?.join(',')}` : ''}${opts.dpop ? ' --dpop' : ''} --force`;
  if (current.providers?.[id] !== undefined && !opts.force)
    throw new UsageError(
      `The provider ${id} is already in ${path}.`,
      `Replace it with --force (${again}), or choose another id.`,
    );
  if (presets[id] !== undefined && current.providers?.[id] === undefined && !opts.force)
    throw new UsageError(
      `${id} is a built-in provider.`,
      `Choose another id (e.g. ${id}-oidc), or give the built-in ${id} this issuer with --force (${again}).`,
    );

  // The metadata now, validated; then the spec Baton would build from it, before any write.
  let metadata: ServerMetadata;
  let spec: ProviderSpec;
  let entry: Entry;
  try {
    ({ metadata } = await fetchServerMetadata(opts.issuer, id, {}));
    const openid =
      metadata.source.endsWith('/.well-known/openid-configuration') ||
      metadata.scopesSupported.includes('openid');
    entry = { issuer: opts.issuer };
    const chosen = scopes ?? (openid ? ['openid'] : undefined);
    if (chosen) entry.scopes = chosen;
    if (opts.dpop) entry.dpop = true;
    spec = ProviderRegistry.create({ [id]: entry }).applyMetadata(id, metadata);
  } catch (err) {
    throw untouched(err, path, opts.issuer);
  }
  const unknown =
    metadata.scopesSupported.length > 0
      ? (entry.scopes ?? []).filter((s) => !metadata.scopesSupported.includes(s))
      : [];
  const warnings = unknown.map(
    (s) => `The issuer does not list the scope ${s} in its scopes_supported; it may refuse it.`,
  );

  writeAtomically(path, withProvider(path, exists ? readFileSync(path, 'utf8') : '', id, entry));
  const variables = clientVariables(id);
  if (cli.json) {
    return cli.printJson({
      id,
      file: path,
      created: !exists,
      replaced: current.providers?.[id] !== undefined,
      entry,
      provider: providerJson(spec, metadata, undefined),
      environment: variables.map((v) => v.name),
      warnings,
    });
  }
  cli.print(
    `${cli.out.green('✓')} ${id} ${current.providers?.[id] !== undefined ? 'replaced in' : 'added to'} ${path}${exists ? '' : ' (created)'}: issuer ${opts.issuer}${entry.scopes ? `, scopes ${entry.scopes.join(' ')}` : ''}`,
  );
  cli.print('');
  cli.print(providerLines(cli, spec, metadata, undefined).join('\n'));
  cli.print('');
  cli.print('Its client goes in the environment, never in the file:');
  const width = Math.max(...variables.map((v) => v.name.length));
  for (const v of variables) cli.print(`  ${v.name.padEnd(width)}  ${cli.out.dim(v.what)}`);
  cli.print(`Then: baton connect ${id}`);
  for (const w of warnings) cli.note(`${cli.err.yellow('!')} ${w}`);
}
