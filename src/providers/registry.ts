import { ConfigError } from '../errors.js';
import { checkIssuer, type ServerMetadata } from '../protocol/issuer.js';
import type { ClientAuth } from '../protocol/types.js';
import { MCP_PREFIX, mcpSpec } from './mcp.js';
import { capturedNames, isTextCapture, isUrlCapture } from './param-value.js';
import { presets } from './presets/index.js';
import type {
  AuthMode,
  ProviderOverride,
  ProviderSpec,
  RefreshTokenLifetime,
  RefreshTokenReuse,
  Rfc6749Code,
  TokenRateLimit,
} from './spec.js';
import { templateVariables } from './template.js';

const AUTH_MODES: readonly AuthMode[] = ['oauth2', 'client_credentials', 'token_pair', 'api_key'];
const CLIENT_AUTHS: readonly ClientAuth[] = ['basic', 'form', 'json', 'private_key_jwt', 'client_secret_jwt'];
const URL_FIELDS = ['authorizationUrl', 'tokenUrl', 'revocationUrl', 'apiBaseUrl'] as const;

/** Every field a ProviderSpec has: a misspelt override is an error, not silently ignored. */
const SPEC_FIELDS: ReadonlySet<string> = new Set<keyof ProviderSpec>([
  'id',
  'displayName',
  'authModes',
  'params',
  'issuer',
  'authorizationUrl',
  'tokenUrl',
  'revocationUrl',
  'apiBaseUrl',
  'clientAuth',
  'pkce',
  'authorizationParams',
  'resource',
  'resourceParam',
  'clientRegistration',
  'par',
  'dpop',
  'scopes',
  'scopeOptions',
  'singleScope',
  'scopeSeparator',
  'defaultExpiresIn',
  'refreshTokenLifetime',
  'refreshTokenExpiresInField',
  'refreshTokenReuse',
  'redirectAuthHosts',
  'errorDialect',
  'identityPath',
  'environmentParam',
  'accountParam',
  'apiKeyAuth',
  'singleUseScopes',
  'proxyCookies',
  'tokenRateLimit',
  'authorizationCodeLifetimeSeconds',
  'callbackSignature',
  'captures',
  'urls',
  'connectSteps',
  'tokenParams',
  'refreshParams',
  'refreshScopes',
  'tokenRequestBody',
  'tokenHeader',
  'apiHeaders',
  'errorCodes',
  'errorShape',
  'apiTokenRejection',
  'revocation',
  'identityMethod',
  'clientCredentialsGrant',
  'notes',
]);

const RFC6749_CODES: readonly Rfc6749Code[] = [
  'invalid_grant',
  'invalid_client',
  'unauthorized_client',
  'access_denied',
  'invalid_request',
  'invalid_scope',
  'unsupported_grant_type',
  'slow_down',
];
/** An HTTP header name (RFC 9110 §5.1: a token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const PATH = /^[A-Za-z0-9_$-]+(?:\.[A-Za-z0-9_$-]+)*$/;

/** What a spec the user adds from scratch gets for every field it leaves out. */
function defaultsFor(id: string, override: ProviderOverride): ProviderSpec {
  const authModes: AuthMode[] = override.authModes ?? [];
  if (!override.authModes) {
    if ((override.authorizationUrl && override.tokenUrl) || override.issuer) authModes.push('oauth2');
    else if (override.tokenUrl) authModes.push('client_credentials');
    if (override.apiKeyAuth) authModes.push('api_key');
  }
  return {
    id,
    displayName: id,
    authModes,
    params: {},
    apiBaseUrl: override.issuer ?? '',
    clientAuth: 'basic',
    pkce: false,
    scopes: [],
    scopeSeparator: ' ',
    defaultExpiresIn: null,
    refreshTokenLifetime: null,
    redirectAuthHosts: [],
    errorDialect: 'rfc6749',
  };
}

