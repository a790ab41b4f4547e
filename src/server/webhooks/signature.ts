import { createHmac, timingSafeEqual } from 'node:crypto';
import { WEBHOOK_EVENT_TYPES, type WebhookEvent } from '../../core/outbox.js';
import { WebhookSignatureError } from '../../errors.js';

/**
 * Webhook signatures (README, "Webhooks"): `Baton-Signature: t=<unix seconds>,v1=<hex>` where
 * v1 is HMAC-SHA256 under the endpoint's signing secret of `<t>.<raw body>`. Signing the
 * timestamp with the body lets a receiver refuse a replayed old delivery.
 */

export const SIGNATURE_HEADER = 'baton-signature';
/** How far a signature's timestamp may be from the receiver's clock. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

function hmac(secret: string, timestamp: number, body: string | Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

/** The header value for a body sent at `timestamp` (unix seconds). */
export function signWebhook(secret: string, body: string | Buffer, timestamp: number): string {
  return `t=${timestamp},v1=${hmac(secret, timestamp, body)}`;
}

export interface ParsedSignature {
  timestamp: number;
  signatures: string[];
}

/** Parses `t=…,v1=…[,v1=…]`; unknown schemes are ignored. Throws WebhookSignatureError when malformed. */
export function parseSignatureHeader(header: string | null | undefined): ParsedSignature {
  if (header === null || header === undefined || header.trim() === '') {
    throw new WebhookSignatureError('missing', 'The request carries no Baton-Signature header.');
  }
  if (header.length > 2048) {
    throw new WebhookSignatureError('malformed', 'The Baton-Signature header is too long.');
  }
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new WebhookSignatureError('malformed', 'The Baton-Signature header is not t=…,v1=….');
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (!/^\d{1,12}$/.test(value) || timestamp !== undefined) {
        throw new WebhookSignatureError('malformed', 'The Baton-Signature timestamp is not one unix time.');
      }
      timestamp = Number(value);
    } else if (key === 'v1') {
      if (!/^[0-9a-f]{64}$/.test(value)) {
        throw new WebhookSignatureError('malformed', 'A Baton-Signature v1 value is not 64 hex digits.');
      }
      signatures.push(value);
    }
  }
  if (timestamp === undefined || signatures.length === 0) {
    throw new WebhookSignatureError('malformed', 'The Baton-Signature header needs t= and v1=.');
  }
  return { timestamp, signatures };
}

export interface VerifyWebhookOptions {
  /** The raw request body, exactly as received (not re-serialized JSON). */
  body: string | Buffer;
  /** The `Baton-Signature` header. */
  signature: string | null | undefined;
  /** The endpoint's signing secret; several while rotating. */
  secret: string | readonly string[];
  /** Default 300 s: older (or further in the future) timestamps are refused. */
  toleranceSeconds?: number;
  /** Default Date.now(). */
  now?: number;
}

/**
 * Checks a webhook's signature in constant time and the freshness of its timestamp, then
 * returns the parsed event. Throws WebhookSignatureError otherwise.
 *
 * ```ts
 * const event = verifyWebhook({ body: rawBody, signature: req.headers['baton-signature'], secret });
 * ```
 */
export function verifyWebhook(options: VerifyWebhookOptions): WebhookEvent {
  const { timestamp, signatures } = parseSignatureHeader(options.signature);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  if (timestamp < now - tolerance) {
    throw new WebhookSignatureError(
      'too_old',
      `The webhook was signed ${now - timestamp} s ago, more than the ${tolerance} s allowed.`,
    );
  }
  if (timestamp > now + tolerance) {
    throw new WebhookSignatureError(
      'in_future',
      `The webhook's timestamp is ${timestamp - now} s ahead of this clock, more than the ${tolerance} s allowed.`,
    );
  }
  const secrets = typeof options.secret === 'string' ? [options.secret] : options.secret;
  let ok = false;
  for (const secret of secrets) {
    const expected = Buffer.from(hmac(secret, timestamp, options.body), 'hex');
    for (const given of signatures) {
      // Every comparison runs, so the time taken says nothing about which part matched.
      if (timingSafeEqual(expected, Buffer.from(given, 'hex'))) ok = true;
    }
  }
  if (!ok) {
    throw new WebhookSignatureError('mismatch', 'The webhook signature does not match the body.');
  }
  let event: unknown;
  try {
    event = JSON.parse(typeof options.body === 'string' ? options.body : options.body.toString('utf8'));
  } catch {
    throw new WebhookSignatureError('malformed', 'The signed webhook body is not JSON.');
  }
  const e = event as Partial<WebhookEvent> | null;
  if (
    typeof e?.id !== 'string' ||
    !(WEBHOOK_EVENT_TYPES as readonly string[]).includes(e.type as string) ||
    typeof e.data !== 'object'
  ) {
    throw new WebhookSignatureError('malformed', 'The signed webhook body is not a Baton event.');
  }
  return e as WebhookEvent;
}
