import { EventEmitter } from 'node:events';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Agent, type Dispatcher } from 'undici';
import { connectionRef, InsufficientScope, NetworkError } from '../../errors.js';
import { mcpEndpointOf, mcpIssuerOf } from '../../providers/mcp.js';
import type { ServerParts } from '../parts.js';
import { HttpProblem } from '../problem.js';
import * as S from '../schemas.js';

/**
 * MCP's streamable HTTP through the vault (README, "Agents and MCP", "From the server"):
 * `POST`/`GET`/`DELETE /v1/mcp/{id}` forwarded to the MCP server the connection was made from,
 * with the connection's access token as `Authorization: Bearer` — obtained as the proxy's is
 * (refreshed when due, once across processes; a 401 gets one retry after the single refresh) —
 * so an agent behind the vault holds its caller key and never the token. Its own encapsulated
 * context: bodies are read as bytes (at most 4 MiB), answers stream back as they come.
 */

const METHODS = ['GET', 'POST', 'DELETE'] as const;

/** The request headers of the MCP transport that cross (MCP specification, "Transports"). */
const FORWARDED = ['accept', 'content-type', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id'];

/**
 * The response headers that cross: the media type, the session, and a 405's `Allow`. Nothing
 * else — in particular never `WWW-Authenticate`, which describes the vault's credential, not
 * the caller's.
 */
const RELAYED = ['content-type', 'mcp-session-id', 'allow'];

/** The largest MCP message body the route reads. */
export const MCP_BODY_LIMIT = 4 * 1024 * 1024;

/** How much of a body over the limit is read and dropped before the 413 is sent. */
const DRAIN_LIMIT = 4 * MCP_BODY_LIMIT;

const tooLarge = () =>
  new HttpProblem(
    413,
    'body_too_large',
    `The MCP message is larger than this route accepts (${MCP_BODY_LIMIT / 1024 / 1024} MiB).`,
    'Send a smaller message: split a batch, or pass large content by reference (a resource link) rather than inline.',
  );

/**
 * The MCP server could not be reached, or sent no headers in time: a NetworkError, answered 502,
 * or 504 when it is the time that ran out (as the proxy answers). The caller's own abort passes.
 */
function unreachable(id: string, provider: string, endpoint: URL, timeoutMs: number, err: unknown): Error {
  const code = (err as { code?: string } | null)?.code ?? '';
  if (code === 'UND_ERR_ABORTED' || (err as Error | null)?.name === 'AbortError') return err as Error;
  const why =
    code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT'
      ? `no answer within ${timeoutMs} ms`
      : code
        ? `failed (${code})`
        : 'failed before the server answered';
  return new NetworkError(
    `Could not reach the MCP server of connection "${id}" at ${endpoint.host}: ${why}.`,
    {
      connectionId: id,
      provider,
      httpRemediation:
        "Retry later; if it persists, the MCP server is down, moved or slow: tell the server's operator (a slow server may need a longer --proxy-timeout).",
    },
  );
}

/**
 * The JSON-RPC methods a message carries (`tools/call`; a batch's, comma-separated), for the
 * audit row: names only, never params. Empty for a body that is not JSON-RPC, or over 64 KiB.
 */
function rpcMethods(body: Buffer): string {
  if (body.length > 64 * 1024) return '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return '';
  }
  const names = (Array.isArray(parsed) ? parsed : [parsed])
    .map((m) => (m as { method?: unknown } | null)?.method)
    .map((m) => (typeof m === 'string' ? m.slice(0, 60) : m === undefined ? 'response' : ''))
    .filter(Boolean);
  return names.slice(0, 5).join(',') + (names.length > 5 ? ',…' : '');
}

const isEventStream = (type: string | string[] | undefined) =>
  /^text\/event-stream\b/i.test(String(type ?? ''));

