import type { FastifyBaseLogger } from 'fastify';
import type { Baton } from '../core/baton.js';
import type { Metrics } from './metrics.js';

/**
 * The keeper's passes (background refresh) in this process, scheduled here so each pass's
 * duration is measured (`baton_keeper_pass_seconds`) and its report logged. The keeper knows
 * the interval: a pass gives what the rate limits leave undone back to the next one. Returns
 * what stops them.
 */
export function scheduleKeeper(
  baton: Baton,
  { intervalMs, metrics, logger }: { intervalMs: number; metrics: Metrics; logger: FastifyBaseLogger },
): () => void {
  const keeper = baton.startKeeper({ intervalMs });
  keeper.stop();
  const timer = setInterval(() => {
    const end = metrics.keeperPass.startTimer();
    keeper.runOnce().then(
      (run) => {
        end();
        if (run.checked > 0) {
          const { refreshed, failed, ...counts } = run;
          logger.info({ ...counts, refreshed: refreshed.length, failed: failed.length }, 'keeper pass');
        }
      },
      (err: unknown) => logger.warn({ err }, 'keeper pass failed'),
    );
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
