import { ProviderRegistry } from '../../providers/registry.js';
import type { Cli } from '../runtime.js';
import { withServerStore } from './keys.js';

/** `baton providers disable|enable <provider>`: the server's provider kill switch. */
export async function switchProvider(cli: Cli, provider: string, disable: boolean): Promise<void> {
  await withServerStore(cli, async (store) => {
    ProviderRegistry.create(cli.config().providers).get(provider);
    if (disable) await store.disableProvider(provider, Date.now());
    else await store.enableProvider(provider);
    if (cli.json) return cli.printJson({ provider, disabled: disable });
    cli.print(
      `${cli.out.green('✓')} ${provider} ${disable ? 'disabled: releases and proxied calls are refused' : 'enabled'}`,
    );
  });
}
