import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { eventsFor, type WebhookEvent } from '../../src/core/outbox.js';
import { OPERATIONS, transition } from '../../src/core/state.js';
import { ReauthorizationRequired } from '../../src/errors.js';
import type { ConnectionRecord, ConnectionStatus } from '../../src/store/store.js';
import { apiKeyFor, authorize, type World, world } from '../helpers/sim-baton.js';
import { record } from '../store/contract.js';

let w: World | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

async function drained(store: World['baton']['store']): Promise<WebhookEvent[]> {
  const pending = (await store.outbox?.pending(1000)) ?? [];
  await store.outbox?.remove(pending.map((e) => e.id));
  return pending.map((e) => JSON.parse(e.payload) as WebhookEvent);
}

describe('webhook events come from the core’s state transitions', () => {
  it('a library-only process writes every event with the change that caused it', async () => {
    w = await world({ sim: { consent: 'auto' } });
    const { baton } = w;
    expect(baton.outbox).toBe(true);
    await authorize(w, { provider: 'cronofy', connectionId: 'alice', params: { dataCenter: 'de' } });
    const created = await drained(baton.store);
    expect(created.map((e) => e.type)).toEqual(['connection.created']);
    expect(created[0]?.data.connection).toMatchObject({ id: 'alice', provider: 'cronofy', status: 'active' });

    // A transient failure recorded, then a refresh that succeeds: recovered.
    // Every attempt of one refresh fails (three by default).
    w.sim.failNext({ vendor: 'cronofy', endpoint: 'token', kind: 'status', status: 503, count: 3 });
    await expect(baton.refresh('alice', { force: true })).rejects.toThrow();
    expect((await baton.get('alice')).lastError).not.toBeNull();
    expect(await drained(baton.store)).toEqual([]);
    await new Promise((r) => setTimeout(r, 300)); // the per-connection cooldown
    await baton.refresh('alice', { force: true });
    const recovered = await drained(baton.store);
    expect(recovered.map((e) => e.type)).toEqual(['connection.recovered']);
    expect(recovered[0]?.data.error?.code).toBeDefined();

    // The provider refuses the grant: refresh_failed, from the refresher, no server involved.
    w.sim.revokeGrants({ vendor: 'cronofy' });
    await expect(baton.refresh('alice', { force: true })).rejects.toBeInstanceOf(ReauthorizationRequired);
    const failed = await drained(baton.store);
    expect(failed.map((e) => e.type)).toEqual(['connection.refresh_failed']);
    expect(failed[0]?.data.connection.status).toBe('needs_reauth');
    expect(failed[0]?.data.error?.code).toBe('reauthorization_required');
    // Refused again: no second event (needs_reauth is left only by a new authorization).
    await expect(baton.refresh('alice', { force: true })).rejects.toBeInstanceOf(ReauthorizationRequired);
    expect(await drained(baton.store)).toEqual([]);

    await authorize(w, { provider: 'cronofy', connectionId: 'alice', params: { dataCenter: 'de' } });
    const again = await drained(baton.store);
    expect(again.map((e) => [e.type, e.data.previousStatus])).toEqual([
      ['connection.reconnected', 'needs_reauth'],
    ]);

    await baton.revoke('alice');
    await baton.revoke('alice');
    expect((await drained(baton.store)).map((e) => e.type)).toEqual(['connection.revoked']);
    expect(await baton.remove('alice')).toBe(true);
    expect(await baton.remove('alice')).toBe(false);
    const removed = await drained(baton.store);
    expect(removed.map((e) => e.type)).toEqual(['connection.removed']);
    expect(removed[0]?.data.connection.id).toBe('alice');
  });

  it('events carry no secret', async () => {
    w = await world();
    const key = apiKeyFor(w, 'checkbook', { environment: 'sandbox' });
    await w.baton.connect({
      provider: 'checkbook',
      connectionId: 'cb',
      params: { environment: 'sandbox' },
      credentials: { apiKey: key.apiKey, apiSecret: key.apiSecret as string },
    });
    await authorize(w, { provider: 'cronofy', connectionId: 'bob' });
    const tokens = (await w.baton.reveal('bob')).tokens;
    const text = JSON.stringify(await w.baton.store.outbox?.pending(100));
    expect(text).toContain('connection.created');
    for (const s of [key.apiKey, key.apiSecret, tokens?.accessToken, tokens?.refreshToken])
      expect(text).not.toContain(s as string);
  });

  it('outbox: false writes none', async () => {
    w = await world({ baton: { outbox: false } });
    await authorize(w, { provider: 'cronofy', connectionId: 'carol' });
    await w.baton.remove('carol');
    expect(await w.baton.store.outbox?.pending(10)).toEqual([]);
  });
});

describe('eventsFor (property over the state machine)', () => {
  const statuses: (ConnectionStatus | 'absent')[] = ['absent', 'active', 'needs_reauth', 'revoked'];
  it('every event matches a transition the state machine allows, and no-op transitions say nothing', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...statuses),
        fc.constantFrom(...OPERATIONS),
        fc.boolean(),
        fc.boolean(),
        (from, op, hadError, keepsError) => {
          const to = transition(from, op);
          if (to === null) return;
          const current: ConnectionRecord | null =
            from === 'absent'
              ? null
              : record({
                  status: from,
                  version: 3,
                  lastError: hadError ? { code: 'network_error', message: 'x', at: 1 } : null,
                });
          const next = record({
            id: current?.id ?? 'new',
            status: to,
            version: (current?.version ?? 0) + 1,
            lastError: keepsError ? { code: 'e', message: 'y', at: 2 } : null,
          });
          const types = eventsFor(op, current, next, 5).map((e) => e.type);
          expect(types.length).toBeLessThanOrEqual(1);
          const type = types[0];
          if (type === 'connection.created') expect(from).toBe('absent');
          if (type === 'connection.reconnected') expect(from).not.toBe('absent');
          if (type === 'connection.refresh_failed') expect([from, to]).toEqual(['active', 'needs_reauth']);
          if (type === 'connection.revoked') expect(from).not.toBe('revoked');
          if (type === 'connection.recovered')
            expect(hadError && !keepsError && op === 'commit_tokens').toBe(true);
          if (op === 'authorize') expect(type).toBeDefined();
          if (['record_error', 'learn_base', 'identify', 'spend'].includes(op)) expect(type).toBeUndefined();
        },
      ),
    );
  });
});