/**
 * What a server's metadata says about the spec's fields: its endpoints, PKCE when it offers
 * S256 (RFC 7636 §4.2), client_secret_post when it does not take client_secret_basic, and its
 * userinfo endpoint as the identity path when it lives under the API base.
 */
function fromMetadata(meta: ServerMetadata): Partial<ProviderSpec> {
  const out: Partial<ProviderSpec> = {};
  if (meta.authorizationEndpoint) out.authorizationUrl = meta.authorizationEndpoint;
  if (meta.tokenEndpoint) out.tokenUrl = meta.tokenEndpoint;
  if (meta.revocationEndpoint) out.revocationUrl = meta.revocationEndpoint;
  if (meta.codeChallengeMethodsSupported.includes('S256')) out.pkce = true;
  const methods = meta.tokenEndpointAuthMethodsSupported;
  if (
    methods.length > 0 &&
    !methods.includes('client_secret_basic') &&
    methods.includes('client_secret_post')
  ) {
    out.clientAuth = 'form';
  }
  return out;
}

/**
 * Families of providers whose spec follows from their id: `mcp:<issuer>` (providers/mcp.ts).
 * A member is made the first time its id is asked for, like a spec given by its issuer.
 */
const FAMILIES: readonly { prefix: string; derive(id: string): ProviderOverride | null }[] = [
  { prefix: MCP_PREFIX, derive: mcpSpec },
];

function familyOf(id: string): ProviderOverride | null {
  const family = FAMILIES.find((f) => id.startsWith(f.prefix));
  return family ? family.derive(id) : null;
}

/** Where a spec's field is set: the sentence every spec fault ends with. */
function setIn(provider: string, field: string): string {
  return `Set ${field} in Baton.open({ providers: { ${provider}: { ${field}: … } } }) or in baton.config.json.`;
}

