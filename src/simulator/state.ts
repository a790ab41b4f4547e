import { createHmac, randomBytes } from 'node:crypto';
import type { VirtualClock } from './clock.js';
import type {
  Counters,
  Endpoint,
  Fault,
  RefreshReuse,
  Rotation,
  TokenInfo,
  TokenStatus,
  Vendor,
} from './types.js';
import { VENDORS } from './types.js';

/** The expiry of an access token that never expires on its own: far off, and a number in JSON. */
export const NEVER_EXPIRES = Number.MAX_SAFE_INTEGER;

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function hex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

export function alnum(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += ALNUM[b % ALNUM.length];
  return out;
}

/**
 * Credentials derived from a seed: the same seed gives the same client ids, secrets and API
 * keys at every start, so connections stored against one simulator still match after a
 * restart (`baton simulate --seed` / `--state`).
 */
export function seededCredentials(seed: string | undefined) {
  if (seed === undefined) return { hex, alnum };
  let n = 0;
  const bytes = (length: number): Buffer => {
    const out: Buffer[] = [];
    const label = n++;
    for (let i = 0; out.length * 32 < length; i++)
      out.push(createHmac('sha256', seed).update(`baton-simulator ${label} ${i}`).digest());
    return Buffer.concat(out).subarray(0, length);
  };
  return {
    hex: (length: number) => bytes(length).toString('hex'),
    alnum: (length: number) => {
      let out = '';
      for (const b of bytes(length)) out += ALNUM[b % ALNUM.length];
      return out;
    },
  };
}

/** The grants and tokens a state file keeps between starts (`baton simulate --state`). */
export interface SavedState {
  grants: Grant[];
  accessTokens: AccessToken[];
  refreshTokens: [string, string][];
  refreshHistory: [string, RefreshTokenRecord][];
  migrated: [string, string][];
  seq: number;
  /** What personas keep beyond grants and tokens (the MCP persona's registered clients), by persona. */
  personas?: Record<string, unknown>;
}

/** A persona's own part of the state file: what it saves, and how it takes it back. */
export interface PersonaState {
  save(): unknown;
  load(saved: unknown): void;
}

export interface Code {
  code: string;
  vendor: Vendor;
  /** company, environment or data center the code was issued for. */
  realm: string;
  clientId: string;
  redirectUri: string;
  account: string;
  scope: string;
  expiresAt: number;
  codeChallenge?: string;
  codeChallengeMethod?: string;
  /** Authorize-request parameters a vendor keeps with the code (access_type, prompt, expiring…). */
  extra?: Record<string, string>;
  used: boolean;
}

export interface Grant {
  id: string;
  vendor: Vendor;
  realm: string;
  clientId: string;
  account: string;
  scope: string;
  refreshToken: string | null;
  refreshExpiresAt: number | null;
  /** No refresh token of the grant works after this, however often it was refreshed. */
  refreshAbsoluteExpiresAt?: number | null;
  /** What happens to a refresh token once a rotation replaced it (see RefreshPolicy). */
  refreshPolicy?: RefreshPolicy;
  refreshes: number;
  revoked: boolean;
  /** Sequence numbers (see SimState.seq) of the grant's creation and revocation. */
  createdSeq: number;
  revokedSeq: number | null;
  /** The refresh token the last rotation replaced, and when (for the vendor's `RefreshReuse`). */
  previousRefreshToken?: string | null;
  previousReplacedAt?: number | null;
}

export interface AccessToken {
  token: string;
  grantId: string;
  expiresAt: number;
  singleUse: boolean;
  used: boolean;
  revoked: boolean;
  /** The expiry it was issued with; `expireAccessTokens` moves expiresAt, not this. */
  naturalExpiresAt: number;
  issuedSeq: number;
}

/**
 * What a grant's refresh tokens do after a rotation replaced them. Without a policy a replaced
 * token stops working at once.
 */
export interface RefreshPolicy {
  /**
   * A replaced refresh token still works for this long after its replacement (a grace or
   * leeway window), never past its own expiry.
   */
  previousUsableMs?: number;
  /** Presenting a replaced refresh token after that window revokes the whole grant (family revocation). */
  reuseRevokesGrant?: boolean;
}

/** A refresh token the simulator ever issued, kept after it stops working. */
export interface RefreshTokenRecord {
  grantId: string;
  issuedSeq: number;
  /** Why it stopped working: replaced by a rotation, or its grant was revoked. */
  retired: { reason: 'rotated' | 'revoked'; seq: number } | null;
  /** Virtual time it was issued, and when it dies unused (null: never). */
  issuedAt?: number;
  expiresAt?: number | null;
  /** A replaced token still works until then (RefreshPolicy.previousUsableMs). */
  usableUntil?: number | null;
}

