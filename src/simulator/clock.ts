/** Virtual time: every expiry in the simulator reads this, so tests move time instead of waiting. */
export class VirtualClock {
  #offset = 0;

  now(): number {
    return Date.now() + this.#offset;
  }

  advance(ms: number): void {
    if (!Number.isFinite(ms)) throw new RangeError('advance() takes a number of milliseconds');
    this.#offset += ms;
  }

  set(epochMs: number): void {
    if (!Number.isFinite(epochMs)) throw new RangeError('set() takes epoch milliseconds');
    this.#offset = epochMs - Date.now();
  }
}
