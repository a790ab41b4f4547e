import { BatonError, SecretKeyError } from '../errors.js';
import { type Sealer, sealedKeyId } from '../store/sealer.js';
import type { ConnectionRecord, KeyUsage } from '../store/store.js';
import { pendingBinding } from './authorization.js';
import type { CoreContext } from './context.js';
import { registrationBinding } from './registered-clients.js';
import { openSecrets, sealSecrets } from './secrets.js';
import { WriteRefused, writeConnections } from './write-path.js';

export interface RekeyOptions {
  /** Rows read and written per batch. Default 500. */
  batchSize?: number;
  /** After each batch. */
  onProgress?: (progress: RekeyProgress) => void;
  /** Stops between batches; a later run resumes with what is still sealed under other keys. */
  signal?: AbortSignal;
}

export interface RekeyProgress {
  /** The old key whose rows are being re-sealed. */
  keyId: string;
  /** Rows looked at so far, of `total` sealed under other keys when the run began. */
  done: number;
  total: number;
  rekeyed: number;
  failed: number;
}

export interface RekeyFailure {
  kind: 'connection' | 'pending_authorization' | 'client_registration';
  /** The connection id, or the pending authorization's connection id. */
  id: string;
  keyId: string | null;
  code: string;
  message: string;
}

export interface RekeyResult {
  /** The key everything is sealed under now. */
  keyId: string;
  /** Connections re-sealed under it. */
  rekeyed: number;
  pendingRekeyed: number;
  /** Clients Baton registered itself (docs/architecture.md, "MCP") re-sealed under it. */
  registrationsRekeyed: number;
  /** Rows that were removed, taken or re-sealed by another writer before this run reached them. */
  unchanged: number;
  failed: RekeyFailure[];
  /** What the store holds under other keys once the run is over (the final verification). */
  remaining: KeyUsage[];
  /** Nothing is left under another key. */
  verified: boolean;
  durationMs: number;
}

/** What the store's rows are sealed under, beside the keys this process holds. */
export interface KeyState {
  current: string;
  loaded: string[];
  inUse: (KeyUsage & { loaded: boolean })[];
}

export async function keyState(ctx: CoreContext): Promise<KeyState> {
  const usage = await ctx.store.keyUsage();
  return {
    current: ctx.sealer.keyId,
    loaded: ctx.sealer.keyIds,
    inUse: usage.map((u) => ({ ...u, loaded: ctx.sealer.hasKey(u.keyId) })),
  };
}

const BATCH = 500;

/**
 * Re-seals every connection and pending authorization under the current key, online: each
 * connection through the write path (a compare-and-swap, so a refresh committed meanwhile is
 * never written over — its row is re-read, and already sealed under the new key by a process
 * that has it), each pending authorization by a compare-and-swap on its blob. Readers keep
 * working throughout through the previous keys they load (`BATON_SECRET_KEY_PREVIOUS`).
 * It walks the rows of each old key id in id order from the store's key index, so a run
 * interrupted anywhere is resumed by running it again; rows it cannot open are reported and
 * left as they are. It ends by asking the store what is still sealed under other keys.
 */
