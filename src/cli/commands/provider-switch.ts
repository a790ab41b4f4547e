import type { Command } from 'commander';
import { ProviderRegistry } from '../../providers/registry.js';
import { type Cli, command } from '../runtime.js';
import { withServerStore } from './keys.js';

/** Adds `disable` and `enable` (the server's provider kill switch) to `baton providers`. */
export function withProviderSwitch(cli: Cli, providers: Command): Command {
  for (const [name, disable] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    providers.addCommand(
      command(name)
        .description(
          disable
            ? 'Stop every token release and proxied call for a provider on `baton serve` (all replicas, within a second)'
            : 'Allow releases and proxied calls for a provider again',
        )
        .argument('<provider>', 'provider id')
        .action((provider: string) =>
          withServerStore(cli, async (store) => {
            ProviderRegistry.create(cli.config().providers).get(provider);
            if (disable) await store.disableProvider(provider, Date.now());
            else await store.enableProvider(provider);
            if (cli.json) return cli.printJson({ provider, disabled: disable });
            cli.print(
              `${cli.out.green('✓')} ${provider} ${disable ? 'disabled: releases and proxied calls are refused' : 'enabled'}`,
            );
          }),
        )
        .exitOverride()
        .configureOutput({ writeOut: (s) => cli.stdout.write(s), writeErr: (s) => cli.stderr.write(s) }),
    );
  }
  return providers;
}
