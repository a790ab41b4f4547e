import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Baton } from '../core/baton.js';
import { ConnectionNotFound } from '../errors.js';
import type { Caller, KeyRing, Permission, ProviderSwitches } from './keys.js';
import { forbidden, HttpProblem, outOfScope, unauthorized } from './problem.js';
import * as S from './schemas.js';

/**
 * Who may ask what, in the README's order of checks ("Input rules"): the caller key (401),
 * its permissions (403), the input (400), the key's scope (403), then the store. The key and
 * its permissions are judged before anything else runs (onRequest), the input next
 * (preValidation here, then the route's schemas), the scope and the store by
 * `authorizeConnection`, which a route on one connection calls first.
 */

/** What the server knows of a request while it runs; its audit row is written from it. */
export interface RequestState {
  caller: Caller | null;
  connectionId: string | null;
  provider: string | null;
  detail: string | null;
  /** The request's audit row, metric and log line are written (once, at its end). */
  finished?: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    batonState: RequestState;
  }
  interface FastifyContextConfig {
    /** The permission a caller key needs for the route; null: the route takes no key. */
    op?: Permission | null;
  }
}

export interface Auth {
  /** Scope and kill-switch checks for a route on one connection; returns its provider. */
  authorizeConnection(req: FastifyRequest, id: string, providerHint?: string): Promise<string>;
  /** Forgets the provider remembered for a connection a route created, completed or deleted. */
  connectionChanged(id: string): void;
  /** Stops following the store's change feed. */
  close(): void;
}

export function registerAuth(
  app: FastifyInstance,
  { baton, keys, switches }: { baton: Baton; keys: KeyRing; switches: ProviderSwitches },
): Auth {
  app.decorateRequest('batonState', null as unknown as RequestState);

  app.addHook('onRequest', async (req, reply) => {
    req.batonState = { caller: null, connectionId: null, provider: null, detail: null };
    reply.header('x-request-id', req.id);
    const op = req.routeOptions.config.op;
    if (!op) return;
    const header = req.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m) throw unauthorized('No caller key was sent.');
    const caller = await keys.lookup(m[1] as string);
    if (!caller) throw unauthorized('The caller key is unknown, revoked or disabled.');
    req.batonState.caller = caller;
    if (!caller.key.ops.includes(op)) {
      throw forbidden(
        `The caller key "${caller.key.name}" may not ${op}.`,
        `Use a caller key whose operations include ${op} (the server's operator sets them when creating a key).`,
      );
    }
  });

  // JSON bodies are judged by the types sent: the validator's coercion is for query strings.
  app.addHook('preValidation', async (req) => {
    const body = (req.routeOptions.schema as { body?: object } | undefined)?.body;
    if (
      !body ||
      req.body === undefined ||
      req.body === null ||
      typeof (req.body as { pipe?: unknown }).pipe === 'function'
    )
      return;
    const mismatch = S.typeMismatch(body, req.body);
    if (mismatch)
      throw new HttpProblem(
        400,
        'invalid_request',
        `${mismatch}.`,
        'Fix the request to match the API description at /v1/openapi.json.',
      );
  });

  // Connection id → provider, for scopes by provider and the kill switch; the store's change
  // feed (NOTIFY on PostgreSQL) drops entries another replica changed.
  const providerOf = new Map<string, string | null>();
  const unsubscribe = baton.store.subscribe((id) => {
    if (id === null) providerOf.clear();
    else providerOf.delete(id);
  });
  const lookupProvider = async (id: string): Promise<string | null> => {
    if (providerOf.has(id)) return providerOf.get(id) ?? null;
    let provider: string | null = null;
    try {
      provider = (await baton.get(id)).provider;
    } catch (err) {
      if (!(err instanceof ConnectionNotFound)) throw err;
    }
    if (provider !== null) {
      if (providerOf.size > 50_000) providerOf.clear();
      providerOf.set(id, provider);
    }
    return provider;
  };

  const authorizeConnection = async (
    req: FastifyRequest,
    id: string,
    providerHint?: string,
  ): Promise<string> => {
    const st = req.batonState;
    st.connectionId = id;
    const caller = st.caller as Caller;
    // No existence oracle (README, "Out-of-scope ids"): an id outside the key's scope gets the
    // same 403 whether or not it exists, and with a provider named (create, authorize) a
    // connection stored for another provider is judged by its stored provider too.
    if (!caller.scope.matchesId(id) && !caller.scope.byProvider) throw outOfScope(caller, id);
    const stored = caller.scope.matchesId(id) && providerHint !== undefined ? null : await lookupProvider(id);
    const provider = providerHint ?? stored;
    st.provider = provider;
    if (!caller.scope.allows(id, provider) || (stored !== null && !caller.scope.allows(id, stored))) {
      throw outOfScope(caller, id);
    }
    if (provider === null) throw new ConnectionNotFound(id);
    const op = req.routeOptions.config.op;
    if ((op === 'token' || op === 'proxy') && (await switches.disabled(provider))) {
      throw new HttpProblem(
        403,
        'provider_disabled',
        `Releases and proxied calls for ${provider} are switched off on this server.`,
        `The server's operator switched ${provider} off; calls work again once they switch it back on (\`baton providers enable ${provider}\`).`,
      );
    }
    return provider;
  };

  return {
    authorizeConnection,
    connectionChanged: (id) => providerOf.delete(id),
    close: unsubscribe,
  };
}
