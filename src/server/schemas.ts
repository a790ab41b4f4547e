/**
 * The JSON Schemas the routes validate and serialize with. The OpenAPI document at
 * /v1/openapi.json is generated from these same objects (see openapi.ts).
 */

const nullable = (type: string) => ({ type: [type, 'null'] });

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

export const idParams = {
  type: 'object',
  properties: { id: { type: 'string', minLength: 1, maxLength: 200 } },
  required: ['id'],
} as const;

export const listQuery = {
  type: 'object',
  properties: {
    provider: { type: 'string', description: 'only connections of this provider' },
    status: { type: 'string', enum: ['active', 'needs_reauth', 'revoked'] },
    prefix: { type: 'string', description: 'only ids starting with this' },
    limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
    cursor: { type: 'string', description: 'the nextCursor of the previous page' },
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
    id: { type: 'string', minLength: 1, maxLength: 200 },
    provider: { type: 'string', minLength: 1 },
    params: { type: 'object', additionalProperties: { type: 'string' } },
    authMode: { type: 'string', enum: ['client_credentials', 'token_pair', 'api_key'] },
    credentials: {
      type: 'object',
      properties: { apiKey: { type: 'string', minLength: 1 }, apiSecret: { type: 'string' } },
      required: ['apiKey'],
      additionalProperties: false,
    },
    scopes: { type: 'array', items: { type: 'string' } },
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
    provider: { type: 'string', minLength: 1 },
    params: { type: 'object', additionalProperties: { type: 'string' } },
    scopes: { type: 'array', items: { type: 'string' } },
    redirectUri: {
      type: 'string',
      description: 'default: the client’s configured redirect URI, else this server’s /v1/callback',
    },
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
    state: { type: 'string' },
    code: { type: 'string' },
    error: { type: 'string' },
    error_description: { type: 'string' },
    iss: { type: 'string' },
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
    id: { type: 'string', minLength: 1, maxLength: 200 },
    '*': { type: 'string' },
  },
  required: ['id'],
} as const;
