import type { ConnectionRecord, Store } from './store.js';

interface BulkStore extends Store {
  putMany(records: ConnectionRecord[], overwrite: boolean): Promise<number>;
}

function hasBulk(store: Store): store is BulkStore {
  return typeof (store as Partial<BulkStore>).putMany === 'function';
}

const BATCH = 500;

/**
 * Copies every connection from one store to another. Sealed blobs move untouched (the same key
 * opens them in the target). Ids already in the target are skipped unless `overwrite`, so a
 * second run copies nothing and an interrupted run can simply be run again.
 */
export async function migrateStore(
  from: Store,
  to: Store,
  opts: { onProgress?: (done: number, total: number) => void; overwrite?: boolean } = {},
): Promise<{ copied: number; skipped: number }> {
  const records = await from.list();
  const overwrite = opts.overwrite ?? false;
  let copied = 0;
  let done = 0;
  for (let i = 0; i < records.length; i += BATCH) {
    const batch = records.slice(i, i + BATCH);
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
    opts.onProgress?.(done, records.length);
  }
  return { copied, skipped: records.length - copied };
}
