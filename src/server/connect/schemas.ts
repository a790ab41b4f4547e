/** JSON Schemas of the connect-session API (validated by fastify, published in /v1/openapi.json). */

import { connectionSchema, PRINTABLE, text } from '../schemas.js';

const nullable = (type: string) => ({ type: [type, 'null'] });

export const createSessionBody = {
  type: 'object',
  description:
    'A connect session. For a connection that exists (e.g. needs_reauth or revoked) the session reconnects it with its stored provider and params.',
  properties: {
    // Stricter than connectionId elsewhere: a connect page shows it and puts it in links.
    connectionId: { type: 'string', minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9._:@-]+$' },
    providers: { type: 'array', items: text(100, 1), maxItems: 20 },
    authModes: { type: 'array', items: { type: 'string', enum: ['oauth2', 'token_pair', 'api_key'] } },
    params: {
      type: 'object',
      description: 'param constraints: a string fixes the value, a list restricts the choice',
      maxProperties: 50,
      propertyNames: { maxLength: 100, pattern: PRINTABLE },
      additionalProperties: {
        anyOf: [text(2000, 1), { type: 'array', items: text(2000, 1), minItems: 1, maxItems: 200 }],
      },
    },
    label: text(200, 0, 'who is connecting, shown on the page'),
    returnUrl: text(2000, 1, 'where the page returns the user, on the server’s allow-list'),
    ttlSeconds: { type: 'integer', minimum: 1, maximum: 86400, description: 'default 900' },
  },
  required: ['connectionId'],
  additionalProperties: false,
} as const;

export const createdSession = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    token: { type: 'string', description: 'single use; only its hash is stored' },
    url: { type: 'string', description: 'send the end user here' },
    expiresAt: { type: 'number' },
    connectionId: { type: 'string' },
    reconnect: { type: 'boolean' },
  },
  required: ['id', 'token', 'url', 'expiresAt', 'connectionId', 'reconnect'],
} as const;

export const sessionIdParams = {
  type: 'object',
  properties: { id: text(100, 1) },
  required: ['id'],
} as const;

export const sessionView = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    connectionId: { type: 'string' },
    status: { type: 'string', enum: ['open', 'authorizing', 'connected', 'denied', 'failed', 'expired'] },
    outcomeCode: nullable('string'),
    provider: nullable('string'),
    account: {
      type: ['object', 'null'],
      properties: { id: { type: 'string' }, name: { type: 'string' }, email: { type: 'string' } },
    },
    reconnect: { type: 'boolean' },
    expiresAt: { type: 'number' },
    createdAt: { type: 'number' },
    updatedAt: { type: 'number' },
  },
  required: ['id', 'connectionId', 'status', 'reconnect', 'expiresAt'],
} as const;

/** A connection, with a fresh reconnect link when it needs a person and the caller may manage it. */
export const connectionWithReconnect = {
  ...connectionSchema,
  properties: {
    ...connectionSchema.properties,
    reconnectUrl: {
      type: 'string',
      description:
        'needs_reauth or revoked, for callers with manage: a connect page that authorizes it again',
    },
  },
} as const;
