import { ConfigError } from '../errors.js';
import type { Endpoints } from '../protocol/types.js';
import { checkParamValue } from './params.js';
import type { ProviderSpec } from './spec.js';

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** The variable names a template uses, in order of appearance. */
export function templateVariables(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1] as string);
}

/**
 * Replaces `{name}` with the value of `name`. Values are percent-encoded, so a param can never
 * smuggle a `/`, `@` or `?` into a URL and change which host receives the credentials.
 */
export function expandTemplate(
  template: string,
  vars: Record<string, string>,
  what = 'URL template',
): string {
  return template.replace(PLACEHOLDER, (_, name: string) => {
    const value = vars[name];
    if (value === undefined) {
      throw new ConfigError(
        `The ${what} "${template}" uses {${name}}, which no param provides.`,
        `Give the connection a "${name}" param, or fix the template in the provider spec.`,
        { forOperator: true },
      );
    }
    return encodeURIComponent(value);
  });
}

/**
 * Params plus the variables each param value derives (`dataCenter: de` → `apiHost: api-de.cronofy.com`).
 * Every param value is checked again here, whether it came from a caller or from a stored row.
 */
export function templateVars(spec: ProviderSpec, params: Record<string, string>): Record<string, string> {
  for (const [name, value] of Object.entries(params)) checkParamValue(spec, name, value);
  const vars: Record<string, string> = { ...params };
  for (const [name, param] of Object.entries(spec.params)) {
    const value = params[name];
    const derived = value === undefined ? undefined : param.vars?.[value];
    if (derived) Object.assign(vars, derived);
  }
  return vars;
}

function expandUrl(
  spec: ProviderSpec,
  field: string,
  template: string,
  vars: Record<string, string>,
): string {
  const url = expandTemplate(template, vars, `${spec.id} ${field}`);
  try {
    new URL(url);
  } catch {
    throw new ConfigError(
      `The ${spec.id} ${field} expands to "${url}", which is not a URL.`,
      `Fix ${field} in the provider spec (Baton.open({ providers: { ${spec.id}: { ${field}: … } } })).`,
      {
        provider: spec.id,
        cliRemediation: `Fix ${field} of "${spec.id}" under "providers" in baton.config.json.`,
        forOperator: true,
      },
    );
  }
  return url;
}

export function endpointsFor(spec: ProviderSpec, params: Record<string, string>): Endpoints {
  const vars = templateVars(spec, params);
  const out: Endpoints = { apiBaseUrl: expandUrl(spec, 'apiBaseUrl', spec.apiBaseUrl, vars) };
  if (spec.authorizationUrl)
    out.authorizationUrl = expandUrl(spec, 'authorizationUrl', spec.authorizationUrl, vars);
  if (spec.tokenUrl) out.tokenUrl = expandUrl(spec, 'tokenUrl', spec.tokenUrl, vars);
  if (spec.revocationUrl) out.revocationUrl = expandUrl(spec, 'revocationUrl', spec.revocationUrl, vars);
  return out;
}
