/**
 * baton/simulator — offline stand-ins for the Checkfront, Checkbook, Checkissuing and Cronofy
 * token servers and APIs, written from the vendors' documents. It imports nothing from Baton's
 * providers, protocol or core: when a preset is wrong, the simulator disagrees with it.
 */
export { formatDiscovery } from './format.js';
export { startSimulator } from './server.js';
export type {
  ApiKey,
  ClientCredentials,
  Counters,
  Discovery,
  DiscoveryVendor,
  Endpoint,
  Fault,
  RefreshReuse,
  RequestLogEntry,
  Rotation,
  Simulator,
  SimulatorOptions,
  TokenInfo,
  TokenLogEntry,
  TokenStatus,
  TokenTap,
  Vendor,
  VendorCounters,
} from './types.js';
