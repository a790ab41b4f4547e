import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { carriesSecret } from '../../errors.js';
import { pathOnly } from '../audit.js';
import type { ServerParts } from '../parts.js';
import { HttpProblem } from '../problem.js';
import * as S from '../schemas.js';

/**
 * The authenticating proxy (README, "Proxy"): `/v1/proxy/{id}/{path}` forwarded through
 * `baton.request`, which computes the URL (the path confined under the API base, absolute URLs
 * and "@" refused) and sets the credential; what is decided here is which headers cross, both
 * ways, and how the answer streams back. Its own encapsulated context: bodies stay streams.
 */

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** Request headers never forwarded: hop-by-hop ones, the caller's key, what Baton sets itself. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'authorization',
  'content-length',
  'accept-encoding',
  'expect',
]);

/**
 * Response headers never relayed: hop-by-hop ones, and any carrying a credential by its name.
 * (`baton.request` with `dropCredentialHeaders` drops the header the credential was sent in,
 * and any whose value carries it, whatever the name.)
 */
const RESPONSE_DROP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'authorization',
  'proxy-authorization',
  'x-api-key',
  'x-auth-token',
  'x-access-token',
]);

/** The proxy's default bound on an upstream's headers, and on its body's silences. */
export const PROXY_TIMEOUT_MS = 30_000;

/** Proxied response bodies up to this many bytes (with a Content-Length) are sent in one write. */
const SMALL_BODY = 64 * 1024;

/** Header names a request's `Connection` header marks hop-by-hop (RFC 9110 §7.6.1), beyond keep-alive/close. */
function connectionOptions(value: string | undefined): Set<string> | null {
  if (value === undefined || value === 'keep-alive' || value === 'close') return null;
  const names = value
    .toLowerCase()
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '' && s !== 'keep-alive' && s !== 'close');
  return names.length === 0 ? null : new Set(names);
}

function isBodyTimeout(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === 'UND_ERR_BODY_TIMEOUT';
}

/** An upstream whose body stalled before the proxy relayed anything. */
function upstreamTimeout(id: string, provider: string, ms: number): HttpProblem {
  return new HttpProblem(
    504,
    'upstream_timeout',
    `The API of connection "${id}" (${provider}) sent its response headers and then nothing for ${ms} ms.`,
    "Retry later; if the API is slow by nature, the server's operator can give the proxy a longer timeout (--proxy-timeout).",
  );
}

export async function registerProxy(
  parts: ServerParts,
  {
    timeoutMs,
    finish,
  }: {
    /** The bound on the upstream's headers, and on each silence of its body (--proxy-timeout). */
    timeoutMs: number;
    /** Writes a request's audit row when its stream is cut (fastify's onResponse does not run). */
    finish(req: FastifyRequest, reply: FastifyReply): void;
  },
): Promise<void> {
  const { baton } = parts;
  parts.document({
    method: 'PROXY',
    url: '/v1/proxy/:id/*',
    op: 'proxy',
    summary: 'Forward a request to the connection’s API with its credentials',
    schema: { params: S.proxyParams, response: {} },
  });
  await parts.app.register(async (proxy) => {
    proxy.removeAllContentTypeParsers();
    proxy.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
    proxy.route({
      method: [...METHODS],
      url: '/v1/proxy/:id/*',
      config: { op: 'proxy', audit: 'proxy' },
      schema: { params: S.proxyParams },
      handler: async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
        const id = req.params.id;
        // The raw path after the id, as sent: core's path confinement judges it undecoded.
        const raw = req.url.slice('/v1/proxy/'.length);
        const slash = raw.indexOf('/');
        const rest = slash === -1 ? '' : raw.slice(slash + 1);
        req.batonState.detail = `${req.method} ${pathOnly(rest)}`;
        const provider = await parts.authorizeConnection(req, id);
        // What goes upstream (README, "Proxy"): the caller's headers without the hop-by-hop
        // ones, its Authorization, its cookies (unless the provider opts in) and any header that
        // carries its caller key in some other name.
        const headers: Record<string, string> = {};
        const named = connectionOptions(req.headers.connection);
        const given = req.headers;
        const callerKey = [/^Bearer\s+(\S+)/i.exec(given.authorization ?? '')?.[1]];
        const cookies = baton.providers.get(provider).proxyCookies === true;
        for (const name in given) {
          const value = given[name];
          if (value === undefined || HOP_BY_HOP.has(name) || name === 'x-request-id') continue;
          if (named?.has(name) || (name === 'cookie' && !cookies)) continue;
          const joined = Array.isArray(value) ? value.join(', ') : value;
          if (carriesSecret(joined, callerKey)) continue;
          headers[name] = joined;
        }
        // Bodies pass through as sent: no decompression on the way back.
        headers['accept-encoding'] = 'identity';
        const length = req.headers['content-length'];
        if (length !== undefined) headers['content-length'] = length;
        // The upstream request is dropped when the caller goes away before its answer is sent.
        const abort = new EventEmitter();
        reply.raw.once('close', () => {
          if (!reply.raw.writableFinished) abort.emit('abort');
        });
        const hasBody = req.body !== undefined && req.method !== 'GET' && req.method !== 'HEAD';
        const res = await baton.request(id, rest, {
          method: req.method,
          headers,
          signal: abort,
          timeoutMs,
          bodyTimeoutMs: timeoutMs,
          // A path that names a host is refused before anything is sent.
          relativeOnly: true,
          // A header that echoes the credential, whatever its name, never reaches the caller.
          dropCredentialHeaders: true,
          ...(hasBody ? { body: req.body as Readable } : {}),
        });
        const answered = res.headers;
        const relayed: Record<string, string | string[]> = {};
        for (const name in answered) {
          const value = answered[name];
          if (value === undefined || RESPONSE_DROP.has(name)) continue;
          if (name === 'set-cookie' && !cookies) continue;
          relayed[name] = value;
        }
        if (req.method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304) {
          await res.body.dump().catch(() => undefined);
          return reply.code(res.statusCode).headers(relayed).send();
        }
        // A small body of declared length is read whole before anything is relayed: an upstream
        // that stalls in it gets the caller a 504. Anything larger, or of unknown length, streams
        // through without being held; a stall then cuts the stream (the status is already sent).
        const declared = Number(res.headers['content-length']);
        if (declared >= 0 && declared <= SMALL_BODY) {
          let whole: Buffer;
          try {
            whole = Buffer.from(await res.body.arrayBuffer());
          } catch (err) {
            res.body.destroy();
            if (isBodyTimeout(err)) throw upstreamTimeout(id, provider, timeoutMs);
            throw err;
          }
          return reply.code(res.statusCode).headers(relayed).send(whole);
        }
        // A stream cut after the status went out (the upstream stalled or failed, or the caller
        // left) ends without 'finish', which is when fastify's onResponse runs: the row is
        // written here, with what cut it.
        res.body.once('error', (err) => {
          reply.batonCode = isBodyTimeout(err) ? 'upstream_timeout' : 'upstream_error';
          req.batonState.detail = `${req.batonState.detail ?? ''} (cut: ${isBodyTimeout(err) ? `the body stalled ${timeoutMs} ms` : 'the upstream failed'})`;
        });
        reply.raw.once('close', () => {
          if (reply.raw.writableFinished) return;
          reply.batonCode ??= 'caller_gone';
          finish(req, reply);
        });
        return reply.code(res.statusCode).headers(relayed).send(res.body);
      },
    });
  });
}
