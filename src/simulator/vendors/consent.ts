import { escapeHtml, html, redirect, type SimRequest, type SimResponse } from '../http.js';
import type { Code, SimState } from '../state.js';
import type { Vendor } from '../types.js';
import type { VendorRoute } from './vendor.js';

export interface AuthorizeRules {
  vendor: Vendor;
  displayName: string;
  realm: string;
  isClient(clientId: string): boolean;
  accounts: string[];
  /** Checkfront shows the code on a page for redirect_uri=oob. */
  allowOob: boolean;
  /** An OAuth error code when the scope is not acceptable, else null. */
  checkScope?(scope: string): string | null;
  pkce: boolean;
  codeLength: number;
  /** Shopify's authorize request has no response_type: a missing one is taken as `code`. */
  responseTypeOptional?: boolean;
  /** Checks the rest of the authorize request: an OAuth error and its description, else null. */
  checkRequest?(query: URLSearchParams): { error: string; description: string } | null;
  /** Authorize parameters the code keeps for the token request (Code.extra). */
  remember?(query: URLSearchParams): Record<string, string>;
  /** The parameters of the redirect that carries a code, as the vendor adds to them (realmId, hmac…). */
  finishRedirect?(params: Record<string, string | undefined>, code: Code): Record<string, string | undefined>;
}

function withParams(target: string, params: Record<string, string | undefined>): string {
  const u = new URL(target);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v);
  return u.toString();
}

/**
 * The consent step (RFC 6749 §4.1.1–4.1.2) as each vendor's authorize page behaves: bad client
 * or redirect URI → an error page (never a redirect to an unverified URI); otherwise a code or
 * an error sent back to the redirect URI with the state.
 */
export function authorize(
  req: SimRequest,
  state: SimState,
  rules: AuthorizeRules,
  consent: 'auto' | 'prompt',
): SimResponse {
  const q = req.url.searchParams;
  const clientId = q.get('client_id') ?? '';
  const redirectUri = q.get('redirect_uri') ?? '';
  const st = q.get('state') ?? undefined;
  if (!clientId || !rules.isClient(clientId)) {
    return html(
      400,
      `<h1>${rules.displayName}: unknown application</h1><p>The client_id is not registered here.</p>`,
    );
  }
  const oob = rules.allowOob && redirectUri === 'oob';
  if (!oob) {
    let ok = false;
    try {
      const u = new URL(redirectUri);
      ok = u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      ok = false;
    }
    if (!ok)
      return html(
        400,
        `<h1>${rules.displayName}: invalid redirect_uri</h1><p>The redirect_uri is missing or is not an absolute URL.</p>`,
      );
  }
  const fail = (error: string, description: string) =>
    oob
      ? html(400, `<h1>${escapeHtml(error)}</h1><p>${escapeHtml(description)}</p>`)
      : redirect(withParams(redirectUri, { error, error_description: description, state: st }));
  if (q.get('response_type') !== 'code' && !(rules.responseTypeOptional && !q.has('response_type')))
    return fail('unsupported_response_type', 'response_type must be code.');
  const scope = q.get('scope') ?? '';
  const scopeError = rules.checkScope?.(scope) ?? null;
  if (scopeError) return fail(scopeError, 'The requested scope is not valid.');
  const requestError = rules.checkRequest?.(q) ?? null;
  if (requestError) return fail(requestError.error, requestError.description);
  const challenge = q.get('code_challenge') ?? undefined;
  const method = q.get('code_challenge_method') ?? (challenge ? 'plain' : undefined);
  if (challenge && (!rules.pkce || (method !== 'S256' && method !== 'plain'))) {
    return fail('invalid_request', 'Unsupported code_challenge_method.');
  }
  let decision = q.get('sim_decision') ?? undefined;
  let account = q.get('sim_account') ?? undefined;
  if (req.method === 'POST') {
    const form = new URLSearchParams(req.body);
    decision = form.get('decision') ?? decision;
    account = form.get('account') ?? account;
  }
  if (!decision && consent === 'auto') decision = 'approve';
  if (!decision) {
    const options = rules.accounts
      .map((a) => `<option value="${escapeHtml(a)}">${escapeHtml(a)}</option>`)
      .join('');
    return html(
      200,
      `<h1>${rules.displayName} (simulated)</h1><p>An application asks for access${scope ? ` to <code>${escapeHtml(scope)}</code>` : ''}.</p>
<form method="post" action="${escapeHtml(req.url.pathname + req.url.search)}">
<label>Sign in as <select name="account">${options}</select></label>
<button name="decision" value="approve">Approve</button> <button name="decision" value="deny">Deny</button></form>`,
    );
  }
  if (decision !== 'approve') return fail('access_denied', 'The user denied access.');
  const who = account && rules.accounts.includes(account) ? account : (rules.accounts[0] as string);
  const code = state.issueCode(
    {
      vendor: rules.vendor,
      realm: rules.realm,
      clientId,
      redirectUri,
      account: who,
      scope,
      ...(challenge ? { codeChallenge: challenge, codeChallengeMethod: method } : {}),
      ...(rules.remember ? { extra: rules.remember(q) } : {}),
    },
    rules.codeLength,
  );
  if (oob) {
    return html(
      200,
      `<h1>${rules.displayName}</h1><p>Copy this code into your application within 60 seconds:</p><code id="code">${code.code}</code>`,
    );
  }
  const params = { code: code.code, state: st };
  return redirect(withParams(redirectUri, rules.finishRedirect?.(params, code) ?? params));
}

/** The authorize endpoint of a vendor, as a route. */
export function authorizeRoute(
  req: SimRequest,
  state: SimState,
  rules: AuthorizeRules,
  consent: () => 'auto' | 'prompt',
): VendorRoute {
  return { endpoint: 'authorize', handle: () => authorize(req, state, rules, consent()) };
}
