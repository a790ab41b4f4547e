import { setTimeout as sleep } from 'node:timers/promises';
import { StoreError } from '../../src/errors.js';
import type { Store } from '../../src/store/store.js';
import type { Rng } from './rng.js';

/**
 * One model "process"'s view of the shared store. Before each call it waits a seeded few
 * milliseconds (so the read-modify-writes of different instances interleave differently per
 * seed), `failPuts` refuses that many writes, and `crash()` makes it a dead process's
 * connection: every later call (including ones already waiting) rejects, and nothing more
 * reaches the store. Change feeds are passed through.
 */
export interface ModelStoreControl {
  /** The store to hand to Baton.open. */
  readonly store: Store;
  readonly inner: Store;
  failPuts: number;
  /** While true every call rejects, as a database that went away would; it can come back. */
  down: boolean;
  readonly dead: boolean;
  crash(): void;
}

const ASYNC_CALLS = new Set([
  'get',
  'list',
  'put',
  'delete',
  'acquireLease',
  'releaseLease',
  'savePendingAuthorization',
  'takePendingAuthorization',
  'count',
  'due',
  'putBatch',
  'keyIds',
  'keyUsage',
  'listPendingAuthorizations',
  'resealPendingAuthorization',
]);

/**
 * A Proxy rather than a class, so methods the Store interface gains later are passed through
 * (gated by `crash()`) without changing this file.
 */
export function modelStore(inner: Store, jitter: Rng): ModelStoreControl {
  let dead = false;
  const lost = () =>
    new StoreError(
      control.down ? 'store is down (model fault)' : 'store connection lost: the process crashed (model)',
    );
  const control = {
    inner,
    failPuts: 0,
    down: false,
    get dead() {
      return dead;
    },
    crash() {
      dead = true;
    },
  } as ModelStoreControl;
  async function gate(): Promise<void> {
    if (dead || control.down) throw lost();
    const r = jitter.next();
    if (r < 0.5) await new Promise<void>((resolve) => setImmediate(resolve));
    else if (r < 0.8) await sleep(Math.floor(r * 4));
    if (dead || control.down) throw lost();
  }
  const wrapped = new Map<PropertyKey, unknown>();
  const store = new Proxy(inner, {
    get(target, prop) {
      // Getters run on the real store: engines keep their state in private fields.
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      let w = wrapped.get(prop);
      if (w) return w;
      const fn = (value as (...a: unknown[]) => unknown).bind(target);
      if (prop === 'close')
        w = async () => undefined; // the harness closes the inner store
      else if (prop === 'subscribe')
        w = (listener: (id: string, version: number) => void) =>
          fn((id: string, version: number) => {
            if (!dead) listener(id, version);
          });
      else if (typeof prop === 'string' && ASYNC_CALLS.has(prop))
        w = async (...args: unknown[]) => {
          await gate();
          if ((prop === 'put' || prop === 'putBatch') && control.failPuts > 0) {
            control.failPuts--;
            throw new StoreError('write refused (model fault)');
          }
          return fn(...args);
        };
      // Other methods (a store's identity, say) answer even while the database is down.
      else
        w = (...args: unknown[]) => {
          if (dead) throw lost();
          return fn(...args);
        };
      wrapped.set(prop, w);
      return w;
    },
  });
  Object.defineProperty(control, 'store', { value: store });
  return control;
}
