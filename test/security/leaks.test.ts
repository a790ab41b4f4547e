import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Baton } from '../../src/core/baton.js';
import { type BatonError, InvalidClient, ProviderError, ReauthorizationRequired } from '../../src/errors.js';
import { randomKey, tempDir } from '../helpers/env.js';
import { dropSchema, PG_URL, sql, uniqueSchema } from '../store/pg.js';

/**
 * The three leaks of #9 through the public contract: a token endpoint on loopback echoes the
 * refresh token and the client secret back in an error body — URL-encoded, past the point where
 * messages are cut, and as the base64 of client_id:client_secret without "Basic " — and nothing
 * a person or a database sees keeps 8 characters of either, in any of those encodings.
 */

const CLIENT_ID = 'leaky client';
const CLIENT_SECRET = 'cs/Pl4nted+S3cret=&word 0042';
// Characters that URL-encode, so the encoded echo differs from the raw value.
const REFRESH_TOKEN = 'rt/Zq8+Lm=9&k ey:planted-0123456789';

const formEncode = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
const lowerHex = (s: string) => s.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const basicValue = b64(`${formEncode(CLIENT_ID)}:${formEncode(CLIENT_SECRET)}`);

/** The base64 characters that depend on the secret alone where it sits in client_id:secret. */
function secretPartOfBasic(): string {
  const bytes = Buffer.from(formEncode(CLIENT_SECRET));
  const offset = Buffer.byteLength(`${formEncode(CLIENT_ID)}:`);
  const j = (3 - (offset % 3)) % 3;
  const n = Math.floor((bytes.length - j) / 3) * 3;
  return b64(bytes.subarray(j, j + n));
}

/** Every form of a planted secret whose 8-character runs must not appear anywhere. */
const FORBIDDEN = [
  REFRESH_TOKEN,
  encodeURIComponent(REFRESH_TOKEN),
  lowerHex(encodeURIComponent(REFRESH_TOKEN)),
  formEncode(REFRESH_TOKEN),
  b64(REFRESH_TOKEN),
  CLIENT_SECRET,
  encodeURIComponent(CLIENT_SECRET),
  formEncode(CLIENT_SECRET),
  secretPartOfBasic(),
];

function leak(text: string): string | undefined {
  for (const form of FORBIDDEN) {
    for (let i = 0; i + 8 <= form.length; i++) {
      const g = form.slice(i, i + 8);
      if (text.includes(g)) return `${g} (of ${form})`;
    }
  }
  return undefined;
}

function expectClean(label: string, text: string | null | undefined): void {
  expect(text, `${label} is empty`).toBeTruthy();
  expect(leak(text as string), `${label}: ${text}`).toBeUndefined();
}

/** Every way an error reaches a person: message, excerpt, JSON, String, inspect (with its causes). */
function expectErrorClean(label: string, err: unknown): void {
  const e = err as BatonError & { excerpt?: string };
  expectClean(`${label} message`, e.message);
  expectClean(`${label} JSON`, JSON.stringify(e));
  expectClean(`${label} String()`, String(e));
  expectClean(`${label} inspect`, inspect(e, { depth: 5 }));
  if (e instanceof ProviderError) expectClean(`${label} excerpt`, e.excerpt);
}

type Echo = { status: number; body: (req: IncomingMessage, form: URLSearchParams) => string; type?: string };

const ECHOES: Record<string, Echo> = {
  /** Leak 1: the refresh token, URL-encoded, in the description of an invalid_grant. */
  urlEncoded: {
    status: 400,
    body: (_req, form) =>
      JSON.stringify({
        error: 'invalid_grant',
        error_description: `grant ${encodeURIComponent(form.get('refresh_token') ?? '')} (or ${lowerHex(formEncode(form.get('refresh_token') ?? ''))}) was revoked`,
      }),
  },
  /** Leak 2: the refresh token sits across the 160-character cut of the description and the 200-character cut of the excerpt. */
  pastTheCut: {
    status: 400,
    body: (_req, form) => {
      const rt = form.get('refresh_token') ?? '';
      return JSON.stringify({
        error: 'invalid_request',
        error_description: `${'word '.repeat(30)}${rt.slice(0, 8)}${rt.slice(8)} ${'x'.repeat(40)}${rt}`,
      });
    },
  },
  /** Leak 3: the base64 of client_id:client_secret, without "Basic ", in an invalid_client. */
  basicWithoutPrefix: {
    status: 401,
    body: (req) =>
      JSON.stringify({
        error: 'invalid_client',
        error_description: `credentials ${(req.headers.authorization ?? '').replace(/^Basic /, '')} are not known`,
      }),
  },
  /** The same in an HTML error page (the excerpt of a body Baton cannot read). */
  htmlPage: {
    status: 403,
    type: 'text/html',
    body: (req, form) =>
      `<html><body>${'<p>padding</p>'.repeat(8)}<p>${encodeURIComponent(form.get('refresh_token') ?? '')}</p><p>${(req.headers.authorization ?? '').slice(6)}</p></body></html>`,
  },
};

