/**
 * The commit of a rotated pair goes straight onto the record read under the lease (no read
 * between the token endpoint's answer and the compare-and-swap). These pin what that must not
 * change (docs/architecture.md, invariant 7): a write someone made meanwhile loses nothing, and a newer pair
 * is never written over. On every engine.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/store.js';
import { authorize, type World, world } from '../helpers/sim-baton.js';
import { dropSchema, PG_URL, uniqueSchema } from '../store/pg.js';

const HOUR = 3_600_000;
const ENGINES = [
  { name: 'memory', enabled: true },
  { name: 'sqlite', enabled: true },
  { name: 'postgres', enabled: Boolean(PG_URL) },
] as const;

/** Runs `write` against the store when the provider has rotated and holds its answer back. */
function whileTheAnswerIsHeld(w: World, write: () => Promise<void>): Promise<void> {
  w.sim.failNext({ vendor: 'cronofy', endpoint: 'token', kind: 'slow-answer', delayMs: 300 });
  return new Promise((resolve, reject) => {
    const untap = w.sim.tap((phase, info) => {
      if (info.endpoint !== 'token' || phase !== 'request') return;
      untap();
      write().then(resolve, reject);
    });
  });
}

for (const engine of ENGINES) {
  describe.skipIf(!engine.enabled)(`the commit of a rotated pair on ${engine.name}`, () => {
    let w: World;
    let schema: string | null = null;
    beforeEach(async () => {
      let store: Store | string | undefined;
      if (engine.name === 'memory') store = new MemoryStore();
      if (engine.name === 'postgres') {
        schema = uniqueSchema();
        const u = new URL(PG_URL as string);
        u.searchParams.set('schema', schema);
        store = u.toString();
      }
      w = await world({ sim: { cronofyRotation: 'always' }, baton: store ? { store } : {} });
      await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
      w.sim.clock.advance(HOUR + 5_000);
    });
    afterEach(async () => {
      await w.close();
      if (schema) await dropSchema(schema);
      schema = null;
    });

    it('lands on a record another writer changed meanwhile, and keeps that writer’s change', async () => {
      const before = (await w.baton.reveal('alice')).tokens?.refreshToken;
      const written = whileTheAnswerIsHeld(w, async () => {
        // Another process records what it learned of the account; the tokens stay as they were.
        const record = await w.baton.store.get('alice');
        if (!record) throw new Error('alice is gone');
        const stored = await w.baton.store.put(
          { ...record, account: { ...record.account, name: 'Alice (renamed)' } },
          record.version,
        );
        expect(stored).not.toBeNull();
      });
      const token = await w.baton.getAccessToken('alice');
      await written;

      const info = await w.baton.get('alice');
      expect(info.status).toBe('active');
      expect(info.account?.name).toBe('Alice (renamed)');
      const secrets = await w.baton.reveal('alice');
      expect(secrets.tokens?.accessToken).toBe(token);
      expect(secrets.tokens?.refreshToken).not.toBe(before);
      expect(w.sim.tokenStatus(secrets.tokens?.refreshToken as string)).toBe('live');
    });

    it('never writes over a newer pair stored meanwhile: the caller gets that one, and the orphan is revoked', async () => {
      const other = await w.open();
      const written = whileTheAnswerIsHeld(w, async () => {
        // Another process authorizes the connection again while our refresh's answer is held.
        await authorize(w, { provider: 'cronofy', connectionId: 'alice' }, other);
      });
      const revokesBefore = w.sim.counters().revoke.cronofy ?? 0;
      const token = await w.baton.getAccessToken('alice');
      await written;

      const stored = await other.reveal('alice');
      expect(token).toBe(stored.tokens?.accessToken);
      expect(w.sim.tokenStatus(stored.tokens?.refreshToken as string)).toBe('live');
      expect((await w.baton.get('alice')).status).toBe('active');
      // The refresh token our refresh was given, which nobody will store, is revoked (RFC 7009).
      expect(w.sim.counters().revoke.cronofy ?? 0).toBe(revokesBefore + 1);
    });
  });
}
