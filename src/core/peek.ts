import { DpopNonces } from '../protocol/dpop-nonces.js';
import { ProviderRegistry } from '../providers/registry.js';
import { openStore } from '../store/index.js';
import { Sealer } from '../store/sealer.js';
import { loadSecretKey } from '../store/secret-key.js';
import type { BatonOptions } from './baton.js';
import { ClientDirectory } from './clients.js';
import { systemClock } from './clock.js';
import { type CoreContext, openConnection } from './context.js';
import { isDue, isSingleUse } from './due.js';
import { BatonEmitter } from './events.js';
import { readRegisteredClient } from './registered-clients.js';
import { TokenCache } from './token-cache.js';

/**
 * What `peekAccessToken` found: the access token, or that the active connection uses a static
 * mode (API key, token pair) and so has none to hand out.
 */
export type Peeked = { accessToken: string } | { staticMode: string; provider: string };

/**
 * The stored access token of an active connection when it is not within the refresh window,
 * read without loading the HTTP stack; for an active static connection, its mode; undefined
 * when anything more is needed (a refresh, a status to explain), so the caller goes through
 * `Baton` for it. Unseals the connection and checks the configured client against the stored
 * one like every other use. Made for `baton token`, whose cold start is what a shell script
 * pays on each call.
 */
export async function peekAccessToken(
  options: Pick<BatonOptions, 'store' | 'secretKey' | 'keyFile' | 'clients' | 'providers' | 'env'> & {
    refreshWindowMs?: number;
  },
  id: string,
): Promise<Peeked | undefined> {
  const env = options.env ?? process.env;
  const store = await openStore(options.store, { env });
  try {
    const { key } = await loadSecretKey({
      secretKey: options.secretKey,
      keyFile: options.keyFile,
      env,
      // Never a fresh key beside a store that holds data (asked only when the key file is missing).
      storeInUse: async () => {
        const inUse = await store.keyIds();
        return inUse.length > 0 || (await store.list({ limit: 1 })).length > 0 ? inUse : null;
      },
    });
    const previous = [];
    for (const p of (env['BATON_SECRET_KEY_PREVIOUS'] ?? '').split(',').filter(Boolean))
      previous.push((await loadSecretKey({ secretKey: p, env: {} })).key);
    const record = await store.get(id);
    if (record?.status !== 'active') return undefined;
    const ctx: CoreContext = {
      store,
      sealer: new Sealer({ current: key, previous }),
      providers: ProviderRegistry.create(options.providers),
      clients: new ClientDirectory(options.clients, env),
      clock: systemClock,
      events: new BatonEmitter(),
      options: {
        refreshWindowMs: options.refreshWindowMs ?? 60_000,
        leaseTtlMs: 30_000,
        retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0, maxCooldownMs: 0 },
        http: {},
        // Peeking writes nothing, so it notes no notice.
        expiringWithinMs: 0,
      },
      owner: 'peek',
      cache: new TokenCache(),
      dpopNonces: new DpopNonces(),
      closed: () => false,
    };
    // A client Baton obtained itself (an MCP server's) is in the store, not in the configuration.
    const spec = ctx.providers.get(record.provider);
    if (spec.clientRegistration && spec.issuer && record.clientId && !ctx.clients.configured(spec.id, {})) {
      ctx.clients.adopt(
        spec.id,
        (await readRegisteredClient(store, ctx.sealer, spec.issuer))?.client ?? null,
      );
    }
    const conn = openConnection(ctx, record);
    if (record.authMode === 'token_pair' || record.authMode === 'api_key')
      return { staticMode: record.authMode, provider: record.provider };
    // A single-use token must be claimed in the store first: that is Baton's job.
    if (isSingleUse(conn)) return undefined;
    const tokens = conn.secrets.tokens;
    // A DPoP-bound token is useless without its key: `Baton.release` says so.
    if (!tokens?.accessToken || tokens.dpopKey || tokens.tokenType === 'DPoP') return undefined;
    if (isDue(tokens.expiresAt, tokens.issuedAt, ctx.clock.now(), ctx.options.refreshWindowMs))
      return undefined;
    return { accessToken: tokens.accessToken };
  } finally {
    if (typeof options.store !== 'object') await store.close();
  }
}
