import { expect } from 'vitest';

/**
 * The 13 OAuth presets (README, "Providers") as the connect tests drive them against the
 * simulator's personas: the params each is connected with, what the connection holds after
 * (given and captured), and one API call.
 */
export interface PresetCase {
  provider: string;
  /** The params given at connect, by name. */
  given: Record<string, string>;
  /** The params the preset's environment param takes (`--env` on the command line). */
  env?: string;
  /** The connection's params once connected: the given ones and the captured ones. */
  params: (origin: string) => Record<string, unknown>;
  /** An API path (relative to the API base) over the stored params; default: the identity path. */
  call?: (params: Record<string, string>) => string;
  /** The call's method (Dropbox's RPC endpoints are POST). */
  method?: 'POST';
}

const UUID = /^[0-9a-f-]{36}$/;

export const PRESET_CASES: PresetCase[] = [
  {
    provider: 'xero',
    given: {},
    params: () => ({ tenantId: expect.stringMatching(UUID) }),
    // An accounting call: the persona answers 403 without the Xero-Tenant-Id the tenant fills.
    call: () => 'api.xro/2.0/Organisation',
  },
  {
    provider: 'quickbooks',
    given: {},
    env: 'sandbox',
    params: () => ({ environment: 'sandbox', realmId: expect.stringMatching(/^\d+$/) }),
    call: (p) => `companyinfo/${p['realmId']}`,
  },
  {
    provider: 'atlassian',
    given: {},
    params: () => ({ cloudId: expect.stringMatching(UUID) }),
    call: (p) => `ex/jira/${p['cloudId']}/rest/api/3/myself`,
  },
  { provider: 'shopify', given: { shop: 'acme-store' }, params: () => ({ shop: 'acme-store' }) },
  {
    provider: 'salesforce',
    given: {},
    env: 'production',
    params: (origin) => ({ environment: 'production', instanceUrl: `${origin}/salesforce/instances/acme` }),
    call: () => 'services/data/v62.0/limits',
  },
  { provider: 'google', given: {}, params: () => ({}) },
  {
    provider: 'microsoft',
    given: { tenant: 'organizations' },
    params: () => ({ tenant: 'organizations' }),
  },
  {
    provider: 'slack',
    given: {},
    params: () => ({ teamId: 'T0SIMTEAM', authedUserId: expect.any(String) }),
  },
  { provider: 'github', given: {}, params: () => ({}) },
  { provider: 'hubspot', given: {}, params: () => ({ hubId: expect.stringMatching(/^\d+$/) }) },
  // accountId is optional (server-to-server apps only): a user app's connection leaves it out.
  { provider: 'zoom', given: {}, params: () => ({}) },
  {
    provider: 'dropbox',
    given: {},
    params: () => ({ accountId: expect.stringMatching(/^dbid:/) }),
    method: 'POST',
  },
  {
    provider: 'notion',
    given: {},
    params: () => ({ workspaceId: expect.any(String), botId: expect.any(String) }),
  },
];
