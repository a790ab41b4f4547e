import { fetch } from 'undici';
import { AuthorizationError, excerpt, NetworkError, ProviderError } from '../errors.js';
import { describeNetworkError } from '../protocol/http.js';
import type { TokenSet } from '../protocol/token-set.js';
import { readPath, scalarText } from '../providers/capture.js';
import { checkCapturedValue } from '../providers/param-value.js';
import type { ConnectStep, ProviderSpec } from '../providers/spec.js';
import { apiHeadersFor, namedUrlFor } from '../providers/template.js';
import { tokenAuthHeader } from './api-fetch.js';
import type { CoreContext } from './context.js';

/**
 * The spec's connect steps (README, "Providers"): once the first tokens arrive, each step GETs
 * one of the spec's `urls` with the access token, and the params it names are taken from the
 * JSON answer — an array's first element, or the element holding a value the caller already
 * gave (a Xero tenant chosen in advance). An answer without them is an AuthorizationError
 * (`no_resource`) whose remediation is the step's `whenEmpty`; nothing is stored.
 */
export async function runConnectSteps(
  ctx: CoreContext,
  spec: ProviderSpec,
  params: Record<string, string>,
  tokens: TokenSet,
  opts: { connectionId: string; provider: string },
): Promise<Record<string, string>> {
  let out = params;
  for (const step of spec.connectSteps ?? []) {
    const answer = await getJson(ctx, spec, step, out, tokens, opts);
    out = { ...out, ...valuesOf(spec, step, answer, out, opts) };
  }
  return out;
}

/** What one step's answer gives, checked like any captured value. */
export function valuesOf(
  spec: ProviderSpec,
  step: ConnectStep,
  answer: unknown,
  given: Record<string, string>,
  opts: { connectionId?: string; provider?: string } = {},
): Record<string, string> {
  const entries = Object.entries(step.capture);
  const chosen = entries.filter(([name]) => given[name] !== undefined);
  const elements = Array.isArray(answer) ? answer : [answer];
  const element =
    chosen.length === 0
      ? elements[0]
      : elements.find((e) => chosen.every(([name, path]) => scalarText(readPath(e, path)) === given[name]));
  const empty = (why: string) =>
    new AuthorizationError('no_resource', `${spec.displayName} ${why}.`, {
      ...opts,
      remediation: step.whenEmpty,
    });
  if (element === undefined || element === null) {
    throw chosen.length === 0
      ? empty(
          `answered ${step.endpoint} with nothing: the authorization reached no ${entries.map(([n]) => n).join(', ')}`,
        )
      : empty(
          `did not list ${chosen.map(([n]) => `${n} ${given[n]}`).join(', ')} among what the authorization reached`,
        );
  }
  const out: Record<string, string> = {};
  for (const [name, path] of entries) {
    const value = scalarText(readPath(element, path));
    if (value === undefined) throw empty(`answered ${step.endpoint} without ${path}`);
    checkCapturedValue(spec, name, value);
    out[name] = value;
  }
  return out;
}

async function getJson(
  ctx: CoreContext,
  spec: ProviderSpec,
  step: ConnectStep,
  params: Record<string, string>,
  tokens: TokenSet,
  opts: { connectionId: string; provider: string },
): Promise<unknown> {
  const url = new URL(namedUrlFor(spec, step.endpoint, params));
  const [name, value] = tokenAuthHeader(spec, tokens.accessToken, tokens.tokenType);
  const headers: Record<string, string> = Object.fromEntries(apiHeadersFor(spec, params));
  headers[name] = value;
  headers['accept'] = 'application/json';
  const secrets = [tokens.accessToken, tokens.refreshToken];
  let status: number;
  let text: string;
  try {
    const res = await fetch(url, {
      headers,
      redirect: 'manual',
      signal: AbortSignal.timeout(ctx.options.http.timeoutMs ?? 30_000),
      ...(ctx.options.http.dispatcher ? { dispatcher: ctx.options.http.dispatcher } : {}),
    });
    status = res.status;
    text = await res.text();
  } catch (err) {
    throw new NetworkError(
      `${spec.displayName}'s ${step.endpoint} endpoint (${url.host}) ${describeNetworkError(err)}.`,
      {
        ...opts,
        cause: err,
        secrets,
      },
    );
  }
  const failed = (why: string) =>
    new ProviderError(
      `${spec.displayName} answered the ${step.endpoint} request (made after the authorization) with ${why}; nothing was stored.`,
      { status, excerpt: excerpt(text, secrets) },
      opts,
    );
  if (status < 200 || status >= 300) throw failed(`HTTP ${status}`);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw failed('a body that is not JSON');
  }
}
