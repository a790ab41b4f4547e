import { Counter } from 'prom-client';
import type { Caller } from '../keys.js';
import type { ServerParts } from '../parts.js';
import { HttpProblem } from '../problem.js';
import { type DelivererOptions, type DelivererParts, WebhookDeliverer } from './deliverer.js';
import { createEndpoint, publicEndpoint } from './endpoints.js';
import * as S from './schemas.js';
import type { Delivery, DeliveryStatus, WebhookEndpoint } from './store.js';

/**
 * The webhook API (manage) and this replica's deliverer (README, "Webhooks"). An endpoint
 * made through the API hears only of connections its key may see (the key's --allow is copied
 * onto it); a key sees the endpoints it made, a key allowed `*` sees all.
 */

export function publicDelivery(d: Delivery) {
  return {
    id: d.id,
    eventId: d.eventId,
    eventType: d.eventType,
    connectionId: d.connectionId,
    endpointId: d.endpointId,
    status: d.status,
    attempts: d.attempts,
    nextAttemptAt: d.status === 'pending' ? d.nextAttemptAt : null,
    lastAttemptAt: d.lastAttemptAt,
    lastStatus: d.lastStatus,
    lastError: d.lastError,
    deliveredAt: d.deliveredAt,
    createdAt: d.createdAt,
  };
}

export function registerWebhooks(
  parts: ServerParts,
  reconnectLink: DelivererParts['reconnectLink'],
  options: DelivererOptions = {},
): WebhookDeliverer {
  const store = parts.serverStore.webhooks;
  const attempts = new Counter({
    name: 'baton_webhook_attempts_total',
    help: 'Webhook delivery attempts by outcome (delivered, failed, dead)',
    labelNames: ['outcome'],
    registers: [parts.metrics.registry],
  });
  const deliverer = new WebhookDeliverer(
    {
      store,
      outbox: parts.baton.store.outbox,
      sealer: parts.baton.sealer,
      logger: parts.logger,
      reconnectLink,
      onAttempt: (outcome) => attempts.inc({ outcome }),
    },
    options,
  );

  const sees = (caller: Caller, e: WebhookEndpoint) =>
    caller.key.allow.includes('*') || e.createdBy === caller.key.name;
  const visible = async (caller: Caller) => (await store.listEndpoints()).filter((e) => sees(caller, e));
  const notFound = (what: string, id: string) =>
    new HttpProblem(
      404,
      'not_found',
      `No ${what} "${id}" is visible to this key.`,
      'List them with GET /v1/webhooks.',
    );

  parts.route<Record<string, never>, unknown, { url: string; events?: string[]; description?: string }>({
    method: 'POST',
    url: '/v1/webhooks',
    op: 'manage',
    audit: 'webhook_add',
    summary: 'Register a webhook endpoint; the answer holds its signing secret, shown only once',
    schema: { body: S.createEndpointBody, response: { 201: S.createdEndpoint } },
    handler: async (req, reply) => {
      const caller = parts.caller(req);
      const { endpoint, secret } = await createEndpoint(store, parts.baton.sealer, {
        url: req.body.url,
        ...(req.body.events ? { events: req.body.events } : {}),
        allow: caller.key.allow,
        description: req.body.description ?? null,
        createdBy: caller.key.name,
      });
      return reply.code(201).send({ ...publicEndpoint(endpoint), secret });
    },
  });

  parts.route({
    method: 'GET',
    url: '/v1/webhooks',
    op: 'manage',
    summary: 'The webhook endpoints this key may see (never their secrets)',
    schema: { response: { 200: S.endpointList } },
    handler: async (req) => ({ items: (await visible(parts.caller(req))).map(publicEndpoint) }),
  });

  parts.route<{ id: string }>({
    method: 'DELETE',
    url: '/v1/webhooks/:id',
    op: 'manage',
    audit: 'webhook_remove',
    summary: 'Remove a webhook endpoint and its deliveries',
    schema: { params: S.idParams, response: { 200: S.deletedSchema } },
    handler: async (req) => {
      const e = await store.getEndpoint(req.params.id);
      if (!e || !sees(parts.caller(req), e)) throw notFound('webhook endpoint', req.params.id);
      return { deleted: await store.deleteEndpoint(e.id) };
    },
  });

  parts.route<
    Record<string, never>,
    { endpoint?: string; event?: string; connection?: string; status?: DeliveryStatus; limit: number }
  >({
    method: 'GET',
    url: '/v1/webhooks/deliveries',
    op: 'manage',
    summary: 'The delivery log, newest first',
    schema: { querystring: S.deliveryQuery, response: { 200: S.deliveryList } },
    handler: async (req) => {
      const ids = new Set((await visible(parts.caller(req))).map((e) => e.id));
      const q = req.query;
      const items = await store.listDeliveries({
        ...(q.endpoint ? { endpointId: q.endpoint } : {}),
        ...(q.event ? { eventId: q.event } : {}),
        ...(q.connection ? { connectionId: q.connection } : {}),
        ...(q.status ? { status: q.status } : {}),
        limit: q.limit,
      });
      return { items: items.filter((d) => ids.has(d.endpointId)).map(publicDelivery) };
    },
  });

  parts.route<{ id: string }>({
    method: 'GET',
    url: '/v1/webhooks/deliveries/:id',
    op: 'manage',
    summary: 'One delivery with the log of its attempts',
    schema: { params: S.idParams, response: { 200: S.deliverySchema } },
    handler: async (req) => {
      const d = await store.getDelivery(req.params.id);
      const e = d ? await store.getEndpoint(d.endpointId) : null;
      if (!d || !e || !sees(parts.caller(req), e)) throw notFound('delivery', req.params.id);
      const log = (await store.attempts(d.id)).map(({ deliveryId: _d, ...a }) => a);
      return { ...publicDelivery(d), log };
    },
  });

  parts.route<{ id: string }>({
    method: 'POST',
    url: '/v1/webhooks/deliveries/:id/redeliver',
    op: 'manage',
    audit: 'webhook_redeliver',
    summary:
      'Deliver again now (a delivery id, or an event id for all its deliveries); a dead one is revived',
    schema: { params: S.idParams, response: { 200: S.deliveryList } },
    handler: async (req) => {
      const caller = parts.caller(req);
      const ids = new Set((await visible(caller)).map((e) => e.id));
      const mine = (await store.listDeliveries({ limit: 500, eventId: req.params.id }))
        .concat((await store.getDelivery(req.params.id)) ?? [])
        .filter((d) => ids.has(d.endpointId));
      if (mine.length === 0) throw notFound('delivery or event', req.params.id);
      const again = await store.redeliver(req.params.id, Date.now());
      deliverer.wake();
      return { items: again.filter((d) => ids.has(d.endpointId)).map(publicDelivery) };
    },
  });

  return deliverer;
}
