import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { SecretKeyError } from '../errors.js';

export interface SecretKey {
  /** First 8 hex characters of SHA-256(key): names the key in sealed blobs without revealing it. */
  id: string;
  key: Buffer;
}

/**
 * What a sealed blob belongs to. Opening it under any other identity fails (docs/architecture.md, invariants
 * 4 and 9): the connection's id, provider, params and client, and the fields that decide where
 * its credentials are sent (auth mode, learned API base).
 */
export interface SealBinding {
  id: string;
  provider: string;
  params: Record<string, string>;
  clientId: string | null;
  authMode?: string | undefined;
  apiBaseUrl?: string | null | undefined;
}

/** v2 binds auth mode and learned API base too; v1 blobs (written before) still open. */
const VERSION = 'v2';
const READABLE = new Set(['v1', 'v2']);

export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

/** Canonical JSON of the binding (params sorted) used as AES-GCM additional data. */
function aad(binding: SealBinding, version: string): Buffer {
  const params = Object.fromEntries(
    Object.entries(binding.params).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  const base = [binding.id, binding.provider, params, binding.clientId];
  if (version === 'v1') return Buffer.from(JSON.stringify(base));
  return Buffer.from(JSON.stringify([2, ...base, binding.authMode ?? null, binding.apiBaseUrl ?? null]));
}

/** The format version of a sealed blob (`v1`, `v2`), or null when it is not one. */
export function sealVersion(sealed: string): string | null {
  const v = sealed.slice(0, sealed.indexOf('.'));
  return READABLE.has(v) ? v : null;
}

/**
 * The key id a sealed blob names (`v2.<key id>.…`), or null when it is not a blob this version
 * reads. Stores index it, so `rekey` and the check at open find rows by key without opening them.
 */
export function sealedKeyId(sealed: string): string | null {
  const m = /^(v[0-9]+)\.([^.]+)\./.exec(sealed);
  return m && READABLE.has(m[1] as string) ? (m[2] as string) : null;
}

/**
 * AES-256-GCM with a random 96-bit IV per seal. The blob names its key id so keys can rotate:
 * blobs sealed under a previous key still open, and every write seals under the current key.
 */
export class Sealer {
  readonly #current: SecretKey;
  readonly #keys: Map<string, SecretKey>;

  constructor(keys: { current: SecretKey; previous?: SecretKey[] }) {
    this.#current = keys.current;
    this.#keys = new Map([keys.current, ...(keys.previous ?? [])].map((k) => [k.id, k]));
  }

  get keyId(): string {
    return this.#current.id;
  }

  /** Whether blobs sealed under `keyId` open here (the current key or a previous one). */
  hasKey(keyId: string): boolean {
    return this.#keys.has(keyId);
  }

  /** The ids of every loaded key, the current one first. */
  get keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  seal(value: unknown, binding: SealBinding): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#current.key, iv);
    cipher.setAAD(aad(binding, VERSION));
    const body = Buffer.concat([
      cipher.update(JSON.stringify(value), 'utf8'),
      cipher.final(),
      cipher.getAuthTag(),
    ]);
    return `${VERSION}.${this.#current.id}.${iv.toString('base64url')}.${body.toString('base64url')}`;
  }

  open<T = Record<string, unknown>>(sealed: string, binding: SealBinding): T {
    const parts = sealed.split('.');
    if (parts.length !== 4 || !READABLE.has(parts[0] as string)) {
      throw new SecretKeyError('The sealed secrets are not in a format this version of Baton reads.');
    }
    const [version, keyId, ivText, bodyText] = parts as [string, string, string, string];
    const key = this.#keys.get(keyId);
    if (!key) {
      throw new SecretKeyError(
        `They were sealed with key ${keyId}, which is not loaded (current key: ${this.#current.id}).`,
      );
    }
    const iv = Buffer.from(ivText, 'base64url');
    const body = Buffer.from(bodyText, 'base64url');
    if (iv.length !== 12 || body.length < 16) throw new SecretKeyError('The sealed secrets are truncated.');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.key, iv);
      decipher.setAAD(aad(binding, version));
      decipher.setAuthTag(body.subarray(body.length - 16));
      const plain = Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]);
      return JSON.parse(plain.toString('utf8')) as T;
    } catch {
      throw new SecretKeyError(
        `They do not authenticate under key ${keyId}: the data was altered, or it belongs to another connection, provider, params or client.`,
      );
    }
  }
}
