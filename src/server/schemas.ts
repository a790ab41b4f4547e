/**
 * The JSON Schemas the routes validate and serialize with. The OpenAPI document at
 * /v1/openapi.json is generated from these same objects (see openapi.ts).
 */

const nullable = (type: string) => ({ type: [type, 'null'] });

/**
 * Text the stores can hold (README, "Input rules"): no C0/C1 control character (NUL among
 * them) and no lone UTF-16 surrogate. Ajv compiles patterns with the `u` flag, so a surrogate
 * pair is one code point and passes; a lone surrogate is refused.
 */
export const PRINTABLE = '^[^\\u0000-\\u001f\\u007f-\\u009f\\ud800-\\udfff]*$';

/** A string of printable text, at most `max` characters (and at least `min`). */
export const text = (max: number, min = 0, description?: string) => ({
  type: 'string',
  ...(min > 0 ? { minLength: min } : {}),
  maxLength: max,
  pattern: PRINTABLE,
  ...(description ? { description } : {}),
});

/** A connection id: 1–200 printable characters (README, "Input rules"). */
export const connectionId = text(200, 1);

export const problemSchema = {
  $id: 'Problem',
  type: 'object',
  description: 'RFC 9457 problem details, with Baton’s error code and what to do about it.',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string' },
    remediation: { type: 'string' },
    instance: { type: 'string' },
    connectionId: { type: 'string' },
    provider: { type: 'string' },
    reconnect: { type: 'string' },
    retryAfter: { type: 'number' },
    scopes: { type: 'array', items: { type: 'string' } },
  },
  required: ['type', 'title', 'status', 'detail', 'code', 'remediation'],
} as const;

export const connectionSchema = {
  type: 'object',
  description: 'A connection: everything but its secrets. Times are epoch milliseconds.',
  properties: {
    id: { type: 'string' },
    provider: { type: 'string' },
    authMode: { type: 'string', enum: ['oauth2', 'client_credentials', 'token_pair', 'api_key'] },
    params: { type: 'object', additionalProperties: { type: 'string' } },
    clientId: nullable('string'),
    status: { type: 'string', enum: ['active', 'needs_reauth', 'revoked'] },
    account: {
      type: ['object', 'null'],
      properties: { id: { type: 'string' }, name: { type: 'string' }, email: { type: 'string' } },
    },
    scopes: { type: ['array', 'null'], items: { type: 'string' } },
    accessTokenExpiresAt: nullable('number'),
    refreshTokenExpiresAt: nullable('number'),
    lastRefreshedAt: nullable('number'),
    lastError: {
      type: ['object', 'null'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, at: { type: 'number' } },
    },
    apiBaseUrl: nullable('string'),
    version: { type: 'integer' },
    createdAt: { type: 'number' },
    updatedAt: { type: 'number' },
  },
  required: ['id', 'provider', 'authMode', 'status', 'version'],
} as const;

/** Provider params: names and values the stores can hold. */
const params = {
  type: 'object',
  maxProperties: 50,
  propertyNames: { maxLength: 100, pattern: PRINTABLE },
  additionalProperties: text(2000),
} as const;

const scopes = { type: 'array', maxItems: 200, items: text(500, 1) } as const;

export const idParams = {
  type: 'object',
  properties: { id: connectionId },
  required: ['id'],
} as const;

export const listQuery = {
  type: 'object',
  properties: {
    provider: text(100, 1, 'only connections of this provider'),
    status: { type: 'string', enum: ['active', 'needs_reauth', 'revoked'] },
    prefix: text(200, 0, 'only ids starting with this'),
    limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
    cursor: text(200, 1, 'the nextCursor of the previous page'),
  },
  additionalProperties: false,
} as const;

export const listResponse = {
  type: 'object',
  properties: {
    items: { type: 'array', items: connectionSchema },
    nextCursor: nullable('string'),
  },
  required: ['items', 'nextCursor'],
} as const;

