import type { FastifyBaseLogger } from 'fastify';
import type { Baton } from '../core/baton.js';
import type { Metrics } from './metrics.js';

/**
 * The keeper's passes (background refresh) in this process: the core keeper schedules them
 * (interval ± jitter, a pass giving what the rate limits leave undone to the next one); each
 * pass's duration goes to `baton_keeper_pass_seconds` and its report to the log. Returns what
 * stops them.
 */
export function scheduleKeeper(
  baton: Baton,
  { intervalMs, metrics, logger }: { intervalMs: number; metrics: Metrics; logger: FastifyBaseLogger },
): () => void {
  const keeper = baton.startKeeper({
    intervalMs,
    onPass: ({ run, error }) => {
      if (!run) {
        logger.warn({ err: error }, 'keeper pass failed');
        return;
      }
      metrics.keeperPass.observe(run.durationMs / 1000);
      if (run.checked > 0) {
        const { refreshed, failed, ...counts } = run;
        logger.info({ ...counts, refreshed: refreshed.length, failed: failed.length }, 'keeper pass');
      }
    },
  });
  return () => keeper.stop();
}