/** A fault of a spec's field, for whoever configures the providers (never a caller of the server). */
function specFault(spec: ProviderSpec, fix: Fix): (field: string, why: string) => ConfigError {
  return (field, why) =>
    new ConfigError(`The ${spec.id} ${field} ${why}.`, fix(field.split(/[.[]/)[0] as string), {
      provider: spec.id,
      forOperator: true,
    });
}

function validate(spec: ProviderSpec, discovered = true): void {
  const fix = (field: string) => setIn(spec.id, field);
  if (!/^[a-z][a-z0-9_-]*$/.test(spec.id) && !familyOf(spec.id)) {
    throw new ConfigError(
      `"${spec.id}" is not a valid provider id.`,
      'Use lower-case letters, digits, - and _.',
    );
  }
  if (!spec.apiBaseUrl) {
    throw new ConfigError(`Provider ${spec.id} has no apiBaseUrl.`, fix('apiBaseUrl'), {
      provider: spec.id,
      forOperator: true,
    });
  }
  if (spec.authModes.length === 0) {
    throw new ConfigError(
      `Provider ${spec.id} has no auth mode.`,
      `Set authModes to some of: ${AUTH_MODES.join(', ')} (or give authorizationUrl and tokenUrl for OAuth2).`,
      { provider: spec.id, forOperator: true },
    );
  }
  for (const mode of spec.authModes) {
    if (!AUTH_MODES.includes(mode)) {
      throw new ConfigError(
        `Provider ${spec.id} has an unknown auth mode "${mode}".`,
        `Use: ${AUTH_MODES.join(', ')}.`,
        {
          provider: spec.id,
          forOperator: true,
        },
      );
    }
  }
  if (spec.issuer !== undefined) checkIssuer(spec.issuer, spec.id);
  if (spec.clientRegistration === true && spec.issuer === undefined) {
    throw new ConfigError(
      `Provider ${spec.id} sets clientRegistration but names no issuer to register at.`,
      fix('issuer'),
      { provider: spec.id },
    );
  }
  if (spec.resourceParam !== undefined && spec.params[spec.resourceParam]?.kind !== 'url') {
    throw new ConfigError(
      `The ${spec.id} resourceParam "${spec.resourceParam}" is not a param of kind url.`,
      fix('resourceParam'),
      { provider: spec.id },
    );
  }
  for (const r of spec.resource ?? []) {
    let ok = false;
    try {
      ok = new URL(r).hash === '' && !r.includes('#');
    } catch {
      ok = false;
    }
    if (!ok) {
      throw new ConfigError(
        `The ${spec.id} resource "${r}" is not an absolute URI without a fragment (RFC 8707 §2).`,
        fix('resource'),
        { provider: spec.id, forOperator: true },
      );
    }
  }
  for (const [k, v] of Object.entries(spec.authorizationParams ?? {})) {
    if (typeof v !== 'string') {
      throw new ConfigError(
        `The ${spec.id} authorizationParams.${k} is not a string.`,
        fix('authorizationParams'),
        { provider: spec.id, forOperator: true },
      );
    }
  }
  if (!CLIENT_AUTHS.includes(spec.clientAuth)) {
    throw new ConfigError(
      `Provider ${spec.id} has an unknown clientAuth "${spec.clientAuth}".`,
      `Use: ${CLIENT_AUTHS.join(', ')}.`,
      {
        provider: spec.id,
        forOperator: true,
      },
    );
  }
  if (spec.authModes.includes('oauth2') && discovered && !(spec.authorizationUrl && spec.tokenUrl)) {
    throw new ConfigError(
      `Provider ${spec.id} uses OAuth2 but lacks authorizationUrl or tokenUrl.`,
      fix('tokenUrl'),
      { provider: spec.id, forOperator: true },
    );
  }
  if (spec.authModes.includes('client_credentials') && discovered && !spec.tokenUrl) {
    throw new ConfigError(
      `Provider ${spec.id} uses client credentials but has no tokenUrl.`,
      fix('tokenUrl'),
      { provider: spec.id, forOperator: true },
    );
  }
  if (spec.authModes.includes('api_key') && !spec.apiKeyAuth) {
    throw new ConfigError(`Provider ${spec.id} uses API keys but has no apiKeyAuth.`, fix('apiKeyAuth'), {
      provider: spec.id,
      forOperator: true,
    });
  }
  if (spec.dpop !== undefined && typeof spec.dpop !== 'boolean') {
    throw new ConfigError(`The ${spec.id} dpop setting is not true or false.`, fix('dpop'), {
      provider: spec.id,
      forOperator: true,
    });
  }
  const codeLifetime = spec.authorizationCodeLifetimeSeconds;
  if (
    codeLifetime !== undefined &&
    !(typeof codeLifetime === 'number' && Number.isInteger(codeLifetime) && codeLifetime > 0)
  ) {
    throw new ConfigError(
      `The ${spec.id} authorizationCodeLifetimeSeconds is not a whole number of seconds above 0.`,
      fix('authorizationCodeLifetimeSeconds'),
      { provider: spec.id, forOperator: true },
    );
  }
  if (spec.tokenRateLimit !== undefined)
    checkRateLimit(spec.tokenRateLimit, `the ${spec.id} tokenRateLimit`, spec.id);
  checkParamWords(spec, fix);
  if (spec.refreshTokenLifetime !== null) checkRefreshTokenLifetime(spec.refreshTokenLifetime, spec.id);
  const field = spec.refreshTokenExpiresInField;
  if (field !== undefined && !(typeof field === 'string' && /^[A-Za-z0-9_.-]+$/.test(field))) {
    throw new ConfigError(
      `The ${spec.id} refreshTokenExpiresInField is not a token-response field name.`,
      `${fix('refreshTokenExpiresInField')} For example "x_refresh_token_expires_in".`,
      { provider: spec.id, forOperator: true },
    );
  }
  if (spec.refreshTokenReuse !== undefined) checkRefreshTokenReuse(spec.refreshTokenReuse, spec.id);
  validateCaptures(spec, fix);
  // URL params are never template variables.
  const known = new Set([
    ...Object.keys(spec.params).filter((k) => spec.params[k]?.kind !== 'url'),
    ...capturedNames(spec),
    'clientId',
  ]);
  for (const param of Object.values(spec.params)) {
    for (const vars of Object.values(param.vars ?? {})) for (const name of Object.keys(vars)) known.add(name);
  }
  const templates: [string, string][] = URL_FIELDS.flatMap((f) => (spec[f] ? [[f, spec[f] as string]] : []));
  for (const [name, url] of Object.entries(spec.urls ?? {})) {
    if (typeof url !== 'string')
      throw new ConfigError(`The ${spec.id} urls.${name} is not a string.`, fix('urls'), {
        provider: spec.id,
        forOperator: true,
      });
    templates.push([`urls.${name}`, url]);
  }
  for (const [field, template] of templates) {
    templateVariables(template).forEach((name, i) => {
      if (!known.has(name)) {
        throw new ConfigError(
          `The ${spec.id} ${field} "${template}" uses {${name}}, which is neither a param nor a derived variable.`,
          `Add a "${name}" param to the ${spec.id} spec, or fix the template.`,
          { provider: spec.id, forOperator: true },
        );
      }
      if (isTextCapture(spec, name)) {
        throw new ConfigError(
          `The ${spec.id} ${field} "${template}" uses the text {${name}}, which may not go into a URL.`,
          `Give ${name} kind value (letters, digits, -._~) if a URL needs it.`,
          { provider: spec.id, forOperator: true },
        );
      }
      if (isUrlCapture(spec, name) && (i > 0 || !template.startsWith(`{${name}}`))) {
        throw new ConfigError(
          `The ${spec.id} ${field} "${template}" uses the URL {${name}} after its start.`,
          `A captured URL can only begin a template: "{${name}}/path/".`,
          { provider: spec.id, forOperator: true },
        );
      }
    });
  }
  validateRequests(spec, fix, known);
}

type Fix = (field: string) => string;

function isStringMap(value: unknown): value is Record<string, string> {
  return (
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === 'string')
  );
}

