import type { AuthMode, ProviderSpec } from '../../providers/spec.js';
import { initials, modeLabel, paramHint, paramLabel, valueLabel } from './labels.js';
import { esc, page, resultPage } from './page.js';
import type { ConnectSession } from './store.js';

/** The connect pages' HTML. Every value passes through `esc`; no secret is ever written back. */

export const STYLESHEET = '/connect/assets/baton.css';

const base = (session: ConnectSession) => `/connect/s/${encodeURIComponent(session.id)}`;

function intro(session: ConnectSession): string {
  return session.label ? `<p class="lead">For <strong>${esc(session.label)}</strong>.</p>` : '';
}

function providerHeading(spec: ProviderSpec, title: string): string {
  return `<div class="provider"><span class="logo" aria-hidden="true">${esc(initials(spec))}</span><h1>${esc(title)}</h1></div>`;
}

export function choicePage(session: ConnectSession, specs: ProviderSpec[]): string {
  const items = specs
    .map((s) => {
      const modes = s.authModes.filter((m) => session.authModes === null || session.authModes.includes(m));
      const how = modes.includes('oauth2') ? 'Sign in with your account' : 'Use an API key';
      return `<li><a class="choice" href="${base(session)}?provider=${encodeURIComponent(s.id)}"><span class="logo" aria-hidden="true">${esc(initials(s))}</span><span><strong>${esc(s.displayName)}</strong><span class="hint">${esc(how)}</span></span></a></li>`;
    })
    .join('\n');
  return page({
    title: 'Connect an account',
    stylesheet: STYLESHEET,
    body: `<h1>Connect an account</h1>
${intro(session)}
<p>Choose the service to connect.</p>
<ul class="choices">
${items}
</ul>
${cancelForm(session)}`,
  });
}

export function modePage(session: ConnectSession, spec: ProviderSpec, modes: AuthMode[]): string {
  const items = modes
    .map((m) => {
      const l = modeLabel(spec, m);
      return `<li><a class="choice" href="${base(session)}?provider=${encodeURIComponent(spec.id)}&amp;mode=${m}"><span><strong>${esc(l.title)}</strong><span class="hint">${esc(l.hint)}</span></span></a></li>`;
    })
    .join('\n');
  return page({
    title: `Connect ${spec.displayName}`,
    stylesheet: STYLESHEET,
    body: `${providerHeading(spec, `Connect ${spec.displayName}`)}
${intro(session)}
<p>How do you want to connect?</p>
<ul class="choices">
${items}
</ul>
${backLink(session)}`,
  });
}

export interface FormState {
  values?: Record<string, string>;
  /** Field name (`param.x`, `apiKey`, `apiSecret`) → message. */
  errors?: Record<string, string>;
  /** A message about the whole form. */
  notice?: string;
}

function fieldError(
  id: string,
  errors: Record<string, string>,
  name: string,
): { attrs: string; html: string } {
  const message = errors[name];
  if (!message) return { attrs: '', html: '' };
  return {
    attrs: ` aria-invalid="true"`,
    html: `<p class="field-error" id="${id}-error">${esc(message)}</p>`,
  };
}

function describedBy(...ids: (string | false)[]): string {
  const list = ids.filter(Boolean);
  return list.length > 0 ? ` aria-describedby="${list.join(' ')}"` : '';
}

