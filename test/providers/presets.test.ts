import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { resolveParams } from '../../src/providers/params.js';
import { presets } from '../../src/providers/presets/index.js';
import { ProviderRegistry } from '../../src/providers/registry.js';
import { authEndpointsFor, endpointsFor } from '../../src/providers/template.js';
import { VENDORS as SIM_VENDORS } from '../../src/simulator/types.js';

/** Every simulator persona beyond the four vendors of the documents and MCP has a preset: thirteen. */
const DOCUMENTED = ['checkfront', 'checkbook', 'checkissuing', 'cronofy', 'mcp'];
const VENDORS = SIM_VENDORS.filter((v) => !DOCUMENTED.includes(v));

const reg = ProviderRegistry.create();

describe('the presets', () => {
  it('include the thirteen vendors, each a valid spec', () => {
    expect(VENDORS).toHaveLength(13);
    for (const id of VENDORS) {
      expect(Object.keys(presets)).toContain(id);
      // An empty override runs the registry's validation over the preset as it is.
      expect(() => ProviderRegistry.create({ [id]: {} })).not.toThrow();
      const spec = reg.get(id);
      expect(spec.notes?.length ?? 0).toBeGreaterThan(40);
      for (const url of [spec.authorizationUrl, spec.tokenUrl, spec.revocationUrl, spec.apiBaseUrl]) {
        if (url && !url.startsWith('{')) expect(url).toMatch(/^https:\/\//);
      }
    }
  });

  it('expand to the production endpoints, per tenant and environment', () => {
    const cases: [string, Record<string, string>, Record<string, string | undefined>][] = [
      [
        'quickbooks',
        { environment: 'sandbox', realmId: '9130355' },
        {
          apiBaseUrl: 'https://sandbox-quickbooks.api.intuit.com/v3/company/9130355/',
          tokenUrl: 'https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer',
        },
      ],
      [
        'quickbooks',
        { environment: 'production', realmId: '42' },
        { apiBaseUrl: 'https://quickbooks.api.intuit.com/v3/company/42/' },
      ],
      [
        'salesforce',
        { environment: 'sandbox', instanceUrl: 'https://acme--dev.sandbox.my.salesforce.com' },
        {
          apiBaseUrl: 'https://acme--dev.sandbox.my.salesforce.com/',
          tokenUrl: 'https://test.salesforce.com/services/oauth2/token',
          revocationUrl: 'https://test.salesforce.com/services/oauth2/revoke',
        },
      ],
      [
        'microsoft',
        { tenant: 'common' },
        {
          authorizationUrl: 'https://login.microsoftonline.com/common/oauth2/v2.0/authorize',
          apiBaseUrl: 'https://graph.microsoft.com/v1.0/',
        },
      ],
      [
        'shopify',
        { shop: 'acme-store' },
        {
          tokenUrl: 'https://acme-store.myshopify.com/admin/oauth/access_token',
          apiBaseUrl: 'https://acme-store.myshopify.com/admin/api/2025-07/',
        },
      ],
      [
        'atlassian',
        { cloudId: '11223344-a1b2-3b33-c444-def123456789' },
        { apiBaseUrl: 'https://api.atlassian.com/ex/jira/11223344-a1b2-3b33-c444-def123456789/' },
      ],
      [
        'xero',
        {},
        { apiBaseUrl: 'https://api.xero.com/', tokenUrl: 'https://identity.xero.com/connect/token' },
      ],
    ];
    for (const [id, params, expected] of cases) {
      const spec = reg.get(id);
      const out = endpointsFor(spec, resolveParams(spec, params)) as unknown as Record<string, string>;
      for (const [k, v] of Object.entries(expected)) expect(out[k], `${id} ${k}`).toBe(v);
    }
  });

  it('know the tenant default, and refuse a tenant that would move the URL', () => {
    const ms = reg.get('microsoft');
    expect(resolveParams(ms, {})).toEqual({ tenant: 'common' });
    expect(authEndpointsFor(ms, resolveParams(ms, { tenant: 'contoso.onmicrosoft.com' })).tokenUrl).toBe(
      'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token',
    );
    expect(() => resolveParams(ms, { tenant: '../evil' })).toThrow(ConfigError);
    expect(() => resolveParams(reg.get('shopify'), {})).toThrow(/needs the param "shop"/);
    expect(() => resolveParams(reg.get('shopify'), { shop: 'evil.example.com/x' })).toThrow(ConfigError);
  });

  it('ask for what each needs to get a refresh token', () => {
    for (const id of ['xero', 'atlassian', 'microsoft'])
      expect(reg.get(id).scopes).toContain('offline_access');
    expect(reg.get('google').authorizationParams).toMatchObject({
      access_type: 'offline',
      prompt: 'consent',
    });
    expect(reg.get('dropbox').authorizationParams).toMatchObject({ token_access_type: 'offline' });
    expect(reg.get('atlassian').authorizationParams).toMatchObject({
      audience: 'api.atlassian.com',
      prompt: 'consent',
    });
    expect(reg.get('salesforce').scopes).toContain('refresh_token');
    expect(reg.get('shopify').tokenParams).toEqual({ expiring: '1' });
    expect(reg.get('microsoft').refreshScopes).toBe(true);
  });

  it('name the client id in a revocation URL only once the client is known', () => {
    const gh = reg.get('github');
    expect(authEndpointsFor(gh, {}).revocationUrl).toBeUndefined();
    expect(authEndpointsFor(gh, {}, 'Iv1.abc123').revocationUrl).toBe(
      'https://api.github.com/applications/Iv1.abc123/grant',
    );
  });

  it('take further urls from an override by name, keeping the others', () => {
    const over = ProviderRegistry.create({
      xero: { urls: { connections: 'http://127.0.0.1:4011/xero/connections' } },
    });
    expect(over.get('xero').urls).toEqual({
      connections: 'http://127.0.0.1:4011/xero/connections',
      userinfo: 'https://identity.xero.com/connect/userinfo',
    });
  });
});
