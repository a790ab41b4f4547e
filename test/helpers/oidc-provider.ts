import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, importJWK, type JWK, type JWTPayload, SignJWT } from 'jose';
import Provider, { type ClientMetadata, type Configuration } from 'oidc-provider';
import { fetch } from 'undici';
import { Baton } from '../../src/core/baton.js';
import { randomKey, tempDir } from './env.js';

export const OIDC_CALLBACK = 'http://127.0.0.1:1/oidc/callback';

export interface OidcServer {
  issuer: string;
  provider: Provider;
  client: { clientId: string; clientSecret: string; redirectUri: string };
  /** Every request the server answered: method, path (without query), status, whether it carried a DPoP proof. */
  requests: { method: string; path: string; status: number; dpop: boolean }[];
  /** Serves a fresh signing key first in the JWKS (the old one stays for verification). */
  rotateKeys(): Promise<void>;
  /** Signs claims with the server's current signing key, as the server would. */
  sign(claims: JWTPayload, header?: { kid?: string }): Promise<string>;
  /** While true, the metadata documents (`/.well-known/…`) answer 503; every other route works. */
  metadataDown: boolean;
  close(): Promise<void>;
}

async function signingKey(kid: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
}

/**
 * panva's certified `oidc-provider`, in-process on loopback: one confidential client, PKCE
 * required, refresh tokens issued, RFC 9207 `iss` on every authorization response.
 */
export async function startOidcProvider(
  options: { client?: Partial<ClientMetadata>; config?: Partial<Configuration> } = {},
): Promise<OidcServer> {
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();
  const requests: OidcServer['requests'] = [];
  const state = { metadataDown: false };
  const server = createServer((req, res) => {
    res.on('finish', () =>
      requests.push({
        method: req.method ?? '',
        path: (req.url ?? '').split('?')[0] as string,
        status: res.statusCode,
        dpop: req.headers['dpop'] !== undefined,
      }),
    );
    if (state.metadataDown && req.url?.startsWith('/.well-known/')) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('metadata down (test)');
      return;
    }
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const keys = [await signingKey('k1')];
  const client = {
    clientId: 'baton-test',
    clientSecret: 'oidc-client-secret-0123456789abcdef',
    redirectUri: OIDC_CALLBACK,
  };
  let provider = build();
  function build(): Provider {
    const p = new Provider(issuer, {
      clients: [
        {
          client_id: client.clientId,
          client_secret: client.clientSecret,
          redirect_uris: [client.redirectUri, 'http://127.0.0.1:1/other/callback'],
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_basic',
          ...options.client,
        },
      ],
      jwks: { keys: keys as never[] },
      cookies: { keys: ['oidc-test-cookie-key'] },
      pkce: { required: () => true },
      scopes: ['openid', 'offline_access', 'email', 'profile'],
      claims: { openid: ['sub'], email: ['email'], profile: ['name'] },
      features: {
        devInteractions: { enabled: true },
        revocation: { enabled: true },
        introspection: { enabled: true },
      },
      issueRefreshToken: async (_ctx, c) => c.grantTypeAllowed('refresh_token'),
      findAccount: async (_ctx, sub) => ({
        accountId: sub,
        claims: async () => ({ sub, email: `${sub}@example.test`, name: `User ${sub}` }),
      }),
      ...options.config,
    });
    p.proxy = false;
    return p;
  }
  handler = provider.callback();
  return {
    issuer,
    get provider() {
      return provider;
    },
    client,
    requests,
    get metadataDown() {
      return state.metadataDown;
    },
    set metadataDown(down: boolean) {
      state.metadataDown = down;
    },
    async rotateKeys() {
      keys.unshift(await signingKey(`k${keys.length + 1}`));
      provider = build();
      handler = provider.callback();
    },
    async sign(claims: JWTPayload, header: { kid?: string } = {}) {
      const jwk = keys[0] as JWK;
      return new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: header.kid ?? (jwk.kid as string) })
        .sign(await importJWK(jwk, 'RS256'));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  } as OidcServer;
}

/** A browser's cookie jar, for one origin, enough for the provider's interaction cookies. */
class Jar {
  readonly #cookies = new Map<string, string>();
  take(headers: Headers | { getSetCookie(): string[] }): void {
    for (const line of headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair?.indexOf('=') ?? -1;
      if (!pair || eq < 0) continue;
      this.#cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
  }
  header(): string {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/**
 * Does what a person does in a browser: opens the authorization URL, signs in as `login` on the
 * provider's login page, approves the consent page, and returns the URL the provider redirected
 * to (the callback, with `code`, `state` and `iss`). Plain HTTP, no browser.
 */
export async function signIn(authorizationUrl: string, login = 'alice'): Promise<string> {
  const jar = new Jar();
  let url = authorizationUrl;
  let method: 'GET' | 'POST' = 'GET';
  let body: string | undefined;
  const origin = new URL(authorizationUrl).origin;
  for (let hop = 0; hop < 20; hop++) {
    if (!url.startsWith(origin)) return url;
    const res = await fetch(url, {
      method,
      redirect: 'manual',
      headers: {
        cookie: jar.header(),
        ...(body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(body !== undefined ? { body } : {}),
    });
    jar.take(res.headers);
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      await res.arrayBuffer();
      url = new URL(location, url).toString();
      method = 'GET';
      body = undefined;
      continue;
    }
    const html = await res.text();
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    const prompt = /name="prompt" value="([a-z]+)"/.exec(html)?.[1];
    if (res.status !== 200 || !action || !prompt) {
      throw new Error(`The provider answered ${res.status} without a form: ${html.slice(0, 500)}`);
    }
    url = new URL(action, url).toString();
    method = 'POST';
    body = new URLSearchParams(
      prompt === 'login' ? { prompt, login, password: 'any' } : { prompt },
    ).toString();
  }
  throw new Error('Too many hops between the authorization URL and the callback.');
}

/**
 * A token endpoint in front of the server's: forwards each request as it came and passes the
 * JSON answer through `transform` (to hand Baton a forged id_token).
 */
export async function tokenProxy(
  op: OidcServer,
  transform: (body: Record<string, unknown>) => Promise<Record<string, unknown>>,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const upstream = await fetch(`${op.issuer}/token`, {
          method: 'POST',
          headers: {
            'content-type': req.headers['content-type'] ?? '',
            ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
          },
          body: Buffer.concat(chunks),
        });
        const json = (await upstream.json()) as Record<string, unknown>;
        const out = upstream.ok ? await transform(json) : json;
        res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(JSON.stringify(out));
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * A Baton on a fresh SQLite file with one provider `acme` at this server (by its issuer unless
 * the spec says otherwise) and the server's client; `close` closes it and removes the file.
 */
export async function batonFor(
  op: OidcServer,
  spec: Record<string, unknown> = { issuer: op.issuer, scopes: ['openid'] },
): Promise<{ baton: Baton; close(): Promise<void> }> {
  const tmp = tempDir();
  const baton = await Baton.open({
    store: `sqlite:${tmp.dir}/baton.db`,
    secretKey: randomKey(),
    env: { BATON_HOME: tmp.dir },
    providers: { acme: spec },
    clients: { acme: op.client },
  });
  return {
    baton,
    async close() {
      await baton.close();
      tmp.cleanup();
    },
  };
}
