import type { ConnectionStatus } from '../store/store.js';

/**
 * The connection as a state machine (README, "The connection's states"). Every write of a
 * connection names the operation it performs; `transition` says whether that operation may
 * start from the stored status and which status it leaves. `needs_reauth` and `revoked` are
 * left only by a new authorization.
 */
export type Operation =
  /** A new authorization, static credentials or client credentials: creates or replaces. */
  | 'authorize'
  /** Tokens from a refresh (or a re-granted client-credentials token). */
  | 'commit_tokens'
  /** A failed refresh that leaves the connection usable: lastError only. */
  | 'record_error'
  /** The provider refused the grant. */
  | 'needs_reauth'
  | 'revoke'
  /** A base URL learned from a permanent redirect. */
  | 'learn_base'
  /** What the identity endpoint says about the account. */
  | 'identify'
  /** A single-use access token handed out for its one request. */
  | 'spend'
  /** `connection.expiring` noted as emitted for the grant (its absolute end is near). */
  | 'note_expiring'
  /** The same secrets sealed again under the current key (`rekey`). */
  | 'rekey';

type From = ConnectionStatus | 'absent';

const RULES: Record<Operation, { from: readonly From[]; to: ConnectionStatus | 'same' }> = {
  authorize: { from: ['absent', 'active', 'needs_reauth', 'revoked'], to: 'active' },
  commit_tokens: { from: ['active'], to: 'active' },
  record_error: { from: ['active', 'needs_reauth'], to: 'same' },
  needs_reauth: { from: ['active'], to: 'needs_reauth' },
  revoke: { from: ['active', 'needs_reauth', 'revoked'], to: 'revoked' },
  learn_base: { from: ['active'], to: 'same' },
  identify: { from: ['active'], to: 'same' },
  spend: { from: ['active'], to: 'same' },
  note_expiring: { from: ['active'], to: 'same' },
  rekey: { from: ['active', 'needs_reauth', 'revoked'], to: 'same' },
};

/** The status `op` leaves when it starts from `from`, or null when the operation may not run. */
export function transition(from: From, op: Operation): ConnectionStatus | null {
  const rule = RULES[op];
  if (!rule.from.includes(from)) return null;
  if (rule.to !== 'same') return rule.to;
  return from === 'absent' ? null : from;
}

export const OPERATIONS = Object.keys(RULES) as Operation[];
