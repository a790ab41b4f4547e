import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Baton } from '../../src/core/baton.js';
import { randomKey, tempDir } from '../helpers/env.js';
import { type OidcServer, signIn, startOidcProvider } from '../helpers/oidc-provider.js';
import { run } from './run.js';

describe('baton providers show, for a provider given by its issuer', () => {
  let op: OidcServer;
  let dir: string;
  let cleanup: () => void;
  beforeAll(async () => {
    op = await startOidcProvider();
    ({ dir, cleanup } = tempDir());
  });
  afterAll(async () => {
    await op.close();
    cleanup();
  });

  it('says what the issuer published and the endpoints Baton will use', async () => {
    writeFileSync(
      join(dir, 'baton.config.json'),
      JSON.stringify({ providers: { acme: { issuer: op.issuer } } }),
    );
    const env = { BATON_HOME: dir, BATON_SECRET_KEY: randomKey() };
    const text = await run(['providers', 'show', 'acme'], env, undefined, dir);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`discovered at:  ${op.issuer}/.well-known/openid-configuration`);
    expect(text.stdout).toContain(`token:          ${op.issuer}/token`);
    expect(text.stdout).toMatch(/iss in callback: yes/);
    const asJson = JSON.parse((await run(['providers', 'acme', '--json'], env, undefined, dir)).stdout);
    expect(asJson).toMatchObject({
      issuer: op.issuer,
      tokenUrl: `${op.issuer}/token`,
      discovered: { jwksUri: `${op.issuer}/jwks`, authorizationResponseIssParameterSupported: true },
    });
  });

  it('a mismatched issuer exits with the configuration error code and its remediation', async () => {
    writeFileSync(
      join(dir, 'baton.config.json'),
      JSON.stringify({ providers: { acme: { issuer: `${op.issuer}/other` } } }),
    );
    const r = await run(
      ['providers', 'show', 'acme'],
      { BATON_HOME: dir, BATON_SECRET_KEY: randomKey() },
      undefined,
      dir,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/publishes no metadata|names the issuer/);
  });

  it('baton doctor asks the introspection endpoint about each connection token', async () => {
    const key = randomKey();
    const store = `sqlite:${join(dir, 'doctor.db')}`;
    const clients = { acme: op.client };
    writeFileSync(
      join(dir, 'baton.config.json'),
      JSON.stringify({ store, providers: { acme: { issuer: op.issuer, scopes: ['openid'] } }, clients }),
    );
    const baton = await Baton.open({
      store,
      secretKey: key,
      env: { BATON_HOME: dir },
      providers: { acme: { issuer: op.issuer, scopes: ['openid'] } },
      clients,
    });
    try {
      const { url } = await baton.beginAuthorization({ provider: 'acme', connectionId: 'alice' });
      await baton.completeAuthorization({ callbackUrl: await signIn(url, 'alice') });
    } finally {
      await baton.close();
    }
    const r = await run(
      ['doctor', 'alice', '--json'],
      { BATON_HOME: dir, BATON_SECRET_KEY: key },
      undefined,
      dir,
    );
    const checks = (JSON.parse(r.stdout) as { checks: { check: string; level: string; message: string }[] })
      .checks;
    expect(checks.find((c) => c.check === 'introspection alice')).toMatchObject({
      level: 'ok',
      message: expect.stringContaining('active for alice'),
    });
    expect(r.stdout + r.stderr).not.toContain(op.client.clientSecret);
  });
});