export async function rekey(ctx: CoreContext, options: RekeyOptions = {}): Promise<RekeyResult> {
  const started = performance.now();
  const current = ctx.sealer.keyId;
  const limit = options.batchSize ?? BATCH;
  const old = (await ctx.store.keyUsage()).filter((k) => k.keyId !== current);
  const total = old.reduce((n, k) => n + k.connections + k.pendingAuthorizations + k.clientRegistrations, 0);
  const result: Omit<RekeyResult, 'remaining' | 'verified' | 'durationMs'> = {
    keyId: current,
    rekeyed: 0,
    pendingRekeyed: 0,
    registrationsRekeyed: 0,
    unchanged: 0,
    failed: [],
  };
  let done = 0;
  const report = (keyId: string) =>
    options.onProgress?.({
      keyId,
      done,
      total,
      rekeyed: result.rekeyed + result.pendingRekeyed + result.registrationsRekeyed,
      failed: result.failed.length,
    });
  const fail = (kind: RekeyFailure['kind'], id: string, keyId: string | null, error: unknown) =>
    result.failed.push({
      kind,
      id,
      keyId,
      code: error instanceof BatonError ? error.code : 'error',
      message: error instanceof Error ? error.message : String(error),
    });

  const reseal = (record: ConnectionRecord): ConnectionRecord | null => {
    if (sealedKeyId(record.sealed) === current) return null;
    return { ...record, sealed: sealSecrets(ctx.sealer, record, openSecrets(ctx.sealer, record)) };
  };

  for (const { keyId } of old) {
    for (let after: string | undefined; !options.signal?.aborted; ) {
      const page = await ctx.store.list({ keyId, limit, ...(after !== undefined ? { after } : {}) });
      if (page.length === 0) break;
      const out = await writeConnections(ctx, 'rekey', page, reseal);
      result.rekeyed += out.written.length;
      result.unchanged += out.unchanged.length;
      for (const f of out.failed) {
        // A connection removed meanwhile needs nothing; every other refusal is reported.
        if (f.error instanceof WriteRefused && f.error.reason === 'removed') result.unchanged++;
        else fail('connection', f.id, keyId, f.error);
      }
      done += page.length;
      after = (page[page.length - 1] as ConnectionRecord).id;
      report(keyId);
      if (page.length < limit) break;
    }
    for (let after: string | undefined; !options.signal?.aborted; ) {
      const page = await ctx.store.listPendingAuthorizations({
        keyId,
        limit,
        ...(after !== undefined ? { after } : {}),
      });
      if (page.length === 0) break;
      for (const pending of page) {
        try {
          const binding = pendingBinding(pending);
          const sealed = ctx.sealer.seal(ctx.sealer.open(pending.sealed, binding), binding);
          if (await ctx.store.resealPendingAuthorization(pending.state, pending.sealed, sealed))
            result.pendingRekeyed++;
          else result.unchanged++;
        } catch (error) {
          fail(
            'pending_authorization',
            pending.connectionId,
            keyId,
            error instanceof SecretKeyError
              ? new SecretKeyError(
                  `The pending authorization of "${pending.connectionId}" could not be opened: ${error.message}`,
                )
              : error,
          );
        }
      }
      done += page.length;
      after = page[page.length - 1]?.state;
      report(keyId);
      if (page.length < limit) break;
    }
  }
  // The client registrations: a handful, one per authorization server; each a compare-and-swap.
  const registrations = ctx.store.clientRegistrations;
  const toReseal =
    registrations && old.some((k) => k.clientRegistrations > 0) ? await registrations.list() : [];
  for (const row of toReseal) {
    if (!registrations) break;
    const keyId = sealedKeyId(row.sealed);
    if (keyId === current || options.signal?.aborted) continue;
    try {
      const binding = registrationBinding(row);
      const sealed = ctx.sealer.seal(ctx.sealer.open(row.sealed, binding), binding);
      const written = await registrations.put({ ...row, sealed, updatedAt: ctx.clock.now() }, row.version);
      if (written) result.registrationsRekeyed++;
      else result.unchanged++;
    } catch (error) {
      fail('client_registration', row.issuer, keyId, error);
    }
    done++;
    report(keyId ?? current);
  }
  const remaining = (await ctx.store.keyUsage()).filter((k) => k.keyId !== current);
  return {
    ...result,
    remaining,
    verified: remaining.length === 0,
    durationMs: performance.now() - started,
  };
}

/**
 * The check at open: a store whose rows are sealed only under keys this process does not hold
 * cannot be used, and saying so names the keys it needs (rather than failing row by row later).
 */
export function assertKeysLoaded(sealer: Sealer, inUse: readonly string[]): void {
  if (inUse.length === 0 || inUse.some((k) => sealer.hasKey(k))) return;
  throw new SecretKeyError(
    `The store's connections are sealed under ${inUse.length === 1 ? 'key' : 'keys'} ${inUse.join(', ')}, and none of them is loaded (loaded: ${sealer.keyIds.join(', ')}).`,
    {
      remediation: `Set BATON_SECRET_KEY (or the key file) to the key with id ${inUse[0]}, or add it to BATON_SECRET_KEY_PREVIOUS while rotating; \`baton doctor\` shows the id of a key.`,
    },
  );
}
