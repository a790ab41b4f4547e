import { ConfigError } from '../errors.js';
import type { ProviderSpec } from './spec.js';

/**
 * What a param value may be made of before it goes into a URL template (RFC 3986 §2.3
 * unreserved characters), and never `.` or `..`: percent-encoding alone does not keep a value
 * like `..` from stepping out of a path prefix (`/t/{tenant}/api/` → `/api/`).
 */
const SAFE_PARAM = /^[A-Za-z0-9._~-]+$/;

/** A ConfigError naming the param unless `value` is safe to put into a URL template. */
export function checkParamValue(
  spec: Pick<ProviderSpec, 'id' | 'displayName'>,
  name: string,
  value: string,
): void {
  if (SAFE_PARAM.test(value) && value !== '.' && value !== '..') return;
  throw new ConfigError(
    `The ${spec.displayName} param "${name}" has the value "${value}", which may not go into a URL.`,
    `Use letters, digits and "-", ".", "_", "~" only (not "." or ".." alone) for ${name}.`,
    { provider: spec.id },
  );
}

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
