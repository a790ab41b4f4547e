import { ConfigError } from '../errors.js';
import type { ClientConfig } from '../protocol/types.js';

/**
 * A client registration, optionally limited to connections whose params match: Checkbook and
 * Checkissuing issue different credentials for sandbox and production, Checkfront one per company.
 */
export interface ClientRegistration extends ClientConfig {
  params?: Record<string, string>;
  /**
   * How Baton obtained a client it was not given (registrations.ts): registered at the server
   * (RFC 7591), or a client metadata document's URL. Absent for a configured client.
   */
  obtained?: 'registered' | 'metadata_document';
  /**
   * Client ids this registration replaced after the server refused them: connections authorized
   * under one of them are refreshed with this client, and the server decides whether their grant
   * survived.
   */
  supersedes?: string[];
  /**
   * Clients Baton obtained earlier at the same server (for other redirect URIs) that the server
   * still knows: a connection authorized under one of them keeps using it.
   */
  previous?: ClientRegistration[];
}

export type ClientsOption = Record<string, ClientConfig | ClientRegistration[]>;

function envName(provider: string, suffix: string): string {
  return `BATON_${provider.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_${suffix}`;
}

/** Chooses the client registration for a provider and a connection's params. */
export class ClientDirectory {
  readonly #clients: Map<string, ClientRegistration[]>;
  readonly #env: NodeJS.ProcessEnv;
  /** Clients Baton obtained itself, per provider, as last read from or written to the store. */
  readonly #obtained = new Map<string, ClientRegistration>();

  constructor(clients: ClientsOption | undefined, env: NodeJS.ProcessEnv) {
    this.#env = env;
    this.#clients = new Map();
    for (const [provider, value] of Object.entries(clients ?? {})) {
      this.#clients.set(provider, Array.isArray(value) ? value : [value]);
    }
  }

  /** Records the client Baton obtained for `provider` (null: it has none). */
  adopt(provider: string, client: ClientRegistration | null): void {
    if (client) this.#obtained.set(provider, client);
    else this.#obtained.delete(provider);
  }

  /** The client for `provider` and `params`: a configured one first, else one Baton obtained; undefined when none. */
  find(provider: string, params: Record<string, string>): ClientRegistration | undefined {
    return this.configured(provider, params) ?? this.#obtained.get(provider);
  }

  /** The client configured (Baton.open's clients, the environment) for `provider` and `params`. */
  configured(provider: string, params: Record<string, string>): ClientRegistration | undefined {
    const regs = this.#clients.get(provider);
    if (regs) {
      // The most specific registration whose params all match: a Zoom server-to-server client
      // (for one accountId) before the app's client for everyone.
      let match: ClientRegistration | undefined;
      for (const r of regs) {
        const own = Object.entries(r.params ?? {});
        if (!own.every(([k, v]) => params[k] === v)) continue;
        if (!match || own.length > Object.keys(match.params ?? {}).length) match = r;
      }
      if (match) return match;
    }
    const clientId = this.#env[envName(provider, 'CLIENT_ID')];
    if (clientId) {
      const reg: ClientRegistration = { clientId };
      const secret = this.#env[envName(provider, 'CLIENT_SECRET')];
      const redirectUri = this.#env[envName(provider, 'REDIRECT_URI')];
      const privateKey = this.#env[envName(provider, 'PRIVATE_KEY')];
      const keyId = this.#env[envName(provider, 'KEY_ID')];
      if (secret) reg.clientSecret = secret;
      if (privateKey) reg.privateKey = privateKey;
      if (keyId) reg.keyId = keyId;
      if (redirectUri) reg.redirectUri = redirectUri;
      return reg;
    }
    return undefined;
  }

  require(provider: string, params: Record<string, string>, connectionId?: string): ClientRegistration {
    const found = this.find(provider, params);
    if (found) return found;
    const scope = Object.entries(params)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ');
    throw new ConfigError(
      `No client is configured for ${provider}${scope ? ` (${scope})` : ''}.`,
      `Set ${envName(provider, 'CLIENT_ID')} and ${envName(provider, 'CLIENT_SECRET')}, or pass clients: { ${provider}: { clientId, clientSecret } } to Baton.open().`,
      { provider, connectionId, ...noClientRemediations(provider) },
    );
  }
}

/** A missing client said for the command line and for the HTTP API, where only the operator can add one. */
export function noClientRemediations(provider: string): {
  cliRemediation: string;
  httpRemediation: string;
  forOperator: true;
} {
  return {
    cliRemediation: `Set ${envName(provider, 'CLIENT_ID')} and ${envName(provider, 'CLIENT_SECRET')}, or put the client id in baton.config.json (\`baton config set clients.${provider}.clientId <id>\`) and the secret in ${envName(provider, 'CLIENT_SECRET')}.`,
    httpRemediation: `This server has no OAuth client for ${provider}: its operator must configure one.`,
    forOperator: true,
  };
}
