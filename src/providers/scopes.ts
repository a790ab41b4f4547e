import { ConfigError } from '../errors.js';
import type { ProviderSpec } from './spec.js';

/** The spec's scope policy: exactly one scope where it says so, and only the scopes it lists where it lists them. */
export function checkScopes(spec: ProviderSpec, scopes: readonly string[]): void {
  if (spec.singleScope && scopes.length !== 1) {
    throw new ConfigError(
      `${spec.displayName} takes exactly one scope per authorization; ${scopes.length} were given.`,
      `Pick one of: ${(spec.scopeOptions ?? spec.scopes).join(', ')}.`,
      { provider: spec.id },
    );
  }
  if (spec.scopeOptions) {
    const unknown = scopes.filter((s) => !spec.scopeOptions?.includes(s));
    if (unknown.length > 0) {
      throw new ConfigError(
        `${spec.displayName} does not know the scope ${unknown.map((s) => `"${s}"`).join(', ')}.`,
        `Use: ${spec.scopeOptions.join(', ')}.`,
        { provider: spec.id },
      );
    }
  }
}