/** `captures` and `connectSteps`: where each value comes from, and names that do not clash. */
function validateCaptures(spec: ProviderSpec, fix: Fix): void {
  const bad = specFault(spec, fix);
  for (const [name, c] of Object.entries(spec.captures ?? {})) {
    if (name in spec.params) throw bad(`captures.${name}`, 'has the name of a param');
    if (c?.from !== 'token' && c?.from !== 'callback')
      throw bad(`captures.${name}`, 'has no from of token or callback');
    if (typeof c.path !== 'string' || !PATH.test(c.path)) throw bad(`captures.${name}`, 'has no usable path');
    if (c.kind !== undefined && !['value', 'url', 'text'].includes(c.kind))
      throw bad(`captures.${name}`, 'has a kind other than value, url or text');
    if (c.kind === 'url' && c.from !== 'token')
      throw bad(`captures.${name}`, 'takes a URL from elsewhere than the token response');
  }
  for (const [i, step] of (spec.connectSteps ?? []).entries()) {
    const at = `connectSteps[${i}]`;
    if (typeof step?.endpoint !== 'string' || spec.urls?.[step.endpoint] === undefined)
      throw bad(at, `names the endpoint "${String(step?.endpoint)}", which is not in its urls`);
    if (!isStringMap(step.capture) || Object.keys(step.capture).length === 0)
      throw bad(at, 'captures nothing');
    for (const [name, path] of Object.entries(step.capture)) {
      if (!PATH.test(path)) throw bad(`${at}.capture.${name}`, 'has no usable path');
      if (name in spec.params || isUrlCapture(spec, name))
        throw bad(`${at}.capture.${name}`, 'has the name of a param or a URL capture');
    }
    if (typeof step.whenEmpty !== 'string' || step.whenEmpty.trim() === '')
      throw bad(at, 'does not say what to do when the answer is empty (whenEmpty)');
  }
}

