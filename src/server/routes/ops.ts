import { buildOpenApi, type RouteDoc } from '../openapi.js';
import type { ServerParts } from '../parts.js';
import { HttpProblem, PROBLEM_TYPE, toProblem } from '../problem.js';

/**
 * The operations routes, which take no caller key: liveness, readiness (README, "Health and
 * readiness"), Prometheus metrics, and the OpenAPI document of every route the server answers.
 */
export function registerOps(
  parts: ServerParts,
  {
    draining,
    documents,
  }: {
    /** Whether the server is shutting down (readiness then answers 503). */
    draining(): boolean;
    /** Every route documented so far; read when the OpenAPI document is first asked for. */
    documents(): RouteDoc[];
  },
): void {
  const { app, baton, serverStore, metrics } = parts;

  app.get('/healthz', { config: { op: null } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config: { op: null } }, async (req, reply) => {
    if (draining())
      return reply
        .code(503)
        .type(PROBLEM_TYPE)
        .send(
          toProblem(
            new HttpProblem(
              503,
              'shutting_down',
              'The server is shutting down.',
              'Send requests to another replica.',
            ),
            req.id,
          ),
        );
    // Something real on each side: the server tables' migration track, and one row of the
    // connections' index (README, "Health routes"). A StoreError answers 503 `store_error`.
    await serverStore.ping();
    await baton.store.list({ limit: 1 });
    return { status: 'ready' };
  });
  app.get('/metrics', { config: { op: null } }, async (_req, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  let openapi: object | null = null;
  app.get('/v1/openapi.json', { config: { op: null } }, async () => {
    openapi ??= buildOpenApi(documents());
    return openapi;
  });

  // The operations routes in the OpenAPI document too: it lists every route the server answers.
  const statusSchema = (value: string) => ({
    type: 'object',
    properties: { status: { type: 'string', enum: [value] } },
    required: ['status'],
  });
  parts.document({
    method: 'GET',
    url: '/healthz',
    op: null,
    summary: 'Liveness: the process answers',
    schema: { response: { 200: statusSchema('ok') } },
    problems: false,
  });
  parts.document({
    method: 'GET',
    url: '/readyz',
    op: null,
    summary: 'Readiness: the stores answer and the server is not shutting down (503 otherwise)',
    schema: { response: { 200: statusSchema('ready') } },
  });
  parts.document({
    method: 'GET',
    url: '/metrics',
    op: null,
    summary: 'Prometheus metrics (text exposition format), every name prefixed baton_',
    schema: { response: {} },
    media: { 200: ['text/plain; version=0.0.4', 'the metrics'] },
    problems: false,
  });
  parts.document({
    method: 'GET',
    url: '/v1/openapi.json',
    op: null,
    summary: 'This document',
    schema: { response: { 200: { type: 'object' } } },
    problems: false,
  });
}
