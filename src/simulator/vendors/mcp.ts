import { createHash } from 'node:crypto';
import {
  basicAuth,
  bearer,
  bodyFields,
  escapeHtml,
  html,
  json,
  redirect,
  type SimRequest,
  type SimResponse,
} from '../http.js';
import { alnum, type Grant, type SimState } from '../state.js';
import type { ClientCredentials, McpCounters, McpSettings } from '../types.js';
import type { SimVendor, VendorRoute } from './vendor.js';

/**
 * A remote MCP server and its authorization server, as the MCP authorization specification
 * (2025-11-25) asks of them, on the simulator's origin under `/mcp/`:
 *
 * - The protected resource `<origin>/mcp/server` (RFC 9728): without a valid token it answers
 *   401 `WWW-Authenticate: Bearer resource_metadata="…"` (the parameter can be switched off, so
 *   a client must fall back to the well-known URL), and it serves its metadata at the
 *   path-inserted well-known URL `/.well-known/oauth-protected-resource/mcp/server`. Its tools
 *   (`GET|POST /mcp/server/tools/<name>`) need scopes: `echo` and `whoami` need `tools:read`,
 *   `write` needs `tools:read tools:write`; a token without them gets 403
 *   `error="insufficient_scope"` naming the scopes already granted plus the missing ones.
 * - The authorization server, issuer `<origin>/mcp` (a path: its RFC 8414 metadata lives at
 *   `/.well-known/oauth-authorization-server/mcp`). It requires PKCE with S256, requires the
 *   RFC 8707 `resource` at authorize (and checks it wherever it is sent) against the resources
 *   it serves, puts `iss` in every authorization response (RFC 9207), and redirects only to a
 *   redirect URI the client registered, exactly.
 * - Clients: one pre-registered confidential client; Dynamic Client Registration (RFC 7591,
 *   `registration_endpoint`) when switched on; Client ID Metadata Documents when switched on
 *   (`client_id_metadata_document_supported`): a client id that is a URL is fetched, must be
 *   JSON naming itself as `client_id` with `client_name` and `redirect_uris`, authenticates with
 *   `none`, and is cached for its `Cache-Control` max-age (5 minutes otherwise). The simulator
 *   fetches `https` documents and, on loopback only, `http` ones.
 * - Tokens: one-hour access tokens bound to their resource; refresh tokens rotated on every use
 *   (OAuth 2.1 §4.3.1 for public clients), and a rotated one presented again revokes its whole
 *   grant (reuse detection). RFC 7009 revocation and RFC 7662 introspection (for resource
 *   servers, with the credential listed in discovery, or for the token's own client).
 * - Switches (`configure`): registration, client metadata documents, `resource_metadata` in the
 *   401, the resource metadata itself (off: 404), and the authorization server as a whole (off:
 *   503 from its metadata and every endpoint, a server that is down).
 * - Eviction (`evictClients`): the server forgets every dynamically registered client — their
 *   grants go with them, and their ids get `invalid_client` — and drops the metadata documents
 *   it cached, which it fetches again at their next use (their grants survive: the client id
 *   is the document's URL).
 */

const ACCOUNTS = ['alice', 'bob'];
const SCOPES = ['tools:read', 'tools:write'];
/** The minimal set for basic use, as the resource's metadata lists it. */
const BASIC_SCOPES = ['tools:read'];
const TOOLS: Record<string, string[]> = {
  echo: ['tools:read'],
  whoami: ['tools:read'],
  write: ['tools:read', 'tools:write'],
};
const AUTH_METHODS = ['none', 'client_secret_basic', 'client_secret_post'] as const;
type AuthMethod = (typeof AUTH_METHODS)[number];
const DOCUMENT_TTL_MS = 5 * 60_000;
const NO_STORE = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  pragma: 'no-cache',
};

interface McpClient {
  clientId: string;
  clientSecret: string | null;
  authMethod: AuthMethod;
  /** null: any http(s) redirect URI (the pre-registered client). */
  redirectUris: string[] | null;
  name: string;
  kind: 'preregistered' | 'dcr' | 'cimd';
}

