import type { AuthMode, ProviderSpec } from '../../providers/spec.js';
import { authEndpointsFor } from '../../providers/template.js';

/**
 * Words a person reads on the connect pages. What a param and its values are called is the
 * provider spec's (`ParamSpec.label`, `hint`, `valueLabels`); what is not given is said from the
 * param's name and description.
 */

export function paramLabel(spec: ProviderSpec, name: string): string {
  return (
    spec.params[name]?.label ?? name.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/^./, (c) => c.toUpperCase())
  );
}

export function paramHint(spec: ProviderSpec, name: string): string {
  const param = spec.params[name];
  return param?.hint ?? param?.description ?? '';
}

export function valueLabel(spec: ProviderSpec, name: string, value: string): string {
  const label = spec.params[name]?.valueLabels?.[value];
  return label ? `${label} (${value})` : value;
}

/** The modes a person can use on a page (client credentials need no person). */
export const PERSON_MODES: readonly AuthMode[] = ['oauth2', 'token_pair', 'api_key'];

export function modeLabel(spec: ProviderSpec, mode: AuthMode): { title: string; hint: string } {
  switch (mode) {
    case 'oauth2':
      return {
        title: `Sign in with ${spec.displayName}`,
        hint: `You approve access on ${spec.displayName}'s own page.`,
      };
    case 'token_pair':
      return {
        title: 'Use an API key and secret',
        hint: `A key pair made in ${spec.displayName}'s settings.`,
      };
    default:
      return { title: 'Use an API key', hint: `A key made in ${spec.displayName}'s developer settings.` };
  }
}

export function initials(spec: ProviderSpec): string {
  return spec.displayName.replace(/[^A-Za-z0-9]/g, '').slice(0, 2);
}

/**
 * The CSP `form-action` sources a page needs for `spec`: the origins its authorization URL can
 * have under the allowed params (a form's POST is answered by a redirect there, and browsers
 * check the whole chain), and the hosts a migration may redirect to. A free param in a host
 * label becomes `*.` (CSP allows a wildcard only as the leftmost label; anywhere else the
 * scheme alone is used).
 */
export function authorizationSources(
  spec: ProviderSpec,
  constraints: Record<string, string | string[]>,
): string[] {
  if (!spec.authorizationUrl || !spec.authModes.includes('oauth2')) return [];
  const SENTINEL = 'batonsentinel0';
  let combos: Record<string, string>[] = [{}];
  for (const [name, param] of Object.entries(spec.params)) {
    const c = constraints[name];
    const values = typeof c === 'string' ? [c] : Array.isArray(c) ? c : (param.values ?? [SENTINEL]);
    combos = combos.flatMap((combo) => values.map((v) => ({ ...combo, [name]: v }))).slice(0, 64);
  }
  const out = new Set<string>();
  for (const combo of combos) {
    let url: URL;
    try {
      url = new URL(authEndpointsFor(spec, combo).authorizationUrl as string);
    } catch {
      continue;
    }
    if (!url.host.includes(SENTINEL)) out.add(url.origin);
    else if (url.host.startsWith(`${SENTINEL}.`) && !url.host.slice(SENTINEL.length + 1).includes(SENTINEL))
      out.add(`${url.protocol}//*.${url.host.slice(SENTINEL.length + 1)}`);
    else out.add(url.protocol);
  }
  for (const host of spec.redirectAuthHosts) out.add(host);
  return [...out];
}