/** What token requests and API requests carry beyond RFC 6749. */
function validateRequests(spec: ProviderSpec, fix: Fix, known: Set<string>): void {
  const bad = specFault(spec, fix);
  const usesKnown = (field: string, template: string, extra: string[] = []) => {
    for (const name of templateVariables(template)) {
      if (!known.has(name) && !extra.includes(name))
        throw bad(field, `uses {${name}}, which no param provides`);
    }
  };
  for (const field of ['tokenParams', 'refreshParams', 'apiHeaders'] as const) {
    const map = spec[field];
    if (map === undefined) continue;
    if (!isStringMap(map)) throw bad(field, 'is not a map of strings');
    for (const [k, v] of Object.entries(map)) {
      if (field === 'apiHeaders' && !HEADER_NAME.test(k)) throw bad(`${field}.${k}`, 'is not a header name');
      usesKnown(`${field}.${k}`, v);
    }
  }
  if (spec.refreshScopes !== undefined && typeof spec.refreshScopes !== 'boolean')
    throw bad('refreshScopes', 'is not true or false');
  if (
    spec.tokenRequestBody !== undefined &&
    spec.tokenRequestBody !== 'form' &&
    spec.tokenRequestBody !== 'json'
  )
    throw bad('tokenRequestBody', 'is neither form nor json');
  const th = spec.tokenHeader;
  if (th !== undefined) {
    if (typeof th?.header !== 'string' || !HEADER_NAME.test(th.header))
      throw bad('tokenHeader', 'has no header name');
    if (typeof th.template !== 'string' || !templateVariables(th.template).includes('accessToken'))
      throw bad('tokenHeader', 'has a template without {accessToken}');
    for (const name of templateVariables(th.template)) {
      if (name !== 'accessToken' && name !== 'tokenType')
        throw bad('tokenHeader', `uses {${name}}; it takes {accessToken} and {tokenType}`);
    }
  }
  for (const [code, meaning] of Object.entries(spec.errorCodes ?? {})) {
    if (!RFC6749_CODES.includes(meaning))
      throw bad(`errorCodes.${code}`, `is not one of ${RFC6749_CODES.join(', ')}`);
  }
  const shape = spec.errorShape;
  if (
    shape !== undefined &&
    (typeof shape?.code !== 'string' ||
      !PATH.test(shape.code) ||
      (shape.description !== undefined && !PATH.test(shape.description)))
  )
    throw bad('errorShape', 'needs a code path (and may have a description path)');
  const rev = spec.revocation;
  if (
    rev !== undefined &&
    (rev === null ||
      typeof rev !== 'object' ||
      (rev.auth !== undefined && !['client', 'basic', 'token'].includes(rev.auth)) ||
      (rev.method !== undefined && rev.method !== 'POST' && rev.method !== 'DELETE') ||
      (rev.body !== undefined && !['form', 'json', 'none'].includes(rev.body)) ||
      (rev.tokenField !== undefined && (typeof rev.tokenField !== 'string' || !PATH.test(rev.tokenField))) ||
      (rev.takes !== undefined && rev.takes !== 'any' && rev.takes !== 'access_token'))
  )
    throw bad(
      'revocation',
      'is not { auth: client|basic|token, method: POST|DELETE, body: form|json|none, tokenField, takes: any|access_token }',
    );
  const sig = spec.callbackSignature;
  if (
    sig !== undefined &&
    (sig === null ||
      typeof sig !== 'object' ||
      typeof sig.param !== 'string' ||
      !/^[A-Za-z0-9_.-]+$/.test(sig.param) ||
      sig.algorithm !== 'hmac-sha256-hex' ||
      (sig.exclude !== undefined &&
        (!Array.isArray(sig.exclude) || !sig.exclude.every((x) => typeof x === 'string'))))
  )
    throw bad('callbackSignature', "is not { param, algorithm: 'hmac-sha256-hex', exclude?: string[] }");
  if (spec.identityMethod !== undefined && spec.identityMethod !== 'GET' && spec.identityMethod !== 'POST')
    throw bad('identityMethod', 'is neither GET nor POST');
  const cc = spec.clientCredentialsGrant;
  if (cc !== undefined) {
    if (typeof cc?.grantType !== 'string' || !/^[A-Za-z0-9_:.-]+$/.test(cc.grantType))
      throw bad('clientCredentialsGrant', 'has no grantType');
    if (cc.params !== undefined && !isStringMap(cc.params))
      throw bad('clientCredentialsGrant', 'has params that are not strings');
    for (const [k, v] of Object.entries(cc.params ?? {})) usesKnown(`clientCredentialsGrant.params.${k}`, v);
  }
  const rej = spec.apiTokenRejection;
  if (
    rej !== undefined &&
    (typeof rej?.path !== 'string' ||
      !PATH.test(rej.path) ||
      !Array.isArray(rej.values) ||
      rej.values.length === 0 ||
      !rej.values.every((v) => typeof v === 'string'))
  )
    throw bad('apiTokenRejection', 'needs a path and a list of values');
}

