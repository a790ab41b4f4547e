import { createHash } from 'node:crypto';

/**
 * The look of every page Baton shows a person: the connect pages and the CLI's loopback
 * "Connected / Not connected" page. System fonts, light and dark from the system setting,
 * contrast above WCAG AA in both, a visible focus ring, one column that fits a phone.
 */
export const STYLE = `:root{color-scheme:light dark;--bg:#f4f5f8;--card:#fff;--text:#16181d;--muted:#50565f;--line:#d5d8de;--accent:#3730a3;--accent-text:#fff;--accent-soft:#eceafd;--ok:#176b34;--ok-soft:#e3f4e8;--bad:#a3211b;--bad-soft:#fbe7e5;--focus:#1d4ed8;--radius:14px}
@media (prefers-color-scheme:dark){:root{--bg:#0e1014;--card:#171a20;--text:#eceef2;--muted:#aeb4bf;--line:#343a45;--accent:#a5b4fc;--accent-text:#111326;--accent-soft:#262a47;--ok:#7ddc98;--ok-soft:#16301f;--bad:#ff9a90;--bad-soft:#3a1a18;--focus:#93c5fd}}
*,*::before,*::after{box-sizing:border-box}
html{font-size:100%;-webkit-text-size-adjust:100%}
body{margin:0;min-height:100vh;display:flex;flex-direction:column;align-items:center;gap:1rem;padding:2rem 1rem;background:var(--bg);color:var(--text);font:1rem/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header.brand{width:100%;max-width:30rem;display:flex;align-items:center;gap:.5rem;font-weight:650;letter-spacing:.01em}
.mark{width:1.6rem;height:1.6rem;border-radius:.45rem;background:linear-gradient(135deg,var(--accent),#7c3aed);display:inline-block}
main{width:100%;max-width:30rem;background:var(--card);border:1px solid var(--line);border-radius:var(--radius);padding:1.75rem 1.5rem;box-shadow:0 1px 2px rgba(0,0,0,.05),0 8px 24px rgba(0,0,0,.06)}
footer{max-width:30rem;color:var(--muted);font-size:.875rem;text-align:center}
h1{font-size:1.5rem;line-height:1.25;margin:0 0 .5rem}
p{margin:.5rem 0}
.lead{color:var(--muted);margin-bottom:1.25rem}
a{color:var(--accent)}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
ul.choices{list-style:none;margin:1rem 0;padding:0;display:grid;gap:.6rem}
a.choice{display:flex;align-items:center;gap:.9rem;padding:.85rem 1rem;border:1px solid var(--line);border-radius:.75rem;text-decoration:none;color:var(--text)}
a.choice:hover{border-color:var(--accent);background:var(--accent-soft)}
.choice strong{display:block}
.choice .hint{display:block;color:var(--muted);font-size:.9rem}
.logo{flex:none;width:2.5rem;height:2.5rem;border-radius:.6rem;display:grid;place-items:center;font-weight:700;background:var(--accent-soft);color:var(--text)}
.provider{display:flex;align-items:center;gap:.75rem;margin-bottom:1rem}
.field{margin:1rem 0}
label,.label{display:block;font-weight:600;margin-bottom:.3rem}
.hint{color:var(--muted);font-size:.9rem;margin:.1rem 0 .4rem}
input[type=text],input[type=password],select{width:100%;font:inherit;color:var(--text);background:var(--card);border:1px solid var(--muted);border-radius:.55rem;padding:.6rem .7rem;min-height:2.75rem}
input[aria-invalid=true],select[aria-invalid=true]{border-color:var(--bad);border-width:2px}
.field-error{color:var(--bad);font-weight:600;font-size:.925rem;margin:.3rem 0 0}
.fixed{margin:0;padding:.6rem .7rem;border:1px dashed var(--line);border-radius:.55rem}
button,.button{display:inline-flex;align-items:center;justify-content:center;gap:.4rem;width:100%;min-height:2.9rem;font:inherit;font-weight:650;border-radius:.6rem;border:1px solid transparent;padding:.65rem 1rem;cursor:pointer;text-decoration:none}
.primary{background:var(--accent);color:var(--accent-text)}
.primary:hover{filter:brightness(1.08)}
.secondary{background:transparent;color:var(--text);border-color:var(--line);margin-top:.6rem}
.actions{margin-top:1.5rem}
.notice{border-radius:.7rem;padding:.8rem 1rem;margin:1rem 0}
.notice.error{background:var(--bad-soft);color:var(--text);border:1px solid var(--bad)}
.notice.error strong{color:var(--bad)}
.notice.info{background:var(--accent-soft)}
.badge{width:3rem;height:3rem;border-radius:50%;display:grid;place-items:center;font-size:1.5rem;font-weight:700;margin-bottom:.75rem}
.badge.ok{background:var(--ok-soft);color:var(--ok)}
.badge.bad{background:var(--bad-soft);color:var(--bad)}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1rem;margin:1rem 0;padding:.8rem 1rem;border:1px solid var(--line);border-radius:.7rem}
dl.facts dt{color:var(--muted)}
dl.facts dd{margin:0;overflow-wrap:anywhere}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em}
.sr-only{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0,0,0,0);white-space:nowrap;border:0}
@media (max-width:30rem){body{padding:1rem .75rem}main{padding:1.25rem 1rem}h1{font-size:1.3rem}}
@media (prefers-reduced-motion:no-preference){a.choice,button,.button{transition:border-color .15s,filter .15s}}`;

/** For a Content-Security-Policy that allows exactly this stylesheet inline (the CLI's page). */
export const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;