/** What the persona adds to the simulator beyond routes: its well-known documents and controls. */
export interface McpPersona extends SimVendor {
  /** The RFC 8414 and RFC 9728 documents at the origin's well-known paths. */
  wellKnown(req: SimRequest): SimResponse | null;
  issuer(origin: string): string;
  resource(origin: string): string;
  configure(settings: Partial<McpSettings>): McpSettings;
  addResource(resource: string): void;
  evictClients(): { clients: number; documents: number };
  counters(): McpCounters;
  resetCounters(): void;
}

const err = (status: number, error: string, description?: string, headers: Record<string, string> = {}) => ({
  status,
  headers: { ...NO_STORE, ...headers },
  body: JSON.stringify({ error, ...(description ? { error_description: description } : {}) }),
});

function isLoopback(u: URL): boolean {
  return ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
}

function parseUrl(s: string | undefined): URL | null {
  if (!s) return null;
  try {
    return new URL(s);
  } catch {
    return null;
  }
}

/** A redirect URI a client may register: https, or http on a loopback host; no fragment. */
function validRedirectUri(s: unknown): boolean {
  const u = typeof s === 'string' ? parseUrl(s) : null;
  return !!u && !u.hash && (u.protocol === 'https:' || (u.protocol === 'http:' && isLoopback(u)));
}

