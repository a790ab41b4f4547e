/**
 * baton/simulator — offline stand-ins for vendors' token servers and APIs (Checkfront,
 * Checkbook, Checkissuing, Cronofy and the provider personas: Xero, QuickBooks, Atlassian,
 * Shopify, Salesforce, Google, Microsoft, Slack, GitHub, HubSpot, Zoom, Dropbox, Notion),
 * written from the vendors' documents. It imports nothing from Baton's providers, protocol or
 * core: when a preset is wrong, the simulator disagrees with it.
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
  McpControls,
  McpCounters,
  McpSettings,
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