/** What a presented refresh token is: the grant's current one, a replaced one still in its window, or neither. */
export type RefreshLookup =
  | { grant: Grant; current: boolean }
  | { reused: Grant }
  | { expired: Grant }
  | null;

/** Everything the vendors remember between requests. */
export class SimState {
  readonly clock: VirtualClock;
  /** Where client and API-key credentials come from: random, or derived from the seed. */
  readonly credentials: { hex(length: number): string; alnum(length: number): string };
  readonly codes = new Map<string, Code>();
  readonly grants = new Map<string, Grant>();
  readonly accessTokens = new Map<string, AccessToken>();
  readonly refreshTokens = new Map<string, string>(); // refresh token → grant id
  readonly migrated = new Map<string, string>(); // checkfront company → region
  /** Every refresh token ever issued, for introspection (`tokenStatus`). */
  readonly refreshHistory = new Map<string, RefreshTokenRecord>();
  /** Access-token lifetimes set by `setAccessTokenLifetime`, per vendor. */
  readonly accessLifetimeMs = new Map<Vendor, number>();
  /** What each vendor does with a replaced refresh token presented again (`setRefreshReuse`). */
  readonly refreshReuse = new Map<Vendor, RefreshReuse>();
  /** A counter every token event takes a number from, so events can be ordered. */
  seq = 0;
  cronofyRotation: Rotation;
  readonly cronofyRateLimit: { tokenRequestsPerMinute: number } | undefined;
  readonly codeLifetimeMs: number;
  readonly #rate = new Map<string, { windowStart: number; count: number }>();
  #faults: (Fault & { remaining: number })[] = [];
  counters: Counters = emptyCounters();
  readonly #personas = new Map<string, PersonaState>();
  /** Persona parts of a state file loaded before their persona was made. */
  #unclaimed: Record<string, unknown> = {};

