/**
 * The last `DPoP-Nonce` each server gave (RFC 9449 §8, §9), per origin: the authorization
 * server's and each resource server's are separate. Kept in memory: a process that has none
 * yet pays one challenge.
 */
export class DpopNonces {
  readonly #byOrigin = new Map<string, string>();

  get(url: URL): string | undefined {
    return this.#byOrigin.get(url.origin);
  }

  /** Remembers a nonce a server sent; returns whether it differs from the one in hand. */
  observe(url: URL, nonce: string | null | undefined): boolean {
    if (!nonce || !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(nonce)) return false;
    if (this.#byOrigin.get(url.origin) === nonce) return false;
    if (this.#byOrigin.size >= 1024) this.#byOrigin.clear();
    this.#byOrigin.set(url.origin, nonce);
    return true;
  }
}
