import { Command } from 'commander';
import { checkAllow, createCallerKey, parseOps } from '../../server/keys.js';
import type { ServerStore } from '../../server/server-store.js';
import { openServerStore } from '../../server/server-store.js';
import { defaultStoreSpec, openStore } from '../../store/index.js';
import { table } from '../format.js';
import type { Cli } from '../runtime.js';
import { asUsage, collectList, NotFound } from '../usage.js';

/** Opens the server's tables beside the configured store (no secret key needed: keys are hashes). */
export async function withServerStore<T>(cli: Cli, fn: (store: ServerStore) => Promise<T>): Promise<T> {
  const spec = cli.config().store ?? defaultStoreSpec(cli.env);
  const connections = await openStore(spec, { env: cli.env });
  try {
    const store = await openServerStore(connections, spec);
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  } finally {
    await connections.close();
  }
}

export function keysCommand(cli: Cli): Command {
  const keys = new Command('keys').description(
    'Caller keys of `baton serve`: create, list, disable, enable, revoke',
  );
  keys
    .command('create')
    .description('Create a caller key and print it once (only its hash is stored)')
    .requiredOption('--name <name>', 'a name for the key, shown in the audit log')
    .option(
      '--allow <pattern>',
      "connection id glob ('acme-*', '*') or provider:NAME; repeatable",
      collectList,
      [],
    )
    .option('--ops <ops>', 'operations: read, token, proxy, manage (comma-separated)', 'read')
    .addHelpText(
      'after',
      "\nExample:\n  baton keys create --name billing --allow 'acme-*' --allow provider:cronofy --ops token,proxy,read",
    )
    .action((opts: { name: string; allow: string[]; ops: string }) => {
      // Flags are checked before the store opens: a bad value is a usage error and changes nothing.
      const ops = asUsage(() => parseOps(opts.ops));
      asUsage(() => checkAllow(opts.allow));
      return withServerStore(cli, async (store) => {
        const { key, record } = await createCallerKey(store, {
          name: opts.name,
          allow: opts.allow,
          ops,
        });
        if (cli.json)
          return cli.printJson({
            name: record.name,
            key,
            prefix: record.prefix,
            allow: record.allow,
            ops: record.ops,
          });
        cli.print(key);
        cli.note(
          `${cli.err.green('✓')} key "${record.name}" (${record.prefix}…) may ${record.ops.join(', ')} on ${record.allow.join(', ')}. It is shown only now: store it in your secret manager.`,
        );
      });
    });
  keys
    .command('list')
    .description('List caller keys (names, prefixes, scopes; never the keys)')
    .action(() =>
      withServerStore(cli, async (store) => {
        const all = await store.listKeys();
        const shown = all.map(({ hash: _hash, ...k }) => k);
        if (cli.json) return cli.printJson(shown);
        if (shown.length === 0) return cli.print('No caller keys. Create one with `baton keys create`.');
        const rows = [['NAME', 'PREFIX', 'OPS', 'ALLOW', 'STATE']];
        for (const k of shown)
          rows.push([
            k.name,
            `${k.prefix}…`,
            k.ops.join(','),
            k.allow.join(' '),
            k.disabled ? 'disabled' : 'active',
          ]);
        cli.print(table(rows, cli.width));
      }),
    );
  for (const [name, disabled, what] of [
    ['disable', true, 'Disable a key (every server replica refuses it within a second)'],
    ['enable', false, 'Enable a disabled key again'],
  ] as const) {
    keys
      .command(name)
      .description(what)
      .argument('<name>', 'key name')
      .action((keyName: string) =>
        withServerStore(cli, async (store) => {
          if (!(await store.setKeyDisabled(keyName, disabled))) throw unknownKey(keyName);
          if (cli.json) return cli.printJson({ name: keyName, disabled });
          cli.print(`${cli.out.green('✓')} key "${keyName}" ${disabled ? 'disabled' : 'enabled'}`);
        }),
      );
  }
  keys
    .command('revoke')
    .description('Delete a key for good (every server replica refuses it within a second)')
    .argument('<name>', 'key name')
    .action((keyName: string) =>
      withServerStore(cli, async (store) => {
        if (!(await store.deleteKey(keyName))) throw unknownKey(keyName);
        if (cli.json) return cli.printJson({ name: keyName, revoked: true });
        cli.print(`${cli.out.green('✓')} key "${keyName}" revoked`);
      }),
    );
  return keys;
}

function unknownKey(name: string): NotFound {
  return new NotFound(`No caller key is named "${name}".`, 'See the names with `baton keys list`.');
}
