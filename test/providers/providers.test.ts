import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { hostAllowed } from '../../src/protocol/redirect-policy.js';
import { resolveParams } from '../../src/providers/params.js';
import { presets } from '../../src/providers/presets/index.js';
import { ProviderRegistry } from '../../src/providers/registry.js';
import type { ParamSpec } from '../../src/providers/spec.js';
import { endpointsFor, expandTemplate } from '../../src/providers/template.js';

describe('URL templates', () => {
  it('expands the presets over their params and derived variables', () => {
    const reg = ProviderRegistry.create();
    expect(endpointsFor(reg.get('checkfront'), { company: 'acme' })).toEqual({
      authorizationUrl: 'https://acme.checkfront.com/oauth/',
      tokenUrl: 'https://acme.checkfront.com/oauth/token/',
      apiBaseUrl: 'https://acme.checkfront.com/',
    });
    expect(endpointsFor(reg.get('cronofy'), { dataCenter: 'de' })).toEqual({
      authorizationUrl: 'https://app-de.cronofy.com/oauth/authorize',
      tokenUrl: 'https://api-de.cronofy.com/oauth/token',
      revocationUrl: 'https://api-de.cronofy.com/oauth/token/revoke',
      apiBaseUrl: 'https://api-de.cronofy.com/',
    });
    expect(endpointsFor(reg.get('cronofy'), { dataCenter: 'us' }).tokenUrl).toBe(
      'https://api.cronofy.com/oauth/token',
    );
    expect(endpointsFor(reg.get('checkbook'), { environment: 'sandbox' }).tokenUrl).toBe(
      'https://sandbox.app.checkbook.io/web/v1/auth/oauth/token',
    );
    expect(endpointsFor(reg.get('checkbook'), { environment: 'production' }).tokenUrl).toBe(
      'https://app.checkbook.io/web/v1/auth/oauth/token',
    );
  });

  it('names the missing variable', () => {
    expect(() => expandTemplate('https://{company}.x.com/', {})).toThrow(ConfigError);
    expect(() => expandTemplate('https://{company}.x.com/', {})).toThrow(/\{company\}/);
  });

  it('percent-encodes values so a param cannot change the host (property)', () => {
    fc.assert(
      fc.property(fc.string(), (value) => {
        const url = new URL(expandTemplate('https://api.example.com/{x}/rest', { x: value }));
        expect(url.host).toBe('api.example.com');
      }),
    );
  });
});

describe('params', () => {
  const reg = ProviderRegistry.create();
  it('fills defaults and checks values and patterns', () => {
    expect(resolveParams(reg.get('cronofy'), {})).toEqual({ dataCenter: 'us' });
    expect(resolveParams(reg.get('checkissuing'), { environment: 'sandbox' })).toEqual({
      environment: 'sandbox',
    });
    expect(() => resolveParams(reg.get('cronofy'), { dataCenter: 'mars' })).toThrow(
      expect.objectContaining({ remediation: 'Use one of: us, au, ca, de, sg, uk.' }),
    );
    expect(() => resolveParams(reg.get('checkfront'), {})).toThrow(/needs the param "company"/);
    expect(() => resolveParams(reg.get('checkfront'), { company: 'evil.com/x' })).toThrow(ConfigError);
    expect(() => resolveParams(reg.get('checkfront'), { company: 'acme', region: 'eu' })).toThrow(
      /no param "region"/,
    );
  });
});

