import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Baton, type BatonOptions } from '../../src/core/baton.js';
import type { RekeyProgress } from '../../src/core/rekey.js';
import { SecretKeyError } from '../../src/errors.js';
import { keyIdOf, sealedKeyId } from '../../src/store/sealer.js';
import { parseSecretKey } from '../../src/store/secret-key.js';
import { randomKey, tempDir } from '../helpers/env.js';
import {
  apiKeyFor,
  authorize,
  CALLBACK,
  consent,
  tokenCalls,
  type World,
  world,
} from '../helpers/sim-baton.js';
import { storeEngines } from '../store/pg.js';

const HOUR = 3_600_000;
const idOf = (key: string) => keyIdOf(parseSecretKey(key).key);

// Rekey re-opens the store under another key: the engines that outlive a Baton.
const engines = storeEngines().filter((e) => e.name !== 'memory');

describe.each(engines)('rekey on $name', ({ store: makeStore }) => {
  let w: World;
  let drop: () => Promise<void>;
  let oldKey: string;
  let newKey: string;
  /** A Baton whose current key is the new one, reading the old one through BATON_SECRET_KEY_PREVIOUS. */
  let rotated: (extra?: Partial<BatonOptions>) => Promise<Baton>;

  beforeEach(async () => {
    const s = makeStore();
    drop = s.drop;
    w = await world({ sim: { cronofyRotation: 'always' }, baton: s.spec ? { store: s.spec } : {} });
    oldKey = w.secretKey;
    newKey = randomKey();
    rotated = (extra = {}) =>
      w.open({ secretKey: newKey, env: { BATON_SECRET_KEY_PREVIOUS: oldKey }, ...extra });
    for (let i = 0; i < 7; i++) await authorize(w, { provider: 'cronofy', connectionId: `cal-${i}` });
    const key = apiKeyFor(w, 'checkfront', { company: 'acme' });
    await w.baton.connect({
      provider: 'checkfront',
      connectionId: 'desk',
      params: { company: 'acme' },
      credentials: { apiKey: key.apiKey, apiSecret: key.apiSecret ?? '' },
    });
    await w.baton.connect({
      provider: 'checkissuing',
      connectionId: 'payouts',
      params: { environment: 'sandbox' },
    });
    await w.baton.revoke('cal-6');
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await w.close();
    await drop();
  });

  it('re-seals every connection and pending authorization under the current key, in batches, and verifies it', async () => {
    const begun = await w.baton.beginAuthorization({
      provider: 'cronofy',
      connectionId: 'later',
      redirectUri: CALLBACK,
    });
    const before = await w.baton.reveal('cal-0');
    const baton = await rotated();
    const state = await baton.keys();
    expect(state.current).toBe(idOf(newKey));
    expect(state.loaded).toEqual([idOf(newKey), idOf(oldKey)]);
    expect(state.inUse).toEqual([
      { keyId: idOf(oldKey), connections: 9, pendingAuthorizations: 1, clientRegistrations: 0, loaded: true },
    ]);
    const progress: RekeyProgress[] = [];
    const result = await baton.rekey({ batchSize: 4, onProgress: (p) => progress.push(p) });
    expect(result).toMatchObject({
      keyId: idOf(newKey),
      rekeyed: 9,
      pendingRekeyed: 1,
      unchanged: 0,
      failed: [],
      remaining: [],
      verified: true,
    });
    expect(progress.map((p) => p.done)).toEqual([4, 8, 9, 10]);
    expect(progress.every((p) => p.total === 10 && p.keyId === idOf(oldKey))).toBe(true);
    expect((await baton.keys()).inUse).toEqual([
      { keyId: idOf(newKey), connections: 9, pendingAuthorizations: 1, clientRegistrations: 0, loaded: true },
    ]);
    // Every row opens under the new key alone, with its secrets and status unchanged.
    const only = await w.open({ secretKey: newKey, env: {} });
    expect(await only.reveal('cal-0')).toEqual(before);
    expect((await only.get('cal-6')).status).toBe('revoked');
    expect((await only.fetch('desk', 'api/3.0/ping')).status).toBe(200);
    expect((await only.fetch('payouts', 'v1/account')).status).toBe(200);
    const done = await only.completeAuthorization({ callbackUrl: await consent(begun.url, 'approve') });
    expect(done.id).toBe('later');
    // A second run has nothing to do.
    expect(await baton.rekey()).toMatchObject({ rekeyed: 0, pendingRekeyed: 0, verified: true });
    // The old key alone no longer opens the store, and says which key it needs.
    const err = await w.open({ secretKey: oldKey, env: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretKeyError);
    expect((err as SecretKeyError).message).toContain(idOf(newKey));
    expect((err as SecretKeyError).remediation).toMatch(/BATON_SECRET_KEY_PREVIOUS/);
  });

  it('is a compare-and-swap: a refresh committed while a batch is in flight is never written over', async () => {
    const baton = await rotated();
    // An old process, still sealing under the old key, and a new one, each refresh while the batch is out.
    const straggler = w.baton;
    const current = await rotated();
    w.sim.clock.advance(HOUR);
    const putBatch = baton.store.putBatch.bind(baton.store);
    let raced = false;
    vi.spyOn(baton.store, 'putBatch').mockImplementation(async (writes) => {
      if (!raced) {
        raced = true;
        await straggler.refresh('cal-0', { force: true });
        await current.refresh('cal-1', { force: true });
      }
      return putBatch(writes);
    });
    const result = await baton.rekey({ batchSize: 100 });
    expect(result.verified).toBe(true);
    expect(result.failed).toEqual([]);
    // cal-0 was re-read and re-sealed with the straggler's new pair; cal-1 was already under the new key.
    expect(result.rekeyed).toBe(8);
    expect(result.unchanged).toBe(1);
    for (const id of ['cal-0', 'cal-1']) {
      const row = await baton.store.get(id);
      expect(sealedKeyId(row?.sealed ?? '')).toBe(idOf(newKey));
      const tokens = (await baton.reveal(id)).tokens;
      expect(w.sim.tokenStatus(tokens?.accessToken ?? '')).toBe('live');
      expect(w.sim.tokenStatus(tokens?.refreshToken ?? '')).toBe('live');
    }
    expect(tokenCalls(w, 'cronofy', 'refresh_token')).toBe(2);
  });

  it('stops between batches when asked and resumes where the store says it left off', async () => {
    const baton = await rotated();
    const stop = new AbortController();
    const first = await baton.rekey({
      batchSize: 3,
      signal: stop.signal,
      onProgress: (p) => {
        if (p.done >= 3) stop.abort();
      },
    });
    expect(first).toMatchObject({ rekeyed: 3, verified: false });
    expect(first.remaining).toEqual([
      { keyId: idOf(oldKey), connections: 6, pendingAuthorizations: 0, clientRegistrations: 0 },
    ]);
    // Meanwhile every connection keeps working, under either key.
    for (let i = 0; i < 6; i++) expect(await baton.getAccessToken(`cal-${i}`)).toBeTruthy();
    const second = await baton.rekey({ batchSize: 3 });
    expect(second).toMatchObject({ rekeyed: 6, verified: true, remaining: [] });
  });

  it('reports the rows it cannot open, leaves them as they are, and fails the verification', async () => {
    const stranger = randomKey();
    const other = await w.open({ secretKey: stranger, env: { BATON_SECRET_KEY_PREVIOUS: oldKey } });
    await authorize(w, { provider: 'cronofy', connectionId: 'foreign' }, other);
    const row = await w.baton.store.get('cal-2');
    // cal-2's blob swapped onto cal-3: it no longer authenticates there.
    const three = await w.baton.store.get('cal-3');
    await w.baton.store.put(
      { ...(three as NonNullable<typeof three>), sealed: row?.sealed ?? '' },
      three?.version ?? 0,
    );
    const baton = await rotated();
    const result = await baton.rekey();
    expect(result.verified).toBe(false);
    expect(result.rekeyed).toBe(8);
    // Old keys are walked in key-id order; the failures, sorted by connection:
    expect(result.failed.map((f) => [f.id, f.keyId, f.code]).sort()).toEqual([
      ['cal-3', idOf(oldKey), 'secret_key_error'],
      ['foreign', idOf(stranger), 'secret_key_error'],
    ]);
    expect(result.failed.find((f) => f.id === 'foreign')?.message).toMatch(/which is not loaded/);
    expect(result.failed.find((f) => f.id === 'cal-3')?.message).toMatch(/do not authenticate/);
    expect(result.remaining).toEqual(
      [
        { keyId: idOf(oldKey), connections: 1, pendingAuthorizations: 0, clientRegistrations: 0 },
        { keyId: idOf(stranger), connections: 1, pendingAuthorizations: 0, clientRegistrations: 0 },
      ].sort((a, b) => (a.keyId < b.keyId ? -1 : 1)),
    );
  });
});

describe('the key a store needs', () => {
  const dirs: (() => void)[] = [];
  afterEach(() => {
    for (const c of dirs.splice(0)) c();
  });

  async function storeWithData(): Promise<{ dir: string; keyFile: string; db: string; keyId: string }> {
    const { dir, cleanup } = tempDir();
    dirs.push(cleanup);
    const keyFile = join(dir, 'secret.key');
    const db = `sqlite:${join(dir, 'b.db')}`;
    const baton = await Baton.open({ store: db, keyFile, env: {} });
    const keyId = (await baton.keys()).current;
    await baton.connect({
      provider: 'checkfront',
      connectionId: 'desk',
      params: { company: 'acme' },
      credentials: { apiKey: 'key-1', apiSecret: 'secret-1' },
      verify: false,
    });
    await baton.close();
    return { dir, keyFile, db, keyId };
  }

  it('never creates a fresh key file beside a store that holds data: it names the key that is missing', async () => {
    const { keyFile, db, keyId } = await storeWithData();
    rmSync(keyFile);
    const err = await Baton.open({ store: db, keyFile, env: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretKeyError);
    expect((err as SecretKeyError).message).toContain(keyFile);
    expect((err as SecretKeyError).message).toContain(keyId);
    expect((err as SecretKeyError).remediation).toMatch(/Restore the key file/);
    expect(existsSync(keyFile)).toBe(false);
  });

  it('creates the key file for an empty store, as before', async () => {
    const { dir, cleanup } = tempDir();
    dirs.push(cleanup);
    const keyFile = join(dir, 'secret.key');
    const baton = await Baton.open({ store: `sqlite:${join(dir, 'new.db')}`, keyFile, env: {} });
    expect(existsSync(keyFile)).toBe(true);
    await baton.close();
  });

  it('refuses a store none of whose keys is loaded, naming them; one previous key is enough', async () => {
    const { keyFile, db, keyId } = await storeWithData();
    const wrong = randomKey();
    const err = await Baton.open({ store: db, secretKey: wrong, env: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretKeyError);
    expect((err as SecretKeyError).message).toMatch(
      new RegExp(`sealed under key ${keyId}, and none of them is loaded \\(loaded: ${idOf(wrong)}\\)`),
    );
    const previous = readFileSync(keyFile, 'utf8').trim();
    const ok = await Baton.open({
      store: db,
      secretKey: wrong,
      env: { BATON_SECRET_KEY_PREVIOUS: previous },
    });
    expect((await ok.keys()).inUse.map((k) => [k.keyId, k.loaded])).toEqual([[keyId, true]]);
    await ok.close();
  });
});
