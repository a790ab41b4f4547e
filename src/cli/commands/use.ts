import { readFileSync } from 'node:fs';
import type { Baton } from '../../core/baton.js';
import type { ConnectionInfo } from '../../core/connection-info.js';
import { UnsafeApiPath } from '../../providers/api-url.js';
import { relative } from '../format.js';
import type { Cli } from '../runtime.js';
import { UsageError } from '../usage.js';

/** RFC 9110 §5.6.2: a method and a header name are tokens. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function parseHeaders(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of list) {
    const i = h.indexOf(':');
    if (i <= 0) throw new UsageError(`"${h}" is not a header.`, 'Write headers as -H "Name: value".');
    const name = h.slice(0, i).trim();
    const value = h.slice(i + 1).trim();
    if (!TOKEN.test(name))
      throw new UsageError(
        `The header name "${name}" is not a valid token (RFC 9110).`,
        'Use letters, digits and - in header names.',
      );
    // biome-ignore lint/suspicious/noControlCharactersInRegex: CR, LF and NUL would split or end the header
    if (/[\r\n\u0000]/.test(value))
      throw new UsageError(
        `The value of header ${name} contains a line break or NUL; nothing was sent.`,
        'Give each header on one line: -H "Name: value".',
      );
    out[name.toLowerCase()] = value;
  }
  return out;
}

function readBody(data: string): Uint8Array | string {
  if (!data.startsWith('@')) return data;
  const path = data.slice(1);
  try {
    // The file's bytes, unchanged: no decoding, so binary and non-UTF-8 bodies arrive intact.
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new UsageError(
      `-d @${path}: the file could not be read (${code}); nothing was sent.`,
      'Check the path after @ (relative to the current directory), or pass the body inline with -d.',
    );
  }
}

export async function request(
  cli: Cli,
  id: string,
  path: string,
  opts: { method: string; header?: string[]; data?: string },
): Promise<void> {
  const method = opts.method.toUpperCase();
  if (!TOKEN.test(opts.method))
    throw new UsageError(
      `-X ${JSON.stringify(opts.method)} is not an HTTP method; nothing was sent.`,
      'Use e.g. -X GET, -X POST, -X PATCH.',
    );
  const headers = parseHeaders(opts.header ?? []);
  const body = opts.data === undefined ? undefined : readBody(opts.data);
  if (body !== undefined && headers['content-type'] === undefined) {
    const first =
      typeof body === 'string' ? body.trimStart()[0] : String.fromCharCode(body.find((b) => b > 32) ?? 0);
    headers['content-type'] =
      first === '{' || first === '[' ? 'application/json' : 'application/x-www-form-urlencoded';
  }
  await cli.withBaton(async (baton) => {
    const started = performance.now();
    const res = await baton
      .fetch(id, path, { method, headers, ...(body !== undefined ? { body } : {}) })
      .catch((err: unknown) => {
        // The path argument is refused before anything is sent: a usage error (exit 2).
        throw err instanceof UnsafeApiPath
          ? new UsageError(err.message, err.cliRemediation ?? err.remediation)
          : err;
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
      cli.note(cli.err.dim(`${colour(String(res.status))} ${method} ${path} ${ms} ms`));
      if (parsed !== undefined && cli.stdout.isTTY) cli.print(JSON.stringify(parsed, null, 2));
      else cli.stdout.write(text);
    }
    if (res.status >= 400) process.exitCode = 1;
  });
}

export async function refresh(cli: Cli, id: string, opts: { force?: boolean }): Promise<void> {
  await cli.withBaton(async (baton) => {
    const before = await baton.get(id);
    const info = await baton.refresh(id, { force: Boolean(opts.force) });
    const refreshed = info.version !== before.version && info.lastRefreshedAt !== before.lastRefreshedAt;
    if (cli.json) return cli.printJson({ ...info, refreshed });
    const valid = `access token valid ${relative(info.accessTokenExpiresAt, Date.now(), 'until revoked')}`;
    cli.print(
      refreshed
        ? `${cli.out.green('✓')} ${id}: refreshed; ${valid}.`
        : `${cli.out.green('✓')} ${id}: not refreshed, the ${valid} (\`baton refresh ${id} --force\` refreshes anyway).`,
    );
  });
}

function revocationNote(baton: Baton, info: ConnectionInfo): string {
  const spec = baton.providers.get(info.provider);
  if (info.authMode === 'token_pair' || info.authMode === 'api_key')
    return `static credentials cannot be revoked through an API; disable the key in ${spec.displayName}'s settings`;
  if (!spec.revocationUrl)
    return `${spec.displayName} has no revocation endpoint; its tokens lapse on their own`;
  return 'nothing was sent to the provider';
}

async function revokeOne(baton: Baton, info: ConnectionInfo) {
  if (info.status === 'revoked')
    return { revokedAtProvider: false, already: true, note: 'it was already revoked' };
  const result = await baton.revoke(info.id);
  return { ...result, already: false, note: result.revokedAtProvider ? '' : revocationNote(baton, info) };
}

export async function revoke(cli: Cli, id: string, opts: { yes?: boolean }): Promise<void> {
  await cli.withBaton(async (baton) => {
    const info = await baton.get(id);
    if (
      !(await cli.confirm(
        `Revoke ${id} (${info.provider}) at the provider and mark it revoked?`,
        opts.yes,
        `baton revoke ${id}`,
      ))
    )
      return cancelled(cli);
    const result = await revokeOne(baton, info);
    if (cli.json)
      return cli.printJson({
        id,
        revokedAtProvider: result.revokedAtProvider,
        alreadyRevoked: result.already,
      });
    cli.print(
      result.already
        ? `${cli.out.green('✓')} ${id} was already revoked; nothing to do.`
        : result.revokedAtProvider
          ? `${cli.out.green('✓')} ${id} revoked at the provider and marked revoked.`
          : `${cli.out.green('✓')} ${id} marked revoked (${result.note}).`,
    );
  });
}

export async function remove(cli: Cli, id: string, opts: { yes?: boolean }): Promise<void> {
  await cli.withBaton(async (baton) => {
    const info = await baton.get(id);
    if (
      !(await cli.confirm(
        `Delete ${id} (${info.provider}) and its secrets from the store?`,
        opts.yes,
        `baton remove ${id}`,
      ))
    )
      return cancelled(cli);
    await baton.remove(id);
    if (cli.json) return cli.printJson({ id, removed: true });
    cli.print(
      `${cli.out.green('✓')} ${id} removed.${info.status === 'active' && info.authMode !== 'token_pair' && info.authMode !== 'api_key' ? ' Its grant is still valid at the provider (`baton logout` revokes first).' : ''}`,
    );
  });
}

export async function logout(cli: Cli, id: string, opts: { yes?: boolean }): Promise<void> {
  await cli.withBaton(async (baton) => {
    const info = await baton.get(id);
    if (
      !(await cli.confirm(
        `Revoke ${id} (${info.provider}) at the provider and delete it?`,
        opts.yes,
        `baton logout ${id}`,
      ))
    )
      return cancelled(cli);
    let result: Awaited<ReturnType<typeof revokeOne>>;
    try {
      result = await revokeOne(baton, info);
    } catch (err) {
      if (!cli.json) cli.note(`${id} was kept. To delete it without revoking: baton remove ${id} --yes`);
      throw err;
    }
    await baton.remove(id);
    if (cli.json) return cli.printJson({ id, revokedAtProvider: result.revokedAtProvider, removed: true });
    cli.print(
      result.revokedAtProvider
        ? `${cli.out.green('✓')} ${id} revoked at the provider and removed.`
        : `${cli.out.green('✓')} ${id} removed (${result.note}).`,
    );
  });
}

function cancelled(cli: Cli): void {
  cli.note('Cancelled; nothing was changed.');
  process.exitCode = 1;
}
