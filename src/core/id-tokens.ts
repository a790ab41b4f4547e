import { AuthorizationError, ConfigError } from '../errors.js';
import { type IdTokenClaims, verifyIdToken } from '../protocol/id-token.js';
import type { TokenSet } from '../protocol/token-set.js';
import type { CoreContext } from './context.js';

/**
 * An authorization that asked for openid must come back with an id_token that verifies
 * (OpenID Connect Core §3.1.3.3, §3.1.3.7); nothing is stored otherwise. A refresh's id_token
 * (§12.2) is checked the same way without the nonce, and its `sub` must be the connection's.
 */
export async function checkIdToken(
  ctx: CoreContext,
  tokens: TokenSet,
  expect: {
    nonce: string | null;
    subject?: string | undefined;
    issuer: string | null;
    clientId: string;
    provider: string;
    connectionId: string;
  },
): Promise<IdTokenClaims> {
  const opts = { provider: expect.provider, connectionId: expect.connectionId };
  const idToken = tokens.extra['id_token'];
  if (typeof idToken !== 'string') {
    throw new AuthorizationError(
      'invalid_id_token',
      'The token response to an openid authorization carries no id_token.',
      opts,
    );
  }
  const metadata = ctx.providers.metadata(expect.provider);
  if (!expect.issuer || !metadata?.jwksUri || !ctx.discovery) {
    throw new ConfigError(
      `${expect.provider} was asked for openid, but Baton knows neither its issuer nor its keys (jwks_uri).`,
      `Give the ${expect.provider} spec its issuer (providers: { ${expect.provider}: { issuer } }) so its id_tokens can be verified, or leave openid out of its scopes.`,
      { ...opts, forOperator: true },
    );
  }
  return verifyIdToken(idToken, {
    issuer: expect.issuer,
    clientId: expect.clientId,
    nonce: expect.nonce,
    subject: expect.subject,
    algorithms: metadata.idTokenSigningAlgValuesSupported,
    keys: ctx.discovery.jwks(metadata.jwksUri),
    now: ctx.clock.now(),
    ...opts,
  });
}
