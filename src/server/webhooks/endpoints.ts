import { randomBytes } from 'node:crypto';
import { WEBHOOK_EVENT_TYPES } from '../../core/outbox.js';
import { ConfigError } from '../../errors.js';
import type { Sealer } from '../../store/sealer.js';
import { checkAllow } from '../keys.js';
import type { WebhookEndpoint, WebhookStore } from './store.js';

/**
 * Webhook endpoints: a URL, the event types it wants, the connections it may hear of, and a
 * signing secret (`whsec_` + 32 random bytes) shown once at creation. The secret is sealed
 * under the store's secret key, bound to the endpoint's id and URL: a row edited to point
 * elsewhere no longer opens, so nothing is signed for a URL nobody registered.
 */

const SECRET_PREFIX = 'whsec_';

function binding(id: string, url: string) {
  return { id: `webhook:${id}`, provider: 'baton-webhook', params: { url }, clientId: null };
}

export function checkEvents(events: readonly string[] | undefined): string[] {
  const list = [...new Set(events && events.length > 0 ? events : ['*'])];
  for (const e of list) {
    if (e !== '*' && !(WEBHOOK_EVENT_TYPES as readonly string[]).includes(e)) {
      throw new ConfigError(
        `"${e}" is not a webhook event.`,
        `Use some of ${WEBHOOK_EVENT_TYPES.join(', ')} (or * for all).`,
      );
    }
  }
  return list.includes('*') ? ['*'] : list;
}

export function checkUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(
      `"${text}" is not a URL.`,
      'Give the full URL of the receiver, e.g. https://app.example.com/hooks/baton.',
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError(
      `Webhooks are sent over HTTP(S); "${url.protocol}" URLs cannot receive them.`,
      'Use an https:// URL.',
    );
  }
  if (url.username || url.password) {
    throw new ConfigError(
      'A webhook URL may not carry a user name or password: it is shown in listings and logs.',
      'Drop the credentials from the URL and verify the Baton-Signature header in the receiver instead.',
    );
  }
  url.hash = '';
  return url.toString();
}

export interface CreatedEndpoint {
  endpoint: WebhookEndpoint;
  /** Shown once; only its sealed form is stored. */
  secret: string;
}

export async function createEndpoint(
  store: WebhookStore,
  sealer: Sealer,
  input: {
    url: string;
    events?: string[];
    allow?: string[];
    description?: string | null;
    createdBy?: string | null;
  },
): Promise<CreatedEndpoint> {
  const url = checkUrl(input.url);
  const events = checkEvents(input.events);
  const allow = checkAllow(input.allow && input.allow.length > 0 ? input.allow : ['*']);
  const id = `we_${randomBytes(12).toString('base64url')}`;
  const secret = `${SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
  const endpoint: WebhookEndpoint = {
    id,
    url,
    events,
    allow,
    description: input.description ?? null,
    secretSealed: sealer.seal({ secret }, binding(id, url)),
    secretPrefix: secret.slice(0, SECRET_PREFIX.length + 4),
    createdAt: Date.now(),
    createdBy: input.createdBy ?? null,
  };
  await store.createEndpoint(endpoint);
  return { endpoint, secret };
}

/** The signing secret of an endpoint (throws SecretKeyError when the row was altered). */
export function endpointSecret(sealer: Sealer, endpoint: WebhookEndpoint): string {
  return sealer.open<{ secret: string }>(endpoint.secretSealed, binding(endpoint.id, endpoint.url)).secret;
}

/** An endpoint as shown to people and callers: never the secret, sealed or not. */
export function publicEndpoint(e: WebhookEndpoint) {
  return {
    id: e.id,
    url: e.url,
    events: e.events,
    allow: e.allow,
    description: e.description,
    secretPrefix: e.secretPrefix,
    createdAt: e.createdAt,
    createdBy: e.createdBy,
  };
}
