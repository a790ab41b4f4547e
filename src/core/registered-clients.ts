import { SecretKeyError } from '../errors.js';
import type { TokenEndpointAuthMethod } from '../protocol/registration.js';
import type { ClientAuth } from '../protocol/types.js';
import type { SealBinding, Sealer } from '../store/sealer.js';
import type { ClientRegistrationRow } from '../store/store.js';
import type { ClientRegistration } from './clients.js';

/**
 * A stored client registration opened (docs/architecture.md, "MCP"): what reading one needs and
 * nothing more, so the `baton token` fast path reads one without the HTTP stack that
 * registering needs (registrations.ts).
 */

/** How the token endpoint is called for a registered method; `none` sends the client id in the body. */
export function clientAuthOf(method: TokenEndpointAuthMethod): ClientAuth {
  return method === 'client_secret_basic' ? 'basic' : 'form';
}

/** One client a registration holds. */
export interface SealedClient {
  obtained: 'registered' | 'metadata_document';
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  clientSecret?: string;
  clientSecretExpiresAt?: number;
  redirectUris: string[];
  registrationAccessToken?: string;
  registrationClientUri?: string;
}

/** What a stored registration seals: the current client, older ones still in use, and refused ids. */
export interface Sealed extends SealedClient {
  /**
   * Clients registered earlier for other redirect URIs: the server still knows them, and the
   * connections authorized under them keep refreshing with them.
   */
  previous: (SealedClient & { clientId: string })[];
  /** Ids the server refused (`invalid_client`), replaced by the current client. */
  supersedes: string[];
}

/** How many older and refused client ids a registration remembers. */
export const KEPT = 20;

/** What a registration's sealed part is bound to: its issuer and client id. */
export function registrationBinding(row: Pick<ClientRegistrationRow, 'issuer' | 'clientId'>): SealBinding {
  return {
    id: `client-registration:${row.issuer}`,
    provider: row.issuer,
    params: {},
    clientId: row.clientId,
  };
}

export function toClient(
  clientId: string,
  s: SealedClient & Partial<Pick<Sealed, 'previous' | 'supersedes'>>,
): ClientRegistration {
  const out: ClientRegistration = {
    clientId,
    clientAuth: clientAuthOf(s.tokenEndpointAuthMethod),
    obtained: s.obtained,
    supersedes: s.supersedes ?? [],
    previous: (s.previous ?? []).map((p) => toClient(p.clientId, p)),
  };
  if (s.clientSecret !== undefined) out.clientSecret = s.clientSecret;
  if (s.redirectUris.length === 1) out.redirectUri = s.redirectUris[0] as string;
  return out;
}

/** Opens a stored registration (bound to its issuer and client id). */
export function openRegistration(sealer: Sealer, row: ClientRegistrationRow): Sealed {
  try {
    return sealer.open<Sealed>(row.sealed, registrationBinding(row));
  } catch (err) {
    if (!(err instanceof SecretKeyError)) throw err;
    throw new SecretKeyError(`The client registered at ${row.issuer} could not be opened: ${err.message}`, {
      cause: err,
    });
  }
}

/** The client stored for `issuer`, as the client directory holds it; null when none is. */
export async function readRegisteredClient(
  store: { clientRegistrations?: { get(issuer: string): Promise<ClientRegistrationRow | null> } | undefined },
  sealer: Sealer,
  issuer: string,
): Promise<{ row: ClientRegistrationRow; sealed: Sealed; client: ClientRegistration } | null> {
  const row = (await store.clientRegistrations?.get(issuer)) ?? null;
  if (!row) return null;
  const sealed = openRegistration(sealer, row);
  return { row, sealed, client: toClient(row.clientId, sealed) };
}
