import type { Baton, BatonOptions } from '../../src/core/baton.js';
import type { Simulator, SimulatorOptions, Vendor } from '../../src/simulator/index.js';
import type { SimulatorProfile } from '../../src/simulator-client/profile.js';
import { mcpSetUp } from './mcp-model.js';

/**
 * The providers the model runs against (docs/soak.md, "Personas"): what each does with a
 * refresh token it replaced, the simulator and Baton's spec agreeing on it, and how a
 * connection to it is made. The driver (driver.ts) asks the persona instead of naming a vendor.
 */
export type PersonaName = 'cronofy' | 'xero' | 'atlassian' | 'mcp-dcr' | 'mcp-cimd';
export const PERSONAS: readonly PersonaName[] = ['cronofy', 'xero', 'atlassian', 'mcp-dcr', 'mcp-cimd'];

/** A replaced refresh token still refreshes for `seconds`; with `revokesFamily`, presenting it later revokes the grant. */
export interface ReuseRule {
  seconds: number;
  revokesFamily: boolean;
}

/** Cronofy given another provider's documented reuse rule (the simulator and the spec both told). */
export type ReuseVariant = 'window' | 'family';
export const REUSE: Record<ReuseVariant, ReuseRule> = {
  window: { seconds: 1800, revokesFamily: false },
  family: { seconds: 600, revokesFamily: true },
};

/** The persona, set up on a running simulator: how Baton is opened for it and how a connection is authorized. */
export interface PersonaWorld {
  /** Baton.open options besides the store, key, clock and HTTP (providers, clients, MCP identity). */
  batonOptions: Pick<BatonOptions, 'providers' | 'clients' | 'mcp'>;
  /** Begins authorizing `connectionId` (a browser then consents at the simulator). */
  begin(baton: Baton, connectionId: string, redirectUri: string, replace: boolean): Promise<{ url: string }>;
  /** Called once with the first Baton opened (an MCP client metadata document is served from it). */
  ready(baton: Baton): void;
  close(): Promise<void>;
}

export interface Persona {
  name: PersonaName;
  vendor: Vendor;
  /** The reuse window the provider documents; null: a replaced refresh token is refused at once. */
  reuse: ReuseRule | null;
  /**
   * Presenting a replaced refresh token outside its window revokes the whole grant: Atlassian
   * after its leeway, the MCP persona at once (reuse detection).
   */
  reuseRevokesGrant: boolean;
  /** Rotation can be switched (Cronofy); the others replace the refresh token on every refresh. */
  rotationSwitch: boolean;
  /** Answers lost after the provider rotated are among the events. */
  lostAnswers: boolean;
  /** MCP: the authorization server can forget its clients, and how Baton's client is obtained. */
  clientMode: 'dcr' | 'cimd' | null;
  /** A GET under the connection's API base that needs a live access token. */
  apiPath: string;
  simOptions: SimulatorOptions;
  setUp(sim: Simulator, profile: SimulatorProfile): Promise<PersonaWorld>;
}

/** An ordinary preset persona: the simulator's profile of it, and a plain authorization. */
function preset(provider: string) {
  return async (_sim: Simulator, profile: SimulatorProfile): Promise<PersonaWorld> => ({
    batonOptions: { providers: profile.providers, clients: profile.clients },
    begin: (baton, connectionId, redirectUri, replace) =>
      baton.beginAuthorization({
        provider,
        connectionId,
        redirectUri,
        ...(replace ? { replace: true } : {}),
      }),
    ready: () => undefined,
    close: async () => undefined,
  });
}

export function persona(name: PersonaName, reuse?: ReuseVariant): Persona {
  switch (name) {
    case 'cronofy': {
      const rule = reuse ? REUSE[reuse] : null;
      return {
        name,
        vendor: 'cronofy',
        reuse: rule,
        reuseRevokesGrant: rule?.revokesFamily ?? false,
        rotationSwitch: true,
        lostAnswers: rule !== null,
        clientMode: null,
        apiPath: 'v1/account',
        simOptions: { cronofyRotation: 'always' },
        async setUp(sim, profile) {
          if (rule) {
            sim.setRefreshReuse('cronofy', { graceSeconds: rule.seconds, revokesFamily: rule.revokesFamily });
            profile.providers['cronofy'] = {
              ...profile.providers['cronofy'],
              refreshTokenReuse: { mode: 'window', seconds: rule.seconds, revokesFamily: rule.revokesFamily },
            };
          }
          return preset('cronofy')(sim, profile);
        },
      };
    }
    // Xero: every refresh replaces the refresh token; the replaced one refreshes for 30 minutes.
    case 'xero':
      return {
        name,
        vendor: 'xero',
        reuse: { seconds: 1800, revokesFamily: false },
        reuseRevokesGrant: false,
        rotationSwitch: false,
        lostAnswers: true,
        clientMode: null,
        // An accounting call: it carries the Xero-Tenant-Id captured at connect.
        apiPath: 'api.xro/2.0/Organisation',
        simOptions: {},
        setUp: preset('xero'),
      };
    // Atlassian: every refresh rotates; a 10-minute leeway; reuse after it revokes the grant.
    case 'atlassian':
      return {
        name,
        vendor: 'atlassian',
        reuse: { seconds: 600, revokesFamily: true },
        reuseRevokesGrant: true,
        rotationSwitch: false,
        lostAnswers: true,
        clientMode: null,
        apiPath: 'oauth/token/accessible-resources',
        simOptions: {},
        setUp: preset('atlassian'),
      };
    // The MCP persona: rotation on every refresh, any reuse revokes the grant, no window; the
    // client registered by RFC 7591 or named by its Client ID Metadata Document.
    case 'mcp-dcr':
    case 'mcp-cimd': {
      const mode = name === 'mcp-dcr' ? 'dcr' : 'cimd';
      return {
        name,
        vendor: 'mcp',
        reuse: null,
        reuseRevokesGrant: true,
        rotationSwitch: false,
        lostAnswers: true,
        clientMode: mode,
        apiPath: 'tools/whoami',
        // Both ways in are offered in CIMD mode: Baton must prefer the document (MCP authorization, "Client Registration").
        simOptions: { mcp: { dcr: true, cimd: mode === 'cimd' } },
        setUp: (sim, profile) => mcpSetUp(sim, profile, mode),
      };
    }
  }
}
