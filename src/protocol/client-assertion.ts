import { createPrivateKey, createSecretKey, type KeyObject, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { ConfigError } from '../errors.js';
import type { ClientConfig } from './types.js';

/** RFC 7523 §2.2: the client_assertion_type of a JWT client assertion. */
export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** How long an assertion is valid: long enough for one request, short enough to be useless later. */
export const ASSERTION_LIFETIME_S = 60;

/** The algorithm a private key signs with when the client names none: its JWK `alg`, else by key type. */
function defaultAlg(key: KeyObject, jwkAlg: unknown): string {
  if (typeof jwkAlg === 'string') return jwkAlg;
  const type = key.asymmetricKeyType;
  if (type === 'rsa' || type === 'rsa-pss') return 'RS256';
  if (type === 'ed25519') return 'EdDSA';
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    return curve === 'secp384r1' ? 'ES384' : curve === 'secp521r1' ? 'ES512' : 'ES256';
  }
  return 'RS256';
}

function privateKeyOf(client: ClientConfig, provider: string): { key: KeyObject; alg: string; kid?: string } {
  const fix = `Give the ${provider} client its private key: clients: { ${provider}: { clientId, privateKey: '-----BEGIN PRIVATE KEY-----…' or a JWK with its kid } }, or BATON_${provider.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_PRIVATE_KEY.`;
  const given = client.privateKey;
  if (given === undefined) {
    throw new ConfigError(
      `The ${provider} client authenticates with private_key_jwt but has no private key.`,
      fix,
      { provider, forOperator: true },
    );
  }
  try {
    const jwk =
      typeof given === 'string' && given.trim().startsWith('{')
        ? (JSON.parse(given) as Record<string, unknown>)
        : given;
    if (typeof jwk === 'string') {
      const key = createPrivateKey(jwk);
      return {
        key,
        alg: client.signingAlg ?? defaultAlg(key, undefined),
        ...(client.keyId ? { kid: client.keyId } : {}),
      };
    }
    const key = createPrivateKey({ key: jwk as never, format: 'jwk' });
    const kid = client.keyId ?? (typeof jwk['kid'] === 'string' ? jwk['kid'] : undefined);
    return { key, alg: client.signingAlg ?? defaultAlg(key, jwk['alg']), ...(kid ? { kid } : {}) };
  } catch {
    // The key's text is never quoted back.
    throw new ConfigError(
      `The ${provider} client's private key is neither a PKCS#8/PKCS#1/SEC1 PEM nor a private JWK.`,
      fix,
      { provider, forOperator: true },
    );
  }
}

/**
 * RFC 7523 §3 (OpenID Connect Core §9): a client assertion for `private_key_jwt` (signed with the
 * client's private key, its `kid` in the header) or `client_secret_jwt` (HMAC with the client
 * secret). `iss` and `sub` are the client id, `aud` the authorization server, `jti` unique, and
 * it expires a minute after it was made.
 */
export async function clientAssertion(
  method: 'private_key_jwt' | 'client_secret_jwt',
  client: ClientConfig,
  input: { audience: string; now: number; provider: string },
): Promise<string> {
  const iat = Math.floor(input.now / 1000);
  const jwt = new SignJWT({})
    .setIssuer(client.clientId)
    .setSubject(client.clientId)
    .setAudience(input.audience)
    .setJti(randomUUID())
    .setIssuedAt(iat)
    .setExpirationTime(iat + ASSERTION_LIFETIME_S);
  if (method === 'client_secret_jwt') {
    if (client.clientSecret === undefined) {
      throw new ConfigError(
        `The ${input.provider} client authenticates with client_secret_jwt but has no client secret.`,
        `Set clientSecret for the ${input.provider} client.`,
        { provider: input.provider },
      );
    }
    return jwt
      .setProtectedHeader({ alg: client.signingAlg ?? 'HS256' })
      .sign(createSecretKey(Buffer.from(client.clientSecret, 'utf8')));
  }
  const { key, alg, kid } = privateKeyOf(client, input.provider);
  return jwt.setProtectedHeader({ alg, ...(kid ? { kid } : {}) }).sign(key);
}
