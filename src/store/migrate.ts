import type { ConnectionRecord, Store } from './store.js';

interface BulkStore extends Store {
  putMany(records: ConnectionRecord[], overwrite: boolean): Promise<number>;
}

function hasBulk(store: Store): store is BulkStore {
  return typeof (store as Partial<BulkStore>).putMany === 'function';
}

const BATCH = 500;

export interface MigrateOptions {
  /** Replace connections that already exist in the target. */
  overwrite?: boolean;
  /** Connections read and written per batch. Default 500. */
  batchSize?: number;
  /** Start after this id: where an interrupted run stopped (the `lastId` of its last progress). */
  after?: string;
  /**
   * After each batch is stored: how many of the `total` to copy (from `after`) are done, the
   * last id of the batch (where a run interrupted from here on resumes), and this run's counts.
   */
  onProgress?: (
    done: number,
    total: number,
    lastId: string,
    counts: { copied: number; skipped: number },
  ) => void;
}

/**
 * Copies every connection from one store to another, in id order, one page at a time (memory
 * holds one batch, whatever the size of the store). Sealed blobs move untouched (the same key
 * opens them in the target). Ids already in the target are skipped unless `overwrite`, so a
 * second run copies nothing, and a run interrupted after a batch resumes `after` its last id.
 * The clients Baton registered itself (one per issuer) go first, so no connection arrives
 * without its client.
 */
export async function migrateStore(
  from: Store,
  to: Store,
  opts: MigrateOptions = {},
): Promise<{ copied: number; skipped: number }> {
  const overwrite = opts.overwrite ?? false;
  const limit = opts.batchSize ?? BATCH;
  for (const reg of (await from.clientRegistrations?.list()) ?? []) {
    const existing = await to.clientRegistrations?.get(reg.issuer);
    if (!existing) await to.clientRegistrations?.put(reg, null);
    else if (overwrite) await to.clientRegistrations?.put(reg, existing.version);
  }
  const total = await from.count(opts.after !== undefined ? { after: opts.after } : {});
  let copied = 0;
  let done = 0;
  let after = opts.after;
  for (;;) {
    const batch = await from.list({ limit, ...(after !== undefined ? { after } : {}) });
    if (batch.length === 0) break;
    if (hasBulk(to)) {
      copied += await to.putMany(batch, overwrite);
    } else {
      for (const r of batch) {
        const existing = await to.get(r.id);
        if (!existing) {
          if (await to.put(r, null)) copied++;
        } else if (overwrite && (await to.put(r, existing.version))) {
          copied++;
        }
      }
    }
    done += batch.length;
    after = (batch[batch.length - 1] as ConnectionRecord).id;
    // Connections created in the source meanwhile are copied too: the total grows with them.
    opts.onProgress?.(done, Math.max(total, done), after, { copied, skipped: done - copied });
    if (batch.length < limit) break;
  }
  return { copied, skipped: done - copied };
}
