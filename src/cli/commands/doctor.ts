import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fetch } from 'undici';
import type { Baton } from '../../core/baton.js';
import type { ConnectionInfo } from '../../core/connection-info.js';
import type { KeyState } from '../../core/rekey.js';
import {
  BatonError,
  ConnectionMismatch,
  ConnectionNotFound,
  InvalidClient,
  ReauthorizationRequired,
  redact,
  SecretKeyError,
  StoreError,
} from '../../errors.js';
import { mcpIssuerOf } from '../../providers/mcp.js';
import { resolveParams } from '../../providers/params.js';
import { ProviderRegistry } from '../../providers/registry.js';
import { endpointsFor } from '../../providers/template.js';
import { describeStore } from '../../store/index.js';
import { checkKeyFilePermissions } from '../../store/secret-key.js';
import type { PendingAuthorization } from '../../store/store.js';
import { humanDuration, relative } from '../format.js';
import { type Cli, cliRemediation, NoStore, simulatorHint, tidy } from '../runtime.js';

type Level = 'ok' | 'warn' | 'fail';

interface Check {
  check: string;
  level: Level;
  message: string;
  remediation?: string;
  /** For an MCP connection: the link of the discovery chain the check is about (mcp-doctor.ts). */
  link?: string;
}

/** Plain-words explanations for what a connection check can run into. */
function explain(cli: Cli, err: unknown): { message: string; remediation: string } {
  if (err instanceof ConnectionMismatch) {
    const hint = simulatorHint(cli, err);
    return {
      message: `${tidy(err.message)}. This is a token left over from another client or account — the provider would only say "invalid_grant".${hint ? ' With a simulator that usually means it restarted.' : ''}`,
      remediation: hint ?? cliRemediation(err),
    };
  }
  if (err instanceof InvalidClient) {
    const hint = simulatorHint(cli, err);
    return {
      message: tidy(
        `${err.message}${err.environment ? ` Likely cause: credentials of the other environment than ${err.environment}.` : ''}`,
      ),
      remediation: hint ?? cliRemediation(err),
    };
  }
  if (err instanceof ReauthorizationRequired && err.connectionId) {
    return {
      message: tidy(err.message),
      remediation: `Authorize it again: baton reconnect ${err.connectionId}`,
    };
  }
  if (err instanceof BatonError) return { message: tidy(err.message), remediation: cliRemediation(err) };
  return {
    message: redact(String((err as Error)?.message ?? err)),
    remediation: 'Run again with --debug and report the output.',
  };
}

const label = (params: Record<string, string>) =>
  Object.entries(params)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');

/** BATON_<P>_CLIENT_ID without _CLIENT_SECRET, and the other way round. */
function envPairs(cli: Cli, add: (c: Check) => void): void {
  const seen = new Set<string>();
  for (const name of Object.keys(cli.env)) {
    const m = /^BATON_(.+)_CLIENT_(ID|SECRET)$/.exec(name);
    if (!m || !cli.env[name] || seen.has(m[1] as string)) continue;
    const prefix = m[1] as string;
    seen.add(prefix);
    const id = cli.env[`BATON_${prefix}_CLIENT_ID`];
    const secret = cli.env[`BATON_${prefix}_CLIENT_SECRET`];
    if (id && !secret) {
      add({
        check: `environment BATON_${prefix}_*`,
        level: 'warn',
        message: `BATON_${prefix}_CLIENT_ID is set without BATON_${prefix}_CLIENT_SECRET; the client is used with no secret.`,
        remediation: `Set BATON_${prefix}_CLIENT_SECRET too (unless the provider issued a public client).`,
      });
    } else if (secret && !id) {
      add({
        check: `environment BATON_${prefix}_*`,
        level: 'warn',
        message: `BATON_${prefix}_CLIENT_SECRET is set without BATON_${prefix}_CLIENT_ID, so it is ignored.`,
        remediation: `Set BATON_${prefix}_CLIENT_ID to the client id that goes with the secret, or unset the secret.`,
      });
    }
  }
}