export function formPage(
  session: ConnectSession,
  spec: ProviderSpec,
  mode: AuthMode,
  state: FormState = {},
): string {
  const errors = state.errors ?? {};
  const values = state.values ?? {};
  const fields: string[] = [];
  const fixedFacts: string[] = [];
  const reconnect = session.reconnect;
  for (const [name, param] of Object.entries(spec.params)) {
    const id = `p-${name}`;
    const label = paramLabel(spec, name);
    const fixed = reconnect ? reconnect.params[name] : session.params[name];
    if (typeof fixed === 'string') {
      fixedFacts.push(`<dt>${esc(label)}</dt><dd>${esc(valueLabel(spec, name, fixed))}</dd>`);
      continue;
    }
    const err = fieldError(id, errors, `param.${name}`);
    const hint = paramHint(spec, name);
    const choices = Array.isArray(fixed) ? fixed : param.values;
    const current = values[`param.${name}`] ?? param.default ?? '';
    const described = describedBy(hint ? `${id}-hint` : false, err.html ? `${id}-error` : false);
    const control = choices
      ? `<select id="${id}" name="param.${esc(name)}"${described}${err.attrs}>${choices
          .map(
            (v) =>
              `<option value="${esc(v)}"${v === current ? ' selected' : ''}>${esc(valueLabel(spec, name, v))}</option>`,
          )
          .join('')}</select>`
      : `<input type="text" id="${id}" name="param.${esc(name)}" value="${esc(current)}"${param.optional ? '' : ' required'} autocomplete="off" autocapitalize="none" spellcheck="false"${described}${err.attrs}>`;
    fields.push(
      `<div class="field"><label for="${id}">${esc(label)}${param.optional ? ' (optional)' : ''}</label>${hint ? `<p class="hint" id="${id}-hint">${esc(hint)}</p>` : ''}${control}${err.html}</div>`,
    );
  }
  if (mode === 'token_pair' || mode === 'api_key') {
    const keyErr = fieldError('apiKey', errors, 'apiKey');
    const secretErr = fieldError('apiSecret', errors, 'apiSecret');
    const secretRequired = mode === 'token_pair' || spec.apiKeyAuth?.template.includes('{apiSecret}');
    fields.push(
      `<div class="field"><label for="apiKey">API key</label><p class="hint" id="apiKey-hint">From ${esc(spec.displayName)}'s settings. It is checked with ${esc(spec.displayName)} before anything is stored.</p><input type="text" id="apiKey" name="apiKey" required autocomplete="off" autocapitalize="none" spellcheck="false"${describedBy('apiKey-hint', keyErr.html ? 'apiKey-error' : false)}${keyErr.attrs}>${keyErr.html}</div>`,
      `<div class="field"><label for="apiSecret">API secret${secretRequired ? '' : ' (if you have one)'}</label><input type="password" id="apiSecret" name="apiSecret"${secretRequired ? ' required' : ''} autocomplete="new-password"${describedBy(secretErr.html ? 'apiSecret-error' : false)}${secretErr.attrs}>${secretErr.html}</div>`,
    );
  }
  const title = reconnect ? `Reconnect ${spec.displayName}` : `Connect ${spec.displayName}`;
  const lead = reconnect
    ? `<p class="lead">This connection needs you to ${mode === 'oauth2' ? 'sign in' : 'enter its key'} again${session.account?.email ? ` (${esc(session.account.email)})` : ''}. Its settings stay as they were.</p>`
    : intro(session);
  const notice = state.notice
    ? `<div class="notice error" role="alert"><strong>Not connected.</strong> ${esc(state.notice)}</div>`
    : Object.keys(errors).length > 0
      ? `<div class="notice error" role="alert"><strong>Check the form.</strong> ${Object.keys(errors).length === 1 ? 'One field needs' : 'Some fields need'} a change before you continue.</div>`
      : '';
  const submit =
    mode === 'oauth2'
      ? `Continue to ${spec.displayName}`
      : reconnect
        ? 'Check and reconnect'
        : 'Check and connect';
  return page({
    title,
    stylesheet: STYLESHEET,
    body: `${providerHeading(spec, title)}
${lead}
${notice}
<form method="post" action="${base(session)}" novalidate>
<input type="hidden" name="csrf" value="${esc(session.csrf)}">
<input type="hidden" name="provider" value="${esc(spec.id)}">
<input type="hidden" name="mode" value="${esc(mode)}">
${fixedFacts.length > 0 ? `<dl class="facts">${fixedFacts.join('')}</dl>` : ''}
${fields.join('\n')}
<div class="actions"><button type="submit" class="primary">${esc(submit)}</button></div>
</form>
${cancelForm(session)}`,
    footer:
      mode === 'oauth2'
        ? `You will sign in on ${esc(spec.displayName)}'s own page; Baton never sees your password.`
        : `Your key is sent only to ${esc(spec.displayName)} and stored encrypted.`,
  });
}

