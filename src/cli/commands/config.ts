import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../../errors.js';
import { findConfigFile, readConfigFile, STORE_SPEC } from '../config.js';
import type { Cli } from '../runtime.js';
import { UsageError } from '../usage.js';

const TOP = ['store', 'keyFile', 'simulator'] as const;
const CLIENT_FIELDS = ['clientId', 'clientSecret', 'redirectUri'] as const;
const KEYS = `store, keyFile, simulator, clients.<provider>.${CLIENT_FIELDS.join('|')}`;

type Key = { top: (typeof TOP)[number] } | { provider: string; field: (typeof CLIENT_FIELDS)[number] };

function parseKey(key: string): Key {
  if ((TOP as readonly string[]).includes(key)) return { top: key as (typeof TOP)[number] };
  const m = /^clients\.([a-z0-9_-]+)\.([A-Za-z]+)$/.exec(key);
  if (m && (CLIENT_FIELDS as readonly string[]).includes(m[2] as string))
    return { provider: m[1] as string, field: m[2] as (typeof CLIENT_FIELDS)[number] };
  throw new UsageError(`"${key}" is not a setting baton config knows.`, `Use one of: ${KEYS}.`);
}

const masked = (field: string, value: unknown) =>
  field === 'clientSecret' && typeof value === 'string' ? '(set, hidden)' : String(value);

function file(cli: Cli): string | undefined {
  const flag = cli.globals.config;
  if (flag) return resolve(cli.cwd, flag);
  return findConfigFile(cli.cwd);
}

function clientEntry(raw: Record<string, unknown>, provider: string): Record<string, unknown> | undefined {
  const clients = raw['clients'] as Record<string, unknown> | undefined;
  const entry = clients?.[provider];
  if (Array.isArray(entry))
    throw new ConfigError(
      `clients.${provider} in the config file is a list of registrations by params.`,
      'Edit that list in the file itself; baton config handles one client per provider.',
    );
  return entry as Record<string, unknown> | undefined;
}

export async function configGet(cli: Cli, key: string): Promise<void> {
  const k = parseKey(key);
  const path = file(cli);
  const raw = path ? (readConfigFile(path) as Record<string, unknown>) : {};
  const value = 'top' in k ? raw[k.top] : clientEntry(raw, k.provider)?.[k.field];
  if (cli.json)
    return cli.printJson({
      key,
      value: value === undefined ? null : 'top' in k ? value : masked(k.field, value),
      file: path ?? null,
    });
  if (value === undefined) {
    cli.note(`${key} is not set${path ? ` in ${path}` : ' (no baton.config.json found)'}.`);
    process.exitCode = 1;
    return;
  }
  cli.print('top' in k ? String(value) : masked(k.field, value));
}

export async function configSet(cli: Cli, key: string, value: string): Promise<void> {
  const k = parseKey(key);
  const found = file(cli);
  const path = found ?? join(cli.cwd, 'baton.config.json');
  if (!path.endsWith('.json'))
    throw new ConfigError(
      `baton config writes JSON, and the config file in force is ${path}.`,
      'Edit that YAML file yourself, or convert it to baton.config.json.',
    );
  if ('top' in k && k.top === 'store' && !STORE_SPEC.test(value))
    throw new UsageError(
      `"${value}" is not a store.`,
      "Use 'sqlite:<path>', 'postgres://user@host/db' or 'memory:'.",
    );
  if ('top' in k && k.top === 'simulator' && !/^https?:\/\/.+/.test(value))
    throw new UsageError(`"${value}" is not a simulator URL.`, 'Use e.g. http://127.0.0.1:4010.');
  const raw = existsSync(path)
    ? (JSON.parse(readFileSync(path, 'utf8') || '{}') as Record<string, unknown>)
    : {};
  if (existsSync(path)) readConfigFile(path); // refuses a file that is already invalid
  if ('top' in k) raw[k.top] = value;
  else {
    const entry = clientEntry(raw, k.provider) ?? {};
    raw['clients'] ??= {};
    const clients = raw['clients'] as Record<string, Record<string, unknown>>;
    clients[k.provider] = { ...entry, [k.field]: value };
  }
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(raw, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
  if (cli.json) return cli.printJson({ key, file: path });
  cli.print(`${cli.out.green('✓')} ${key} set in ${path}`);
  if ('field' in k && k.field === 'clientSecret')
    cli.note(
      `${cli.err.yellow('!')} A secret in a file: prefer BATON_${k.provider.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_CLIENT_SECRET in the environment, and keep the file out of version control.`,
    );
}

export async function configList(cli: Cli): Promise<void> {
  const config = cli.config();
  const rows: { key: string; value: string | null; source: string }[] = [
    { key: 'store', value: config.store ?? null, source: config.sources.store },
    { key: 'keyFile', value: config.keyFile ?? null, source: config.sources.keyFile },
    { key: 'simulator', value: config.simulator ?? null, source: config.sources.simulator },
  ];
  for (const [provider, entry] of Object.entries(config.clients)) {
    for (const [i, reg] of (Array.isArray(entry) ? entry : [entry]).entries()) {
      const at = Array.isArray(entry) ? `clients.${provider}[${i}]` : `clients.${provider}`;
      for (const field of CLIENT_FIELDS) {
        const v = (reg as unknown as Record<string, unknown>)[field];
        if (v !== undefined) rows.push({ key: `${at}.${field}`, value: masked(field, v), source: 'config' });
      }
    }
  }
  for (const name of Object.keys(cli.env).sort()) {
    const m = /^BATON_(.+)_(CLIENT_ID|CLIENT_SECRET|REDIRECT_URI)$/.exec(name);
    if (m && cli.env[name])
      rows.push({
        key: name,
        value: m[2] === 'CLIENT_SECRET' ? '(set, hidden)' : (cli.env[name] as string),
        source: 'env',
      });
  }
  if (cli.json) return cli.printJson({ file: config.file ?? null, settings: rows });
  cli.print(
    `${cli.out.dim('file')}  ${config.file ?? '(none found; `baton config set` creates ./baton.config.json)'}`,
  );
  const width = Math.max(...rows.map((r) => r.key.length));
  for (const r of rows)
    cli.print(
      `${r.key.padEnd(width)}  ${r.value ?? cli.out.dim('(default)')}  ${cli.out.dim(`[${r.source}]`)}`,
    );
}
