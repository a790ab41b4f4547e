import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { resolveApiUrl, UnsafeApiPath } from '../../src/providers/api-url.js';
import { checkParamValue, resolveParams } from '../../src/providers/params.js';
import { ProviderRegistry } from '../../src/providers/registry.js';
import { endpointsFor, expandTemplate } from '../../src/providers/template.js';

/** Percent-decodes each run of escapes that decodes, leaving the rest (as a lax server might). */
function lenientDecode(s: string): string {
  return s.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run.replace(/%2e/gi, '.');
    }
  });
}

const BASE = 'https://api.example.test/t/acme/api/';

function refused(path: string, base = BASE): ConfigError {
  let caught: unknown;
  try {
    const url = resolveApiUrl(base, path);
    caught = new Error(`resolved to ${url.href}`);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  return caught as ConfigError;
}

describe('resolveApiUrl', () => {
  it('resolves paths under the base, a leading slash included', () => {
    expect(resolveApiUrl(BASE, 'v1/items').href).toBe(`${BASE}v1/items`);
    expect(resolveApiUrl(BASE, '/v1/items?x=../..#y').href).toBe(`${BASE}v1/items?x=../..#y`);
    expect(resolveApiUrl('https://api.example.test/t/acme/api', 'ping').href).toBe(`${BASE}ping`);
    expect(resolveApiUrl(BASE, 'files/report.v2.json').href).toBe(`${BASE}files/report.v2.json`);
    expect(resolveApiUrl(BASE, 'users/a@b.test/x').href).toBe(`${BASE}users/a@b.test/x`);
    expect(resolveApiUrl(BASE, 'search/100%').pathname).toBe('/t/acme/api/search/100%');
    expect(resolveApiUrl(BASE, `${BASE}v1/x`).href).toBe(`${BASE}v1/x`);
    // Another origin is for the host policy (redirectAuthHosts) to judge.
    expect(resolveApiUrl(BASE, 'https://files.example.test/a').host).toBe('files.example.test');
  });

  it('refuses dot segments, raw, percent-encoded in either case, mixed or spelt with look-alike dots', () => {
    for (const path of [
      '../../x',
      '..',
      'a/../../b',
      './x',
      'a/./b',
      '%2e%2e/x',
      '%2E%2E/x',
      '%2e./x',
      '.%2E/x',
      'a/%2e/b',
      '%252e%252e/x', // double-encoded
      '．．/x', // fullwidth full stop
      '%EF%BC%8E%EF%BC%8E/x',
      '%E3%80%82%E3%80%82/x', // ideographic full stop
      '。。/x',
      '｡｡/x', // halfwidth ideographic full stop
      '‥/x', // two-dot leader
      '.\t./x', // the URL parser drops tabs and newlines
      '.\n./x',
    ]) {
      const err = refused(path);
      expect(err.message).toContain('leave the API base');
      expect(err.remediation).toMatch(/percent-encode/);
    }
  });

  it('refuses backslashes, encoded slashes, a leading // and control characters', () => {
    for (const path of [
      '..\\x',
      'a\\b',
      '%5c..%5cx',
      'a%5Cb',
      '..%2fx',
      'a%2Fb',
      '//evil.test/x',
      '\\\\evil.test/x',
      '/\\evil.test/x',
      'a%00b',
      'a\u0000b',
      'a／b'.replace('／', '%EF%BC%8F'), // fullwidth solidus, NFKC-folds to "/"
    ]) {
      refused(path);
    }
  });

  it('refuses an absolute URL on the API origin outside the base path, or with userinfo', () => {
    expect(refused('https://api.example.test/admin').message).toContain('outside the base path /t/acme/api/');
    refused('https://api.example.test/t/acme/api/../../admin');
    refused('https://api.example.test/t/acme/api/%2e%2e/x');
    refused('https://user:pw@api.example.test/t/acme/api/x');
    refused('https://api.example.test@evil.test/t/acme/api/x');
  });

  it('relativeOnly: any absolute URL (whatever its scheme) and any "@" are refused, naming the connection', () => {
    const rule = { relativeOnly: true, connectionId: 'acme', provider: 'keyed' };
    for (const path of [
      `${BASE}v1/x`,
      'https://files.example.test/a',
      'HTTP://evil.test/x',
      'mailto:a@b.test',
      'javascript:alert(1)',
      'user@evil.test/x',
      'users/a@b.test/x',
    ]) {
      let caught: unknown;
      try {
        caught = new Error(`resolved to ${resolveApiUrl(BASE, path, rule).href}`);
      } catch (err) {
        caught = err;
      }
      expect(caught, path).toBeInstanceOf(UnsafeApiPath);
      expect((caught as UnsafeApiPath).message).toContain('is an absolute URL or carries "@"');
      expect((caught as UnsafeApiPath).connectionId).toBe('acme');
      expect((caught as UnsafeApiPath).provider).toBe('keyed');
    }
    // An "@" after the path (in the query) and an encoded one are values, not hosts.
    expect(resolveApiUrl(BASE, 'v1/users?email=a@b.test', rule).href).toBe(`${BASE}v1/users?email=a@b.test`);
    expect(resolveApiUrl(BASE, 'users/a%40b.test', rule).href).toBe(`${BASE}users/a%40b.test`);
    // The other refusals name the connection too.
    expect(() => resolveApiUrl(BASE, '../x', rule)).toThrow(
      expect.objectContaining({ connectionId: 'acme', provider: 'keyed' }),
    );
  });

  it('names the path in the message, redacting anything shaped like a credential', () => {
    const err = refused('../x?access_token=abc123');
    expect(err.message).toContain('"../x?access_token=[redacted]"');
    expect(err.message).not.toContain('abc123');
  });

  const piece = fc.constantFrom(
    '..',
    '.',
    '%2e',
    '%2E',
    '%2f',
    '%2F',
    '\\',
    '%5c',
    '%5C',
    '/',
    '//',
    '@',
    ':',
    '?',
    '#',
    '%',
    '%25',
    '．',
    '。',
    '%E3%80%82',
    '%EF%BC%8E',
    'a',
    'x.y',
    'evil.test',
    'https:',
    'http://',
    'api.example.test',
    '\t',
    ' ',
  );

  it('any path made of dangerous pieces is refused or lands inside the base path (property)', () => {
    for (const base of [BASE, 'https://api.example.test/', 'http://127.0.0.1:8080/v1']) {
      const baseUrl = new URL(base.endsWith('/') ? base : `${base}/`);
      fc.assert(
        fc.property(fc.array(piece, { minLength: 1, maxLength: 12 }), (pieces) => {
          const path = pieces.join('');
          let url: URL;
          try {
            url = resolveApiUrl(base, path);
          } catch (err) {
            expect(err).toBeInstanceOf(ConfigError);
            return;
          }
          if (url.origin !== baseUrl.origin) return; // absolute URL elsewhere: the host policy's call
          expect(url.pathname.startsWith(baseUrl.pathname), `${path} → ${url.href}`).toBe(true);
          expect(url.username).toBe('');
          // No server that decodes or folds the path again finds a way out either.
          const again = lenientDecode(url.pathname)
            .normalize('NFKC')
            .replace(/[\u3002\uff61]/g, '.');
          expect(again.split('/').map((s) => s.trim())).not.toContain('..');
        }),
        { numRuns: 2000 },
      );
    }
  });
});

describe('param values before templating', () => {
  const reg = ProviderRegistry.create({
    tenanted: {
      displayName: 'Tenanted',
      authModes: ['oauth2'],
      params: { tenant: { description: 'the tenant' } },
      authorizationUrl: 'https://id.example.test/authorize',
      tokenUrl: 'https://id.example.test/t/{tenant}/token',
      apiBaseUrl: 'https://api.example.test/t/{tenant}/api/',
    },
  });
  const spec = reg.get('tenanted');

  it('refuses "..", "." and anything outside the unreserved characters, naming the param', () => {
    for (const value of [
      '..',
      '.',
      '../admin',
      'a/b',
      'a%2fb',
      'a b',
      'ｔｅｎａｎｔ',
      'a\\b',
      '%2e%2e',
      'a?b',
      'a#b',
    ]) {
      let caught: unknown;
      try {
        resolveParams(spec, { tenant: value });
      } catch (err) {
        caught = err;
      }
      expect(caught, value).toBeInstanceOf(ConfigError);
      expect((caught as ConfigError).message).toContain('param "tenant"');
      expect((caught as ConfigError).remediation).toMatch(/letters, digits/);
      // A stored row that skipped resolveParams is refused when its endpoints are built.
      expect(() => endpointsFor(spec, { tenant: value })).toThrow(ConfigError);
    }
    expect(resolveParams(spec, { tenant: 'acme-1.eu_2~x' })).toEqual({ tenant: 'acme-1.eu_2~x' });
    expect(endpointsFor(spec, { tenant: 'acme' }).apiBaseUrl).toBe('https://api.example.test/t/acme/api/');
  });

  it('every accepted value keeps the API base under its prefix (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), (value) => {
        let base: string;
        try {
          checkParamValue(spec, 'tenant', value);
          base = endpointsFor(spec, { tenant: value }).apiBaseUrl;
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          return;
        }
        const url = new URL(base);
        expect(url.host).toBe('api.example.test');
        expect(url.pathname).toBe(`/t/${value}/api/`);
        expect(expandTemplate('/t/{tenant}/api/', { tenant: value })).toBe(`/t/${value}/api/`);
      }),
      { numRuns: 500 },
    );
  });
});
