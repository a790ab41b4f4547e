import { ConfigError } from '../../errors.js';
import type { Cli } from '../runtime.js';

/** Static modes (API key, token pair) send a header, not a token: there is nothing to print. */
export function noAccessToken(id: string, authMode: string, provider: string): ConfigError {
  return new ConfigError(
    `Connection "${id}" uses ${authMode} credentials and has no access token.`,
    `Use \`baton request ${id} <path>\`, which sends the right credentials for every auth mode.`,
    { connectionId: id, provider },
  );
}

export interface TokenOptions {
  /**
   * The caller already asked the store and found no token it may print as stored (bin.cjs's
   * fast path): go straight to Baton instead of opening the store to ask again.
   */
  peeked?: boolean;
}

/**
 * `baton token`: what shell scripts call on every use, so a token that needs no refresh — or a
 * static connection that has none — is answered without loading the HTTP stack (README
 * "Benchmark", cold start); anything else — a refresh, a status to explain, a simulator to
 * ask — goes through Baton.
 */
export async function token(cli: Cli, id: string, opts: TokenOptions = {}): Promise<void> {
  await cli.requireExisting();
  if (!opts.peeked && !cli.json && !cli.config().simulator) {
    const { peekAccessToken } = await import('../../core/peek.js');
    const peeked = await peekAccessToken(cli.options(), id);
    if (peeked && 'accessToken' in peeked) {
      cli.stdout.write(`${peeked.accessToken}\n`);
      return;
    }
    if (peeked) throw noAccessToken(id, peeked.staticMode, peeked.provider);
  }
  await cli.withBaton(async (baton) => {
    // What the server's token release hands out, and refuses: a DPoP-bound token is useless
    // without its key (README, "DPoP").
    const released = await baton.release(id);
    const accessToken = released.accessToken;
    if (accessToken === null) throw noAccessToken(id, released.authMode, released.provider);
    if (cli.json) return cli.printJson({ id, accessToken, expiresAt: released.expiresAt });
    cli.stdout.write(`${accessToken}\n`);
  });
}

/** `baton token <id>` with no flags, as main.js and the bundled dist/cli/token.cjs run it. */
export async function runToken(cli: Cli, id: string, opts: TokenOptions = {}): Promise<number> {
  const { EXIT, reportError } = await import('../runtime.js');
  try {
    await token(cli, id, opts);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    return reportError(cli, err);
  }
}
