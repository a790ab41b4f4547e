import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  AuthorizationError,
  BatonError,
  ConnectionMismatch,
  ReauthorizationRequired,
  SecretKeyError,
} from '../../src/errors.js';
import { authorize, CALLBACK, consent, type World, world } from '../helpers/sim-baton.js';
import { dropSchema, PG_URL, sql, uniqueSchema } from '../store/pg.js';

const HOUR = 3_600_000;

/** Raw access to a store's tables, as someone holding the database but not the key has. */
interface Raw {
  connections: string;
  pending: string;
  run(text: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
}

interface Engine {
  name: string;
  /** The store spec, or undefined for the world's own SQLite file. */
  store(): string | undefined;
  raw(w: { dbPath: string }): Raw;
  cleanup(): Promise<void>;
}

function sqliteEngine(): Engine {
  return {
    name: 'sqlite',
    store: () => undefined,
    raw: (w) => ({
      connections: 'connections',
      pending: 'pending_authorizations',
      async run(text, params = []) {
        const db = new Database(w.dbPath);
        try {
          const q = text.replace(/\$\d+/g, '?');
          const stmt = db.prepare(q);
          if (stmt.reader) return stmt.all(...params) as Record<string, unknown>[];
          stmt.run(...params);
          return [];
        } finally {
          db.close();
        }
      },
    }),
    cleanup: async () => undefined,
  };
}

function postgresEngine(): Engine {
  const schema = uniqueSchema();
  return {
    name: 'postgres',
    store: () => {
      const u = new URL(PG_URL as string);
      u.searchParams.set('schema', schema);
      return u.toString();
    },
    raw: () => ({
      connections: `${schema}.baton_connections`,
      pending: `${schema}.baton_pending_authorizations`,
      async run(text, params = []) {
        return (await sql(text, params)).rows as Record<string, unknown>[];
      },
    }),
    cleanup: () => dropSchema(schema),
  };
}

const engines: (() => Engine)[] = [sqliteEngine, ...(PG_URL ? [postgresEngine] : [])];

/** A host no spec allows: anything arriving here is a leaked credential. */
let evil: { server: Server; url: string; hits: string[] };
beforeAll(async () => {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"access_token":"evil-token","token_type":"Bearer","expires_in":3600}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  evil = { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, hits };
});
afterAll(() => {
  evil.server.close();
});

/** Every way a use of the connection may end, provided no credential left for a foreign host. */
async function use(w: World, id: string): Promise<unknown> {
  const baton = await w.open();
  const outcomes: unknown[] = [];
  for (const step of [
    () => baton.getAccessToken(id),
    () => baton.fetch(id, 'v1/userinfo').then((r) => r.status),
    () => {
      w.sim.clock.advance(HOUR + 1000);
      return baton.getAccessToken(id);
    },
  ]) {
    outcomes.push(await step().catch((e: unknown) => e));
  }
  await baton.close();
  for (const o of outcomes) {
    if (o instanceof Error) expect(o).toBeInstanceOf(BatonError);
  }
  return outcomes[0];
}

