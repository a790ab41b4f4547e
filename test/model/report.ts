import type { ModelResult } from './driver.js';

/** The failure report of one model run: the seed to replay, the first violations, the last steps. */
export function describeFailure(r: ModelResult, traceLines = 30): string {
  const first = r.violations[0];
  const head = first
    ? `seed=${r.seed} engine=${r.engine} persona=${r.persona}${r.reuse ? ` reuse=${r.reuse}` : ''} step=${first.step} op=${first.op}: ${first.kind} — ${first.detail}`
    : `seed=${r.seed} engine=${r.engine}: no violation`;
  const more = r.violations
    .slice(1, 6)
    .map((v) => `  also step=${v.step} op=${v.op}: ${v.kind} — ${v.detail}`)
    .join('\n');
  return [
    head,
    more,
    `replay: npm run soak -- --engine ${r.engine}${r.persona !== 'cronofy' ? ` --persona ${r.persona}` : ''}${r.reuse ? ` --reuse ${r.reuse}` : ''} --seed ${r.seed} --runs 1 --steps ${r.steps} --verbose`,
    '--- last steps ---',
    ...r.trace.slice(-traceLines),
  ]
    .filter(Boolean)
    .join('\n');
}
