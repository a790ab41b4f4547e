import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { fetch } from 'undici';
import type { Baton } from '../../core/baton.js';
import {
  BatonError,
  ConnectionMismatch,
  InvalidClient,
  ReauthorizationRequired,
  SecretKeyError,
  StoreError,
} from '../../errors.js';
import { ProviderRegistry } from '../../providers/registry.js';
import { endpointsFor } from '../../providers/template.js';
import { describeStore } from '../../store/index.js';
import { checkKeyFilePermissions, dataDir } from '../../store/secret-key.js';
import { humanDuration } from '../format.js';
import { type Cli, command } from '../runtime.js';

type Level = 'ok' | 'warn' | 'fail';

interface Check {
  check: string;
  level: Level;
  message: string;
  remediation?: string;
}

/** Plain-words explanations for what a connection check can run into. */
function explain(err: unknown): { message: string; remediation: string } {
  if (err instanceof ConnectionMismatch) {
    return {
      message: `${err.message}. This is a token left over from another client or account — the provider would only say "invalid_grant".`,
      remediation: err.remediation,
    };
  }
  if (err instanceof InvalidClient) {
    return {
      message: `${err.message}${err.environment ? ` Likely cause: credentials of the other environment than ${err.environment}.` : ''}`,
      remediation: err.remediation,
    };
  }
  if (err instanceof BatonError) return { message: err.message, remediation: err.remediation };
  return {
    message: String((err as Error)?.message ?? err),
    remediation: 'Run again with --debug and report the output.',
  };
}

export function doctorCommand(cli: Cli): Command {
  return command('doctor')
    .description('Check configuration, store, secret key, clock and connections, and explain what is wrong')
    .argument('[id]', 'check only this connection')
    .addHelpText('after', '\nExamples:\n  baton doctor\n  baton doctor acme --json')
    .action(async (id: string | undefined) => {
      const checks: Check[] = [];
      const add = (c: Check) => checks.push(c);
      const config = cli.config();
      add({
        check: 'config',
        level: 'ok',
        message: `${config.file ? `read ${config.file}` : 'no baton.config.json/yaml found (flags and environment only)'}; store from ${config.sources.store}, secret key from ${config.sources.secretKey === 'env' ? 'BATON_SECRET_KEY' : config.sources.keyFile === 'default' ? 'the default key file' : `key file (${config.sources.keyFile})`}${config.simulator ? `, simulator ${config.simulator} (from ${config.sources.simulator})` : ''}`,
      });
      try {
        ProviderRegistry.create(config.providers);
      } catch (err) {
        add({ check: 'providers', level: 'fail', ...explain(err) });
      }
      if (!cli.env['BATON_SECRET_KEY']) {
        const keyFile = config.keyFile ?? join(dataDir(cli.env), 'secret.key');
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
            message: `${keyFile} does not exist yet; it is created on first use.`,
            remediation: 'Back it up once created: without it the stored connections cannot be opened.',
          });
        }
      } else {
        add({ check: 'secret key', level: 'ok', message: 'from BATON_SECRET_KEY' });
      }
      let baton: Baton | undefined;
      try {
        baton = await cli.openBaton();
        const all = await baton.list();
        add({
          check: 'store',
          level: 'ok',
          message: `${describeStore(config.store ?? cli.env['BATON_STORE'])} (${baton.store.kind}), ${all.length} connection(s)`,
        });
        const targets = id ? [await baton.get(id)] : all;
        let clockChecked = false;
        for (const info of targets) {
          const name = `connection ${info.id}`;
          const now = Date.now();
          if (info.status === 'revoked') {
            add({
              check: name,
              level: 'warn',
              message: 'revoked.',
              remediation: `Remove it (baton remove ${info.id}) or connect it again.`,
            });
            continue;
          }
          if (info.refreshTokenExpiresAt !== null && info.refreshTokenExpiresAt <= now) {
            add({
              check: name,
              level: 'fail',
              message: `its refresh token passed its lifetime ${humanDuration(now - info.refreshTokenExpiresAt)} ago.`,
              remediation: `Authorize again: baton connect ${info.provider} --id ${info.id}. Run a keeper (baton.startKeeper()) so it does not lapse again.`,
            });
            continue;
          }
          try {
            await baton.getAccessToken(info.id);
            const identity = await baton.identify(info.id);
            const fresh = await baton.get(info.id);
            const who = identity.account?.email ?? identity.account?.name ?? identity.account?.id;
            if (identity.status >= 400) {
              add({
                check: name,
                level: 'fail',
                message: `the identity endpoint answered ${identity.status}.`,
                remediation: `Check the credentials; connect again with baton connect ${info.provider} --id ${info.id}.`,
              });
            } else {
              const moved = fresh.apiBaseUrl
                ? ` The account moved host: requests now go to ${fresh.apiBaseUrl}.`
                : '';
              add({
                check: name,
                level: moved ? 'warn' : 'ok',
                message: `${info.provider} ${fresh.status}, ${fresh.accessTokenExpiresAt === null ? 'static credentials' : `token valid for ${humanDuration(fresh.accessTokenExpiresAt - now)}`}${who ? `, account ${who}` : ''}.${moved}`,
                ...(moved
                  ? {
                      remediation:
                        'Nothing to do: Baton follows the move. Update your own links to the new host.',
                    }
                  : {}),
              });
            }
            if (!clockChecked) {
              clockChecked = true;
              const spec = baton.providers.get(info.provider);
              const apiBase = fresh.apiBaseUrl ?? endpointsFor(spec, fresh.params).apiBaseUrl;
              const date = await fetch(apiBase, {
                method: 'HEAD',
                redirect: 'manual',
                signal: AbortSignal.timeout(5000),
              })
                .then((r) => r.headers.get('date'))
                .catch(() => null);
              if (date) {
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
            }
          } catch (err) {
            const level: Level =
              err instanceof ReauthorizationRequired ||
              err instanceof ConnectionMismatch ||
              err instanceof InvalidClient ||
              err instanceof SecretKeyError
                ? 'fail'
                : 'warn';
            add({ check: name, level, ...explain(err) });
          }
        }
      } catch (err) {
        add({ check: err instanceof StoreError ? 'store' : 'baton', level: 'fail', ...explain(err) });
      } finally {
        await baton?.close();
      }
      const failed = checks.some((c) => c.level === 'fail');
      if (cli.json) cli.printJson({ ok: !failed, checks });
      else {
        for (const c of checks) {
          const mark =
            c.level === 'ok'
              ? cli.out.green('✓')
              : c.level === 'warn'
                ? cli.out.yellow('!')
                : cli.out.red('✗');
          cli.print(`${mark} ${cli.out.bold(c.check)}: ${c.message}`);
          if (c.remediation && c.level !== 'ok') cli.print(`    ${cli.out.dim('→')} ${c.remediation}`);
        }
      }
      if (failed) process.exitCode = 1;
    });
}
