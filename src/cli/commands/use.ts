import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { relative } from '../format.js';
import { type Cli, collectList, command, UsageError } from '../runtime.js';

export function tokenCommand(cli: Cli): Command {
  return command('token')
    .description('Print a valid access token (refreshed first if due) and nothing else')
    .argument('<id>', 'connection id')
    .addHelpText(
      'after',
      '\nExample:\n  curl -H "Authorization: Bearer $(baton token alice)" https://api.cronofy.com/v1/userinfo',
    )
    .action((id: string) =>
      cli.withBaton(async (baton) => {
        const token = await baton.getAccessToken(id);
        if (cli.json) {
          const info = await baton.get(id);
          return cli.printJson({ id, accessToken: token, expiresAt: info.accessTokenExpiresAt });
        }
        cli.stdout.write(`${token}\n`);
      }),
    );
}

function parseHeaders(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of list) {
    const i = h.indexOf(':');
    if (i <= 0) throw new UsageError(`"${h}" is not a header.`, 'Write headers as -H "Name: value".');
    out[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
  }
  return out;
}

export function requestCommand(cli: Cli): Command {
  return command('request')
    .description("Make an authenticated request to the connection's API")
    .argument('<id>', 'connection id')
    .argument('<path>', "a path under the provider's API base, e.g. api/3.0/ping")
    .option('-X, --method <method>', 'HTTP method', 'GET')
    .option('-H, --header <header>', 'extra header "Name: value" (repeatable)', collectList, [])
    .option('-d, --data <body>', 'request body, or @file to read it from a file')
    .addHelpText(
      'after',
      '\nExamples:\n  baton request acme api/3.0/booking\n  baton request alice v1/userinfo --json\n  baton request acme api/3.0/booking -X POST -d @booking.json -H "Content-Type: application/json"',
    )
    .action((id: string, path: string, opts: { method: string; header: string[]; data?: string }) =>
      cli.withBaton(async (baton) => {
        const headers = parseHeaders(opts.header);
        let body: string | undefined;
        if (opts.data !== undefined) {
          body = opts.data.startsWith('@') ? readFileSync(opts.data.slice(1), 'utf8') : opts.data;
          headers['content-type'] ??= body.trimStart().startsWith('{')
            ? 'application/json'
            : 'application/x-www-form-urlencoded';
        }
        const started = performance.now();
        const res = await baton.fetch(id, path, {
          method: opts.method.toUpperCase(),
          headers,
          ...(body !== undefined ? { body } : {}),
        });
        const text = await res.text();
        const ms = Math.round(performance.now() - started);
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        if (cli.json) {
          cli.printJson({
            status: res.status,
            headers: Object.fromEntries(res.headers),
            body: parsed ?? text,
            durationMs: ms,
          });
        } else {
          const colour = res.status < 300 ? cli.err.green : res.status < 400 ? cli.err.yellow : cli.err.red;
          cli.note(
            cli.err.dim(`${colour(String(res.status))} ${opts.method.toUpperCase()} ${path} ${ms} ms`),
          );
          if (parsed !== undefined && cli.stdout.isTTY) cli.print(JSON.stringify(parsed, null, 2));
          else cli.stdout.write(text);
        }
        if (res.status >= 400) process.exitCode = 1;
      }),
    );
}

export function refreshCommand(cli: Cli): Command {
  return command('refresh')
    .description('Refresh the access token now if it is due (or always, with --force)')
    .argument('<id>', 'connection id')
    .option('--force', 'refresh even if the token is still valid')
    .addHelpText('after', '\nExamples:\n  baton refresh alice\n  baton refresh alice --force --json')
    .action((id: string, opts: { force?: boolean }) =>
      cli.withBaton(async (baton) => {
        const info = await baton.refresh(id, { force: Boolean(opts.force) });
        if (cli.json) return cli.printJson(info);
        cli.print(
          `${cli.out.green('✓')} ${id}: access token valid ${relative(info.accessTokenExpiresAt, Date.now(), 'until revoked')}`,
        );
      }),
    );
}

export function revokeCommand(cli: Cli): Command {
  return command('revoke')
    .description(
      'Revoke the grant at the provider (RFC 7009, where supported) and mark the connection revoked',
    )
    .argument('<id>', 'connection id')
    .addHelpText('after', '\nExample:\n  baton revoke alice')
    .action((id: string) =>
      cli.withBaton(async (baton) => {
        const result = await baton.revoke(id);
        if (cli.json) return cli.printJson({ id, ...result });
        cli.print(
          result.revokedAtProvider
            ? `${cli.out.green('✓')} ${id} revoked at the provider and marked revoked.`
            : `${cli.out.green('✓')} ${id} marked revoked (the provider has no revocation endpoint; its tokens lapse on their own).`,
        );
      }),
    );
}

export function removeCommand(cli: Cli): Command {
  return command('remove')
    .alias('rm')
    .description('Delete the connection and its secrets from the store (does not revoke)')
    .argument('<id>', 'connection id')
    .addHelpText('after', '\nExample:\n  baton revoke alice && baton remove alice')
    .action((id: string) =>
      cli.withBaton(async (baton) => {
        const existed = await baton.remove(id);
        if (cli.json) return cli.printJson({ id, removed: existed });
        if (!existed) {
          cli.note(`No connection named "${id}" is stored.`);
          process.exitCode = 1;
          return;
        }
        cli.print(`${cli.out.green('✓')} ${id} removed.`);
      }),
    );
}
