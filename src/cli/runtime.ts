import { Command } from 'commander';
import { Baton, type BatonOptions } from '../core/baton.js';
import { connectSimulator } from '../core/simulator-profile.js';
import { BatonError, ConfigError, ReauthorizationRequired } from '../errors.js';
import { type ResolvedConfig, resolveConfig } from './config.js';
import { type Paint, paint, useColor } from './format.js';

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

/** What a command talks to: the process's streams and environment, and the global flags. */
export class Cli {
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  readonly stdin: NodeJS.ReadStream;
  #opts: GlobalOptions = {};
  #config: ResolvedConfig | undefined;

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

  setGlobals(opts: GlobalOptions): void {
    this.#opts = opts;
  }

  get globals(): GlobalOptions {
    return this.#opts;
  }

  get json(): boolean {
    return Boolean(this.#opts.json);
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
    this.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  printJson(value: unknown): void {
    this.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  config(): ResolvedConfig {
    this.#config ??= resolveConfig(
      {
        store: this.#opts.store,
        keyFile: this.#opts.keyFile,
        config: this.#opts.config,
        simulator: this.#opts.simulator,
      },
      this.env,
      this.cwd,
    );
    return this.#config;
  }

  /** A Baton over the resolved configuration; with a simulator configured, its endpoints and clients. */
  async openBaton(extra: Partial<BatonOptions> = {}): Promise<Baton> {
    const config = this.config();
    let providers = config.providers;
    let clients = config.clients;
    if (config.simulator) {
      const profile = await connectSimulator(config.simulator);
      providers = mergeOverrides(profile.providers, providers);
      clients = { ...profile.clients, ...clients };
    }
    // Environment beats the config file (and a simulator's clients) for a provider's client.
    clients = Object.fromEntries(
      Object.entries(clients).filter(
        ([provider]) => !this.env[`BATON_${provider.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_CLIENT_ID`],
      ),
    );
    return Baton.open({
      ...(config.store ? { store: config.store } : {}),
      ...(config.keyFile ? { keyFile: config.keyFile } : {}),
      providers,
      clients,
      env: this.env,
      ...extra,
    });
  }

  /** Runs `fn` with an open Baton and closes it whatever happens. */
  async withBaton<T>(fn: (baton: Baton) => Promise<T>, extra: Partial<BatonOptions> = {}): Promise<T> {
    const baton = await this.openBaton(extra);
    try {
      return await fn(baton);
    } finally {
      await baton.close();
    }
  }
}

function mergeOverrides<T extends object>(a: Record<string, T>, b: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = { ...(out[k] ?? {}), ...v } as T;
  return out;
}

/** A usage error: exit 2 with the message and what to type instead. */
export class UsageError extends ConfigError {}

export function exitCodeFor(err: unknown): number {
  if (err instanceof ReauthorizationRequired) return EXIT.reauth;
  if (err instanceof UsageError) return EXIT.usage;
  return EXIT.failure;
}

/** Prints an error as a person needs it: what happened, then what to do. Stack only with --debug. */
export function reportError(cli: Cli, err: unknown): number {
  const code = exitCodeFor(err);
  if (cli.json) {
    const body =
      err instanceof BatonError
        ? err.toJSON()
        : { name: 'Error', code: 'internal', message: String((err as Error)?.message ?? err) };
    cli.stderr.write(`${JSON.stringify({ error: body })}\n`);
  } else if (err instanceof BatonError) {
    cli.note(`${cli.err.red('error')} ${err.message}`);
    cli.note(`${cli.err.dim('→')} ${err.remediation}`);
  } else {
    cli.note(`${cli.err.red('error')} ${(err as Error)?.message ?? String(err)}`);
    cli.note(`${cli.err.dim('→')} This is unexpected; run again with --debug and report the output.`);
  }
  if (cli.globals.debug && err instanceof Error && err.stack) cli.note(err.stack);
  return code;
}

/** Collects repeatable `--param k=v` flags. */
export function collectPairs(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const i = value.indexOf('=');
  if (i <= 0)
    throw new UsageError(`"${value}" is not of the form key=value.`, 'Write it as --param company=acme.');
  return { ...previous, [value.slice(0, i)]: value.slice(i + 1) };
}

export function collectList(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export type CommandFactory = (cli: Cli) => Command;

export function command(name: string): Command {
  return new Command(name);
}