/** Each configured OAuth client, checked at the token endpoint without a user grant. */
async function clients(cli: Cli, baton: Baton, connections: ConnectionInfo[], add: (c: Check) => void) {
  const config = cli.config();
  const done = new Set<string>();
  for (const spec of baton.providers.list()) {
    if (!spec.authModes.includes('oauth2') && !spec.authModes.includes('client_credentials')) continue;
    // An MCP authorization server's client is a link of each of its connections' chains.
    if (mcpIssuerOf(spec.id)) continue;
    const candidates: Record<string, string>[] = [{}];
    const regs = config.clients[spec.id];
    for (const r of Array.isArray(regs) ? regs : regs ? [regs] : [])
      if ('params' in r && r.params) candidates.push(r.params as Record<string, string>);
    for (const c of connections) if (c.provider === spec.id && c.clientId) candidates.push(c.params);
    let configuredSomewhere = false;
    let missing: string | undefined;
    for (const given of candidates) {
      let params: Record<string, string>;
      try {
        params = resolveParams(spec, given);
      } catch (err) {
        missing = err instanceof BatonError ? err.message : String(err);
        continue;
      }
      const client = baton.clientFor(spec.id, params);
      if (!client) continue;
      configuredSomewhere = true;
      const key = `${spec.id} ${client.clientId} ${JSON.stringify(params)}`;
      if (done.has(key)) continue;
      done.add(key);
      const name = `client ${spec.id}${Object.keys(params).length ? ` (${label(params)})` : ''}`;
      const result = await baton.verifyClient(spec.id, params);
      if (result.result === 'ok') {
        add({ check: name, level: 'ok', message: `${client.clientId}: ${result.detail}.` });
      } else if (result.result === 'rejected') {
        add({ check: name, level: 'fail', ...explain(cli, result.error) });
      } else {
        add({
          check: name,
          level: 'warn',
          message: `${client.clientId}: could not be checked without a user grant (${tidy(result.detail)}).`,
          remediation:
            'A refresh of a connection using it will tell; run `baton doctor` after connecting one.',
        });
      }
    }
    const configured =
      Boolean(regs) ||
      Boolean(cli.env[`BATON_${spec.id.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_CLIENT_ID`]);
    if (configured && !configuredSomewhere && missing) {
      add({
        check: `client ${spec.id}`,
        level: 'warn',
        message: `configured, but could not be checked: ${tidy(missing)}`,
        remediation: `Give the client params in baton.config.json, or connect one ${spec.displayName} connection first.`,
      });
    }
  }
}

async function connection(
  cli: Cli,
  baton: Baton,
  info: ConnectionInfo,
  add: (c: Check) => void,
): Promise<boolean> {
  const name = `connection ${info.id}`;
  const now = Date.now();
  if (info.status === 'revoked') {
    add({
      check: name,
      level: 'warn',
      message: 'revoked.',
      remediation: `Authorize it again with \`baton reconnect ${info.id}\`, or delete it with \`baton remove ${info.id} --yes\`.`,
    });
    return false;
  }
  if (info.refreshTokenExpiresAt !== null && info.refreshTokenExpiresAt <= now) {
    add({
      check: name,
      level: 'fail',
      message: `its refresh token passed its lifetime ${humanDuration(now - info.refreshTokenExpiresAt)} ago.`,
      remediation: `Authorize it again: baton reconnect ${info.id} (and run a keeper, baton.startKeeper(), so it does not lapse again).`,
    });
    return false;
  }
  const isStatic = info.authMode === 'token_pair' || info.authMode === 'api_key';
  try {
    if (!isStatic) await baton.getAccessToken(info.id);
    const identity = await baton.identify(info.id);
    const fresh = await baton.get(info.id);
    const who = identity.account?.email ?? identity.account?.name ?? identity.account?.id;
    if (identity.status >= 400) {
      add({
        check: name,
        level: 'fail',
        message: `the identity endpoint answered ${identity.status}: the ${isStatic ? 'credentials are' : 'token is'} not accepted.`,
        remediation: isStatic
          ? `Store the right credentials: baton reconnect ${info.id} --api-key <key>`
          : `Authorize it again: baton reconnect ${info.id}`,
      });
      return true;
    }
    const moved = fresh.apiBaseUrl ? ` The account moved host: requests now go to ${fresh.apiBaseUrl}.` : '';
    const what =
      identity.status === 0
        ? `${info.provider} has no identity endpoint, so the ${isStatic ? 'credentials were' : 'token was'} not checked`
        : isStatic
          ? `${info.authMode} credentials accepted by the identity endpoint`
          : `token valid for ${humanDuration((fresh.accessTokenExpiresAt ?? now) - now)}`;
    add({
      check: name,
      level: moved || identity.status === 0 ? 'warn' : 'ok',
      message: `${info.provider} ${fresh.status}, ${what}${who ? `, account ${who}` : ''}.${moved}`,
      ...(moved
        ? { remediation: 'Nothing to do: Baton follows the move. Update your own links to the new host.' }
        : identity.status === 0
          ? { remediation: `Try a request: baton request ${info.id} <path>` }
          : {}),
    });
    return true;
  } catch (err) {
    const level: Level =
      err instanceof ReauthorizationRequired ||
      err instanceof ConnectionMismatch ||
      err instanceof InvalidClient ||
      err instanceof SecretKeyError
        ? 'fail'
        : 'warn';
    add({ check: name, level, ...explain(cli, err) });
    return false;
  }
}

