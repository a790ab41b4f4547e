import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import envPaths from 'env-paths';
import { SecretKeyError } from '../errors.js';
import { keyIdOf, type SecretKey } from './sealer.js';

/** Where Baton keeps its default SQLite file and key file: BATON_HOME, else the OS data dir. */
export function dataDir(env: NodeJS.ProcessEnv): string {
  return env['BATON_HOME'] || envPaths('baton', { suffix: '' }).data;
}

const GENERATE = 'Generate one with: openssl rand -base64 32';

export function parseSecretKey(text: string): SecretKey {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) {
    throw new SecretKeyError('The secret key is not base64.', { remediation: `${GENERATE}.` });
  }
  const key = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (key.length !== 32) {
    throw new SecretKeyError(`The secret key is ${key.length} bytes; it must be 32.`, {
      remediation: `${GENERATE}.`,
    });
  }
  return { id: keyIdOf(key), key };
}

export function checkKeyFilePermissions(path: string): { ok: boolean; mode: number } {
  const mode = statSync(path).mode & 0o777;
  return { ok: process.platform === 'win32' || (mode & 0o077) === 0, mode };
}

function readKeyFile(path: string): SecretKey {
  const perms = checkKeyFilePermissions(path);
  if (!perms.ok) {
    throw new SecretKeyError(
      `The key file ${path} can be read by other users (mode ${perms.mode.toString(8)}).`,
      { remediation: `Restrict it: chmod 600 ${path}` },
    );
  }
  try {
    return parseSecretKey(readFileSync(path, 'utf8'));
  } catch (err) {
    if (err instanceof SecretKeyError) {
      throw new SecretKeyError(`The key file ${path} does not hold a valid key: ${err.message}`, {
        remediation: err.remediation,
      });
    }
    throw err;
  }
}

function isEmpty(path: string): boolean {
  try {
    return statSync(path).size === 0;
  } catch {
    return false;
  }
}

/** The key another process is writing: it may be mid-write for a moment. */
async function awaitKey(path: string): Promise<SecretKey> {
  for (let i = 0; i < 50; i++) {
    try {
      return readKeyFile(path);
    } catch (err) {
      if (!(err instanceof SecretKeyError)) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  return readKeyFile(path);
}

/**
 * The secret key, from (in order) the option, BATON_SECRET_KEY, or a key file — created 0600 on
 * first use. Two processes racing to create it agree: the loser reads the winner's file.
 * `storeInUse`, asked only when the key file is missing, names the key ids a store's data is
 * sealed under: a store that holds data never gets a fresh key beside it (the data would be
 * lost behind it), and the error names the key it needs.
 */
export async function loadSecretKey(opts: {
  secretKey?: string | undefined;
  keyFile?: string | undefined;
  env: NodeJS.ProcessEnv;
  storeInUse?: (() => Promise<string[] | null>) | undefined;
}): Promise<{ key: SecretKey; source: 'option' | 'env' | 'file' | 'created' }> {
  if (opts.secretKey) return { key: parseSecretKey(opts.secretKey), source: 'option' };
  const fromEnv = opts.env['BATON_SECRET_KEY'];
  if (fromEnv) return { key: parseSecretKey(fromEnv), source: 'env' };
  const path = opts.keyFile ?? opts.env['BATON_KEY_FILE'] ?? join(dataDir(opts.env), 'secret.key');
  try {
    return { key: readKeyFile(path), source: 'file' };
  } catch (err) {
    // An empty file is another process between creating and writing it: wait for its key.
    if (isEmpty(path)) return { key: await awaitKey(path), source: 'file' };
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const inUse = (await opts.storeInUse?.()) ?? null;
  if (inUse !== null) {
    const keys = inUse.length > 0 ? `key ${inUse.join(', ')}` : 'a key';
    throw new SecretKeyError(
      `The key file ${path} does not exist, and the store already holds data sealed under ${keys}; a new key would not open it, so none was created.`,
      {
        remediation: `Restore the key file from its backup${inUse.length > 0 ? ` (the key with id ${inUse[0]})` : ''}, or set BATON_SECRET_KEY / BATON_KEY_FILE to it.`,
      },
    );
  }
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const text = `${randomBytes(32).toString('base64')}\n`;
    writeFileSync(path, text, { mode: 0o600, flag: 'wx' });
    chmodSync(path, 0o600);
    return { key: parseSecretKey(text), source: 'created' };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      // Another process created it between our read and our write: use theirs.
      return { key: await awaitKey(path), source: 'file' };
    }
    throw new SecretKeyError(`The key file ${path} could not be created: ${(err as Error).message}`, {
      remediation: 'Set BATON_SECRET_KEY, or point BATON_KEY_FILE at a writable location.',
      cause: err,
    });
  }
}
