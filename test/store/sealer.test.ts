import { createCipheriv, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { SecretKeyError } from '../../src/errors.js';
import { keyIdOf, type SealBinding, Sealer } from '../../src/store/sealer.js';
import { loadSecretKey, parseSecretKey } from '../../src/store/secret-key.js';

const key = () => {
  const k = randomBytes(32);
  return { id: keyIdOf(k), key: k };
};
const binding: SealBinding = {
  id: 'alice',
  provider: 'cronofy',
  params: { dataCenter: 'de' },
  clientId: 'c1',
};
const SECRET = 'refresh-token-planted-7f3a';

/** A blob as the first format sealed it: AAD = [id, provider, params, clientId]. */
function sealV1(k: { id: string; key: Buffer }, value: unknown, b: SealBinding): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', k.key, iv);
  cipher.setAAD(Buffer.from(JSON.stringify([b.id, b.provider, b.params, b.clientId])));
  const body = Buffer.concat([
    cipher.update(JSON.stringify(value), 'utf8'),
    cipher.final(),
    cipher.getAuthTag(),
  ]);
  return `v1.${k.id}.${iv.toString('base64url')}.${body.toString('base64url')}`;
}

describe('Sealer', () => {
  it('round-trips and never leaves the plaintext in the blob', () => {
    const s = new Sealer({ current: key() });
    const sealed = s.seal({ refreshToken: SECRET }, binding);
    expect(sealed).not.toContain(SECRET);
    expect(s.open(sealed, binding)).toEqual({ refreshToken: SECRET });
  });

  it('refuses a blob moved to another connection, provider, params or client (AES-GCM additional data)', () => {
    const s = new Sealer({ current: key() });
    const sealed = s.seal({ t: SECRET }, binding);
    for (const other of [
      { ...binding, id: 'bob' },
      { ...binding, provider: 'checkfront' },
      { ...binding, params: { dataCenter: 'us' } },
      { ...binding, clientId: 'c2' },
      { ...binding, clientId: null },
    ]) {
      expect(() => s.open(sealed, other)).toThrow(SecretKeyError);
    }
    // Param order does not matter.
    const two = { ...binding, params: { a: '1', b: '2' } };
    expect(s.open(s.seal({ x: 1 }, two), { ...two, params: { b: '2', a: '1' } })).toEqual({ x: 1 });
  });

  it('detects tampering and truncation without quoting secrets', () => {
    const s = new Sealer({ current: key() });
    const sealed = s.seal({ t: SECRET }, binding);
    const parts = sealed.split('.');
    const body = Buffer.from(parts[3] as string, 'base64url');
    body[0] = (body[0] ?? 0) ^ 1;
    const tampered = [...parts.slice(0, 3), body.toString('base64url')].join('.');
    let err: unknown;
    try {
      s.open(tampered, binding);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SecretKeyError);
    expect(JSON.stringify((err as SecretKeyError).toJSON())).not.toContain(SECRET);
    expect(() => s.open('v1.x', binding)).toThrow(SecretKeyError);
    expect(() => s.open(`${parts.slice(0, 3).join('.')}.AAAA`, binding)).toThrow(/truncated/);
  });

  it('opens blobs of a previous key and seals new ones under the current key; an unknown key is named', () => {
    const old = key();
    const current = key();
    const sealedOld = new Sealer({ current: old }).seal({ t: 1 }, binding);
    const s = new Sealer({ current, previous: [old] });
    expect(s.open(sealedOld, binding)).toEqual({ t: 1 });
    expect(sealedOld.split('.')[1]).toBe(old.id);
    expect(s.seal({ t: 1 }, binding).split('.')[1]).toBe(current.id);
    expect(() => new Sealer({ current }).open(sealedOld, binding)).toThrow(new RegExp(`key ${old.id}`));
  });

  it('binds the auth mode and the learned API base (v2), and still opens v1 blobs under the old binding', () => {
    const k = key();
    const s = new Sealer({ current: k });
    const bound = { ...binding, authMode: 'oauth2', apiBaseUrl: 'https://eu1.example.test/acme/' };
    const sealed = s.seal({ t: 1 }, bound);
    expect(sealed.startsWith('v2.')).toBe(true);
    expect(s.open(sealed, bound)).toEqual({ t: 1 });
    expect(() => s.open(sealed, { ...bound, apiBaseUrl: 'https://evil.test/' })).toThrow(SecretKeyError);
    expect(() => s.open(sealed, { ...bound, apiBaseUrl: null })).toThrow(SecretKeyError);
    expect(() => s.open(sealed, { ...bound, authMode: 'token_pair' })).toThrow(SecretKeyError);
    // A v1 blob (sealed before the binding grew) authenticates id, provider, params and client only.
    const v1 = sealV1(k, { t: 2 }, binding);
    expect(s.open(v1, bound)).toEqual({ t: 2 });
    expect(() => s.open(v1, { ...bound, clientId: 'other' })).toThrow(SecretKeyError);
  });

  it('round-trips any JSON value under any binding (property)', () => {
    const s = new Sealer({ current: key() });
    fc.assert(
      fc.property(
        fc.jsonValue(),
        fc.record({
          id: fc.string(),
          provider: fc.string(),
          params: fc.dictionary(fc.string(), fc.string()),
          clientId: fc.option(fc.string(), { nil: null }),
        }),
        (value, b) => {
          expect(s.open(s.seal(value, b), b)).toEqual(JSON.parse(JSON.stringify(value)));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('secret key', () => {
  const dirs: string[] = [];
  const home = () => {
    const d = mkdtempSync(join(tmpdir(), 'baton-key-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('takes the option, then BATON_SECRET_KEY, then the key file', async () => {
    const a = randomBytes(32).toString('base64');
    const b = randomBytes(32).toString('base64');
    const env = { BATON_HOME: home(), BATON_SECRET_KEY: b };
    expect((await loadSecretKey({ secretKey: a, env })).source).toBe('option');
    expect((await loadSecretKey({ env })).key.id).toBe(parseSecretKey(b).id);
    const created = await loadSecretKey({ env: { BATON_HOME: env.BATON_HOME } });
    expect(created.source).toBe('created');
    const again = await loadSecretKey({ env: { BATON_HOME: env.BATON_HOME } });
    expect(again).toMatchObject({ source: 'file' });
    expect(again.key.id).toBe(created.key.id);
  });

  it('creates the key file 0600 and refuses one that others can read', async () => {
    const h = home();
    await loadSecretKey({ env: { BATON_HOME: h } });
    const file = join(h, 'secret.key');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    chmodSync(file, 0o644);
    await expect(loadSecretKey({ env: { BATON_HOME: h } })).rejects.toThrow(/can be read by other users/);
    const err = await loadSecretKey({ env: { BATON_HOME: h } }).catch((e: unknown) => e);
    expect(JSON.stringify((err as SecretKeyError).toJSON())).not.toContain(readFileSync(file, 'utf8').trim());
  });

  it('rejects keys that are not 32 bytes of base64, saying how to make one', async () => {
    expect(() => parseSecretKey('not base64!')).toThrow(SecretKeyError);
    expect(() => parseSecretKey(randomBytes(16).toString('base64'))).toThrow(/16 bytes; it must be 32/);
    const h = home();
    writeFileSync(join(h, 'secret.key'), 'short', { mode: 0o600 });
    const err = await loadSecretKey({ env: { BATON_HOME: h } }).catch((e: unknown) => e);
    expect((err as SecretKeyError).remediation).toMatch(/openssl rand -base64 32/);
  });

  it('two processes creating the key at once agree on it', async () => {
    const h = home();
    const keys = await Promise.all(
      Array.from({ length: 8 }, () => loadSecretKey({ env: { BATON_HOME: h } })),
    );
    expect(new Set(keys.map((k) => k.key.id)).size).toBe(1);
  });
});
