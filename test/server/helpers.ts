import { spawn } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { fetch } from 'undici';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** A writable that keeps everything written, for scanning logs. */
export class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** An upstream API that answers every request with what it received, optionally after a delay. */
export async function echoServer(
  delayMs = 0,
): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  let release: () => void = () => undefined;
  const released = new Promise<void>((r) => {
    release = r;
  });
  const server: Server = createServer((req, res) => {
    // /base/stream/<bytes>: a body of that many bytes in 16 KiB chunks, without a length, the
    // first chunk at once and the rest only after /base/release — proving the proxy streams.
    const stream = /^\/base\/stream\/(\d+)$/.exec(req.url ?? '');
    if (stream) {
      let left = Number(stream[1]);
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = () => {
        const n = Math.min(left, 16_384);
        left -= n;
        return Buffer.alloc(n, 0x61 + (left % 26));
      };
      res.write(chunk());
      released.then(() => {
        while (left > 0) res.write(chunk());
        res.end();
      });
      return;
    }
    if (req.url === '/base/release') {
      release();
      res.end('released');
      return;
    }
    // /base/count: answers how many body bytes it received (a large upload streams through).
    if (req.url === '/base/count') {
      let n = 0;
      req.on('data', (d: Buffer) => {
        n += d.length;
      });
      req.on('end', () =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ n })),
      );
      return;
    }
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      setTimeout(() => {
        res.setHeader('content-type', 'application/json');
        res.setHeader('x-upstream', 'yes');
        res.end(JSON.stringify({ ok: true, method: req.method, url: req.url, body }));
      }, delayMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface Spawned {
  url: string;
  out: () => string;
  kill(signal?: NodeJS.Signals): void;
  exited: Promise<number | null>;
}

/** `baton serve --port 0` in its own process; resolves once it says where it listens. */
export async function spawnServe(env: NodeJS.ProcessEnv, args: string[] = []): Promise<Spawned> {
  const child = spawn(process.execPath, [CLI, ...args, 'serve', '--port', '0'], {
    env: { PATH: process.env['PATH'], ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  // A test that times out or throws before its cleanup still leaves no server behind.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  const exited = new Promise<number | null>((r) =>
    child.on('exit', (code) => {
      process.off('exit', reap);
      r(code);
    }),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /"url":"(http:\/\/[^"]+)","store"/.exec(out);
      if (m) resolve(m[1] as string);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('exit', (code) => reject(new Error(`baton serve exited ${code}: ${out}`)));
  });
  return { url, out: () => out, kill: (s = 'SIGTERM') => child.kill(s), exited };
}

/** Runs a command once: its exit code, its standard output and error, and both together as they came. */
export function runCommand(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string; out: string }> {
  const child = spawn(cmd, args, {
    env: { PATH: process.env['PATH'], ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let out = '';
  child.stdout.on('data', (d) => {
    stdout += d;
    out += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
    out += d;
  });
  return new Promise((r) => child.on('exit', (code) => r({ code, stdout, stderr, out })));
}

/** Runs the CLI once and returns its output. */
export const runCli = (env: NodeJS.ProcessEnv, args: string[]) =>
  runCommand(process.execPath, [CLI, ...args], env);

export async function call(
  base: string,
  method: string,
  path: string,
  key?: string,
  body?: unknown,
): Promise<{ status: number; type: string; json: Record<string, unknown>; text: string }> {
  const headers: Record<string, string> = {};
  if (key !== undefined) headers['authorization'] = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    // A server that never answers fails the test with this request named, not a test timeout.
    signal: AbortSignal.timeout(20_000),
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON
  }
  return { status: res.status, type: res.headers.get('content-type') ?? '', json, text };
}

export interface Reflector {
  url: string;
  seen: IncomingHttpHeaders[];
  open: Set<ServerResponse>;
  close(): Promise<void>;
}

/**
 * An API that echoes the credential it received back in response headers (under many names and
 * encodings), sets cookies, and stalls on demand: before its headers, in a small body, in a
 * streamed one. `/base/me` is an identity endpoint that accepts only `validKey` (X-Api-Key).
 * Its bodies name the request headers it received, never their values.
 */
export async function reflector(validKey?: string): Promise<Reflector> {
  const seen: IncomingHttpHeaders[] = [];
  const open = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    seen.push(req.headers);
    const path = (req.url ?? '').replace(/^\/base/, '');
    if (path === '/stall-headers') {
      open.add(res);
      return;
    }
    if (path === '/stall-body') {
      open.add(res);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"partial":');
      return;
    }
    if (path === '/stall-stream') {
      open.add(res);
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(Buffer.alloc(70_000, 0x61));
      return;
    }
    if (path === '/me') {
      const ok = validKey !== undefined && req.headers['x-api-key'] === validKey;
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
      res.end(JSON.stringify(ok ? { id: 'acct-1', name: 'Reflector account' } : { error: 'unauthorized' }));
      return;
    }
    const cred = String(req.headers['x-api-key'] ?? req.headers['authorization'] ?? '');
    const token = cred.replace(/^(Bearer|Basic)\s+/i, '');
    res.setHeader('x-api-key', cred);
    res.setHeader('x-auth-token', cred);
    res.setHeader('x-access-token', token);
    res.setHeader('x-debug-echo', `received ${cred} from you`);
    res.setHeader('x-echo-b64', Buffer.from(`k=${token}`).toString('base64'));
    res.setHeader('x-echo-url', `https://x.example/cb?key=${encodeURIComponent(`${token}/+`)}`);
    res.setHeader('link', `<https://x.example/next?access_token=${token}>; rel="next"`);
    res.setHeader('www-authenticate', 'Bearer realm="example", error="insufficient_scope"');
    res.setHeader('set-cookie', ['upstream_session=u-1; Path=/; HttpOnly', 'other=2']);
    res.setHeader('x-plain', 'kept');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ ok: true, received: Object.keys(req.headers).sort() }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    open,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