function cancelForm(session: ConnectSession): string {
  return `<form method="post" action="${base(session)}/cancel"><input type="hidden" name="csrf" value="${esc(session.csrf)}"><button type="submit" class="secondary">Cancel</button></form>`;
}

function backLink(session: ConnectSession): string {
  return `<p><a href="${base(session)}">Back to the list of services</a></p>`;
}

export function resultView(
  session: ConnectSession,
  spec: ProviderSpec | null,
  returnTo: string | null,
): string {
  const name = spec?.displayName ?? 'the service';
  const who = session.account?.email ?? session.account?.name ?? session.account?.id ?? null;
  const host = returnTo ? new URL(returnTo).host : null;
  const next = returnTo
    ? `<div class="actions"><a class="button primary" href="${esc(returnTo)}">Return to ${esc(host)}</a></div>`
    : '<p>You can close this window now.</p>';
  if (session.status === 'connected') {
    return resultPage({
      ok: true,
      title: session.reconnect ? 'Reconnected' : 'Connected',
      stylesheet: STYLESHEET,
      message: `Your ${esc(name)} account${who ? ` <strong>${esc(who)}</strong>` : ''} is ${session.reconnect ? 'connected again' : 'connected'}.`,
      facts: [
        ['Service', name],
        ...(who ? ([['Account', who]] as [string, string][]) : []),
        ['Connection', session.connectionId],
      ],
      next,
    });
  }
  const denied = session.status === 'denied';
  const why =
    session.outcomeCode === 'cancelled'
      ? 'You cancelled, so nothing was connected.'
      : denied
        ? `You declined access on ${esc(name)}'s page, so nothing was connected.`
        : `${esc(name)} could not be connected${session.outcomeMessage ? `: ${esc(session.outcomeMessage)}` : '.'}`;
  return resultPage({
    ok: false,
    title: 'Not connected',
    stylesheet: STYLESHEET,
    message: `${why} ${returnTo ? 'Return to the application to try again.' : 'Ask the application for a new link to try again.'}`,
    facts: [
      ['Service', name],
      ['Connection', session.connectionId],
      ...(session.outcomeCode ? ([['Reason', session.outcomeCode]] as [string, string][]) : []),
    ],
    next,
  });
}

export type ProblemKind = 'invalid' | 'expired' | 'used' | 'elsewhere' | 'cookies' | 'forbidden' | 'error';

const PROBLEMS: Record<ProblemKind, { status: number; title: string; message: string }> = {
  invalid: {
    status: 404,
    title: 'This link is not valid',
    message:
      'The link may have been copied incompletely. Go back to the application and open the link it gives you again.',
  },
  expired: {
    status: 410,
    title: 'This link has expired',
    message:
      'Links to connect an account work for a short time only. Go back to the application and ask for a new one.',
  },
  used: {
    status: 410,
    title: 'This link was already used',
    message:
      'Each link connects one account once. If you still need to connect, ask the application for a new link.',
  },
  elsewhere: {
    status: 409,
    title: 'This link is open in another browser',
    message:
      'It can be finished only in the browser that opened it first. Finish there, or ask the application for a new link.',
  },
  cookies: {
    status: 400,
    title: 'Cookies are needed',
    message:
      'This page keeps your progress in a cookie, and none came back. Allow cookies for this site, then open the link again.',
  },
  forbidden: {
    status: 403,
    title: 'This form expired',
    message:
      'The page was open too long or was sent from somewhere else. Go back, reload the page and try again.',
  },
  error: {
    status: 500,
    title: 'Something went wrong',
    message:
      'Nothing was connected. Try again in a moment; if it keeps happening, tell the application’s support.',
  },
};

export function problemView(kind: ProblemKind, requestId?: string): { status: number; html: string } {
  const p = PROBLEMS[kind];
  return {
    status: p.status,
    html: resultPage({
      ok: false,
      title: p.title,
      stylesheet: STYLESHEET,
      message: esc(p.message),
      ...(requestId && kind === 'error' ? { facts: [['Reference', requestId]] as [string, string][] } : {}),
    }),
  };
}
