import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { valuesOf } from '../../src/core/connect-steps.js';
import { AuthorizationError, ConfigError } from '../../src/errors.js';
import { captureFrom, readPath } from '../../src/providers/capture.js';
import { baseUrlAllowed, normaliseBaseUrl } from '../../src/providers/param-value.js';
import { resolveParams } from '../../src/providers/params.js';
import { ProviderRegistry } from '../../src/providers/registry.js';
import type { ProviderOverride, ProviderSpec } from '../../src/providers/spec.js';
import { apiHeadersFor, endpointsFor, expandHeader, fieldsFor } from '../../src/providers/template.js';

/** A provider written for these tests: every capture kind, a step, headers and token fields. */
const demo: ProviderOverride = {
  displayName: 'Demo',
  authorizationUrl: 'https://{loginHost}/authorize',
  tokenUrl: 'https://{loginHost}/token',
  apiBaseUrl: '{instanceUrl}/data/{realmId}/',
  params: {
    environment: {
      description: 'production or sandbox',
      values: ['production', 'sandbox'],
      default: 'production',
      vars: { production: { loginHost: 'login.demo.test' }, sandbox: { loginHost: 'test.demo.test' } },
    },
  },
  captures: {
    instanceUrl: { from: 'token', path: 'instance_url', kind: 'url', description: 'the org host' },
    realmId: { from: 'callback', path: 'realmId', required: true, description: 'the company' },
    userId: { from: 'token', path: 'authed_user.id', description: 'the user' },
    accountId: { from: 'token', path: 'account_id', kind: 'text', description: 'the account' },
  },
  urls: { tenants: 'https://api.demo.test/connections' },
  connectSteps: [
    { endpoint: 'tenants', capture: { tenantId: 'tenantId' }, whenEmpty: 'Connect an organisation.' },
  ],
  redirectAuthHosts: ['*.demo.test'],
  tokenHeader: { header: 'X-Demo-Token', template: '{accessToken}' },
  apiHeaders: { 'Demo-Tenant': '{tenantId}', 'Demo-Version': '2024-01-01' },
  tokenParams: { expiring: '1', env: '{environment}' },
  refreshParams: { audience: 'api.demo.test' },
};

function spec(extra: ProviderOverride = {}): ProviderSpec {
  return ProviderRegistry.create({ demo: { ...demo, ...extra } }).get('demo');
}

describe('readPath', () => {
  it('follows dotted paths and reads an array as its first element', () => {
    const body = { authed_user: { id: 'U1' }, list: [{ id: 'a' }, { id: 'b' }] };
    expect(readPath(body, 'authed_user.id')).toBe('U1');
    expect(readPath(body, 'list.id')).toBe('a');
    expect(readPath([{ tenantId: 't1' }], 'tenantId')).toBe('t1');
    expect(readPath([], 'tenantId')).toBeUndefined();
    expect(readPath({ a: 'x' }, 'a.b')).toBeUndefined();
    expect(readPath({}, 'constructor')).toBeUndefined();
    expect(readPath({}, '__proto__')).toBeUndefined();
  });

  it('finds any value placed at a path, wrapped in arrays or not (property)', () => {
    const key = fc.stringMatching(/^[a-z_][a-z0-9_]{0,8}$/);
    fc.assert(
      fc.property(
        fc.array(key, { minLength: 1, maxLength: 5 }),
        fc.jsonValue(),
        fc.boolean(),
        (keys, leaf, wrap) => {
          let body: unknown = leaf;
          for (const k of [...keys].reverse()) body = wrap ? [{ [k]: body }] : { [k]: body };
          const found = readPath(body, keys.join('.'));
          expect(found).toEqual(Array.isArray(leaf) ? leaf[0] : leaf);
        },
      ),
    );
  });
});

