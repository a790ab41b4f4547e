import type { SimRequest, SimResponse } from '../http.js';
import type { DiscoveryVendor, Endpoint, Vendor } from '../types.js';

export interface VendorRoute {
  endpoint: Endpoint;
  handle(): SimResponse | Promise<SimResponse>;
  /** The path as the request log keeps it, when the path itself carries a secret (a token in the URL). */
  logPath?: string;
}

/** One documented behaviour a test can turn: its value, and a setter that says what is wrong with a bad one. */
export interface Switch {
  get(): unknown;
  /** Null when the value was taken, else what the switch takes. */
  set(value: unknown): string | null;
}

/** One documented behaviour a test can turn: its value, and a setter that says what is wrong with a bad one. */
export interface Switch {
  get(): unknown;
  /** Null when the value was taken, else what the switch takes. */
  set(value: unknown): string | null;
}

/** A simulated vendor: routes the path below its prefix and describes itself for discovery. */
export interface SimVendor {
  vendor: Vendor;
  route(req: SimRequest, segments: string[]): VendorRoute | null;
  discovery(origin: string, migrationOrigin: string): DiscoveryVendor;
  switches?: Record<string, Switch>;
}

export function booleanSwitch(box: { value: boolean }): Switch {
  return {
    get: () => box.value,
    set: (v) => {
      if (typeof v !== 'boolean') return 'true or false';
      box.value = v;
      return null;
    },
  };
}

export function numberSwitch(box: { value: number }, min: number): Switch {
  return {
    get: () => box.value,
    set: (v) => {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < min) return `a number of at least ${min}`;
      box.value = v;
      return null;
    },
  };
}

export function rest(segments: string[], from: number): string {
  return segments.slice(from).join('/');
}