export async function registerMcp(
  parts: ServerParts,
  {
    timeoutMs,
    finish,
  }: {
    /** The bound on the upstream's response headers (--proxy-timeout); bodies have none. */
    timeoutMs: number;
    /** Writes a request's audit row when its stream is cut (fastify's onResponse does not run). */
    finish(req: FastifyRequest, reply: FastifyReply): void;
  },
): Promise<void> {
  const { baton } = parts;
  for (const [method, summary] of [
    ['POST', 'Send an MCP message (JSON-RPC) to the connection’s MCP server with its token'],
    ['GET', 'Open the MCP server’s event stream (text/event-stream) with the connection’s token'],
    ['DELETE', 'End an MCP session (Mcp-Session-Id) at the connection’s MCP server'],
  ] as const) {
    parts.document({
      method,
      url: '/v1/mcp/:id',
      op: 'proxy',
      summary,
      schema: { params: S.idParams, response: {} },
      bodyType: 'application/json',
      media: {
        200: [
          method === 'DELETE' ? 'application/json' : 'text/event-stream',
          'The MCP server’s answer, streamed: JSON, or an event stream (text/event-stream); Mcp-Session-Id relayed',
        ],
        ...(method === 'POST'
          ? { 202: ['application/json', 'Accepted (a notification or a response)'] }
          : {}),
      } as Record<number, [string, string]>,
      problemStatuses: method === 'POST' ? [413, 415] : [],
    });
  }

  // Bodies have no bound of time: an event stream may stay silent for as long as it is open.
  const dispatcher = new Agent({
    headersTimeout: timeoutMs,
    bodyTimeout: 0,
    connect: { timeout: timeoutMs },
  });
  /** Streams open now, ended when the server closes (it would otherwise wait for them). */
  const open = new Set<EventEmitter>();
  let closing = false;
  parts.app.addHook('preClose', async () => {
    closing = true;
    for (const abort of open) abort.emit('abort');
  });
  parts.app.addHook('onClose', async () => {
    await dispatcher.close().catch(() => undefined);
  });

  await parts.app.register(async (mcp) => {
    mcp.removeAllContentTypeParsers();
    // The body as bytes, at most MCP_BODY_LIMIT: what goes upstream is what was sent. A larger
    // body is read to its end and dropped before the 413 (a client that writes its whole body
    // before reading gets the answer, not a broken pipe), up to DRAIN_LIMIT; past that the
    // answer goes at once and the connection closes.
    mcp.addContentTypeParser('*', (req, payload, done) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let over = Number(req.headers['content-length']) > MCP_BODY_LIMIT;
      let answered = false;
      const answer = (err: Error | null, body?: Buffer) => {
        if (answered) return;
        answered = true;
        done(err, body);
      };
      payload.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (!over && size > MCP_BODY_LIMIT) {
          over = true;
          chunks.length = 0;
        }
        if (!over) chunks.push(chunk);
        else if (size > DRAIN_LIMIT && !answered) {
          // Read no further: the request is left incomplete, so its connection closes.
          payload.removeAllListeners('data');
          payload.pause();
          answer(tooLarge());
        }
      });
      payload.on('end', () => answer(over ? tooLarge() : null, over ? undefined : Buffer.concat(chunks)));
      payload.on('error', (err) => answer(err));
    });
    mcp.route({
      method: [...METHODS],
      url: '/v1/mcp/:id',
      config: { op: 'proxy', audit: 'mcp' },
      schema: { params: S.idParams },
      handler: async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
        const id = req.params.id;
        const st = req.batonState;
        st.detail = req.method;
        // MCP messages are JSON (MCP specification, "Sending Messages to the Server").
        if (req.method === 'POST' && !/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '')) {
          throw new HttpProblem(
            415,
            'unsupported_media_type',
            'An MCP message must be sent as Content-Type: application/json.',
            'Send the JSON-RPC message with Content-Type: application/json (an MCP client’s streamable HTTP transport does).',
          );
        }
        const provider = await parts.authorizeConnection(req, id);
        if (!mcpIssuerOf(provider)) {
          throw new HttpProblem(
            409,
            'not_mcp',
            `Connection "${id}" is a ${provider} connection, not one to an MCP server.`,
            `Call its API through /v1/proxy/${connectionRef(id).path}/…; /v1/mcp/{id} takes connections made from an MCP server's URL.`,
          );
        }
        const info = await baton.get(id);
        const where = mcpEndpointOf(info.params);
        if (!where?.inside) {
          throw new HttpProblem(
            409,
            'mcp_endpoint_outside_resource',
            `Connection "${id}"'s MCP endpoint ${where?.endpoint ?? '(none)'} does not lie inside the resource its tokens are for (${where?.resource ?? 'none'}), so its token is not sent there.`,
            `The caller cannot fix this: the server's operator authorizes "${id}" again from the MCP server's own URL (whose resource metadata names a resource that contains it), or removes it (DELETE /v1/connections/${connectionRef(id).path}).`,
          );
        }
        const endpoint = new URL(where.endpoint);

        const headers: Record<string, string> = {};
        for (const name of FORWARDED) {
          const value = req.headers[name];
          if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
        }
        const body =
          req.method === 'POST' ? ((req.body as Buffer | undefined) ?? Buffer.alloc(0)) : undefined;
        if (body) st.detail = `POST ${rpcMethods(body)}`.trimEnd();
        // The upstream request is dropped when the caller goes away, or the server closes.
        const abort = new EventEmitter();
        reply.raw.once('close', () => {
          if (!reply.raw.writableFinished) abort.emit('abort');
        });
        const send = async (token: string) => {
          try {
            return await dispatcher.request({
              origin: endpoint.origin,
              path: `${endpoint.pathname}${endpoint.search}`,
              method: req.method as Dispatcher.HttpMethod,
              headers: { ...headers, authorization: `Bearer ${token}` },
              signal: abort,
              ...(body ? { body } : {}),
            });
          } catch (err) {
            throw unreachable(id, provider, endpoint, timeoutMs, err);
          }
        };

        const token = await baton.getAccessToken(id);
        let res = await send(token);
        if (res.statusCode === 401) {
          // One retry after the single refresh (or another process's newer token).
          await res.body.dump().catch(() => undefined);
          res = await send(await baton.mcp.tokenRejected(id, token));
          if (res.statusCode === 401) {
            await res.body.dump().catch(() => undefined);
            throw new HttpProblem(
              502,
              'mcp_token_refused',
              `The MCP server of connection "${id}" refused its token, and a refreshed one too.`,
              `The caller cannot fix this: the server's operator checks the connection (GET /v1/connections/${connectionRef(id).path}, \`baton doctor ${id}\`) and authorizes it again if the MCP server no longer honours the grant.`,
            );
          }
        }
        if (res.statusCode === 403) {
          const header = res.headers['www-authenticate'];
          const scope = await baton.mcp.insufficientScope(
            id,
            (Array.isArray(header) ? header[0] : header) ?? null,
          );
          if (scope) {
            await res.body.dump().catch(() => undefined);
            const scopes = scope.scopes.join(' ');
            throw new InsufficientScope(scope.message, scope.scopes, scope.requested, {
              connectionId: id,
              provider,
              httpRemediation: `The caller cannot fix this: the server's operator authorizes "${id}" again with the scopes ${scopes} (\`baton reconnect ${id} ${scope.scopes.map((s) => `--scope ${s}`).join(' ')}\`, or POST /v1/connections/${connectionRef(id).path}/authorize with those scopes and a manage key) and its user approves; the grant in use keeps working meanwhile.`,
            });
          }
        }

        const relayed: Record<string, string | string[]> = {};
        for (const name of RELAYED) {
          const value = res.headers[name];
          if (value !== undefined) relayed[name] = value;
        }
        const stream = isEventStream(res.headers['content-type']);
        if (stream) {
          // Nothing between here and the caller may hold the events back: the headers go out
          // as the stream starts (not with its first event, which may be long in coming).
          relayed['cache-control'] = 'no-cache';
          relayed['x-accel-buffering'] = 'no';
          reply.raw.once('pipe', () => reply.raw.flushHeaders());
        }
        if (res.statusCode === 204 || res.statusCode === 304) {
          await res.body.dump().catch(() => undefined);
          return reply.code(res.statusCode).headers(relayed).send();
        }
        // A stream cut after the status went out (the upstream failed, the caller left, the
        // server closed) ends without 'finish', which is when fastify's onResponse runs: the
        // row is written here, with what ended it.
        open.add(abort);
        res.body.once('error', () => {
          reply.batonCode ??= closing ? 'shutting_down' : 'upstream_error';
          st.detail = `${st.detail ?? ''} (cut: ${closing ? 'the server closed' : 'the upstream failed'})`;
        });
        reply.raw.once('close', () => {
          open.delete(abort);
          if (reply.raw.writableFinished) return;
          // An event stream the caller closes has ended as event streams do.
          reply.batonCode ??= stream ? 'stream_closed' : 'caller_gone';
          finish(req, reply);
        });
        return reply.code(res.statusCode).headers(relayed).send(res.body);
      },
    });
  });
}