  /** Keeps a persona's own state in the state file, loading what a file already holds for it. */
  keep(persona: string, part: PersonaState): void {
    this.#personas.set(persona, part);
    if (persona in this.#unclaimed) {
      part.load(this.#unclaimed[persona]);
      delete this.#unclaimed[persona];
    }
  }

  /** What a state file keeps. */
  save(): SavedState {
    const personas: Record<string, unknown> = { ...this.#unclaimed };
    for (const [name, part] of this.#personas) personas[name] = part.save();
    return {
      personas,
      grants: [...this.grants.values()],
      accessTokens: [...this.accessTokens.values()],
      refreshTokens: [...this.refreshTokens],
      refreshHistory: [...this.refreshHistory],
      migrated: [...this.migrated],
      seq: this.seq,
    };
  }

  load(saved: SavedState): void {
    for (const g of saved.grants ?? []) this.grants.set(g.id, g);
    for (const t of saved.accessTokens ?? []) this.accessTokens.set(t.token, t);
    for (const [k, v] of saved.refreshTokens ?? []) this.refreshTokens.set(k, v);
    for (const [k, v] of saved.refreshHistory ?? []) this.refreshHistory.set(k, v);
    for (const [k, v] of saved.migrated ?? []) this.migrated.set(k, v);
    this.seq = Math.max(this.seq, saved.seq ?? 0);
    for (const [name, part] of Object.entries(saved.personas ?? {})) {
      const persona = this.#personas.get(name);
      if (persona) persona.load(part);
      else this.#unclaimed[name] = part;
    }
  }

  constructor(
    clock: VirtualClock,
    opts: {
      cronofyRotation: Rotation;
      cronofyRateLimit: { tokenRequestsPerMinute: number } | undefined;
      codeLifetimeSeconds: number;
      seed?: string | undefined;
    },
  ) {
    this.clock = clock;
    this.credentials = seededCredentials(opts.seed);
    this.cronofyRotation = opts.cronofyRotation;
    this.cronofyRateLimit = opts.cronofyRateLimit;
    this.codeLifetimeMs = opts.codeLifetimeSeconds * 1000;
  }

  issueCode(c: Omit<Code, 'code' | 'expiresAt' | 'used'>, length = 30): Code {
    const code: Code = {
      ...c,
      code: alnum(length),
      expiresAt: this.clock.now() + this.codeLifetimeMs,
      used: false,
    };
    this.codes.set(code.code, code);
    return code;
  }

  /** A code exactly once, for the client and redirect URI it was issued to, within its lifetime. */
  redeemCode(
    vendor: Vendor,
    realm: string,
    code: string | undefined,
    clientId: string,
    redirectUri: string | undefined,
  ): Code | string {
    const c = code ? this.codes.get(code) : undefined;
    if (!c || c.vendor !== vendor || c.realm !== realm) return 'The authorization code is unknown.';
    if (c.used) return 'The authorization code has already been used.';
    c.used = true;
    if (c.expiresAt <= this.clock.now()) return 'The authorization code has expired.';
    if (c.clientId !== clientId) return 'The authorization code was issued to another client.';
    if (redirectUri !== undefined && redirectUri !== c.redirectUri)
      return 'The redirect_uri does not match the one the code was issued for.';
    return c;
  }

  newGrant(
    g: Omit<
      Grant,
      'id' | 'refreshes' | 'revoked' | 'refreshToken' | 'refreshExpiresAt' | 'createdSeq' | 'revokedSeq'
    >,
  ): Grant {
    const grant: Grant = {
      ...g,
      id: hex(8),
      refreshes: 0,
      revoked: false,
      refreshToken: null,
      refreshExpiresAt: null,
      createdSeq: ++this.seq,
      revokedSeq: null,
    };
    this.grants.set(grant.id, grant);
    return grant;
  }

  setRefreshToken(grant: Grant, token: string | null, lifetimeMs: number | null): void {
    const now = this.clock.now();
    if (grant.refreshToken && grant.refreshToken !== token) {
      this.refreshTokens.delete(grant.refreshToken);
      this.#retire(grant.refreshToken, 'rotated');
      const previous = this.refreshHistory.get(grant.refreshToken);
      const window = grant.refreshPolicy?.previousUsableMs;
      if (previous && window !== undefined && window > 0)
        previous.usableUntil = Math.min(now + window, previous.expiresAt ?? Number.POSITIVE_INFINITY);
      grant.previousRefreshToken = grant.refreshToken;
      grant.previousReplacedAt = this.clock.now();
    }
    grant.refreshToken = token;
    grant.refreshExpiresAt = token && lifetimeMs !== null ? now + lifetimeMs : null;
    if (token) {
      this.refreshTokens.set(token, grant.id);
      const record = this.refreshHistory.get(token);
      if (!record)
        this.refreshHistory.set(token, {
          grantId: grant.id,
          issuedSeq: ++this.seq,
          retired: null,
          issuedAt: now,
          expiresAt: grant.refreshExpiresAt,
        });
      else record.expiresAt = grant.refreshExpiresAt;
    }
  }

  /** Ends the window of every replaced refresh token of the grant (Shopify: the replacement was used). */
  endPreviousRefreshTokens(grantId: string): void {
    const now = this.clock.now();
    for (const r of this.refreshHistory.values())
      if (r.grantId === grantId && r.usableUntil != null && r.usableUntil > now) r.usableUntil = now;
  }

  /** Revokes the oldest live grants of the same vendor, client and account beyond `cap` (Google's limit). */
  capRefreshTokens(grant: Grant, cap: number): void {
    const now = this.clock.now();
    const live = [...this.grants.values()]
      .filter(
        (g) =>
          !g.revoked &&
          g.refreshToken !== null &&
          (g.refreshExpiresAt === null || g.refreshExpiresAt > now) &&
          (g.refreshAbsoluteExpiresAt == null || g.refreshAbsoluteExpiresAt > now) &&
          g.vendor === grant.vendor &&
          g.clientId === grant.clientId &&
          g.account === grant.account,
      )
      .sort((a, b) => a.createdSeq - b.createdSeq);
    for (const g of live.slice(0, Math.max(0, live.length - cap))) this.revokeGrant(g);
  }

  #retire(token: string, reason: 'rotated' | 'revoked'): void {
    const r = this.refreshHistory.get(token);
    if (r && !r.retired) r.retired = { reason, seq: ++this.seq };
  }

  /** `lifetimeMs` null: a token that never expires on its own (its expiresAt is NEVER_EXPIRES). */
  issueAccessToken(grant: Grant, token: string, lifetimeMs: number | null, singleUse = false): AccessToken {
    const expiresAt = lifetimeMs === null ? NEVER_EXPIRES : this.clock.now() + lifetimeMs;
    const t: AccessToken = {
      token,
      grantId: grant.id,
      expiresAt,
      singleUse,
      used: false,
      revoked: false,
      naturalExpiresAt: expiresAt,
      issuedSeq: ++this.seq,
    };
    this.accessTokens.set(token, t);
    return t;
  }

  /** Kills every access token of the grant (Checkfront: a refresh invalidates the old pair). */
  revokeAccessTokensOf(grantId: string): void {
    for (const t of this.accessTokens.values()) if (t.grantId === grantId) t.revoked = true;
  }

  /**
   * The live grant a refresh token names. For a refresh (`use`), the vendor's `RefreshReuse`
   * applies to a token a rotation replaced: within its grace it names its grant still (the
   * vendor then rotates again), outside it is refused and, with `revokesFamily`, revokes the
   * grant; presenting the current token ends an `until-new-used` grace. Otherwise the grant's
   * own refresh policy decides (lookupRefreshToken).
   */
  grantByRefreshToken(vendor: Vendor, realm: string, token: string | undefined, use = false): Grant | null {
    const reuse = this.refreshReuse.get(vendor);
    if (use && reuse && token && !this.refreshTokens.has(token))
      return this.#replaced(vendor, realm, token, reuse);
    const found = this.lookupRefreshToken(vendor, realm, token);
    const g = found && 'grant' in found ? found.grant : null;
    if (g && use && reuse?.graceSeconds === 'until-new-used') g.previousRefreshToken = null;
    return g;
  }

  /**
   * A presented refresh token: the grant's current one, or a replaced one inside its window
   * (`current: false`); one past its own or the grant's absolute expiry is `expired`; any other
   * replaced one is `reused` (and, under a family-revocation policy, its grant is revoked here).
   */
  lookupRefreshToken(vendor: Vendor, realm: string, token: string | undefined): RefreshLookup {
    if (!token) return null;
    const currentOf = this.refreshTokens.get(token);
    const record = this.refreshHistory.get(token);
    const g = this.grants.get(currentOf ?? record?.grantId ?? '');
    if (!g || g.vendor !== vendor || g.realm !== realm || g.revoked) return null;
    const now = this.clock.now();
    if (g.refreshAbsoluteExpiresAt != null && g.refreshAbsoluteExpiresAt <= now) return { expired: g };
    if (currentOf === g.id) {
      if (g.refreshExpiresAt !== null && g.refreshExpiresAt <= now) return { expired: g };
      return { grant: g, current: true };
    }
    if (record?.retired?.reason !== 'rotated') return null;
    if (record.usableUntil != null && record.usableUntil > now) return { grant: g, current: false };
    if (record.expiresAt != null && record.expiresAt <= now) return { expired: g };
    if (g.refreshPolicy?.reuseRevokesGrant) this.revokeGrant(g);
    return { reused: g };
  }

  /** A replaced refresh token presented for a refresh, by the vendor's `RefreshReuse`. */
  #replaced(vendor: Vendor, realm: string, token: string, reuse: RefreshReuse): Grant | null {
    const history = this.refreshHistory.get(token);
    const g = history ? this.grants.get(history.grantId) : undefined;
    if (!g || g.vendor !== vendor || g.realm !== realm || g.revoked || history?.retired?.reason !== 'rotated')
      return null;
    const replacedAt = g.previousReplacedAt ?? 0;
    const inGrace =
      g.previousRefreshToken === token &&
      (reuse.graceSeconds === 'until-new-used' || this.clock.now() - replacedAt <= reuse.graceSeconds * 1000);
    if (inGrace) return g;
    if (reuse.revokesFamily) this.revokeGrant(g);
    return null;
  }

  /** The grant behind a usable access token, consuming single-use tokens. */
  useAccessToken(vendor: Vendor, realm: string, token: string | null): Grant | null {
    const t = token ? this.accessTokens.get(token) : undefined;
    if (!t || t.revoked || t.expiresAt <= this.clock.now()) return null;
    const g = this.grants.get(t.grantId);
    if (!g || g.vendor !== vendor || g.realm !== realm || g.revoked) return null;
    if (t.singleUse) {
      if (t.used) return null;
      t.used = true;
    }
    return g;
  }

  /**
   * Ends the grant's refresh token alone: access tokens issued with it keep working until they
   * expire (HubSpot's refresh-token delete), and the grant can get no new one.
   */
  revokeRefreshToken(g: Grant): void {
    if (!g.refreshToken) return;
    this.refreshTokens.delete(g.refreshToken);
    this.#retire(g.refreshToken, 'revoked');
    g.refreshToken = null;
    g.refreshExpiresAt = null;
  }

  revokeGrant(g: Grant): void {
    if (!g.revoked) g.revokedSeq = ++this.seq;
    g.revoked = true;
    if (g.refreshToken) {
      this.refreshTokens.delete(g.refreshToken);
      this.#retire(g.refreshToken, 'revoked');
    }
    this.endPreviousRefreshTokens(g.id);
    this.revokeAccessTokensOf(g.id);
  }

  /** What became of a token this simulator issued, by its own records. */
  tokenInfo(token: string): TokenInfo {
    const now = this.clock.now();
    const access = this.accessTokens.get(token);
    if (access) {
      const g = this.grants.get(access.grantId);
      const status: TokenStatus =
        access.revoked || g?.revoked
          ? 'revoked'
          : access.expiresAt <= now
            ? 'expired'
            : access.singleUse && access.used
              ? 'used'
              : 'live';
      return {
        kind: 'access',
        status,
        grantId: access.grantId,
        issuedSeq: access.issuedSeq,
        expiresAt: access.expiresAt,
        naturalExpiresAt: access.naturalExpiresAt,
      };
    }
    const refresh = this.refreshHistory.get(token);
    if (refresh) {
      const g = this.grants.get(refresh.grantId);
      let status: TokenStatus = 'live';
      if (refresh.retired) status = refresh.retired.reason;
      else if (g?.revoked) status = 'revoked';
      else if (g?.refreshExpiresAt != null && g.refreshExpiresAt <= now) status = 'expired';
      else if (g?.refreshAbsoluteExpiresAt != null && g.refreshAbsoluteExpiresAt <= now) status = 'expired';
      return { kind: 'refresh', status, grantId: refresh.grantId, issuedSeq: refresh.issuedSeq };
    }
    return { kind: 'unknown', status: 'unknown' };
  }

  /** An access token's lifetime for a vendor: what `setAccessTokenLifetime` set, else the vendor's own. */
  accessLifetime(vendor: Vendor, vendorDefaultMs: number): number {
    return this.accessLifetimeMs.get(vendor) ?? vendorDefaultMs;
  }

  revokeGrants(filter: { vendor: Vendor; account?: string; clientId?: string }): number {
    let n = 0;
    for (const g of this.grants.values()) {
      if (g.revoked || g.vendor !== filter.vendor) continue;
      if (filter.account !== undefined && g.account !== filter.account) continue;
      if (filter.clientId !== undefined && g.clientId !== filter.clientId) continue;
      this.revokeGrant(g);
      n++;
    }
    return n;
  }

  expireAccessTokens(filter: { vendor?: Vendor } = {}): number {
    const now = this.clock.now();
    let n = 0;
    for (const t of this.accessTokens.values()) {
      const g = this.grants.get(t.grantId);
      if (filter.vendor && g?.vendor !== filter.vendor) continue;
      if (t.expiresAt > now) {
        t.expiresAt = now;
        n++;
      }
    }
    return n;
  }

  /** Token requests past the limit in the current virtual minute: seconds to wait, else null. */
  rateLimited(clientId: string): number | null {
    if (!this.cronofyRateLimit) return null;
    const now = this.clock.now();
    const w = this.#rate.get(clientId);
    if (!w || now - w.windowStart >= 60_000) {
      this.#rate.set(clientId, { windowStart: now, count: 1 });
      return null;
    }
    w.count++;
    if (w.count <= this.cronofyRateLimit.tokenRequestsPerMinute) return null;
    return Math.max(1, Math.ceil((w.windowStart + 60_000 - now) / 1000));
  }

  addFault(fault: Fault): void {
    this.#faults.push({ ...fault, remaining: fault.count ?? 1 });
  }

  takeFault(vendor: Vendor, endpoint: Endpoint): Fault | null {
    const f = this.#faults.find((x) => x.vendor === vendor && x.endpoint === endpoint && x.remaining > 0);
    if (!f) return null;
    f.remaining--;
    this.#faults = this.#faults.filter((x) => x.remaining > 0);
    return f;
  }

  countToken(vendor: Vendor, grantType: string, clientId: string): void {
    const c = this.counters.token[vendor];
    c.total++;
    c.byGrant[grantType] = (c.byGrant[grantType] ?? 0) + 1;
    c.byClient[clientId] = (c.byClient[clientId] ?? 0) + 1;
  }
}

export function emptyCounters(): Counters {
  const per = <T>(f: () => T) => Object.fromEntries(VENDORS.map((v) => [v, f()])) as Record<Vendor, T>;
  return {
    token: per(() => ({ total: 0, byGrant: {}, byClient: {} })),
    api: per(() => 0),
    revoke: per(() => 0),
  };
}
