import type { SimRequest, SimResponse } from '../http.js';
import type { DiscoveryVendor, Endpoint, Vendor } from '../types.js';

export interface VendorRoute {
  endpoint: Endpoint;
  handle(): SimResponse | Promise<SimResponse>;
}

/** A simulated vendor: routes the path below its prefix and describes itself for discovery. */
export interface SimVendor {
  vendor: Vendor;
  route(req: SimRequest, segments: string[]): VendorRoute | null;
  discovery(origin: string, migrationOrigin: string): DiscoveryVendor;
}

export function rest(segments: string[], from: number): string {
  return segments.slice(from).join('/');
}
