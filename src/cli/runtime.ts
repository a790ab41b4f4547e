import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Baton, BatonOptions } from '../core/baton.js';
import {
  BatonError,
  ConfigError,
  ConnectionMismatch,
  InvalidClient,
  ReauthorizationRequired,
  redact,
  SecretKeyError,
} from '../errors.js';
import { checkSettings, type ResolvedConfig, resolveConfig } from './config.js';
import { type Paint, paint, useColor } from './format.js';
import { batonOptions, envWins } from './options.js';
import { UsageError } from './usage.js';

export { collectList, collectPairs, UsageError } from './usage.js';

export const EXIT = { ok: 0, failure: 1, usage: 2, reauth: 3 } as const;

export interface GlobalOptions {
  store?: string;
  keyFile?: string;
  config?: string;
  simulator?: string;
  json?: boolean;
  debug?: boolean;
  color?: boolean;
}

/** The store a read-only command was pointed at does not exist; nothing was created. */
export class NoStore extends ConfigError {}

/** What a command talks to: the process's streams and environment, and the global flags. */
export class Cli {
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  readonly stdin: NodeJS.ReadStream;
  #opts: GlobalOptions = {};
  #config: ResolvedConfig | undefined;
  #argvJson = false;
  #usageText = '';

  constructor(io: {
    env: NodeJS.ProcessEnv;
    cwd: string;
    stdout: NodeJS.WriteStream;
    stderr: NodeJS.WriteStream;
    stdin: NodeJS.ReadStream;
  }) {
    this.env = io.env;
    this.cwd = io.cwd;
    this.stdout = io.stdout;
    this.stderr = io.stderr;
    this.stdin = io.stdin;
  }

  /** The Cli of this process: its streams, environment and working directory. */
  static fromProcess(): Cli {
    return new Cli({
      env: process.env,
      cwd: process.cwd(),
      stdout: process.stdout,
      stderr: process.stderr,
      stdin: process.stdin,
    });
  }

  /** Before parsing: whether --json is on the command line, so usage errors can be JSON too. */
  sawJsonFlag(argv: string[]): void {
    const end = argv.indexOf('--');
    this.#argvJson = (end < 0 ? argv : argv.slice(0, end)).includes('--json');
  }

