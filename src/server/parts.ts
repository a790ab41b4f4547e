import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Baton } from '../core/baton.js';
import type { Caller, Permission } from './keys.js';
import type { Metrics } from './metrics.js';
import type { RouteDoc } from './openapi.js';
import type { ServerStore } from './server-store.js';

/** A documented route: validated by its schemas, listed in the OpenAPI document. */
export interface RouteDef<P = Record<string, string>, Q = unknown, B = unknown> {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  op: Permission | null;
  audit?: string;
  summary: string;
  schema: { params?: object; querystring?: object; body?: object; response: Record<number, object> };
  handler: (
    req: FastifyRequest<{ Params: P; Querystring: Q; Body: B }>,
    reply: FastifyReply,
  ) => Promise<unknown>;
}

/**
 * What the server hands each group of routes it registers (`routes/`: connections, proxy,
 * operations; and the features beside them: connect pages, webhooks): they add routes and
 * background work through this, not by editing server.ts.
 */
export interface ServerParts {
  app: FastifyInstance;
  route<P = Record<string, string>, Q = unknown, B = unknown>(def: RouteDef<P, Q, B>): void;
  /** Lists a route registered on `app` directly (pages, assets) in the OpenAPI document. */
  document(doc: RouteDoc): void;
  baton: Baton;
  serverStore: ServerStore;
  logger: FastifyBaseLogger;
  metrics: Metrics;
  /** The URL browsers reach the server at, without a trailing slash (known once it listens). */
  publicUrl(): string;
  /** Scope and kill-switch checks for a route on one connection; returns its provider. */
  authorizeConnection(req: FastifyRequest, id: string, providerHint?: string): Promise<string>;
  /** Says a route created, completed or deleted a connection (its provider may have changed). */
  connectionChanged(id: string): void;
  /** The caller of a route with an op (set by the onRequest hook). */
  caller(req: FastifyRequest): Caller;
}
