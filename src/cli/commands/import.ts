import { resolveParams } from '../../providers/params.js';
import { ProviderRegistry } from '../../providers/registry.js';
import type { Cli } from '../runtime.js';
import { asUsage, checkId, UsageError } from '../usage.js';

interface ImportOptions {
  provider: string;
  param?: Record<string, string>;
  env?: string;
  replace?: boolean;
}

async function readAll(stream: NodeJS.ReadStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}

const bad = (why: string) =>
  new UsageError(
    `The tokens on standard input ${why}; nothing was stored.`,
    'Pipe JSON like {"accessToken": "…", "refreshToken": "…", "expiresAt": "2030-01-01T00:00:00Z"} (see `baton import --help`).',
  );

/** Expiry as epoch ms from `expiresAt` (ISO date or epoch s/ms) or `expiresIn` seconds. */
function expiry(o: Record<string, unknown>, now: number): number | null {
  const at = o['expiresAt'] ?? o['expires_at'];
  const inSeconds = o['expiresIn'] ?? o['expires_in'];
  if (at !== undefined && at !== null) {
    const ms = typeof at === 'number' ? (at < 1e12 ? at * 1000 : at) : Date.parse(String(at));
    if (!Number.isFinite(ms)) throw bad(`have an expiresAt that is not a date (${JSON.stringify(at)})`);
    return ms;
  }
  if (inSeconds !== undefined && inSeconds !== null) {
    const s = Number(inSeconds);
    if (!Number.isFinite(s) || s <= 0)
      throw bad('have an expiresIn that is not a positive number of seconds');
    return now + s * 1000;
  }
  return null;
}

export async function importTokens(cli: Cli, id: string, opts: ImportOptions): Promise<void> {
  checkId(id, 'The id');
  // The flags are checked before standard input is read: an unknown provider is said first.
  ProviderRegistry.create(cli.config().providers).get(opts.provider);
  if (cli.stdin.isTTY) throw bad('are missing (standard input is a terminal)');
  let value: unknown;
  try {
    value = JSON.parse(await readAll(cli.stdin));
  } catch {
    throw bad('are not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('are not a JSON object');
  const o = value as Record<string, unknown>;
  const accessToken = o['accessToken'] ?? o['access_token'];
  const refreshToken = o['refreshToken'] ?? o['refresh_token'] ?? null;
  if (typeof accessToken !== 'string' || accessToken === '') throw bad('have no accessToken');
  if (refreshToken !== null && typeof refreshToken !== 'string')
    throw bad('have a refreshToken that is not a string');
  const rawScopes = o['scopes'] ?? o['scope'];
  const scopes =
    typeof rawScopes === 'string'
      ? rawScopes.split(/[\s,]+/).filter(Boolean)
      : Array.isArray(rawScopes) && rawScopes.every((s) => typeof s === 'string')
        ? (rawScopes as string[])
        : null;
  const expiresAt = expiry(o, Date.now());
  await cli.withBaton(
    async (baton) => {
      const spec = baton.providers.get(opts.provider);
      let params = { ...(opts.param ?? {}) };
      if (opts.env !== undefined) {
        if (!spec.environmentParam)
          throw new UsageError(
            `${spec.displayName} has no environments.`,
            'Drop --env, or use --param for its params.',
          );
        params = { ...params, [spec.environmentParam]: opts.env };
      }
      asUsage(() => resolveParams(spec, params));
      const info = await baton.importTokens({
        provider: spec.id,
        connectionId: id,
        params,
        accessToken,
        refreshToken,
        expiresAt,
        scopes,
        ...(opts.replace ? { replace: true } : {}),
      });
      if (cli.json) return cli.printJson(info);
      const who = info.account?.email ?? info.account?.name ?? info.account?.id;
      cli.print(
        `${cli.out.green('✓')} Imported ${cli.out.bold(id)} (${spec.displayName}, oauth2)${who ? ` as ${who}` : ''}`,
      );
    },
    { create: true },
  );
}
