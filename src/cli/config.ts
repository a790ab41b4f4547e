import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type { ClientsOption } from '../core/clients.js';
import { ConfigError } from '../errors.js';
import type { ProviderOverride } from '../providers/spec.js';
import { checkUrlFlag, UsageError } from './usage.js';

/** Where a setting came from, for `baton doctor`. */
export type Source = 'flag' | 'env' | 'config' | 'default';

export interface FileConfig {
  store?: string;
  keyFile?: string;
  simulator?: string;
  clients?: ClientsOption;
  providers?: Record<string, ProviderOverride>;
}

export interface ResolvedConfig {
  store: string | undefined;
  keyFile: string | undefined;
  simulator: string | undefined;
  clients: ClientsOption;
  providers: Record<string, ProviderOverride>;
  /** The config file that was read, if any. */
  file: string | undefined;
  sources: Record<'store' | 'secretKey' | 'keyFile' | 'simulator', Source>;
}

export interface ConfigFlags {
  store?: string | undefined;
  keyFile?: string | undefined;
  simulator?: string | undefined;
  config?: string | undefined;
}

const FILE_NAMES = ['baton.config.json', 'baton.config.yaml', 'baton.config.yml'];

/** The nearest baton.config.{json,yaml,yml} from `cwd` up to the filesystem root. */
export function findConfigFile(cwd: string): string | undefined {
  let dir = resolve(cwd);
  for (;;) {
    for (const name of FILE_NAMES) {
      const candidate = join(dir, name);
      if (existsSync(candidate)) return candidate;
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

export function readConfigFile(path: string): FileConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `The config file ${path} could not be read.`,
      'Check the path and its permissions.',
      { cause: err },
    );
  }
  let value: unknown;
  try {
    // The YAML parser loads only for a YAML file (cold start).
    value = path.endsWith('.json')
      ? JSON.parse(text)
      : (createRequire(import.meta.url)('yaml') as typeof import('yaml')).parse(text);
  } catch (err) {
    // Parsers quote the text around the error, which may be a client secret: drop the quotes.
    const first = err instanceof Error ? (err.message.split('\n')[0] ?? '') : 'parse error';
    const why = first.replace(/"(?:[^"\\]|\\.)*"/g, '…').replace(/'(?:[^'\\]|\\.)*'/g, '…');
    throw new ConfigError(
      `The config file ${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${why}`,
      'Fix the syntax error it names.',
    );
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(
      `The config file ${path} must hold an object.`,
      'See the README section "Configuration" for its shape.',
    );
  }
  const config = value as Record<string, unknown>;
  const known = new Set(['store', 'keyFile', 'simulator', 'clients', 'providers']);
  for (const key of Object.keys(config)) {
    if (!known.has(key)) {
      throw new ConfigError(
        `The config file ${path} has an unknown key "${key}".`,
        `Use only: ${[...known].join(', ')}.`,
      );
    }
  }
  for (const key of ['store', 'keyFile', 'simulator'] as const) {
    if (config[key] !== undefined && typeof config[key] !== 'string') {
      throw new ConfigError(`"${key}" in ${path} must be a string.`, `Set ${key} to a string value.`);
    }
  }
  for (const key of ['clients', 'providers'] as const) {
    const v = config[key];
    if (v !== undefined && (typeof v !== 'object' || v === null || Array.isArray(v))) {
      throw new ConfigError(
        `"${key}" in ${path} must be an object keyed by provider id.`,
        'See the README section "Configuration".',
      );
    }
  }
  return config as FileConfig;
}

/** The store specs the command line accepts (README "Configuration"). */
export const STORE_SPEC = /^(memory:?|sqlite:.+|postgres(ql)?:\/\/.+|.+\.(db|sqlite3?))$/i;

/** A store spec given to the command line (--store, --from, --to, BATON_STORE): a usage error if it is none. */
export function checkStoreFlag(flag: string, value: string): string {
  if (!STORE_SPEC.test(value.trim()))
    throw new UsageError(
      `${flag} "${value}" is not a store.`,
      `Use ${flag} with 'sqlite:<path>', 'postgres://user@host/db' or 'memory:'.`,
    );
  return value;
}

/**
 * The store and simulator settings in force are checked before anything opens: a bad value is a
 * usage error (exit 2) naming where it came from.
 */
export function checkSettings(config: ResolvedConfig): void {
  const where = (flag: string, env: string, key: 'store' | 'simulator') =>
    ({ flag, env, config: `"${key}" in ${config.file}`, default: flag })[config.sources[key]];
  if (config.store !== undefined) checkStoreFlag(where('--store', 'BATON_STORE', 'store'), config.store);
  if (config.simulator)
    checkUrlFlag(
      where('--simulator', 'BATON_SIMULATOR', 'simulator'),
      config.simulator,
      'http://127.0.0.1:4010',
    );
}

/** Flags, then environment, then the config file, then defaults — per setting. */
export function resolveConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv, cwd: string): ResolvedConfig {
  const file = flags.config ? resolve(cwd, flags.config) : findConfigFile(cwd);
  if (flags.config && !existsSync(file as string)) {
    throw new ConfigError(`The config file ${flags.config} does not exist.`, 'Check the --config path.');
  }
  const fileConfig = file ? readConfigFile(file) : {};
  const pick = (flag: string | undefined, envValue: string | undefined, fromFile: string | undefined) => {
    if (flag !== undefined) return { value: flag, source: 'flag' as const };
    if (envValue) return { value: envValue, source: 'env' as const };
    if (fromFile !== undefined) return { value: fromFile, source: 'config' as const };
    return { value: undefined, source: 'default' as const };
  };
  const store = pick(flags.store, env['BATON_STORE'], fileConfig.store);
  const keyFile = pick(flags.keyFile, env['BATON_KEY_FILE'], fileConfig.keyFile);
  const simulator = pick(flags.simulator, env['BATON_SIMULATOR'], fileConfig.simulator);
  return {
    store: store.value,
    keyFile: keyFile.value,
    simulator: simulator.value,
    clients: fileConfig.clients ?? {},
    providers: fileConfig.providers ?? {},
    file,
    sources: {
      store: store.source,
      keyFile: keyFile.source,
      simulator: simulator.source,
      secretKey: env['BATON_SECRET_KEY'] ? 'env' : 'default',
    },
  };
}