describe.each([{ engine: 'sqlite' }, ...(PG_URL ? [{ engine: 'postgres' }] : [])])(
  'no secret leaves in any encoding ($engine)',
  ({ engine }) => {
    let server: Server;
    let url: string;
    let echo: Echo | null = null;
    let lastAuthorization: string | undefined;
    let dir: string;
    let cleanup: () => void;
    let schema: string;
    let store: string;

    beforeAll(async () => {
      server = createServer((req: IncomingMessage, res: ServerResponse) => {
        let body = '';
        req.on('data', (c: Buffer) => {
          body += c.toString();
        });
        req.on('end', () => {
          const form = new URLSearchParams(body);
          lastAuthorization = req.headers.authorization;
          if (echo === null || form.get('grant_type') === 'authorization_code') {
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(
              JSON.stringify({
                access_token: 'at-planted-access-0001',
                refresh_token: REFRESH_TOKEN,
                token_type: 'bearer',
                expires_in: 3600,
              }),
            );
            return;
          }
          res.writeHead(echo.status, { 'content-type': echo.type ?? 'application/json' });
          res.end(echo.body(req, form));
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      ({ dir, cleanup } = tempDir());
      schema = uniqueSchema();
      store =
        engine === 'sqlite'
          ? `sqlite:${dir}/b.db`
          : (() => {
              const u = new URL(PG_URL as string);
              u.searchParams.set('schema', schema);
              return u.toString();
            })();
    });

    afterAll(async () => {
      server.close();
      cleanup();
      if (engine === 'postgres') await dropSchema(schema);
    });

    // One key for the store: Baton refuses a store none of whose keys it holds.
    const secretKey = randomKey();
    async function open(): Promise<Baton> {
      return Baton.open({
        store,
        secretKey,
        env: {},
        retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1, maxCooldownMs: 1 },
        providers: {
          leaky: {
            displayName: 'Leaky',
            authModes: ['oauth2'],
            authorizationUrl: `${url}/authorize`,
            tokenUrl: `${url}/token`,
            apiBaseUrl: `${url}/api/`,
            clientAuth: 'basic',
          },
        },
        clients: { leaky: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET } },
      });
    }

    /** The stored last_error, read raw from the database (not through Baton). */
    async function rawLastError(id: string): Promise<string> {
      if (engine === 'sqlite') {
        const db = new Database(`${dir}/b.db`, { readonly: true });
        try {
          const row = db.prepare('SELECT last_error FROM connections WHERE id = ?').get(id) as {
            last_error: string | null;
          };
          return row.last_error ?? '';
        } finally {
          db.close();
        }
      }
      const res = await sql(`SELECT last_error::text AS e FROM ${schema}.baton_connections WHERE id = $1`, [
        id,
      ]);
      return (res.rows[0]?.e as string | null) ?? '';
    }

    it.each([
      { name: 'urlEncoded', expected: ReauthorizationRequired, event: 'needs_reauth' },
      { name: 'pastTheCut', expected: ProviderError, event: 'error' },
      { name: 'basicWithoutPrefix', expected: InvalidClient, event: 'error' },
      { name: 'htmlPage', expected: ProviderError, event: 'error' },
    ] as const)('$name: error, events and stored last_error are clean', async ({ name, expected, event }) => {
      const baton = await open();
      const id = `c-${name}`;
      try {
        echo = null;
        const begun = await baton.beginAuthorization({
          provider: 'leaky',
          connectionId: id,
          redirectUri: 'http://127.0.0.1:1/cb',
        });
        await baton.completeAuthorization({ state: begun.state, code: 'the-code-0001' });
        const events: { kind: string; text: string[] }[] = [];
        baton.on('error', (e) =>
          events.push({ kind: 'error', text: [JSON.stringify(e), e.message, inspect(e)] }),
        );
        baton.on('needs_reauth', (info, e) =>
          events.push({
            kind: 'needs_reauth',
            text: [JSON.stringify(info), JSON.stringify(e), e.message, inspect(e)],
          }),
        );

        echo = ECHOES[name] as Echo;
        const err = await baton.refresh(id, { force: true }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(expected);
        // The endpoint saw (and could echo) the client's Basic credentials, RFC 6749 §2.3.1 form.
        expect(lastAuthorization).toBe(`Basic ${basicValue}`);
        expectErrorClean(name, err);

        expect(events.map((e) => e.kind)).toContain(event);
        for (const e of events) for (const t of e.text) expectClean(`${e.kind} event`, t);

        const stored = await rawLastError(id);
        expect(stored).toMatch(/Leaky/);
        expectClean('stored last_error', stored);
        expectClean('lastError through the API', JSON.stringify((await baton.get(id)).lastError));
        if (engine === 'sqlite') expect(leak(readFileSync(`${dir}/b.db`).toString('latin1'))).toBeUndefined();
      } finally {
        await baton.close();
      }
    });
  },
);
