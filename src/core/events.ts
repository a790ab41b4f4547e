import { EventEmitter } from 'node:events';
import type { BatonError } from '../errors.js';
import type { TokenEndpointCall } from '../protocol/grants.js';
import type { ConnectionInfo, GrantLifetime } from './connection-info.js';

/** A grant at a provider's token endpoint that has ended: what `token_endpoint` listeners hear. */
export interface TokenEndpointEvent extends TokenEndpointCall {
  provider: string;
  /** The connection the grant was for; absent for a client check (`baton doctor`). */
  connectionId: string | undefined;
}

export interface BatonEvents {
  /** A new token pair was committed to the store. */
  refreshed: [info: ConnectionInfo];
  /** The provider refused the grant: a person must authorize the connection again. */
  needs_reauth: [info: ConnectionInfo, error: BatonError];
  /**
   * The grant's absolute end (a limit no refresh extends) is within `expiringWithinMs`: a person
   * should authorize the connection again before `lifetime.absoluteExpiresAt`. Once per grant.
   */
  'connection.expiring': [info: ConnectionInfo, lifetime: GrantLifetime];
  /**
   * A refresh or commit failed in a way that was not the caller's to handle (keeper, background
   * commit), or the store failed to read or write an issuer's metadata document (read from the
   * server instead).
   */
  error: [error: BatonError, connectionId: string | undefined];
  /**
   * A grant at a provider's token endpoint ended (authorization code, refresh token or client
   * credentials; by any caller, the keeper included): its kind, provider, outcome and duration.
   */
  token_endpoint: [call: TokenEndpointEvent];
}

/**
 * A typed emitter. `error` is only emitted when someone listens: Node's EventEmitter would
 * otherwise throw it from wherever the failure happened (often a timer), crashing the process.
 */
export class BatonEmitter {
  readonly #emitter = new EventEmitter();

  on<K extends keyof BatonEvents>(event: K, listener: (...args: BatonEvents[K]) => void): this {
    this.#emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof BatonEvents>(event: K, listener: (...args: BatonEvents[K]) => void): this {
    this.#emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  once<K extends keyof BatonEvents>(event: K, listener: (...args: BatonEvents[K]) => void): this {
    this.#emitter.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  emit<K extends keyof BatonEvents>(event: K, ...args: BatonEvents[K]): void {
    if (event === 'error' && this.#emitter.listenerCount('error') === 0) return;
    try {
      this.#emitter.emit(event, ...args);
    } catch {
      // A listener's own failure must not break a refresh that already committed.
    }
  }
}