/**
 * The params' words for the connect pages (label, hint, format, value labels) are text, value
 * labels name only values the param allows, and `environmentParam` / `accountParam` name params.
 */
function checkParamWords(spec: ProviderSpec, fix: (field: string) => string): void {
  const refuse = (what: string, field: string) => {
    throw new ConfigError(`The ${spec.id} ${what}.`, fix(field), { provider: spec.id, forOperator: true });
  };
  for (const [name, param] of Object.entries(spec.params)) {
    for (const field of ['label', 'hint', 'format'] as const) {
      const text = param[field];
      if (text !== undefined && (typeof text !== 'string' || text.trim() === ''))
        refuse(`params.${name}.${field} is not a non-empty string`, 'params');
    }
    const labels = param.valueLabels;
    if (labels === undefined) continue;
    if (typeof labels !== 'object' || labels === null || Array.isArray(labels))
      refuse(`params.${name}.valueLabels is not an object of value → label`, 'params');
    for (const [value, label] of Object.entries(labels)) {
      if (typeof label !== 'string' || label.trim() === '')
        refuse(`params.${name}.valueLabels.${value} is not a non-empty string`, 'params');
      if (param.values && !param.values.includes(value))
        refuse(`params.${name}.valueLabels names "${value}", which is not one of its values`, 'params');
    }
  }
  for (const field of ['environmentParam', 'accountParam'] as const) {
    const name = spec[field];
    if (name !== undefined && !Object.hasOwn(spec.params, name))
      refuse(`${field} "${String(name)}" is not one of its params`, field);
  }
}

const wholeSeconds = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v > 0;

/** A refresh-token lifetime: whole seconds above 0, `sliding` true or false, an optional absolute cap. */
function checkRefreshTokenLifetime(lifetime: RefreshTokenLifetime, provider: string): void {
  const example = `${setIn(provider, 'refreshTokenLifetime')} For example { seconds: 7776000, sliding: true, absoluteSeconds: 31536000 } (90 days of inactivity, 365 days at most), or null when the provider documents none.`;
  const bad = (why: string) =>
    new ConfigError(`The ${provider} refreshTokenLifetime ${why}.`, example, { provider, forOperator: true });
  if (lifetime === null || typeof lifetime !== 'object') throw bad('is not an object');
  for (const key of Object.keys(lifetime)) {
    if (!['seconds', 'sliding', 'absoluteSeconds'].includes(key)) throw bad(`has an unknown field "${key}"`);
  }
  if (!wholeSeconds(lifetime.seconds)) throw bad('has seconds that are not a whole number above 0');
  if (typeof lifetime.sliding !== 'boolean') throw bad('has sliding that is not true or false');
  if (lifetime.absoluteSeconds !== undefined && !wholeSeconds(lifetime.absoluteSeconds))
    throw bad('has absoluteSeconds that are not a whole number above 0');
}