  /** Commander's own error text: printed as is, or kept for the JSON error under --json. */
  usageText(text: string): void {
    if (this.#argvJson) this.#usageText += text;
    else this.stderr.write(text);
  }

  takeUsageText(): string {
    const t = this.#usageText;
    this.#usageText = '';
    return t;
  }

  setGlobals(opts: GlobalOptions): void {
    this.#opts = opts;
  }

  get globals(): GlobalOptions {
    return this.#opts;
  }

  get json(): boolean {
    return Boolean(this.#opts.json) || this.#argvJson;
  }

  get out(): Paint {
    return paint(this.#opts.color !== false && useColor(this.stdout, this.env));
  }

  get err(): Paint {
    return paint(this.#opts.color !== false && useColor(this.stderr, this.env));
  }

  get interactive(): boolean {
    return Boolean(this.stdin.isTTY && this.stderr.isTTY);
  }

  get width(): number | undefined {
    return this.stdout.isTTY ? this.stdout.columns : undefined;
  }

  print(text: string): void {
    this.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  note(text: string): void {
    writeLine(this.stderr, text);
  }

  printJson(value: unknown): void {
    this.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  config(): ResolvedConfig {
    if (this.#config) return this.#config;
    const config = resolveConfig(
      {
        store: this.#opts.store,
        keyFile: this.#opts.keyFile,
        config: this.#opts.config,
        simulator: this.#opts.simulator,
      },
      this.env,
      this.cwd,
    );
    checkSettings(config);
    this.#config = config;
    return config;
  }

  /** BATON_HOME, checked: it must be a directory (or not exist yet). */
  home(): string | undefined {
    const home = this.env['BATON_HOME'];
    if (!home) return undefined;
    if (existsSync(home) && !statSync(home).isDirectory()) {
      throw new ConfigError(
        `BATON_HOME (${home}) is a file, not a directory.`,
        'Point BATON_HOME at a directory, or unset it to use the default data directory.',
      );
    }
    return home;
  }

  /** The store spec in force: flag, environment, config file, else the default SQLite file. */
  async storeSpec(): Promise<string> {
    const config = this.config();
    if (config.store) return config.store;
    this.home();
    const { defaultStoreSpec } = await import('../store/index.js');
    return defaultStoreSpec(this.env);
  }

  /** The path of a SQLite store spec, or undefined for other engines. */
  static sqlitePath(spec: string): string | undefined {
    const text = spec.trim();
    if (text.startsWith('sqlite:')) {
      const path = text.replace(/^sqlite:(\/\/)?/, '');
      return path && path !== ':memory:' ? resolve(path) : undefined;
    }
    if (/^[a-z][a-z0-9+.-]*:/i.test(text)) return undefined;
    return /\.(db|sqlite3?)$/i.test(text) ? resolve(text) : undefined;
  }

  /**
   * Commands that only read or change existing connections never create a store, a directory
   * or a key file: a missing SQLite file or key file is an error naming it.
   */
  async requireExisting(): Promise<void> {
    const spec = await this.storeSpec();
    const path = Cli.sqlitePath(spec);
    if (path && !existsSync(path)) {
      throw new NoStore(
        `The store sqlite:${path} does not exist; nothing was created.`,
        'Create a connection first (`baton connect <provider>`), or point --store / BATON_STORE at an existing store.',
      );
    }
    if (!this.env['BATON_SECRET_KEY']) {
      const config = this.config();
      const keyFile = config.keyFile ?? join(this.home() ?? (await this.dataDir()), 'secret.key');
      if (!existsSync(keyFile)) {
        throw new SecretKeyError(`The key file ${keyFile} does not exist; nothing was created.`, {
          remediation:
            'Set BATON_SECRET_KEY or --key-file to the key the store was sealed with (connections cannot be opened without it).',
        });
      }
    }
  }

  async dataDir(): Promise<string> {
    const { dataDir } = await import('../store/secret-key.js');
    return dataDir(this.env);
  }

  /** Baton.open's options from flags, environment and the config file (no simulator). */
  options(): BatonOptions {
    const config = this.config();
    this.home();
    return batonOptions(config, this.env);
  }

  /** Set when a read-only command opened the store while the configured simulator was down. */
  simulatorDown = false;

  /**
   * A Baton over the resolved configuration; with a simulator configured, its endpoints and
   * clients. `offline`: the command only reads the store, so a simulator that does not answer
   * is noted (`simulatorDown`) instead of failing it.
   */
  async openBaton(
    extra: Partial<BatonOptions> = {},
    opts: { create?: boolean; offline?: boolean } = {},
  ): Promise<Baton> {
    if (!opts.create) await this.requireExisting();
    const config = this.config();
    const options = this.options();
    if (config.simulator) {
      const { connectSimulator } = await import('../simulator-client/profile.js');
      // No redirect URI in the clients: `baton connect` listens on its own loopback one.
      const profile = await connectSimulator(config.simulator, null).catch((err: unknown) => {
        if (!opts.offline || !(err instanceof ConfigError)) throw err;
        this.simulatorDown = true;
        return undefined;
      });
      if (profile) {
        options.providers = mergeOverrides(profile.providers, config.providers);
        options.clients = envWins({ ...profile.clients, ...config.clients }, this.env);
      }
    }
    const { Baton } = await import('../core/baton.js');
    return Baton.open({ ...options, ...extra });
  }

  /** Runs `fn` with an open Baton and closes it whatever happens. */
  async withBaton<T>(
    fn: (baton: Baton) => Promise<T>,
    opts: { create?: boolean; offline?: boolean; extra?: Partial<BatonOptions> } = {},
  ): Promise<T> {
    const baton = await this.openBaton(opts.extra ?? {}, {
      create: opts.create ?? false,
      offline: opts.offline ?? false,
    });
    try {
      return await fn(baton);
    } finally {
      await baton.close();
    }
  }

  /** Asks before a destructive step: on a terminal a yes/no prompt, elsewhere `--yes` is required. */
  async confirm(question: string, yes: boolean | undefined, command: string): Promise<boolean> {
    if (yes) return true;
    if (!this.interactive) {
      throw new UsageError(
        `${command} changes what is stored and needs confirmation, and this is not a terminal.`,
        `Pass --yes to confirm: ${command} --yes`,
      );
    }
    const { confirm } = await import('@inquirer/prompts');
    return confirm({ message: question, default: false }, { input: this.stdin, output: this.stderr });
  }
}

function mergeOverrides<T extends object>(a: Record<string, T>, b: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = { ...(out[k] ?? {}), ...v } as T;
  return out;
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof ReauthorizationRequired) return EXIT.reauth;
  if (err instanceof UsageError) return EXIT.usage;
  return EXIT.failure;
}

/**
 * "…again.." from a message that quotes another sentence: one full stop is enough. Only a
 * doubled stop that ends a sentence (before a space, a line end or the end) is touched, and
 * never inside "double quotes" or `backticks`: those quote what the user typed (a path such as
 * ../../x, a value, a command), and nothing but redaction may change it.
 */
export function tidy(text: string): string {
  let out = '';
  let plain = '';
  let quote: string | undefined;
  const flush = (end = false) => {
    out += plain.replace(end ? /(?<!\.)\.\.(?=\s|$)/g : /(?<!\.)\.\.(?=\s)/g, '.');
    plain = '';
  };
  for (const ch of text) {
    if (quote) {
      out += ch;
      if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === '`') {
      flush();
      out += ch;
      quote = ch;
    } else plain += ch;
  }
  flush(true);
  return out;
}

/**
 * The library's remediations speak to a program (`Baton.open({ clients })`); on the command
 * line the same fix is an environment variable, a flag or baton.config.json: an error that
 * words it differently carries `cliRemediation` (BatonErrorOptions), set where it is made,
 * which wins here.
 */
export function cliRemediation(err: BatonError): string {
  return tidy(err.cliRemediation ?? err.remediation);
}

/**
 * With a simulator configured, a client mismatch or a client the provider does not know most
 * often means the simulator restarted: without --seed or --state it makes new clients each start.
 */
export function simulatorHint(cli: Pick<Cli, 'config'>, err: unknown): string | undefined {
  if (!(err instanceof ConnectionMismatch) && !(err instanceof InvalidClient)) return undefined;
  let url: string | undefined;
  try {
    url = cli.config().simulator;
  } catch {
    return undefined;
  }
  if (!url) return undefined;
  return `Did the simulator at ${url} restart? Without --seed or --state it makes new clients at every start: run it as \`baton simulate --state FILE\` so they survive restarts, then authorize again once with \`baton reconnect <id>\`.`;
}

function writeLine(stream: NodeJS.WriteStream, text: string): void {
  stream.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** What `reportError` needs of a Cli. */
export type Reporter = Pick<Cli, 'json' | 'globals' | 'err' | 'note' | 'config' | 'stderr'>;

/**
 * The Reporter of a command line with no flags, without building a Cli: what dist/cli/bin.cjs's
 * fast path of `baton token <id>` reports with, so it does not bundle the rest of the CLI.
 */
export function plainReporter(env: NodeJS.ProcessEnv, config: ResolvedConfig): Reporter {
  return {
    json: false,
    globals: {},
    stderr: process.stderr,
    err: paint(useColor(process.stderr, env)),
    note: (text) => writeLine(process.stderr, text),
    config: () => config,
  };
}

/** Prints an error as a person needs it: what happened, then what to do. Stack only with --debug. */
export function reportError(cli: Reporter, err: unknown): number {
  const code = exitCodeFor(err);
  if (cli.json) {
    const body =
      err instanceof BatonError
        ? { ...err.toJSON(), message: tidy(err.message), remediation: cliRemediation(err) }
        : { name: 'Error', code: 'internal', message: redact(String((err as Error)?.message ?? err)) };
    cli.stderr.write(`${JSON.stringify({ error: body })}\n`);
  } else if (err instanceof BatonError) {
    cli.note(`${cli.err.red('error')} ${tidy(err.message)}`);
    cli.note(`${cli.err.dim('→')} ${cliRemediation(err)}`);
    const hint = simulatorHint(cli, err);
    if (hint) cli.note(`${cli.err.dim('→')} ${hint}`);
  } else {
    cli.note(`${cli.err.red('error')} ${redact(String((err as Error)?.message ?? err))}`);
    cli.note(`${cli.err.dim('→')} This is unexpected; run again with --debug and report the output.`);
  }
  // Even --debug output passes through redaction (credential shapes, and a message's own secrets).
  if (cli.globals.debug && err instanceof Error && err.stack) cli.note(redact(err.stack));
  return code;
}