describe('captured values', () => {
  it('are taken from the token response and the callback, each checked', () => {
    const s = spec();
    expect(
      captureFrom(s, 'token', { instance_url: 'https://acme.my.demo.test/', authed_user: { id: 'U1' } }),
    ).toEqual({ instanceUrl: 'https://acme.my.demo.test', userId: 'U1' });
    expect(captureFrom(s, 'callback', new URLSearchParams('code=x&realmId=9130'))).toEqual({
      realmId: '9130',
    });
    expect(captureFrom(s, 'token', {})).toEqual({});
    // Text is kept as it came, for headers and people, never for a URL.
    expect(captureFrom(s, 'token', { account_id: 'dbid:AA12/x' })).toEqual({ accountId: 'dbid:AA12/x' });
    expect(() => captureFrom(s, 'token', { account_id: 'a\nb' })).toThrow(ConfigError);
    expect(() => captureFrom(s, 'token', { instance_url: 'https://evil.example/' })).toThrow(ConfigError);
    expect(() => captureFrom(s, 'token', { instance_url: 'http://acme.my.demo.test' })).toThrow(ConfigError);
    expect(() => captureFrom(s, 'callback', new URLSearchParams('realmId=../x'))).toThrow(ConfigError);
  });

  it('a captured plain value never carries a character that could move a URL (property)', () => {
    const s = spec();
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), (value) => {
        try {
          const got = captureFrom(s, 'callback', new URLSearchParams({ realmId: value }));
          expect(got.realmId).toMatch(/^[A-Za-z0-9._~-]+$/);
          expect(['.', '..']).not.toContain(got.realmId);
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
        }
      }),
    );
  });

  it('a captured API base goes only to an https host of the spec, or loopback http (property)', () => {
    const hosts = ['*.demo.test', '127.0.0.1:4011'];
    expect(baseUrlAllowed('https://acme.my.demo.test', hosts)).toBe(true);
    expect(baseUrlAllowed('http://127.0.0.1:4011/salesforce/instances/acme', hosts)).toBe(true);
    expect(baseUrlAllowed('http://127.0.0.1:4012', hosts)).toBe(false);
    expect(baseUrlAllowed('https://demo.test', hosts)).toBe(false);
    expect(baseUrlAllowed('https://user:pw@acme.demo.test', hosts)).toBe(false);
    fc.assert(
      fc.property(
        fc.oneof(fc.webUrl({ withQueryParameters: true, withFragments: true }), fc.string()),
        (raw) => {
          const normal = normaliseBaseUrl(raw);
          if (normal === null) return;
          expect(normaliseBaseUrl(normal)).toBe(normal);
          if (baseUrlAllowed(normal, hosts)) {
            const url = new URL(normal);
            expect(url.protocol === 'https:' || url.hostname === '127.0.0.1').toBe(true);
            expect(url.hostname.endsWith('.demo.test') || url.host === '127.0.0.1:4011').toBe(true);
            expect(url.search + url.hash + url.username).toBe('');
          }
        },
      ),
    );
  });

  it('make the API base, which needs them, and stay out of the authorization endpoints', () => {
    const s = spec();
    const params = { environment: 'sandbox', instanceUrl: 'https://acme.my.demo.test', realmId: '9130' };
    expect(endpointsFor(s, params)).toEqual({
      apiBaseUrl: 'https://acme.my.demo.test/data/9130/',
      authorizationUrl: 'https://test.demo.test/authorize',
      tokenUrl: 'https://test.demo.test/token',
    });
    expect(() => endpointsFor(s, { environment: 'production' })).toThrow(/gives when a connection is made/);
    // A stored base the spec no longer allows is refused at every use.
    expect(() => endpointsFor(s, { ...params, instanceUrl: 'https://elsewhere.example' })).toThrow(
      ConfigError,
    );
  });

  it('may be given by a caller (imported tokens), checked like captured ones', () => {
    const s = spec();
    expect(resolveParams(s, { realmId: '42', instanceUrl: 'https://acme.my.demo.test' })).toEqual({
      realmId: '42',
      instanceUrl: 'https://acme.my.demo.test',
      environment: 'production',
    });
    expect(() => resolveParams(s, { instanceUrl: 'https://evil.example' })).toThrow(ConfigError);
    expect(() => resolveParams(s, { nonsense: '1' })).toThrow(
      expect.objectContaining({
        remediation: expect.stringMatching(/^Its params are: environment, instanceUrl/),
      }),
    );
  });
});