/**
 * When the grant of an OAuth2 connection ends: its refresh token's own end (moved by each use
 * when it slides: the keeper uses it in time) and the absolute end no refresh extends (README,
 * "When tokens are refreshed"). A near absolute end is a warning with the command that renews it.
 */
async function grantEnds(
  cli: Cli,
  baton: Baton,
  info: ConnectionInfo,
  add: (c: Check) => void,
): Promise<void> {
  if (info.authMode !== 'oauth2' || info.status === 'revoked') return;
  let lifetime: Awaited<ReturnType<Baton['lifetime']>>;
  try {
    lifetime = await baton.lifetime(info.id);
  } catch (err) {
    // Deleted since it was listed: nothing to say about its grant.
    if (err instanceof ConnectionNotFound) return;
    add({ check: `grant ${info.id}`, level: 'warn', ...explain(cli, err) });
    return;
  }
  if (!lifetime) return;
  const { slidingExpiresAt: own, absoluteExpiresAt: hard } = lifetime;
  const now = Date.now();
  const at = (t: number) => `${new Date(t).toISOString()} (${relative(t, now)})`;
  const parts: string[] = [];
  const slides = baton.providers.has(info.provider)
    ? baton.providers.get(info.provider).refreshTokenLifetime?.sliding === true
    : false;
  if (own !== null && (hard === null || own < hard))
    parts.push(
      slides
        ? `its refresh token lapses ${at(own)} unless used before (each use moves it; the keeper uses it in time)`
        : `its refresh token is good until ${at(own)}`,
    );
  if (hard !== null) parts.push(`the grant ends for good ${at(hard)}, whatever the refreshes`);
  if (parts.length === 0) {
    add({ check: `grant ${info.id}`, level: 'ok', message: 'no end known: the provider documents none.' });
    return;
  }
  const near = hard !== null && hard - now <= baton.expiringWithinMs;
  add({
    check: `grant ${info.id}`,
    level: near ? 'warn' : 'ok',
    message: `${parts.join('; ')}.`,
    ...(near
      ? {
          remediation: `Authorize it again before then, which starts a new grant: baton reconnect ${info.id}`,
        }
      : {}),
  });
}

/** Which keys seal the store's rows, against the keys this process loaded. */
function keys(state: KeyState, add: (c: Check) => void): void {
  const rows = (k: KeyState['inUse'][number]) =>
    `${k.connections} connection(s)${k.pendingAuthorizations ? `, ${k.pendingAuthorizations} pending authorization(s)` : ''}`;
  const others = state.inUse.filter((k) => k.keyId !== state.current);
  const missing = others.filter((k) => !k.loaded);
  const sealed = state.inUse.map((k) => `${k.keyId} (${rows(k)})`).join(', ') || 'nothing yet';
  if (missing.length > 0) {
    add({
      check: 'keys',
      level: 'fail',
      message: `current key ${state.current}; ${missing.map((k) => `${rows(k)} sealed under key ${k.keyId}, which is not loaded`).join('; ')}.`,
      remediation: `Add key ${missing[0]?.keyId} to BATON_SECRET_KEY_PREVIOUS, then run \`baton rekey\` to re-seal everything under the current key.`,
    });
  } else if (others.length > 0) {
    add({
      check: 'keys',
      level: 'warn',
      message: `current key ${state.current}; sealed under: ${sealed}.`,
      remediation:
        'Run `baton rekey` to re-seal the rest under the current key, then drop the old one from BATON_SECRET_KEY_PREVIOUS.',
    });
  } else {
    add({ check: 'keys', level: 'ok', message: `current key ${state.current}; sealed under: ${sealed}.` });
  }
}

