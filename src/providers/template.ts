import { ConfigError } from '../errors.js';
import type { Endpoints } from '../protocol/types.js';
import { capturedNames, checkCapturedValue, isUrlCapture } from './param-value.js';
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
 * Replaces `{name}` in a header template with the value of `name`, as it is: header values are
 * not URLs. A value that could end the header (a line break, a NUL) is refused.
 */
export function expandHeader(template: string, vars: Record<string, string>, what: string): string {
  return template.replace(PLACEHOLDER, (_, name: string) => {
    const value = vars[name];
    if (value === undefined) {
      throw new ConfigError(
        `The ${what} "${template}" uses {${name}}, which no param provides.`,
        `Give the connection a "${name}" param, or fix the header template in the provider spec.`,
      );
    }
    if (/[\r\n\0]/.test(value)) {
      throw new ConfigError(
        `The value of {${name}} for the ${what} holds a line break, which may not go into a header.`,
        'Check the param or the provider spec.',
      );
    }
    return value;
  });
}

/**
 * Params plus the variables each param value derives (`dataCenter: de` → `apiHost: api-de.cronofy.com`).
 * Every param value is checked again here, whether it came from a caller or from a stored row;
 * a captured API base against the spec's hosts.
 */
export function templateVars(spec: ProviderSpec, params: Record<string, string>): Record<string, string> {
  for (const [name, value] of Object.entries(params)) checkCapturedValue(spec, name, value);
  // A URL param never enters a template: its value is a whole URL, used whole.
  const vars: Record<string, string> = Object.fromEntries(
    Object.entries(params).filter(([name]) => spec.params[name]?.kind !== 'url'),
  );
  for (const [name, param] of Object.entries(spec.params)) {
    const value = params[name];
    const derived = value === undefined ? undefined : param.vars?.[value];
    if (derived) Object.assign(vars, derived);
  }
  return vars;
}

const LEADING = /^\{([A-Za-z_][A-Za-z0-9_]*)\}/;

/** A template needs a value the provider gives while connecting, and the connection has none. */
function notCaptured(spec: ProviderSpec, field: string, name: string): ConfigError {
  return new ConfigError(
    `The ${spec.displayName} ${field} needs {${name}}, which ${spec.displayName} gives when a connection is made; this one has none.`,
    `Connect the account again (\`baton connect ${spec.id}\`), or, for tokens imported from elsewhere, give ${name} as a param.`,
    { provider: spec.id },
  );
}

function expandUrl(
  spec: ProviderSpec,
  field: string,
  template: string,
  vars: Record<string, string>,
): string {
  const captured = capturedNames(spec);
  for (const name of templateVariables(template)) {
    if (vars[name] === undefined && captured.includes(name)) throw notCaptured(spec, field, name);
  }
  // A captured API base (Salesforce's instance URL) begins the template, checked and unencoded.
  const lead = LEADING.exec(template);
  const url =
    lead && isUrlCapture(spec, lead[1] as string)
      ? `${vars[lead[1] as string]}${expandTemplate(template.slice(lead[0].length), vars, `${spec.id} ${field}`)}`
      : expandTemplate(template, vars, `${spec.id} ${field}`);
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

/**
 * The RFC 8707 resources a connection's tokens are asked for: its `resourceParam`'s URL, else
 * the spec's `resource` list.
 */
export function resourcesFor(spec: ProviderSpec, params: Record<string, string>): string[] {
  if (spec.resourceParam) {
    const value = params[spec.resourceParam];
    return value === undefined ? [] : [value];
  }
  return spec.resource ?? [];
}

/** The endpoints of the authorization server: what a connection needs before it exists. */
export type AuthEndpoints = Omit<Endpoints, 'apiBaseUrl'>;

export function authEndpointsFor(
  spec: ProviderSpec,
  params: Record<string, string>,
  clientId?: string,
): AuthEndpoints {
  const vars = withClient(templateVars(spec, params), clientId);
  const out: AuthEndpoints = {};
  if (spec.authorizationUrl)
    out.authorizationUrl = expandUrl(spec, 'authorizationUrl', spec.authorizationUrl, vars);
  if (spec.tokenUrl) out.tokenUrl = expandUrl(spec, 'tokenUrl', spec.tokenUrl, vars);
  // A revocation URL that names the client (GitHub) is known once the client is.
  const revocation = spec.revocationUrl;
  if (revocation && (vars['clientId'] !== undefined || !templateVariables(revocation).includes('clientId')))
    out.revocationUrl = expandUrl(spec, 'revocationUrl', revocation, vars);
  return out;
}

/** `{clientId}` in a template: the connection's client id, which must not be a dot segment. */
function withClient(vars: Record<string, string>, clientId: string | undefined): Record<string, string> {
  if (clientId === undefined || clientId === '.' || clientId === '..') return vars;
  return { ...vars, clientId };
}

/**
 * Every endpoint of a connection, the API base included: its params hold what the provider
 * gave while connecting (a realm id, an instance URL) when the base needs it.
 */
export function endpointsFor(
  spec: ProviderSpec,
  params: Record<string, string>,
  clientId?: string,
): Endpoints {
  const vars = templateVars(spec, params);
  // An MCP server's URL is its own API base (docs/architecture.md, "MCP").
  const resource = spec.resourceParam ? params[spec.resourceParam] : undefined;
  return {
    apiBaseUrl: resource ?? expandUrl(spec, 'apiBaseUrl', spec.apiBaseUrl, vars),
    ...authEndpointsFor(spec, params, clientId),
  };
}

/** One of the spec's further endpoints (`urls`), expanded over the connection's params. */
export function namedUrlFor(spec: ProviderSpec, name: string, params: Record<string, string>): string {
  const template = spec.urls?.[name];
  if (template === undefined) {
    throw new ConfigError(
      `The ${spec.displayName} spec names no "${name}" endpoint.`,
      `Add ${name} to the urls of the ${spec.id} spec.`,
      { provider: spec.id },
    );
  }
  return expandUrl(spec, `urls.${name}`, template, templateVars(spec, params));
}

/**
 * The headers every API request of a connection carries (spec `apiHeaders`), expanded over its
 * params; a header whose template needs a value the connection lacks is left out.
 */
export function apiHeadersFor(spec: ProviderSpec, params: Record<string, string>): [string, string][] {
  const entries = Object.entries(spec.apiHeaders ?? {});
  if (entries.length === 0) return [];
  const vars = templateVars(spec, params);
  const out: [string, string][] = [];
  for (const [name, template] of entries) {
    if (templateVariables(template).some((v) => vars[v] === undefined)) continue;
    out.push([name.toLowerCase(), expandHeader(template, vars, `${spec.id} ${name} header`)]);
  }
  return out;
}

/**
 * Extra token-request fields (spec `tokenParams`, `refreshParams`, a client-credentials grant's
 * own), expanded over the params; a field whose param the connection lacks is left out.
 */
export function fieldsFor(
  spec: ProviderSpec,
  field: 'tokenParams' | 'refreshParams' | 'clientCredentialsGrant',
  params: Record<string, string>,
): Record<string, string> | undefined {
  const map = field === 'clientCredentialsGrant' ? spec.clientCredentialsGrant?.params : spec[field];
  if (!map || Object.keys(map).length === 0) return undefined;
  const vars = templateVars(spec, params);
  // A field over an optional param the connection does not have is left out.
  return Object.fromEntries(
    Object.entries(map)
      .filter(([, v]) => templateVariables(v).every((name) => vars[name] !== undefined))
      .map(([k, v]) => [k, expandHeader(v, vars, `${spec.id} ${field}.${k}`)]),
  );
}
