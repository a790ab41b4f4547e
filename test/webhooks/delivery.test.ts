import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyWebhook, type WebhookEvent } from '../../src/index.js';
import { randomKey, tempDir } from '../helpers/env.js';
import { CLI, call, runCli } from '../server/helpers.js';
import { dropSchema, PG_URL, uniqueSchema } from '../store/pg.js';

/**
 * Webhooks at least once, from real `baton serve` processes: a receiver that fails the first
 * deliveries, a server SIGKILLed mid-retry and started again, events written by a CLI process
 * while no server runs, and two replicas on PostgreSQL. Every event arrives, every signature
 * verifies, and a duplicate is always the same event id.
 */

interface Receiver {
  url: string;
  secret: string;
  /** Verified events, in arrival order (duplicates included). */
  events: WebhookEvent[];
  attempts: number;
  badSignatures: number;
  /** Same event id delivered while another delivery of it was still being answered. */
  overlaps: number;
  failFirst: number;
  failEvery: number;
  close(): Promise<void>;
}

async function receiver(
  opts: { failFirst?: number; failEvery?: number; delayMs?: number } = {},
): Promise<Receiver> {
  const inFlight = new Set<string>();
  const r: Receiver = {
    url: '',
    secret: '',
    events: [],
    attempts: 0,
    badSignatures: 0,
    overlaps: 0,
    failFirst: opts.failFirst ?? 0,
    failEvery: opts.failEvery ?? 0,
    close: async () => undefined,
  };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      r.attempts++;
      const id = String(req.headers['baton-event-id']);
      if (inFlight.has(id)) r.overlaps++;
      inFlight.add(id);
      setTimeout(() => {
        inFlight.delete(id);
        if (r.attempts <= r.failFirst || (r.failEvery > 0 && r.attempts % r.failEvery === 0)) {
          res.writeHead(503).end();
          return;
        }
        try {
          const e = verifyWebhook({
            body,
            signature: req.headers['baton-signature'] as string,
            secret: r.secret,
          });
          expect(e.id).toBe(id);
          r.events.push(e);
          res.writeHead(200).end('ok');
        } catch {
          r.badSignatures++;
          res.writeHead(400).end();
        }
      }, opts.delayMs ?? 0);
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  r.url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hooks`;
  r.close = () =>
    new Promise((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    });
  return r;
}

interface Serve {
  url: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  /** The tail of what the server wrote (after its URL line), for a failure's message. */
  out(): string;
}

/** A caller key allowed every connection with read and manage, made through the CLI. */
async function managerKey(env: NodeJS.ProcessEnv): Promise<string> {
  const made = await runCli(env, [
    'keys',
    'create',
    '--name',
    'app',
    '--allow',
    '*',
    '--ops',
    'read,manage',
    '--json',
  ]);
  expect(made.code, made.stderr).toBe(0);
  return JSON.parse(made.stdout).key as string;
}

/** The exit code after SIGTERM, or a failure quoting the server's last output after 20 s. */
async function stopped(r: Serve): Promise<number | null> {
  r.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`baton serve did not exit after SIGTERM:\n${r.out()}`)),
      20_000,
    );
  });
  try {
    return await Promise.race([r.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

const FAST = [
  '--webhook-retry-base',
  '150ms',
  '--webhook-retry-max',
  '400ms',
  '--webhook-poll',
  '100ms',
  // A delivery leased by a process that is SIGKILLed mid-attempt waits out its lease (3 × the
  // timeout + 5 s) before another process tries it: a short timeout keeps that wait short.
  '--webhook-timeout',
  '2s',
  '--no-keeper',
];

async function serve(env: NodeJS.ProcessEnv): Promise<Serve> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...FAST], {
    env: { PATH: process.env['PATH'], ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  // A test that times out before its cleanup still leaves no server behind.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  const exited = new Promise<number | null>((ok) =>
    child.on('exit', (code) => {
      process.off('exit', reap);
      ok(code);
    }),
  );
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"url":"(http:\/\/[^"]+)","store"/.exec(out);
      if (m) resolve(m[1] as string);
    });
    child.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('exit', (code) => reject(new Error(`baton serve exited ${code}: ${out}`)));
  });
  return { url, child, exited, out: () => out.slice(-4000) };
}

async function until(what: string, f: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every id expected arrived; every duplicate is the same event (type and connection). */
function checkAtLeastOnce(r: Receiver, expected: Map<string, string>): void {
  const byId = new Map<string, WebhookEvent>();
  for (const e of r.events) {
    const first = byId.get(e.id);
    if (first) expect([e.type, e.data.connection.id]).toEqual([first.type, first.data.connection.id]);
    else byId.set(e.id, e);
  }
  const seen = new Map([...byId.values()].map((e) => [`${e.type} ${e.data.connection.id}`, e.id]));
  for (const key of expected.keys()) expect(seen.has(key), `${key} delivered`).toBe(true);
  expect(byId.size).toBe(expected.size);
  expect(r.badSignatures).toBe(0);
}

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe('webhooks from baton serve', () => {
  it('a receiver failing the first deliveries, the server SIGKILLed mid-retry and restarted: every event arrives', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(async () => cleanup());
    const env = { BATON_HOME: dir, BATON_SECRET_KEY: randomKey(), BATON_STORE: `sqlite:${dir}/baton.db` };
    const rx = await receiver({ failFirst: 6 });
    cleanups.push(() => rx.close());
    const bk = await managerKey(env);
    const added = await runCli(env, ['webhooks', 'add', rx.url, '--json']);
    expect(added.code, added.stderr).toBe(0);
    rx.secret = JSON.parse(added.stdout).secret as string;
    expect(rx.secret).toMatch(/^whsec_/);
    const listed = await runCli(env, ['webhooks', 'list', '--json']);
    expect(listed.stdout).not.toContain(rx.secret);

    let s = await serve(env);
    cleanups.push(async () => {
      s.child.kill('SIGKILL');
    });
    const expected = new Map<string, string>();
    for (const id of ['w-1', 'w-2', 'w-3']) {
      const made = await call(s.url, 'POST', '/v1/connections', bk, {
        id,
        provider: 'checkbook',
        params: { environment: 'sandbox' },
        credentials: { apiKey: `key-${id}-0123456789`, apiSecret: 'secret-abcdefghij' },
        verify: false,
      });
      expect(made.status, made.text).toBe(201);
      expected.set(`connection.created ${id}`, '');
    }
    expect((await call(s.url, 'POST', '/v1/connections/w-1/revoke', bk)).status).toBe(200);
    expected.set('connection.revoked w-1', '');
    // Mid-retry: the receiver has refused some attempts, and deliveries are waiting for their next one.
    // (A refused attempt whose outcome the killed process had not yet written is tried again
    // later as the same attempt: wait until the log holds a retried delivery.)
    await until('a refused attempt in the delivery log', async () => {
      if (rx.attempts < 2) return false;
      const log = await runCli(env, ['webhooks', 'deliveries', '--json']);
      return (
        log.code === 0 &&
        (JSON.parse(log.stdout) as { attempts: number; status: string }[]).some((d) => d.attempts >= 2)
      );
    });
    s.child.kill('SIGKILL');
    await s.exited;
    // With no server running, a CLI process removes a connection: its event waits in the outbox.
    const removed = await runCli(env, ['remove', 'w-2', '--yes']);
    expect(removed.code, removed.stderr).toBe(0);
    expected.set('connection.removed w-2', '');
    s = await serve(env);
    await until(
      'every event delivered',
      () => new Set(rx.events.map((e) => e.id)).size >= expected.size,
      40_000,
    );
    checkAtLeastOnce(rx, expected);
    expect(rx.attempts).toBeGreaterThan(expected.size);

    // The delivery log names every attempt; a manual redelivery sends the same event again.
    const log = await runCli(env, ['webhooks', 'deliveries', '--json']);
    const deliveries = JSON.parse(log.stdout) as {
      id: string;
      eventId: string;
      status: string;
      attempts: number;
    }[];
    expect(deliveries).toHaveLength(expected.size);
    for (const d of deliveries) expect(d.status).toBe('delivered');
    const retried = deliveries.find((d) => d.attempts > 1);
    expect(retried).toBeDefined();
    const one = JSON.parse(
      (await runCli(env, ['webhooks', 'deliveries', '--id', retried?.id as string, '--json'])).stdout,
    );
    expect(one.log.length).toBe(retried?.attempts);
    expect(one.log[0].status).toBe(503);
    const before = rx.events.length;
    const again = await runCli(env, ['webhooks', 'redeliver', retried?.eventId as string]);
    expect(again.code, again.stderr).toBe(0);
    await until('redelivered', () => rx.events.length > before);
    expect(rx.events.at(-1)?.id).toBe(retried?.eventId);
    checkAtLeastOnce(rx, expected);
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
  }, 60_000);

  const pg = PG_URL ? it : it.skip;
  pg(
    'two replicas on PostgreSQL: every event delivered once at least, never two attempts of one at a time',
    async () => {
      const schema = uniqueSchema();
      cleanups.push(() => dropSchema(schema));
      const { dir, cleanup } = tempDir();
      cleanups.push(async () => cleanup());
      const env = {
        BATON_HOME: dir,
        BATON_SECRET_KEY: randomKey(),
        BATON_STORE: `${PG_URL}${(PG_URL as string).includes('?') ? '&' : '?'}schema=${schema}`,
      };
      const rx = await receiver({ failEvery: 3, delayMs: 30 });
      cleanups.push(() => rx.close());
      const bk = await managerKey(env);
      const replicas = [await serve(env), await serve(env)];
      for (const r of replicas) cleanups.push(async () => void r.child.kill('SIGKILL'));
      const hook = await call(replicas[0]?.url as string, 'POST', '/v1/webhooks', bk, { url: rx.url });
      expect(hook.status, hook.text).toBe(201);
      rx.secret = hook.json['secret'] as string;
      const expected = new Map<string, string>();
      await Promise.all(
        Array.from({ length: 16 }, async (_, i) => {
          const base = replicas[i % 2]?.url as string;
          const id = `pg-${i}`;
          const made = await call(base, 'POST', '/v1/connections', bk, {
            id,
            provider: 'checkbook',
            params: { environment: 'sandbox' },
            credentials: { apiKey: `key-${id}-0123456789`, apiSecret: 'secret-abcdefghij' },
            verify: false,
          });
          expect(made.status, made.text).toBe(201);
          expected.set(`connection.created ${id}`, '');
          if (i % 2 === 0) {
            expect(
              (await call(replicas[(i + 1) % 2]?.url as string, 'POST', `/v1/connections/${id}/revoke`, bk))
                .status,
            ).toBe(200);
            expected.set(`connection.revoked ${id}`, '');
          }
          if (i % 4 === 1) {
            expect((await call(base, 'DELETE', `/v1/connections/${id}`, bk)).status).toBe(200);
            expected.set(`connection.removed ${id}`, '');
          }
        }),
      );
      await until(
        'every event delivered',
        () => new Set(rx.events.map((e) => e.id)).size >= expected.size,
        40_000,
      );
      checkAtLeastOnce(rx, expected);
      expect(rx.overlaps).toBe(0);
      // Both replicas took part: the attempt log names who tried.
      const deliveries = (
        await call(replicas[1]?.url as string, 'GET', '/v1/webhooks/deliveries?limit=500', bk)
      ).json['items'] as { id: string; status: string }[];
      expect(deliveries).toHaveLength(expected.size);
      expect(deliveries.every((d) => d.status === 'delivered')).toBe(true);
      for (const code of await Promise.all(replicas.map(stopped))) expect(code).toBe(0);
    },
    90_000,
  );
});