describe('connect steps', () => {
  const s = spec();
  const step = s.connectSteps?.[0] as NonNullable<ProviderSpec['connectSteps']>[number];

  it('keep the first element of an array answer, or the one the caller chose', () => {
    const answer = [{ tenantId: 't-1' }, { tenantId: 't-2' }];
    expect(valuesOf(s, step, answer, {})).toEqual({ tenantId: 't-1' });
    expect(valuesOf(s, step, answer, { tenantId: 't-2' })).toEqual({ tenantId: 't-2' });
    expect(valuesOf(s, step, { tenantId: 't-9' }, {})).toEqual({ tenantId: 't-9' });
  });

  it('an empty answer fails with what to do', () => {
    for (const answer of [[], {}, [{}], null]) {
      const run = () => valuesOf(s, step, answer, {});
      expect(run).toThrow(AuthorizationError);
      expect(run).toThrow(
        expect.objectContaining({ reason: 'no_resource', remediation: 'Connect an organisation.' }),
      );
    }
    expect(() => valuesOf(s, step, [{ tenantId: 't-1' }], { tenantId: 't-3' })).toThrow(
      /did not list tenantId t-3/,
    );
    expect(() => valuesOf(s, step, [{ tenantId: 'a/b' }], {})).toThrow(ConfigError);
  });
});

describe('headers and token fields', () => {
  it('expand over the params; a header whose value is not known yet is left out', () => {
    const s = spec();
    expect(apiHeadersFor(s, { environment: 'production' })).toEqual([['demo-version', '2024-01-01']]);
    expect(apiHeadersFor(s, { environment: 'production', tenantId: 't-1' })).toEqual([
      ['demo-tenant', 't-1'],
      ['demo-version', '2024-01-01'],
    ]);
    expect(fieldsFor(s, 'tokenParams', { environment: 'sandbox' })).toEqual({
      expiring: '1',
      env: 'sandbox',
    });
    expect(fieldsFor(s, 'refreshParams', { environment: 'sandbox' })).toEqual({ audience: 'api.demo.test' });
  });

  it('no value can end a header (property)', () => {
    fc.assert(
      fc.property(fc.string(), (value) => {
        try {
          const out = expandHeader('v={x}', { x: value }, 'test header');
          expect(out).not.toMatch(/[\r\n\0]/);
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
        }
      }),
    );
  });
});

describe('spec validation of the new fields', () => {
  const bad: [string, ProviderOverride][] = [
    ['a capture without a source', { captures: { x: { path: 'x', description: 'x' } as never } }],
    [
      'a URL capture from the callback',
      { captures: { x: { from: 'callback', path: 'x', kind: 'url', description: 'x' } } },
    ],
    ['a URL capture after the start', { apiBaseUrl: 'https://{loginHost}/{instanceUrl}/' }],
    ['a text capture in a URL', { urls: { tenants: 'https://api.demo.test/{accountId}' } }],
    ['a step naming no url', { connectSteps: [{ endpoint: 'nope', capture: { a: 'a' }, whenEmpty: 'x' }] }],
    [
      'a step without whenEmpty',
      { connectSteps: [{ endpoint: 'tenants', capture: { a: 'a' }, whenEmpty: '' }] },
    ],
    ['a token header without the token', { tokenHeader: { header: 'X-T', template: 'fixed' } }],
    ['a header name with a space', { apiHeaders: { 'Bad Name': 'x' } }],
    ['a header over an unknown param', { apiHeaders: { 'X-A': '{nobody}' } }],
    ['an unknown RFC code', { errorCodes: { oops: 'not_a_code' as never } }],
    ['a rejection without values', { apiTokenRejection: { path: 'error', values: [] } }],
    ['a body format of its own', { tokenRequestBody: 'xml' as never }],
  ];
  for (const [what, override] of bad) {
    it(`refuses ${what}`, () => {
      expect(() => spec(override)).toThrow(ConfigError);
    });
  }
});