/** A reuse window: a mode Baton knows, whole seconds for `window`, `revokesFamily` true or false. */
function checkRefreshTokenReuse(reuse: RefreshTokenReuse, provider: string): void {
  const example = `${setIn(provider, 'refreshTokenReuse')} For example { mode: "window", seconds: 600, revokesFamily: true } or { mode: "until_new_used" }.`;
  const bad = (why: string) =>
    new ConfigError(`The ${provider} refreshTokenReuse ${why}.`, example, { provider, forOperator: true });
  if (reuse === null || typeof reuse !== 'object') throw bad('is not an object');
  const fields = reuse.mode === 'window' ? ['mode', 'seconds', 'revokesFamily'] : ['mode', 'revokesFamily'];
  if (reuse.mode !== 'window' && reuse.mode !== 'until_new_used')
    throw bad(`has an unknown mode "${String((reuse as { mode?: unknown }).mode)}"`);
  for (const key of Object.keys(reuse)) {
    if (!fields.includes(key)) throw bad(`has a field "${key}" its mode does not take`);
  }
  // 0: a replaced refresh token is never accepted again (reuse detection without leeway).
  if (reuse.mode === 'window' && !(reuse.seconds === 0 || wholeSeconds(reuse.seconds)))
    throw bad('has seconds that are not a whole number of at least 0');
  if (reuse.revokesFamily !== undefined && typeof reuse.revokesFamily !== 'boolean')
    throw bad('has revokesFamily that is not true or false');
}

/** A token-endpoint rate limit that can be kept: a positive rate, and a burst of at least one call. */
export function checkRateLimit(limit: TokenRateLimit, what: string, provider?: string): void {
  const { perSecond, burst } = limit ?? ({} as TokenRateLimit);
  if (typeof perSecond !== 'number' || !Number.isFinite(perSecond) || perSecond <= 0) {
    throw new ConfigError(
      `${what} has perSecond ${String(perSecond)}; it must be a number above 0.`,
      'Set it as { perSecond: 5, burst: 10 } (calls per second, and how many may go at once).',
      { provider, forOperator: true },
    );
  }
  if (burst !== undefined && (!Number.isInteger(burst) || burst < 1)) {
    throw new ConfigError(
      `${what} has burst ${String(burst)}; it must be a whole number of at least 1.`,
      'Set it as { perSecond: 5, burst: 10 } (calls per second, and how many may go at once).',
      { provider, forOperator: true },
    );
  }
}

/** The provider specs in force: the presets, with the user's overrides and additions applied. */
export class ProviderRegistry {
  readonly #specs: Map<string, ProviderSpec>;
  /** The spec each issuer-configured provider had before its metadata was read, and the user's fields. */
  readonly #undiscovered = new Map<string, { base: ProviderSpec; explicit: ProviderOverride }>();
  readonly #metadata = new Map<string, ServerMetadata>();

  private constructor(specs: Map<string, ProviderSpec>) {
    this.#specs = specs;
  }

  static create(overrides: Record<string, ProviderOverride> = {}): ProviderRegistry {
    const specs = new Map<string, ProviderSpec>();
    const pending = new Map<string, { base: ProviderSpec; explicit: ProviderOverride }>();
    for (const [id, preset] of Object.entries(presets)) specs.set(id, preset);
    for (const [id, override] of Object.entries(overrides)) {
      for (const field of Object.keys(override ?? {})) {
        if (field === 'rotation') {
          throw new ConfigError(
            `The ${id} provider spec sets "rotation", which Baton no longer reads.`,
            'Remove it: Baton stores whatever refresh token a refresh returns, so rotation needs no setting.',
            { provider: id },
          );
        }
        if (!SPEC_FIELDS.has(field)) {
          throw new ConfigError(
            `The ${id} provider spec has an unknown field "${field}".`,
            `Known fields: ${[...SPEC_FIELDS].join(', ')}.`,
            { provider: id, forOperator: true },
          );
        }
      }
      const family = specs.has(id) ? null : familyOf(id);
      const base =
        specs.get(id) ?? (family ? { ...defaultsFor(id, family), ...family, id } : defaultsFor(id, override));
      const explicit = stripUndefined(override);
      const spec: ProviderSpec = { ...base, ...explicit, ...mergedUrls(base, explicit), id };
      validate(spec, spec.issuer === undefined);
      specs.set(id, Object.freeze(spec));
      if (spec.issuer !== undefined) pending.set(id, { base, explicit });
    }
    const registry = new ProviderRegistry(specs);
    for (const [id, entry] of pending) registry.#undiscovered.set(id, entry);
    return registry;
  }

