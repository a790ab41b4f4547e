import { ConfigError } from '../../errors.js';
import type { Cli } from '../runtime.js';

/**
 * `baton token`: what shell scripts call on every use, so a token that needs no refresh is
 * read without loading the HTTP stack (docs/benchmarks.md, cold start); anything else — a
 * refresh, a status to explain, a simulator to ask — goes through Baton.
 */
export async function token(cli: Cli, id: string): Promise<void> {
  await cli.requireExisting();
  if (!cli.json && !cli.config().simulator) {
    const { peekAccessToken } = await import('../../core/peek.js');
    const fresh = await peekAccessToken(cli.options(), id);
    if (fresh !== undefined) {
      cli.stdout.write(`${fresh}\n`);
      return;
    }
  }
  await cli.withBaton(async (baton) => {
    // What the server's token release hands out, and refuses: a DPoP-bound token is useless
    // without its key (README, "DPoP").
    const released = await baton.release(id);
    const accessToken = released.accessToken;
    if (accessToken === null) {
      throw new ConfigError(
        `Connection "${id}" uses ${released.authMode} credentials and has no access token.`,
        `Use \`baton request ${id} <path>\`, which sends the right credentials for every auth mode.`,
        { connectionId: id, provider: released.provider },
      );
    }
    if (cli.json) return cli.printJson({ id, accessToken, expiresAt: released.expiresAt });
    cli.stdout.write(`${accessToken}\n`);
  });
}
