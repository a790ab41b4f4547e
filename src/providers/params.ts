import { ConfigError } from '../errors.js';
import { capturedNames, checkCapturedValue, checkParamValue } from './param-value.js';
import type { ProviderSpec } from './spec.js';

export { checkParamValue, isUrlParamValue } from './param-value.js';

/**
 * Checks a connection's params against its provider and fills defaults. Every param that
 * decides where a request goes (company, data center, environment) passes through here, so an
 * unknown data center is a ConfigError before any URL is built. A value the provider hands
 * over while connecting (spec `captures`, `connectSteps`) may be given too — for tokens
 * imported from elsewhere — and is checked like a captured one.
 */
export function resolveParams(
  spec: ProviderSpec,
  given: Record<string, string> | undefined = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  const captured = capturedNames(spec);
  for (const [name, value] of Object.entries(given)) {
    if (captured.includes(name) && !(name in spec.params)) {
      checkCapturedValue(spec, name, value);
      out[name] = value;
      continue;
    }
    if (!(name in spec.params)) {
      const known = [...Object.keys(spec.params), ...captured];
      throw new ConfigError(
        `${spec.displayName} has no param "${name}".`,
        known.length > 0 ? `Its params are: ${known.join(', ')}.` : `${spec.displayName} takes no params.`,
        { provider: spec.id },
      );
    }
  }
  for (const [name, param] of Object.entries(spec.params)) {
    const value = given[name] ?? param.default;
    if ((value === undefined || value === '') && param.optional) continue;
    if (value === undefined || value === '') {
      throw new ConfigError(
        `${spec.displayName} needs the param "${name}" (${param.description}).`,
        param.values
          ? `Pass ${name} as one of: ${param.values.join(', ')}.`
          : `Pass ${name}, e.g. --param ${name}=… on the command line or params: { ${name}: … } in code.`,
        {
          provider: spec.id,
          cliRemediation: param.values
            ? `Pass --param ${name}=<${param.values.join('|')}>.`
            : `Pass --param ${name}=<value>.`,
          httpRemediation: `Send params: {"${name}": …} in the request body.`,
        },
      );
    }
    if (param.values && !param.values.includes(value)) {
      throw new ConfigError(
        `"${value}" is not a ${spec.displayName} ${name}.`,
        `Use one of: ${param.values.join(', ')}.`,
        { provider: spec.id },
      );
    }
    checkParamValue(spec, name, value);
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