  /** The providers whose spec names an issuer: their metadata is read before use. */
  issuers(): string[] {
    return [...this.#undiscovered.keys()];
  }

  /** The metadata last read for a provider, if any. */
  metadata(id: string): ServerMetadata | undefined {
    return this.#metadata.get(id);
  }

  /**
   * Applies a provider's metadata: the spec becomes the preset or defaults, then what the
   * server publishes, then the user's explicit fields (which always win).
   */
  applyMetadata(id: string, meta: ServerMetadata): ProviderSpec {
    const entry = this.#undiscovered.get(id);
    if (!entry)
      throw new ConfigError(`Provider ${id} names no issuer.`, `Set issuer in the ${id} spec.`, {
        provider: id,
        forOperator: true,
      });
    const merged: ProviderSpec = {
      ...entry.base,
      ...fromMetadata(meta),
      ...entry.explicit,
      ...mergedUrls(entry.base, entry.explicit),
      id,
    };
    if (
      merged.identityPath === undefined &&
      meta.userinfoEndpoint?.startsWith(`${merged.apiBaseUrl.replace(/\/+$/, '')}/`)
    ) {
      merged.identityPath = meta.userinfoEndpoint.slice(merged.apiBaseUrl.replace(/\/+$/, '').length + 1);
    }
    validate(merged);
    this.#specs.set(id, Object.freeze(merged));
    this.#metadata.set(id, meta);
    return merged;
  }

  /**
   * Makes the spec of a family member (`mcp:<issuer>`) the first time its id is asked for; a
   * known id, or one of no family, is left as it is. Returns whether the id now names a spec.
   */
  resolve(id: string): boolean {
    if (this.#specs.has(id)) return true;
    const family = familyOf(id);
    if (!family) return false;
    const base = { ...defaultsFor(id, family), ...stripUndefined(family), id } as ProviderSpec;
    validate(base, base.issuer === undefined);
    this.#specs.set(id, Object.freeze(base));
    if (base.issuer !== undefined) this.#undiscovered.set(id, { base, explicit: {} });
    return true;
  }

  get(id: string): ProviderSpec {
    this.resolve(id);
    const spec = this.#specs.get(id);
    if (!spec) {
      const known = [...this.#specs.keys()].join(', ');
      throw new ConfigError(
        `Baton does not know the provider "${id}".`,
        `Use one of: ${known}, or add it with Baton.open({ providers: { ${id}: { … } } }).`,
        {
          provider: id,
          cliRemediation: `Use one of: ${known}, or add it under "providers" in baton.config.json ("${id}": { … }), or by its issuer: baton providers add ${id} --issuer <url>`,
          httpRemediation: `${known ? `Use one of: ${known}. ` : ''}A provider is added to the server's configuration by its operator.`,
        },
      );
    }
    return spec;
  }

  has(id: string): boolean {
    return this.resolve(id);
  }

  list(): ProviderSpec[] {
    return [...this.#specs.values()];
  }
}

/** An override's `urls` add to the preset's by name (a simulator names only the ones it serves). */
function mergedUrls(base: ProviderSpec, explicit: ProviderOverride): Partial<ProviderSpec> {
  if (!explicit.urls || !base.urls) return {};
  return { urls: { ...base.urls, ...explicit.urls } };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
