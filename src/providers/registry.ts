import { ConfigError } from '../errors.js';
import { checkIssuer, type ServerMetadata } from '../protocol/issuer.js';
import type { ClientAuth } from '../protocol/types.js';
import { presets } from './presets/index.js';
import type {
  AuthMode,
  ProviderOverride,
  ProviderSpec,
  RefreshTokenLifetime,
  RefreshTokenReuse,
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
  'notes',
]);

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

function validate(spec: ProviderSpec, discovered = true): void {
  const fix = (field: string) =>
    `Set ${field} in Baton.open({ providers: { ${spec.id}: { ${field}: … } } }) or in baton.config.json.`;
  if (!/^[a-z][a-z0-9_-]*$/.test(spec.id)) {
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
      { provider: spec.id },
    );
  }
  for (const mode of spec.authModes) {
    if (!AUTH_MODES.includes(mode)) {
      throw new ConfigError(
        `Provider ${spec.id} has an unknown auth mode "${mode}".`,
        `Use: ${AUTH_MODES.join(', ')}.`,
        {
          provider: spec.id,
        },
      );
    }
  }
  if (spec.issuer !== undefined) checkIssuer(spec.issuer, spec.id);
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
      { provider: spec.id },
    );
  }
  if (spec.refreshTokenReuse !== undefined) checkRefreshTokenReuse(spec.refreshTokenReuse, spec.id);
  const known = new Set(Object.keys(spec.params));
  for (const param of Object.values(spec.params)) {
    for (const vars of Object.values(param.vars ?? {})) for (const name of Object.keys(vars)) known.add(name);
  }
  for (const field of URL_FIELDS) {
    const template = spec[field];
    if (!template) continue;
    for (const name of templateVariables(template)) {
      if (!known.has(name)) {
        throw new ConfigError(
          `The ${spec.id} ${field} "${template}" uses {${name}}, which is neither a param nor a derived variable.`,
          `Add a "${name}" param to the ${spec.id} spec, or fix the template.`,
          { provider: spec.id, forOperator: true },
        );
      }
    }
  }
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
  const example =
    'Set it as { seconds: 7776000, sliding: true, absoluteSeconds: 31536000 } (90 days of inactivity, 365 days at most), or null when the provider documents none.';
  const bad = (why: string) =>
    new ConfigError(`The ${provider} refreshTokenLifetime ${why}.`, example, { provider });
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
  const example =
    'Set it as { mode: "window", seconds: 600, revokesFamily: true } or { mode: "until_new_used" }.';
  const bad = (why: string) =>
    new ConfigError(`The ${provider} refreshTokenReuse ${why}.`, example, { provider });
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
      { provider },
    );
  }
  if (burst !== undefined && (!Number.isInteger(burst) || burst < 1)) {
    throw new ConfigError(
      `${what} has burst ${String(burst)}; it must be a whole number of at least 1.`,
      'Set it as { perSecond: 5, burst: 10 } (calls per second, and how many may go at once).',
      { provider },
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
      const base = specs.get(id) ?? defaultsFor(id, override);
      const explicit = stripUndefined(override);
      const spec: ProviderSpec = { ...base, ...explicit, id };
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
    const merged: ProviderSpec = { ...entry.base, ...fromMetadata(meta), ...entry.explicit, id };
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

  get(id: string): ProviderSpec {
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
    return this.#specs.has(id);
  }

  list(): ProviderSpec[] {
    return [...this.#specs.values()];
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
