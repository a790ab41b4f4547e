import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Baton } from '../../src/core/baton.js';
import { ConfigError } from '../../src/errors.js';
import { randomKey, tempDir } from '../helpers/env.js';

/** The README's path-confinement rule through `baton.fetch` and `baton.connect`, over loopback. */
describe('requests stay under the API base path', () => {
  let server: Server;
  let url: string;
  const seen: string[] = [];
  let baton: Baton;
  let cleanup: () => void;

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const tmp = tempDir();
    cleanup = tmp.cleanup;
    baton = await Baton.open({
      store: `sqlite:${tmp.dir}/b.db`,
      secretKey: randomKey(),
      env: {},
      providers: {
        tenanted: {
          displayName: 'Tenanted',
          authModes: ['api_key'],
          params: { tenant: { description: 'the tenant' } },
          apiBaseUrl: `${url}/t/{tenant}/api/`,
          apiKeyAuth: { header: 'Authorization', template: 'Token {apiKey}' },
        },
      },
    });
    await baton.connect({
      provider: 'tenanted',
      connectionId: 'k',
      params: { tenant: 'acme' },
      credentials: { apiKey: 'planted-api-key-0001' },
    });
  });

  afterAll(async () => {
    await baton.close();
    server.close();
    cleanup();
  });

  it('refuses paths that step out of the prefix, and sends nothing', async () => {
    const before = seen.length;
    for (const path of [
      '../../x',
      '/../../x',
      '..',
      'a/../../../admin',
      '%2e%2e/%2E%2E/x',
      '.%2e/x',
      '..\\..\\x',
      '%5c..%5cx',
      '..%2f..%2fx',
      '．．/．．/x',
      '%E3%80%82%E3%80%82/x',
      '//127.0.0.1/x',
      `${url}/admin`,
      `${url}/t/acme/api/../../admin`,
    ]) {
      const err = await baton.fetch('k', path).catch((e: unknown) => e);
      expect(err, path).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toContain('leave the API base');
      expect((err as ConfigError).remediation.length).toBeGreaterThan(20);
    }
    expect(seen.slice(before)).toEqual([]);
  });

  it('refuses a param value of ".." (or any unsafe value) before a URL is built', async () => {
    const before = seen.length;
    for (const tenant of ['..', '.', '../admin', '%2e%2e', 'a/b']) {
      const err = await baton
        .connect({
          provider: 'tenanted',
          connectionId: `t-${tenant}`,
          params: { tenant },
          credentials: { apiKey: 'k-0001' },
        })
        .catch((e: unknown) => e);
      expect(err, tenant).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toContain('param "tenant"');
    }
    expect(seen.slice(before)).toEqual([]);
    expect((await baton.list()).map((c) => c.id)).toEqual(['k']);
  });

  it('still sends ordinary paths, a leading slash included, under the prefix', async () => {
    const before = seen.length;
    expect((await baton.fetch('k', 'v1/items?q=../x')).status).toBe(200);
    expect((await baton.fetch('k', '/v1/file.v2.json')).status).toBe(200);
    expect((await baton.fetch('k', `${url}/t/acme/api/ping`)).status).toBe(200);
    expect(seen.slice(before)).toEqual([
      '/t/acme/api/v1/items?q=../x',
      '/t/acme/api/v1/file.v2.json',
      '/t/acme/api/ping',
    ]);
  });
});
