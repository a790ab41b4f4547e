import type { Cli } from '../runtime.js';

/**
 * `baton token`: what shell scripts call on every use, so a token that needs no refresh is
 * read without loading the HTTP stack (README "Benchmark", cold start); anything else — a
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
    const accessToken = await baton.getAccessToken(id);
    if (cli.json) {
      const info = await baton.get(id);
      return cli.printJson({ id, accessToken, expiresAt: info.accessTokenExpiresAt });
    }
    cli.stdout.write(`${accessToken}\n`);
  });
}
