import { ConfigError } from '../errors.js';
import type { ProviderSpec } from './spec.js';

/**
 * Checks a connection's params against its provider and fills defaults. Every param that
 * decides where a request goes (company, data center, environment) passes through here, so an
 * unknown data center is a ConfigError before any URL is built.
 */
export function resolveParams(
  spec: ProviderSpec,
  given: Record<string, string> | undefined = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(given)) {
    if (!(name in spec.params)) {
      const known = Object.keys(spec.params);
      throw new ConfigError(
        `${spec.displayName} has no param "${name}".`,
        known.length > 0 ? `Its params are: ${known.join(', ')}.` : `${spec.displayName} takes no params.`,
        { provider: spec.id },
      );
    }
  }
  for (const [name, param] of Object.entries(spec.params)) {
    const value = given[name] ?? param.default;
    if (value === undefined || value === '') {
      throw new ConfigError(
        `${spec.displayName} needs the param "${name}" (${param.description}).`,
        param.values
          ? `Pass ${name} as one of: ${param.values.join(', ')}.`
          : `Pass ${name}, e.g. --param ${name}=… on the command line or params: { ${name}: … } in code.`,
        { provider: spec.id },
      );
    }
    if (param.values && !param.values.includes(value)) {
      throw new ConfigError(
        `"${value}" is not a ${spec.displayName} ${name}.`,
        `Use one of: ${param.values.join(', ')}.`,
        { provider: spec.id },
      );
    }
    if (param.pattern && !new RegExp(`^(?:${param.pattern})$`).test(value)) {
      throw new ConfigError(
        `"${value}" is not a valid ${spec.displayName} ${name} (${param.description}).`,
        `Check the ${name}: it must match ${param.pattern}.`,
        { provider: spec.id },
      );
    }
    out[name] = value;
  }
  return out;
}