describe('registry', () => {
  it('overrides preset fields and keeps the rest', () => {
    const reg = ProviderRegistry.create({ cronofy: { tokenUrl: 'http://127.0.0.1:9/{dataCenter}/token' } });
    const spec = reg.get('cronofy');
    expect(spec.tokenUrl).toBe('http://127.0.0.1:9/{dataCenter}/token');
    expect(spec.clientAuth).toBe('json');
    expect(presets['cronofy']?.tokenUrl).toBe('https://{apiHost}/oauth/token');
  });

  it('adds a provider from a few fields and fills defaults', () => {
    const reg = ProviderRegistry.create({
      acme: {
        authorizationUrl: 'https://acme.test/authorize',
        tokenUrl: 'https://acme.test/token',
        apiBaseUrl: 'https://api.acme.test/',
      },
    });
    const spec = reg.get('acme');
    expect(spec.authModes).toEqual(['oauth2']);
    expect(spec.clientAuth).toBe('basic');
    expect(spec.displayName).toBe('acme');
  });

  it('rejects specs that cannot work, saying which field to fix', () => {
    expect(() => ProviderRegistry.create({ x: { tokenUrl: 'https://x.test/token' } })).toThrow(/apiBaseUrl/);
    expect(() => ProviderRegistry.create({ x: { apiBaseUrl: 'https://x.test/' } })).toThrow(/no auth mode/);
    expect(() =>
      ProviderRegistry.create({
        x: { tokenUrl: 'https://{tenant}.x.test/token', apiBaseUrl: 'https://x.test/' },
      }),
    ).toThrow(/\{tenant\}/);
    expect(() => ProviderRegistry.create().get('nope')).toThrow(/does not know the provider "nope"/);
    expect(() => ProviderRegistry.create({ cronofy: { tokenURL: 'https://x.test/' } as never })).toThrow(
      /unknown field "tokenURL"/,
    );
    // A field that did nothing was removed; a config that still sets it is told so.
    expect(() => ProviderRegistry.create({ cronofy: { rotation: 'always' } as never })).toThrow(
      /sets "rotation", which Baton no longer reads/,
    );
    for (const bad of [0, -5, 1.5, '60'])
      expect(() =>
        ProviderRegistry.create({ cronofy: { authorizationCodeLifetimeSeconds: bad as never } }),
      ).toThrow(/authorizationCodeLifetimeSeconds is not a whole number of seconds/);
    for (const bad of [{ param: 'hmac' }, { param: 'a b', algorithm: 'hmac-sha256-hex' }, 'hmac'])
      expect(() => ProviderRegistry.create({ shopify: { callbackSignature: bad as never } })).toThrow(
        /callbackSignature is not \{ param, algorithm: 'hmac-sha256-hex'/,
      );
    expect(
      ProviderRegistry.create({
        cronofy: { callbackSignature: { param: 'sig', algorithm: 'hmac-sha256-hex' } },
      }).get('cronofy').callbackSignature,
    ).toEqual({ param: 'sig', algorithm: 'hmac-sha256-hex' });
  });

  it("checks the connect pages' words in a spec: labels are text, value labels name allowed values", () => {
    const presets = ProviderRegistry.create();
    // The presets carry their own words (README, "Providers" and "Connect pages").
    expect(presets.get('cronofy').params['dataCenter']?.valueLabels?.['de']).toBe('Germany');
    expect(presets.get('checkfront').accountParam).toBe('company');
    const dataCenter = presets.get('cronofy').params['dataCenter'];
    const params = (extra: object) => ({
      cronofy: { params: { dataCenter: { ...dataCenter, ...extra } as ParamSpec } },
    });
    expect(() => ProviderRegistry.create(params({ label: 'Region', hint: 'Where it lives.' }))).not.toThrow();
    expect(() => ProviderRegistry.create(params({ label: '' }))).toThrow(/params\.dataCenter\.label/);
    expect(() => ProviderRegistry.create(params({ hint: 7 }))).toThrow(/params\.dataCenter\.hint/);
    expect(() => ProviderRegistry.create(params({ valueLabels: { mars: 'Mars' } }))).toThrow(
      /valueLabels names "mars", which is not one of its values/,
    );
    expect(() => ProviderRegistry.create(params({ valueLabels: ['x'] }))).toThrow(
      /valueLabels is not an object/,
    );
    expect(() => ProviderRegistry.create({ cronofy: { accountParam: 'company' } })).toThrow(
      /accountParam "company" is not one of its params/,
    );
    expect(() => ProviderRegistry.create({ cronofy: { environmentParam: 'env' } })).toThrow(
      /environmentParam "env" is not one of its params/,
    );
  });

  it('takes sliding and absolute refresh-token lifetimes together, the presets as they were, and refuses what cannot be kept', () => {
    // The presets' { seconds, sliding } stay valid.
    expect(ProviderRegistry.create().get('checkfront').refreshTokenLifetime).toEqual({
      seconds: 14 * 86_400,
      sliding: true,
    });
    const atlassian = ProviderRegistry.create({
      cronofy: {
        refreshTokenLifetime: { seconds: 90 * 86_400, sliding: true, absoluteSeconds: 365 * 86_400 },
        refreshTokenReuse: { mode: 'window', seconds: 600, revokesFamily: true },
        refreshTokenExpiresInField: 'x_refresh_token_expires_in',
      },
    }).get('cronofy');
    expect(atlassian.refreshTokenLifetime?.absoluteSeconds).toBe(365 * 86_400);
    expect(atlassian.refreshTokenReuse).toEqual({ mode: 'window', seconds: 600, revokesFamily: true });
    expect(
      ProviderRegistry.create({ cronofy: { refreshTokenReuse: { mode: 'until_new_used' } } }).get('cronofy')
        .refreshTokenReuse,
    ).toEqual({ mode: 'until_new_used' });
    const refused: [unknown, RegExp][] = [
      [{ refreshTokenLifetime: { seconds: 0, sliding: true } }, /refreshTokenLifetime has seconds/],
      [{ refreshTokenLifetime: { seconds: 60, sliding: 'yes' } }, /has sliding that is not true or false/],
      [{ refreshTokenLifetime: { seconds: 60, sliding: true, absoluteSeconds: -1 } }, /has absoluteSeconds/],
      [{ refreshTokenLifetime: { seconds: 60, sliding: true, absolute: 5 } }, /unknown field "absolute"/],
      [
        { refreshTokenReuse: { mode: 'grace', seconds: 60 } },
        /refreshTokenReuse has an unknown mode "grace"/,
      ],
      [{ refreshTokenReuse: { mode: 'window', seconds: 1.5 } }, /has seconds that are not a whole number/],
      [
        { refreshTokenReuse: { mode: 'until_new_used', seconds: 60 } },
        /a field "seconds" its mode does not take/,
      ],
      [{ refreshTokenReuse: { mode: 'window', seconds: 60, revokesFamily: 1 } }, /revokesFamily/],
      [
        { refreshTokenExpiresInField: 'x refresh' },
        /refreshTokenExpiresInField is not a token-response field/,
      ],
    ];
    for (const [override, message] of refused) {
      const err = (() => {
        try {
          ProviderRegistry.create({ cronofy: override as never });
        } catch (e) {
          return e;
        }
        return null;
      })();
      expect(err, JSON.stringify(override)).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toMatch(message);
      // A fault of the operator's configuration: it says where the field is set, and the
      // server never shows it to a caller (README, "Errors").
      expect((err as ConfigError).remediation).toMatch(/^Set refreshToken\w+ in Baton\.open\(.*For example/);
      expect((err as ConfigError).forOperator).toBe(true);
    }
  });
});

describe('redirect policy', () => {
  const origin = new URL('https://acme.checkfront.com/api/3.0/ping');
  it('allows the origin and matching patterns only, on dot boundaries', () => {
    const ok = (u: string, p: string[]) => hostAllowed(new URL(u), p, origin);
    expect(ok('https://acme.checkfront.com/other', [])).toBe(true);
    expect(ok('https://acme.manage.na1.bookingplatform.app/api', ['*.bookingplatform.app'])).toBe(true);
    expect(ok('https://bookingplatform.app/api', ['*.bookingplatform.app'])).toBe(false);
    expect(ok('https://evilbookingplatform.app/api', ['*.bookingplatform.app'])).toBe(false);
    expect(ok('https://bookingplatform.app.evil.com/api', ['*.bookingplatform.app'])).toBe(false);
    expect(ok('http://acme.manage.na1.bookingplatform.app/api', ['*.bookingplatform.app'])).toBe(false);
    expect(hostAllowed(new URL('http://127.0.0.1:4011/x'), ['127.0.0.1:4011'])).toBe(true);
    expect(hostAllowed(new URL('http://127.0.0.1:4012/x'), ['127.0.0.1:4011'])).toBe(false);
  });

  it('never allows a host that does not end with an allowed suffix (property)', () => {
    fc.assert(
      fc.property(fc.domain(), (domain) => {
        fc.pre(!domain.endsWith('.bookingplatform.app'));
        expect(hostAllowed(new URL(`https://${domain}/`), ['*.bookingplatform.app'], origin)).toBe(
          domain === 'acme.checkfront.com',
        );
      }),
    );
  });
});
