import type { BatonOptions } from '../core/baton.js';
import type { ResolvedConfig } from './config.js';

/** Environment beats the config file (and a simulator's clients) for a provider's client. */
export function envWins(
  clients: ResolvedConfig['clients'],
  env: NodeJS.ProcessEnv,
): ResolvedConfig['clients'] {
  return Object.fromEntries(
    Object.entries(clients).filter(
      ([provider]) => !env[`BATON_${provider.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_CLIENT_ID`],
    ),
  );
}

/** Baton.open's options from flags, environment and the config file (no simulator). */
export function batonOptions(config: ResolvedConfig, env: NodeJS.ProcessEnv): BatonOptions {
  return {
    ...(config.store ? { store: config.store } : {}),
    ...(config.keyFile ? { keyFile: config.keyFile } : {}),
    providers: config.providers,
    clients: envWins(config.clients, env),
    env,
  };
}
