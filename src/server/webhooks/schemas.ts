/** JSON Schemas of the webhook API (validated by fastify, published in /v1/openapi.json). */

import { WEBHOOK_EVENT_TYPES } from '../../core/outbox.js';
import { connectionId, text } from '../schemas.js';

const nullable = (type: string) => ({ type: [type, 'null'] });

export const endpointSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    url: { type: 'string' },
    events: { type: 'array', items: { type: 'string' } },
    allow: { type: 'array', items: { type: 'string' } },
    description: nullable('string'),
    secretPrefix: { type: 'string', description: 'the first characters of the signing secret' },
    createdAt: { type: 'number' },
    createdBy: nullable('string'),
  },
  required: ['id', 'url', 'events', 'allow', 'secretPrefix', 'createdAt'],
} as const;

export const createEndpointBody = {
  type: 'object',
  properties: {
    url: text(2000, 1),
    events: {
      type: 'array',
      maxItems: 50,
      items: { type: 'string', enum: [...WEBHOOK_EVENT_TYPES, '*'] },
    },
    description: text(200),
  },
  required: ['url'],
  additionalProperties: false,
} as const;

export const createdEndpoint = {
  type: 'object',
  properties: {
    ...endpointSchema.properties,
    secret: { type: 'string', description: 'the signing secret, shown only now' },
  },
  required: [...endpointSchema.required, 'secret'],
} as const;

export const endpointList = {
  type: 'object',
  properties: { items: { type: 'array', items: endpointSchema } },
  required: ['items'],
} as const;

export const idParams = {
  type: 'object',
  properties: { id: text(100, 1) },
  required: ['id'],
} as const;

export const deletedSchema = {
  type: 'object',
  properties: { deleted: { type: 'boolean' } },
  required: ['deleted'],
} as const;

const attemptSchema = {
  type: 'object',
  properties: {
    attempt: { type: 'integer' },
    at: { type: 'number' },
    status: nullable('integer'),
    error: nullable('string'),
    durationMs: { type: 'number' },
    replica: { type: 'string' },
  },
} as const;

export const deliverySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    eventId: { type: 'string' },
    eventType: { type: 'string' },
    connectionId: { type: 'string' },
    endpointId: { type: 'string' },
    status: { type: 'string', enum: ['pending', 'delivered', 'dead'] },
    attempts: { type: 'integer' },
    nextAttemptAt: nullable('number'),
    lastAttemptAt: nullable('number'),
    lastStatus: nullable('integer'),
    lastError: nullable('string'),
    deliveredAt: nullable('number'),
    createdAt: { type: 'number' },
    log: { type: 'array', items: attemptSchema },
  },
  required: ['id', 'eventId', 'eventType', 'connectionId', 'endpointId', 'status', 'attempts', 'createdAt'],
} as const;

export const deliveryQuery = {
  type: 'object',
  properties: {
    endpoint: text(100, 1),
    event: text(100, 1),
    connection: connectionId,
    status: { type: 'string', enum: ['pending', 'delivered', 'dead'] },
    limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
  },
  additionalProperties: false,
} as const;

export const deliveryList = {
  type: 'object',
  properties: { items: { type: 'array', items: deliverySchema } },
  required: ['items'],
} as const;