for (const makeEngine of engines) {
  describe(`tampering with a ${makeEngine().name} store without the key`, () => {
    let engine: Engine;
    let w: World;
    let raw: Raw;
    beforeEach(async () => {
      engine = makeEngine();
      const store = engine.store();
      w = await world({ sim: { cronofyRotation: 'always' }, ...(store ? { baton: { store } } : {}) });
      raw = engine.raw(w);
      await authorize(w, { provider: 'cronofy', connectionId: 'alice', params: { dataCenter: 'de' } });
      await authorize(w, {
        provider: 'cronofy',
        connectionId: 'bob',
        params: { dataCenter: 'de' },
        account: 'bob',
      });
      evil.hits.length = 0;
    });
    afterEach(async () => {
      await w.close();
      await engine.cleanup();
    });

    const set = (column: string, value: unknown, id = 'alice') =>
      raw.run(`UPDATE ${raw.connections} SET ${column} = $1 WHERE id = $2`, [value, id]);

    it('a learned API base pointed elsewhere is a SecretKeyError, and nothing reaches that host', async () => {
      await set('api_base_url', evil.url);
      expect(await use(w, 'alice')).toBeInstanceOf(SecretKeyError);
      expect(evil.hits).toEqual([]);
    });

    for (const [column, value] of [
      ['provider', 'checkfront'],
      ['auth_mode', 'token_pair'],
      ['params', '{"dataCenter":"uk"}'],
      ['client_id', 'someone-else'],
    ] as const) {
      it(`an edited ${column} is refused before any request`, async () => {
        const apiBefore = w.sim.counters().api.cronofy;
        await set(column, value);
        const outcome = await use(w, 'alice');
        expect(outcome instanceof SecretKeyError || outcome instanceof ConnectionMismatch).toBe(true);
        expect(w.sim.counters().api.cronofy).toBe(apiBefore);
        expect(evil.hits).toEqual([]);
      });
    }

    it('sealed secrets swapped between rows are a SecretKeyError', async () => {
      const [bob] = await raw.run(`SELECT sealed FROM ${raw.connections} WHERE id = $1`, ['bob']);
      await set('sealed', bob?.['sealed']);
      expect(await use(w, 'alice')).toBeInstanceOf(SecretKeyError);
    });

    it('an old version replayed is harmless: its dead refresh token ends in needs_reauth, never in a foreign request', async () => {
      const [old] = await raw.run(
        `SELECT sealed, access_token_expires_at FROM ${raw.connections} WHERE id = $1`,
        ['alice'],
      );
      w.sim.clock.advance(HOUR + 1000);
      await w.baton.refresh('alice', { force: true });
      await set('sealed', old?.['sealed']);
      await use(w, 'alice');
      expect((await w.baton.get('alice')).status).toBe('needs_reauth');
      expect(evil.hits).toEqual([]);
    });

    it('a revoked connection set back to active has nothing to send and asks for a new authorization', async () => {
      await w.baton.revoke('alice');
      await set('status', 'active');
      const outcome = await use(w, 'alice');
      expect(outcome).toBeInstanceOf(ReauthorizationRequired);
      expect(evil.hits).toEqual([]);
    });

    for (const [column, value] of [
      ['version', 99],
      ['access_token_expires_at', 1],
      ['refresh_token_expires_at', 1],
      ['last_refreshed_at', 1],
      ['scopes', '["single-use"]'],
      ['account', '{"id":"mallory"}'],
      ['last_error', '{"code":"x","message":"injected","at":1}'],
      ['created_at', 1],
      ['updated_at', 1],
    ] as const) {
      it(`an edited ${column} is harmless`, async () => {
        await set(column, value);
        const outcome = await use(w, 'alice');
        expect(typeof outcome === 'string' || outcome instanceof BatonError).toBe(true);
        expect(evil.hits).toEqual([]);
      });
    }

    describe('a pending authorization', () => {
      const edits: [string, (b: Record<string, unknown>) => void][] = [
        ['connectionId', (b) => (b['connectionId'] = 'bob')],
        ['redirectUri', (b) => (b['redirectUri'] = evil.url)],
        ['scopes', (b) => (b['scopes'] = ['write_everything'])],
        ['expiresAt', (b) => (b['expiresAt'] = Number(b['expiresAt']) + 86_400_000)],
        ['provider', (b) => (b['provider'] = 'checkfront')],
        ['params', (b) => (b['params'] = { dataCenter: 'uk' })],
        ['clientId', (b) => (b['clientId'] = 'someone-else')],
      ];
      for (const [field, edit] of edits) {
        it(`with an edited ${field} is refused and stores nothing`, async () => {
          const { url, state } = await w.baton.beginAuthorization({
            provider: 'cronofy',
            connectionId: 'carol',
            params: { dataCenter: 'de' },
            redirectUri: CALLBACK,
          });
          const [row] = await raw.run(`SELECT body FROM ${raw.pending} WHERE state = $1`, [state]);
          const body = (
            typeof row?.['body'] === 'string' ? JSON.parse(row['body']) : row?.['body']
          ) as Record<string, unknown>;
          edit(body);
          await raw.run(`UPDATE ${raw.pending} SET body = $1 WHERE state = $2`, [
            JSON.stringify(body),
            state,
          ]);
          const location = await consent(url, 'approve', 'carol');
          const err = await w.baton.completeAuthorization({ callbackUrl: location }).catch((e: unknown) => e);
          expect(
            err instanceof SecretKeyError ||
              err instanceof ConnectionMismatch ||
              err instanceof AuthorizationError,
          ).toBe(true);
          expect((await w.baton.list()).map((c) => c.id).sort()).toEqual(['alice', 'bob']);
          expect(evil.hits).toEqual([]);
        });
      }
    });
  });
}