export function mcp(
  state: SimState,
  consent: () => 'auto' | 'prompt',
  originOf: () => string,
  initial: Partial<McpSettings> = {},
): McpPersona {
  const cred = state.credentials;
  const preregistered: ClientCredentials = {
    clientId: `mcp_${cred.alnum(24)}`,
    clientSecret: cred.alnum(48),
    params: {},
  };
  const resourceServer = { clientId: `rs_${cred.alnum(16)}`, clientSecret: cred.alnum(40) };
  const settings: McpSettings = {
    dcr: true,
    cimd: true,
    resourceMetadataInHeader: true,
    resourceMetadataServed: true,
    authorizationServerUp: true,
    ...initial,
  };
  const registered = new Map<string, McpClient>();
  const documents = new Map<string, { client: McpClient; expiresAt: number }>();
  const extraResources = new Set<string>();
  /** Per access token: the scope it carries (a refresh may ask for less than the grant). */
  const tokenScopes = new Map<string, string>();
  let counters: McpCounters = { registrations: 0, documentFetches: 0, reuseDetected: 0 };
  // A state file keeps the clients it registered and the scope of each token, as a real
  // authorization server keeps them across restarts (metadata documents are fetched again).
  state.keep('mcp', {
    save: () => ({ registered: [...registered.values()], tokenScopes: [...tokenScopes] }),
    load: (saved) => {
      const part = saved as { registered?: McpClient[]; tokenScopes?: [string, string][] } | null;
      for (const c of part?.registered ?? []) registered.set(c.clientId, c);
      for (const [token, scope] of part?.tokenScopes ?? []) tokenScopes.set(token, scope);
    },
  });

  const issuerOf = (o: string) => `${o}/mcp`;
  const resourceOf = (o: string) => `${o}/mcp/server`;
  const prmUrl = () => `${originOf()}/.well-known/oauth-protected-resource/mcp/server`;
  const lifetime = () => state.accessLifetime('mcp', 3600_000);
  const knownResource = (r: string) => r === resourceOf(originOf()) || extraResources.has(r);

  function serverMetadata(): Record<string, unknown> {
    const issuer = issuerOf(originOf());
    return {
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      revocation_endpoint: `${issuer}/revoke`,
      introspection_endpoint: `${issuer}/introspect`,
      ...(settings.dcr ? { registration_endpoint: `${issuer}/register` } : {}),
      ...(settings.cimd ? { client_id_metadata_document_supported: true } : {}),
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: [...AUTH_METHODS],
      revocation_endpoint_auth_methods_supported: [...AUTH_METHODS],
      authorization_response_iss_parameter_supported: true,
      scopes_supported: SCOPES,
    };
  }

  function resourceMetadata(): Record<string, unknown> {
    return {
      resource: resourceOf(originOf()),
      authorization_servers: [issuerOf(originOf())],
      scopes_supported: BASIC_SCOPES,
      bearer_methods_supported: ['header'],
      resource_name: 'Simulated MCP server',
    };
  }

  /** A Client ID Metadata Document, fetched and checked (or from the cache while it is fresh). */
  async function fromDocument(url: string): Promise<McpClient | string> {
    const cached = documents.get(url);
    if (cached && cached.expiresAt > state.clock.now()) return cached.client;
    const u = parseUrl(url);
    if (!u || !(u.protocol === 'https:' || (u.protocol === 'http:' && isLoopback(u))) || u.pathname === '/')
      return 'The client_id is not a URL this server fetches (https, with a path).';
    counters.documentFetches++;
    let res: Response;
    try {
      res = await fetch(u, { headers: { accept: 'application/json' }, redirect: 'error' });
    } catch {
      return 'The client metadata document could not be fetched.';
    }
    if (!res.ok) return `The client metadata document answered HTTP ${res.status}.`;
    let doc: Record<string, unknown>;
    try {
      const parsed: unknown = await res.json();
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      doc = parsed as Record<string, unknown>;
    } catch {
      return 'The client metadata document is not a JSON object.';
    }
    if (doc['client_id'] !== url) return 'The client metadata document names another client_id.';
    const uris = doc['redirect_uris'];
    if (!Array.isArray(uris) || uris.length === 0 || !uris.every(validRedirectUri))
      return 'The client metadata document has no valid redirect_uris.';
    if (typeof doc['client_name'] !== 'string') return 'The client metadata document has no client_name.';
    const method = doc['token_endpoint_auth_method'] ?? 'none';
    if (method !== 'none') return 'A client metadata document client authenticates with none here.';
    const client: McpClient = {
      clientId: url,
      clientSecret: null,
      authMethod: 'none',
      redirectUris: uris as string[],
      name: doc['client_name'],
      kind: 'cimd',
    };
    const maxAge = /max-age=(\d+)/.exec(res.headers.get('cache-control') ?? '')?.[1];
    documents.set(url, {
      client,
      expiresAt: state.clock.now() + (maxAge === undefined ? DOCUMENT_TTL_MS : Number(maxAge) * 1000),
    });
    return client;
  }

  async function clientById(id: string | undefined): Promise<McpClient | string> {
    if (!id) return 'No client_id.';
    if (id === preregistered.clientId) {
      return {
        clientId: id,
        clientSecret: preregistered.clientSecret,
        authMethod: 'client_secret_basic',
        redirectUris: null,
        name: 'Pre-registered client',
        kind: 'preregistered',
      };
    }
    const dcr = registered.get(id);
    if (dcr) return dcr;
    if (settings.cimd && /^https?:\/\//.test(id)) return fromDocument(id);
    return 'The client is not known to this server.';
  }

  /** RFC 6749 §2.3.1 / RFC 7591 `token_endpoint_auth_method`: the client, authenticated as it registered. */
  async function authenticate(req: SimRequest, f: Record<string, string>): Promise<McpClient | SimResponse> {
    const basic = basicAuth(req);
    const id = basic?.user ?? f['client_id'];
    const found = await clientById(id);
    const refuse = (why: string) =>
      err(basic ? 401 : 400, 'invalid_client', why, basic ? { 'www-authenticate': 'Basic realm="mcp"' } : {});
    if (typeof found === 'string') return refuse(found);
    if (basic && f['client_id'] !== undefined && f['client_id'] !== basic.user)
      return refuse('Two different client ids.');
    // Pre-registered clients may use either secret method; the others the one they registered.
    const method =
      found.kind === 'preregistered'
        ? basic
          ? 'client_secret_basic'
          : 'client_secret_post'
        : found.authMethod;
    if (method === 'none') {
      if (basic || f['client_secret'] !== undefined) return refuse('This client authenticates with none.');
      return found;
    }
    const secret = method === 'client_secret_basic' ? basic?.pass : f['client_secret'];
    if (method === 'client_secret_basic' && !basic)
      return refuse('This client authenticates with HTTP Basic.');
    if (method === 'client_secret_post' && basic) return refuse('This client authenticates in the body.');
    if (!secret || secret !== found.clientSecret) return refuse('Wrong client secret.');
    return found;
  }

  function issue(grant: Grant, scope: string): SimResponse {
    const token = alnum(40);
    state.issueAccessToken(grant, token, lifetime());
    tokenScopes.set(token, scope);
    return {
      status: 200,
      headers: NO_STORE,
      body: JSON.stringify({
        access_token: token,
        token_type: 'Bearer',
        expires_in: Math.round(lifetime() / 1000),
        refresh_token: grant.refreshToken,
        scope,
      }),
    };
  }

  async function register(req: SimRequest): Promise<SimResponse> {
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(req.body);
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      body = parsed as Record<string, unknown>;
    } catch {
      return err(400, 'invalid_client_metadata', 'The registration request is not a JSON object.');
    }
    const uris = body['redirect_uris'];
    if (!Array.isArray(uris) || uris.length === 0 || !uris.every(validRedirectUri))
      return err(400, 'invalid_redirect_uri', 'redirect_uris must be https or loopback http URLs.');
    const method = (body['token_endpoint_auth_method'] ?? 'client_secret_basic') as AuthMethod;
    if (!AUTH_METHODS.includes(method))
      return err(400, 'invalid_client_metadata', 'Unsupported token_endpoint_auth_method.');
    const grantTypes = (body['grant_types'] as unknown[] | undefined) ?? ['authorization_code'];
    if (
      !Array.isArray(grantTypes) ||
      !grantTypes.every((g) => g === 'authorization_code' || g === 'refresh_token')
    )
      return err(400, 'invalid_client_metadata', 'Only authorization_code and refresh_token are offered.');
    counters.registrations++;
    const client: McpClient = {
      clientId: `mcp_dcr_${alnum(20)}`,
      clientSecret: method === 'none' ? null : alnum(48),
      authMethod: method,
      redirectUris: uris as string[],
      name: typeof body['client_name'] === 'string' ? body['client_name'] : 'unnamed client',
      kind: 'dcr',
    };
    registered.set(client.clientId, client);
    return json(
      201,
      {
        ...body,
        client_id: client.clientId,
        ...(client.clientSecret ? { client_secret: client.clientSecret, client_secret_expires_at: 0 } : {}),
        client_id_issued_at: Math.floor(state.clock.now() / 1000),
        token_endpoint_auth_method: method,
        grant_types: grantTypes,
        response_types: ['code'],
      },
      { 'cache-control': 'no-store' },
    );
  }

  async function authorizeEndpoint(req: SimRequest): Promise<SimResponse> {
    const q = req.url.searchParams;
    const issuer = issuerOf(originOf());
    const found = await clientById(q.get('client_id') ?? undefined);
    if (typeof found === 'string')
      return html(400, `<h1>Unknown application</h1><p>${escapeHtml(found)}</p>`);
    const redirectUri = q.get('redirect_uri') ?? '';
    const allowed = found.redirectUris
      ? found.redirectUris.includes(redirectUri)
      : /^https?:\/\//.test(redirectUri) && parseUrl(redirectUri) !== null;
    if (!allowed)
      return html(
        400,
        '<h1>Invalid redirect_uri</h1><p>The redirect_uri is not one this client registered.</p>',
      );
    const st = q.get('state') ?? undefined;
    // RFC 9207: iss in every authorization response, success or error.
    const back = (params: Record<string, string | undefined>) => {
      const u = new URL(redirectUri);
      for (const [k, v] of Object.entries({ ...params, state: st, iss: issuer }))
        if (v !== undefined) u.searchParams.set(k, v);
      return redirect(u.toString());
    };
    const fail = (error: string, description: string) => back({ error, error_description: description });
    if (q.get('response_type') !== 'code')
      return fail('unsupported_response_type', 'response_type must be code.');
    if (!q.get('code_challenge') || q.get('code_challenge_method') !== 'S256')
      return fail('invalid_request', 'PKCE with code_challenge_method S256 is required.');
    const resource = q.get('resource') ?? '';
    if (!knownResource(resource))
      return fail('invalid_target', 'The resource parameter is missing or names no resource of this server.');
    const scope = (q.get('scope') ?? BASIC_SCOPES.join(' ')).split(' ').filter(Boolean);
    if (!scope.every((s) => SCOPES.includes(s))) return fail('invalid_scope', 'Unknown scope.');
    let decision = q.get('sim_decision') ?? undefined;
    let account = q.get('sim_account') ?? undefined;
    if (req.method === 'POST') {
      const form = new URLSearchParams(req.body);
      decision = form.get('decision') ?? decision;
      account = form.get('account') ?? account;
    }
    if (!decision && consent() === 'auto') decision = 'approve';
    if (!decision) {
      const options = ACCOUNTS.map((a) => `<option value="${a}">${a}</option>`).join('');
      return html(
        200,
        `<h1>MCP authorization server (simulated)</h1><p>${escapeHtml(found.name)} asks for <code>${escapeHtml(scope.join(' '))}</code> on ${escapeHtml(resource)}, and will receive the answer at ${escapeHtml(new URL(redirectUri).host)}.</p>
<form method="post" action="${escapeHtml(req.url.pathname + req.url.search)}">
<label>Sign in as <select name="account">${options}</select></label>
<button name="decision" value="approve">Approve</button> <button name="decision" value="deny">Deny</button></form>`,
      );
    }
    if (decision !== 'approve') return fail('access_denied', 'The user denied access.');
    const code = state.issueCode(
      {
        vendor: 'mcp',
        realm: resource,
        clientId: found.clientId,
        redirectUri,
        account: account && ACCOUNTS.includes(account) ? account : (ACCOUNTS[0] as string),
        scope: scope.join(' '),
        codeChallenge: q.get('code_challenge') as string,
        codeChallengeMethod: 'S256',
      },
      32,
    );
    return back({ code: code.code });
  }

  async function token(req: SimRequest): Promise<SimResponse> {
    const f = bodyFields(req);
    if (!f) return err(400, 'invalid_request', 'Unreadable body.');
    const client = await authenticate(req, f);
    if ('status' in client) return client;
    if (f['grant_type'] === 'authorization_code') {
      const realm = f['code'] ? state.codes.get(f['code'])?.realm : undefined;
      const code = state.redeemCode('mcp', realm ?? '', f['code'], client.clientId, f['redirect_uri']);
      if (typeof code === 'string') return err(400, 'invalid_grant', code);
      if (f['resource'] !== undefined && f['resource'] !== code.realm)
        return err(400, 'invalid_target', 'The resource is not the one the code was issued for.');
      const verifier = f['code_verifier'] ?? '';
      if (!verifier || createHash('sha256').update(verifier).digest('base64url') !== code.codeChallenge)
        return err(400, 'invalid_grant', 'The code_verifier does not match the code_challenge.');
      const grant = state.newGrant({
        vendor: 'mcp',
        realm: code.realm,
        clientId: client.clientId,
        account: code.account,
        scope: code.scope,
      });
      state.setRefreshToken(grant, alnum(40), null);
      return issue(grant, grant.scope);
    }
    if (f['grant_type'] === 'refresh_token') {
      const presented = f['refresh_token'];
      const grant = state.grantByRefreshToken('mcp', f['resource'] ?? realmOf(presented) ?? '', presented);
      if (!grant) {
        const history = presented ? state.refreshHistory.get(presented) : undefined;
        const family = history ? state.grants.get(history.grantId) : undefined;
        if (history?.retired?.reason === 'rotated' && family && !family.revoked) {
          // A rotated refresh token presented again: the whole grant is revoked (reuse detection).
          counters.reuseDetected++;
          state.revokeGrant(family);
          return err(400, 'invalid_grant', 'The refresh token was already used; the grant is revoked.');
        }
        if (f['resource'] !== undefined && family && family.realm !== f['resource'])
          return err(400, 'invalid_target', 'The resource is not the one the grant was made for.');
        return err(400, 'invalid_grant', 'The refresh token is not valid.');
      }
      if (grant.clientId !== client.clientId)
        return err(400, 'invalid_grant', 'The refresh token was issued to another client.');
      const asked = f['scope']?.split(' ').filter(Boolean);
      const granted = grant.scope.split(' ');
      if (asked && !asked.every((s) => granted.includes(s)))
        return err(400, 'invalid_scope', 'A refresh cannot widen the grant.');
      grant.refreshes++;
      state.setRefreshToken(grant, alnum(40), null);
      return issue(grant, asked ? asked.join(' ') : grant.scope);
    }
    return err(400, 'unsupported_grant_type', 'authorization_code and refresh_token only.');
  }

  function realmOf(refreshToken: string | undefined): string | undefined {
    const id = refreshToken ? state.refreshTokens.get(refreshToken) : undefined;
    return id ? state.grants.get(id)?.realm : undefined;
  }

  async function revoke(req: SimRequest): Promise<SimResponse> {
    const f = bodyFields(req);
    if (!f) return err(400, 'invalid_request', 'Unreadable body.');
    const client = await authenticate(req, f);
    if ('status' in client) return client;
    const t = f['token'];
    const byRefresh = t ? state.refreshTokens.get(t) : undefined;
    const access = t ? state.accessTokens.get(t) : undefined;
    const grant = state.grants.get(byRefresh ?? access?.grantId ?? '');
    // RFC 7009 §2.2: unknown tokens, and other clients' tokens, are answered 200 and left alone.
    if (grant && grant.vendor === 'mcp' && grant.clientId === client.clientId) state.revokeGrant(grant);
    return { status: 200, headers: NO_STORE, body: '' };
  }

  /** RFC 7662, for resource servers (the credential in discovery) and for a token's own client. */
  async function introspect(req: SimRequest): Promise<SimResponse> {
    const f = bodyFields(req);
    if (!f) return err(400, 'invalid_request', 'Unreadable body.');
    const basic = basicAuth(req);
    const asServer = basic?.user === resourceServer.clientId && basic.pass === resourceServer.clientSecret;
    let caller: string | null = null;
    if (!asServer) {
      const client = await authenticate(req, f);
      if ('status' in client) return client;
      caller = client.clientId;
    }
    const t = f['token'] ?? '';
    const now = state.clock.now();
    const access = state.accessTokens.get(t);
    const grant = access ? state.grants.get(access.grantId) : undefined;
    const live = access && grant && !access.revoked && !grant.revoked && access.expiresAt > now;
    if (!live || grant.vendor !== 'mcp' || (caller !== null && grant.clientId !== caller))
      return json(200, { active: false });
    return json(200, {
      active: true,
      scope: tokenScopes.get(t) ?? grant.scope,
      client_id: grant.clientId,
      sub: grant.account,
      aud: grant.realm,
      iss: issuerOf(originOf()),
      token_type: 'Bearer',
      exp: Math.floor(access.expiresAt / 1000),
      iat: Math.floor((access.expiresAt - lifetime()) / 1000),
    });
  }

  /** The simulated MCP server: a bearer token of this resource, with the scopes the tool needs. */
  function server(req: SimRequest, path: string): SimResponse {
    const resource = resourceOf(originOf());
    const t = bearer(req);
    const grant = state.useAccessToken('mcp', resource, t);
    const challenge = (params: Record<string, string>) =>
      Object.entries({
        ...params,
        ...(settings.resourceMetadataInHeader ? { resource_metadata: prmUrl() } : {}),
      })
        .map(([k, v]) => `${k}="${v}"`)
        .join(', ');
    if (!grant) {
      return {
        status: 401,
        headers: {
          'content-type': 'application/json',
          'www-authenticate': `Bearer ${challenge({
            ...(t ? { error: 'invalid_token' } : {}),
            scope: BASIC_SCOPES.join(' '),
          })}`,
        },
        body: JSON.stringify({ error: t ? 'invalid_token' : 'unauthorized' }),
      };
    }
    const held = (tokenScopes.get(t as string) ?? grant.scope).split(' ').filter(Boolean);
    if (path === '') return json(200, { name: 'simulated-mcp', tools: Object.keys(TOOLS) });
    const tool = /^tools\/([a-z]+)$/.exec(path)?.[1];
    const needs = tool ? TOOLS[tool] : undefined;
    if (!tool || !needs) return json(404, { error: 'not_found' });
    const missing = needs.filter((s) => !held.includes(s));
    if (missing.length > 0) {
      // The scopes already granted and the ones this tool needs, so nothing granted is lost.
      const scope = [...new Set([...held, ...needs])].join(' ');
      return {
        status: 403,
        headers: {
          'content-type': 'application/json',
          'www-authenticate': `Bearer ${challenge({
            error: 'insufficient_scope',
            scope,
            error_description: `The ${tool} tool needs ${needs.join(' ')}`,
          })}`,
        },
        body: JSON.stringify({ error: 'insufficient_scope' }),
      };
    }
    if (tool === 'whoami') return json(200, { account: grant.account, scope: held.join(' ') });
    if (tool === 'write') return json(200, { written: true, account: grant.account });
    return json(200, { echo: req.method === 'POST' ? req.body : (req.url.searchParams.get('text') ?? '') });
  }

  /** The authorization server switched off: what a server that is down behind its proxy answers. */
  const down = (): SimResponse => ({
    status: 503,
    headers: { 'content-type': 'text/html; charset=utf-8', 'retry-after': '30' },
    body: '<h1>503 Service Unavailable</h1>',
  });

  const route = (endpoint: VendorRoute['endpoint'], handle: VendorRoute['handle']): VendorRoute => ({
    endpoint,
    handle,
  });

  return {
    vendor: 'mcp',
    issuer: issuerOf,
    resource: resourceOf,
    route(req, segments): VendorRoute | null {
      const path = segments.join('/');
      const post = req.method === 'POST';
      if (!settings.authorizationServerUp && segments[0] !== 'server') {
        const endpoint = (['authorize', 'token', 'revoke', 'register', 'introspect'] as const).find(
          (e) => e === path,
        );
        if (endpoint) return route(endpoint, () => down());
      }
      if (path === 'authorize' && (req.method === 'GET' || post))
        return route('authorize', () => authorizeEndpoint(req));
      if (path === 'token' && post) return route('token', () => token(req));
      if (path === 'revoke' && post) return route('revoke', () => revoke(req));
      if (path === 'register' && post && settings.dcr) return route('register', () => register(req));
      if (path === 'introspect' && post) return route('introspect', () => introspect(req));
      if (segments[0] === 'server') return route('api', () => server(req, segments.slice(1).join('/')));
      return null;
    },
    wellKnown(req) {
      if (req.method !== 'GET') return null;
      if (req.url.pathname === '/.well-known/oauth-authorization-server/mcp')
        return settings.authorizationServerUp
          ? json(200, serverMetadata(), { 'cache-control': 'max-age=3600' })
          : down();
      if (req.url.pathname === '/.well-known/oauth-protected-resource/mcp/server')
        return settings.resourceMetadataServed
          ? json(200, resourceMetadata())
          : json(404, { error: 'not_found' });
      return null;
    },
    configure(next) {
      for (const key of [
        'dcr',
        'cimd',
        'resourceMetadataInHeader',
        'resourceMetadataServed',
        'authorizationServerUp',
      ] as const)
        if (typeof next[key] === 'boolean') settings[key] = next[key];
      return { ...settings };
    },
    addResource(resource) {
      extraResources.add(resource);
    },
    evictClients() {
      let clients = 0;
      for (const id of registered.keys()) {
        clients++;
        for (const g of state.grants.values())
          if (g.vendor === 'mcp' && g.clientId === id) state.revokeGrant(g);
      }
      registered.clear();
      const dropped = documents.size;
      documents.clear();
      return { clients, documents: dropped };
    },
    counters: () => ({ ...counters }),
    resetCounters() {
      counters = { registrations: 0, documentFetches: 0, reuseDetected: 0 };
    },
    discovery(o) {
      const issuer = issuerOf(o);
      return {
        params: {},
        issuer,
        endpoints: {
          authorize: `${issuer}/authorize`,
          token: `${issuer}/token`,
          revoke: `${issuer}/revoke`,
          apiBase: `${resourceOf(o)}/`,
          register: `${issuer}/register`,
          introspect: `${issuer}/introspect`,
          resource: resourceOf(o),
          resourceMetadata: `${o}/.well-known/oauth-protected-resource/mcp/server`,
          serverMetadata: `${o}/.well-known/oauth-authorization-server/mcp`,
        },
        identityPath: 'tools/whoami',
        clients: [preregistered],
        introspection: resourceServer,
        apiKeys: [],
        accounts: ACCOUNTS,
        scopes: SCOPES,
      };
    },
  };
}