/**
 * Pending authorizations are connects begun and never completed (a browser tab left open, an
 * interrupted `baton connect`). Those past their expiry can never complete: doctor removes them
 * and says so; live ones are named with the connection they would authorize.
 */
async function pending(baton: Baton, add: (c: Check) => void): Promise<void> {
  const now = Date.now();
  const live: PendingAuthorization[] = [];
  let expired = 0;
  let after: string | undefined;
  for (;;) {
    const page = await baton.store.listPendingAuthorizations({ limit: 500, ...(after ? { after } : {}) });
    for (const p of page) {
      if (p.expiresAt <= now) {
        if (await baton.store.takePendingAuthorization(p.state)) expired++;
      } else live.push(p);
    }
    if (page.length < 500) break;
    after = page[page.length - 1]?.state;
  }
  if (expired === 0 && live.length === 0) return;
  const ids = [...new Set(live.map((p) => p.connectionId))];
  add({
    check: 'pending authorizations',
    level: live.length > 0 ? 'warn' : 'ok',
    message: `${expired > 0 ? `removed ${expired} expired (connects begun and never completed)` : ''}${expired > 0 && live.length > 0 ? '; ' : ''}${live.length > 0 ? `${live.length} waiting for a callback, for ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ` and ${ids.length - 5} more` : ''} (until ${new Date(Math.max(...live.map((p) => p.expiresAt))).toISOString()})` : ''}.`,
    ...(live.length > 0
      ? {
          remediation:
            'Finish them in the browser, or leave them: each expires on its own and the next `baton doctor` removes it.',
        }
      : {}),
  });
}

/** RFC 7662: where the provider publishes an introspection endpoint, ask it about the token. */
async function introspection(
  cli: Cli,
  baton: Baton,
  info: ConnectionInfo,
  add: (c: Check) => void,
): Promise<void> {
  const check = `introspection ${info.id}`;
  try {
    const said = await baton.introspect(info.id);
    if (!said) return;
    add(
      said.active
        ? {
            check,
            level: 'ok',
            message: `${info.provider} says the access token is active${said.sub ? ` for ${said.sub}` : ''}${said.scope ? ` (scope ${said.scope})` : ''}.`,
          }
        : {
            check,
            level: 'fail',
            message: `${info.provider} says the access token is not active.`,
            remediation: `Authorize it again: baton reconnect ${info.id}`,
          },
    );
  } catch (err) {
    add({ check, level: 'warn', ...explain(cli, err) });
  }
}

async function clock(baton: Baton, info: ConnectionInfo, add: (c: Check) => void): Promise<void> {
  const fresh = await baton.get(info.id);
  const spec = baton.providers.get(info.provider);
  const apiBase = fresh.apiBaseUrl ?? endpointsFor(spec, fresh.params).apiBaseUrl;
  const date = await fetch(apiBase, { method: 'HEAD', redirect: 'manual', signal: AbortSignal.timeout(5000) })
    .then((r) => r.headers.get('date'))
    .catch(() => null);
  if (!date) return;
  const skew = Date.now() - Date.parse(date);
  add(
    Math.abs(skew) > 60_000
      ? {
          check: 'clock',
          level: 'warn',
          message: `this machine's clock is ${humanDuration(skew)} ${skew > 0 ? 'ahead of' : 'behind'} ${info.provider}'s.`,
          remediation: 'Enable NTP: expiry times are computed from the local clock.',
        }
      : {
          check: 'clock',
          level: 'ok',
          message: `within ${humanDuration(Math.abs(skew))} of ${info.provider}'s`,
        },
  );
}

