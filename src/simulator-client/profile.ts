import { fetch } from 'undici';
import type { ClientRegistration } from '../core/clients.js';
import { ConfigError } from '../errors.js';
import { presets } from '../providers/presets/index.js';
import type { ProviderOverride } from '../providers/spec.js';

/**
 * Points Baton's presets at a running simulator: its discovery document lists each vendor's
 * endpoints as URL templates over the same params the presets use. Only URLs (the spec's
 * further `urls` too), credentials and the hosts a migration or a captured API base may reach
 * are overridden; everything else (client auth style,
 * lifetimes, dialect) stays the preset's, so a wrong preset disagrees with the
 * simulator instead of being papered over. Vendors the simulator serves without a preset of
 * the same id are left out.
 */

interface DiscoveryVendor {
  /** A vendor Baton finds by its issuer (the MCP persona): it needs no provider override. */
  issuer?: string;
  endpoints: Record<string, string>;
  identityPath?: string;
  clients?: { clientId: string; clientSecret: string; params?: Record<string, string> }[];
  apiKeys?: { apiKey: string; apiSecret?: string; params?: Record<string, string> }[];
  accounts?: string[];
  params?: Record<string, string[]>;
  scopes?: string[];
}

export interface SimulatorDiscovery {
  simulator: string;
  version: number;
  origin: string;
  migrationOrigin: string;
  admin: string;
  /** The simulator's own callback page (simulators before it had none). */
  callback?: string;
  vendors: Record<string, DiscoveryVendor>;
}

export interface SimulatorProfile {
  providers: Record<string, ProviderOverride>;
  clients: Record<string, ClientRegistration[]>;
  apiKeys: Record<string, { apiKey: string; apiSecret?: string; params: Record<string, string> }[]>;
  discovery: SimulatorDiscovery;
}

const ENDPOINT_FIELDS: Record<string, keyof ProviderOverride> = {
  authorize: 'authorizationUrl',
  token: 'tokenUrl',
  revoke: 'revocationUrl',
  apiBase: 'apiBaseUrl',
};

/**
 * A simulator template may name a value as the vendor's answer spells it (`{instance_url}`);
 * the presets name every param and captured value in camelCase (`{instanceUrl}`).
 */
function camelPlaceholders(template: string): string {
  return template.replace(
    /\{([a-z][a-z0-9]*(?:_[a-z0-9]+)+)\}/g,
    (_, name: string) => `{${name.replace(/_([a-z0-9])/g, (__, c: string) => c.toUpperCase())}}`,
  );
}

/**
 * `redirectUri` is where a consent at the simulator sends the browser; without one, the
 * simulator's own callback page, which shows the URL to pass to completeAuthorization; null
 * for none (the program passes its own to beginAuthorization, as the CLI does).
 */
export function simulatorProfile(
  discovery: SimulatorDiscovery,
  redirectUri?: string | null,
): SimulatorProfile {
  if (discovery?.simulator !== 'baton-simulator' || typeof discovery.vendors !== 'object') {
    throw new ConfigError(
      'That URL did not answer as a Baton simulator.',
      'Start one with `baton simulate` and pass its URL (it serves /.well-known/baton-simulator).',
    );
  }
  const providers: Record<string, ProviderOverride> = {};
  const clients: Record<string, ClientRegistration[]> = {};
  const apiKeys: SimulatorProfile['apiKeys'] = {};
  const redirect = redirectUri === null ? undefined : (redirectUri ?? discovery.callback);
  for (const [id, vendor] of Object.entries(discovery.vendors)) {
    // An authorization server found from its issuer (an MCP server's) is reached through
    // discovery, never through a preset (docs/architecture.md, "MCP").
    if (vendor.issuer) continue;
    // A vendor without a preset has no spec for these URLs to override: Baton leaves it out.
    if (!Object.hasOwn(presets, id)) continue;
    const override: Record<string, unknown> = {};
    for (const [name, field] of Object.entries(ENDPOINT_FIELDS)) {
      const url = vendor.endpoints[name];
      if (url) override[field] = camelPlaceholders(url);
    }
    // Every further endpoint it names (Xero `connections`, Atlassian `accessibleResources`,
    // `userinfo`) replaces the spec's URL of that name.
    const urls: Record<string, string> = {};
    for (const [name, url] of Object.entries(vendor.endpoints)) {
      if (!(name in ENDPOINT_FIELDS) && name !== 'migratedApiBase' && url)
        urls[name] = camelPlaceholders(url);
    }
    if (Object.keys(urls).length > 0) override['urls'] = urls;
    if (vendor.identityPath) override['identityPath'] = vendor.identityPath;
    const hosts: string[] = [];
    if (vendor.endpoints['migratedApiBase']) hosts.push(new URL(discovery.migrationOrigin).host);
    // An API base the vendor names while connecting (Salesforce's instance URL) lives on the
    // simulator's own origin: that host may receive the credentials.
    if (vendor.endpoints['apiBase']?.startsWith('{')) hosts.push(new URL(discovery.origin).host);
    if (hosts.length > 0) override['redirectAuthHosts'] = hosts;
    providers[id] = override as ProviderOverride;
    clients[id] = (vendor.clients ?? []).map((c) => ({
      clientId: c.clientId,
      clientSecret: c.clientSecret,
      ...(redirect ? { redirectUri: redirect } : {}),
      ...(c.params && Object.keys(c.params).length > 0 ? { params: c.params } : {}),
    }));
    apiKeys[id] = (vendor.apiKeys ?? []).map((k) => ({
      apiKey: k.apiKey,
      ...(k.apiSecret ? { apiSecret: k.apiSecret } : {}),
      params: k.params ?? {},
    }));
  }
  return { providers, clients, apiKeys, discovery };
}

/**
 * Fetches a running simulator's discovery document and turns it into Baton.open() options
 * (README, "The simulator"); `redirectUri` as for simulatorProfile.
 */
export async function connectSimulator(url: string, redirectUri?: string | null): Promise<SimulatorProfile> {
  const res = await fetch(new URL('/.well-known/baton-simulator', url)).catch((err: unknown) => {
    throw new ConfigError(
      `No simulator answers at ${url}.`,
      'Start one with `baton simulate` and check the port.',
      {
        cause: err,
      },
    );
  });
  if (!res.ok) {
    throw new ConfigError(
      `${url} answered ${res.status} for the simulator discovery document.`,
      'Check the simulator URL.',
    );
  }
  return simulatorProfile((await res.json()) as SimulatorDiscovery, redirectUri);
}