export const createBody = {
  type: 'object',
  description:
    'A connection that needs no user consent: static credentials (API key, token pair) or client credentials.',
  properties: {
    id: connectionId,
    provider: text(100, 1),
    params,
    authMode: { type: 'string', enum: ['client_credentials', 'token_pair', 'api_key'] },
    credentials: {
      type: 'object',
      properties: { apiKey: text(8192, 1), apiSecret: text(8192) },
      required: ['apiKey'],
      additionalProperties: false,
    },
    scopes,
    replace: { type: 'boolean' },
    verify: {
      type: 'boolean',
      description:
        'static credentials are checked at the provider before they are stored (default true); false stores them unchecked',
    },
  },
  required: ['id', 'provider'],
  additionalProperties: false,
} as const;

export const authorizeBody = {
  type: 'object',
  properties: {
    provider: text(100, 1),
    params,
    scopes,
    redirectUri: text(
      2000,
      1,
      'default: the client’s configured redirect URI, else this server’s /v1/callback',
    ),
    replace: { type: 'boolean' },
  },
  required: ['provider'],
  additionalProperties: false,
} as const;

export const authorizeResponse = {
  type: 'object',
  properties: {
    url: { type: 'string', description: 'send the account owner here' },
    state: { type: 'string' },
    connectionId: { type: 'string' },
    redirectUri: { type: 'string' },
    expiresAt: { type: 'number' },
  },
  required: ['url', 'connectionId', 'redirectUri', 'expiresAt'],
} as const;

export const callbackQuery = {
  type: 'object',
  properties: {
    state: text(500),
    code: text(4000),
    error: text(200),
    error_description: text(2000),
    iss: text(2000),
  },
} as const;

export const refreshBody = {
  type: ['object', 'null'],
  properties: { force: { type: 'boolean' } },
  additionalProperties: false,
} as const;

export const revokeResponse = {
  type: 'object',
  properties: { revokedAtProvider: { type: 'boolean' } },
  required: ['revokedAtProvider'],
} as const;

export const deleteResponse = {
  type: 'object',
  properties: { deleted: { type: 'boolean' } },
  required: ['deleted'],
} as const;

export const tokenResponse = {
  type: 'object',
  description:
    'The credentials to send now. OAuth connections: accessToken, tokenType and expiresAt (epoch ms). Static modes (API key, token pair): accessToken is null and `headers` holds the header to send. `headers` is filled for every mode.',
  properties: {
    connectionId: { type: 'string' },
    provider: { type: 'string' },
    authMode: { type: 'string' },
    accessToken: nullable('string'),
    tokenType: nullable('string'),
    expiresAt: nullable('number'),
    headers: { type: 'object', additionalProperties: { type: 'string' } },
  },
  required: ['connectionId', 'provider', 'authMode', 'accessToken', 'tokenType', 'expiresAt', 'headers'],
} as const;

export const proxyParams = {
  type: 'object',
  properties: {
    id: connectionId,
    '*': { type: 'string' },
  },
  required: ['id'],
} as const;

interface TypedSchema {
  type?: string | readonly string[];
  properties?: Record<string, TypedSchema>;
  additionalProperties?: TypedSchema | boolean;
  items?: TypedSchema;
  anyOf?: readonly TypedSchema[];
}

const jsonType = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v;

/**
 * Where a JSON body's value is of another type than its schema says, without coercion: the
 * validator coerces query strings ("limit=5" is a number), and would otherwise take `"id": 42`
 * as the id "42" (README, "Input rules": wrong types are a 400). Null when every type matches.
 */
export function typeMismatch(schema: TypedSchema | undefined, value: unknown, path = 'body'): string | null {
  if (!schema || value === undefined) return null;
  if (schema.anyOf) {
    return schema.anyOf.some((s) => typeMismatch(s, value, path) === null)
      ? null
      : `${path} is not of an accepted type`;
  }
  if (schema.type !== undefined) {
    const types = typeof schema.type === 'string' ? [schema.type] : schema.type;
    const t = jsonType(value);
    if (!types.includes(t) && !(t === 'integer' && types.includes('number')))
      return `${path} must be ${types.join(' or ')}, not ${t}`;
  }
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const m = typeMismatch(schema.items, item, `${path}/${i}`);
      if (m) return m;
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const sub =
        schema.properties?.[k] ??
        (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
      const m = typeMismatch(sub, v, `${path}/${k.slice(0, 50)}`);
      if (m) return m;
    }
  }
  return null;
}
