import type { FastifyBaseLogger } from 'fastify';
import pino from 'pino';
import { BatonError, redact } from '../errors.js';

/**
 * The server's log: pino JSON lines, the caller's key, cookies and API keys censored in any
 * request headers logged, every error as its typed fields or a redacted message.
 */
export function serverLogger(level: string, stream?: NodeJS.WritableStream): FastifyBaseLogger {
  return pino(
    {
      level,
      base: { service: 'baton' },
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'req.headers["x-api-key"]',
          'headers.authorization',
        ],
        censor: '[redacted]',
      },
      serializers: {
        err: (err: unknown) =>
          err instanceof BatonError
            ? err.toJSON()
            : { name: (err as Error)?.name, message: redact(String((err as Error)?.message ?? err)) },
      },
    },
    // Standard output is written asynchronously: lines logged while a write is in flight go
    // out together in the next one, and what is buffered is flushed when the process exits.
    stream ?? pino.destination({ dest: 1, sync: false }),
  ) as FastifyBaseLogger;
}
