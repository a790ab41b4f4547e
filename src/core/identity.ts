import type { AccountInfo } from '../store/store.js';
import type { FacadeParts } from './connect.js';
import { WriteRefused, writeConnection } from './write-path.js';

/**
 * Calls the provider's identity endpoint, stores what it says about the account, and returns
 * the parsed body. Used by `baton connect` and `baton doctor` to show who a connection is.
 */
export async function identify(
  parts: FacadeParts,
  id: string,
): Promise<{ account: AccountInfo | null; body: unknown; status: number }> {
  const { ctx } = parts;
  const conn = await parts.tokens.connection(id);
  const path = conn.spec.identityPath;
  if (!path) return { account: conn.record.account, body: null, status: 0 };
  const res = await parts.fetch(id, path, {
    method: conn.spec.identityMethod ?? 'GET',
    headers: { accept: 'application/json' },
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: keep the text.
  }
  const account = res.ok ? { ...(conn.record.account ?? {}), ...accountFromBody(body) } : null;
  if (account && Object.keys(account).length > 0) {
    await writeConnection(ctx, id, 'identify', (r) => (r ? { ...r, account } : null)).catch(
      (err: unknown) => {
        if (!(err instanceof WriteRefused)) throw err;
      },
    );
  }
  return { account, body, status: res.status };
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : typeof v === 'number' ? String(v) : undefined;
}

/** The few fields identity endpoints agree on, wherever they nest them. */
export function accountFromBody(body: unknown): AccountInfo {
  const out: AccountInfo = {};
  const visit = (v: unknown, depth: number): void => {
    if (!v || typeof v !== 'object' || depth > 2) return;
    const o = v as Record<string, unknown>;
    out.id ??= str(o['account_id']) ?? str(o['sub']) ?? str(o['user_id']) ?? str(o['id']);
    out.email ??= str(o['email']);
    out.name ??= str(o['name']) ?? str(o['company']) ?? str(o['host_id']);
    for (const child of Object.values(o)) visit(child, depth + 1);
  };
  visit(body, 0);
  for (const k of Object.keys(out) as (keyof AccountInfo)[]) if (out[k] === undefined) delete out[k];
  return out;
}