export async function doctor(cli: Cli, id: string | undefined): Promise<void> {
  const checks: Check[] = [];
  const add = (c: Check) => checks.push(c);
  const config = cli.config();
  add({
    check: 'config',
    level: 'ok',
    message: `${config.file ? `read ${config.file}` : 'no baton.config.json/yaml found (flags and environment only)'}; store from ${config.sources.store}, secret key from ${config.sources.secretKey === 'env' ? 'BATON_SECRET_KEY' : config.sources.keyFile === 'default' ? 'the default key file' : `key file (${config.sources.keyFile})`}${config.simulator ? `, simulator ${config.simulator} (from ${config.sources.simulator})` : ''}`,
  });
  envPairs(cli, add);
  let baton: Baton | undefined;
  try {
    ProviderRegistry.create(config.providers);
    if (!cli.env['BATON_SECRET_KEY']) {
      const keyFile = config.keyFile ?? join(cli.home() ?? (await cli.dataDir()), 'secret.key');
      if (existsSync(keyFile)) {
        const perms = checkKeyFilePermissions(keyFile);
        add(
          perms.ok
            ? { check: 'secret key', level: 'ok', message: `${keyFile} (mode ${perms.mode.toString(8)})` }
            : {
                check: 'secret key',
                level: 'fail',
                message: `${keyFile} is readable by others (mode ${perms.mode.toString(8)}).`,
                remediation: `chmod 600 ${keyFile}`,
              },
        );
      } else {
        add({
          check: 'secret key',
          level: 'warn',
          message: `${keyFile} does not exist yet; the first \`baton connect\` creates it.`,
          remediation: 'Back it up once created: without it the stored connections cannot be opened.',
        });
      }
    } else {
      add({ check: 'secret key', level: 'ok', message: 'from BATON_SECRET_KEY' });
    }
    let all: ConnectionInfo[] = [];
    try {
      await cli.requireExisting();
      // The store and key checks need no simulator; what calls a provider does.
      baton = await cli.openBaton({}, { offline: true });
      all = await baton.list();
      add({
        check: 'store',
        level: 'ok',
        message: `${describeStore(await cli.storeSpec())} (${baton.store.kind}), ${all.length} connection(s)`,
      });
      keys(await baton.keys(), add);
      await pending(baton, add);
    } catch (err) {
      if (!(err instanceof NoStore) && !(err instanceof SecretKeyError && /does not exist/.test(err.message)))
        throw err;
      add({ check: 'store', level: 'warn', message: tidy(err.message), remediation: cliRemediation(err) });
      // Clients can still be checked, on a throwaway store that creates nothing.
      baton = await cli.openBaton(
        { store: 'memory:', secretKey: randomBytes(32).toString('base64') },
        { create: true },
      );
    }
    if (config.simulator) {
      if (cli.simulatorDown) {
        add({
          check: 'simulator',
          level: 'fail',
          message: `${config.simulator} does not answer, so the client, connection, clock and introspection checks were not run (they call it).`,
          remediation:
            'Start it with `baton simulate --state FILE` (the same file each time keeps its clients and grants), then run doctor again.',
        });
        return finish(cli, checks);
      }
      add({ check: 'simulator', level: 'ok', message: `answers at ${config.simulator}` });
    }
    await clients(cli, baton, all, add);
    const targets = id ? [await baton.get(id)] : all;
    let clockChecked = false;
    for (const info of targets) {
      const reached = mcpIssuerOf(info.provider)
        ? await (await import('./mcp-doctor.js')).mcpChain(baton, info, add)
        : await connection(cli, baton, info, add);
      await grantEnds(cli, baton, info, add);
      if (reached && !clockChecked) {
        clockChecked = true;
        await clock(baton, info, add);
      }
      if (reached && (info.authMode === 'oauth2' || info.authMode === 'client_credentials'))
        await introspection(cli, baton, info, add);
    }
  } catch (err) {
    add({ check: err instanceof StoreError ? 'store' : 'baton', level: 'fail', ...explain(cli, err) });
  } finally {
    await baton?.close();
  }
  finish(cli, checks);
}

function finish(cli: Cli, checks: Check[]): void {
  const failed = checks.some((c) => c.level === 'fail');
  if (cli.json) cli.printJson({ ok: !failed, checks });
  else {
    for (const c of checks) {
      const mark =
        c.level === 'ok' ? cli.out.green('✓') : c.level === 'warn' ? cli.out.yellow('!') : cli.out.red('✗');
      cli.print(`${mark} ${cli.out.bold(c.check)}: ${c.message}`);
      if (c.remediation && c.level !== 'ok') cli.print(`    ${cli.out.dim('→')} ${c.remediation}`);
    }
  }
  if (failed) process.exitCode = 1;
}
