import { describe, expect, it } from 'vitest';
import { PG_URL } from '../store/pg.js';
import { type Engine, type ReuseVariant, runModel } from './driver.js';
import { describeFailure } from './report.js';

/**
 * Random interleavings of every operation across three Baton instances sharing one store, with
 * the simulator as the oracle (see driver.ts for what is checked and how interleavings are made).
 * CI runs a bounded set of fixed seeds; `npm run soak -- --runs N` explores further and prints
 * the seed of any failure. BATON_MODEL_SEEDS / BATON_MODEL_STEPS / BATON_MODEL_FIRST_SEED widen it.
 */
const SEEDS = Number(process.env['BATON_MODEL_SEEDS'] ?? 8);
const STEPS = Number(process.env['BATON_MODEL_STEPS'] ?? 30);
const FIRST = Number(process.env['BATON_MODEL_FIRST_SEED'] ?? 1);
const seeds = Array.from({ length: SEEDS }, (_, i) => FIRST + i);

const WITH: Record<ReuseVariant, string> = {
  window: 'a 30-minute reuse window for a replaced refresh token',
  family: 'a 10-minute reuse window, and family revocation after it',
};

/**
 * One engine's model suite; each engine has its own test file so the runner can run them side
 * by side. `reuse`: the provider documents a reuse window for a replaced refresh token (the
 * simulator and the spec agree), and answers are lost after the provider rotated.
 */
export function modelSuite(engine: Engine, enabled = true, reuse?: ReuseVariant): void {
  const title = `model interleavings on ${engine} (three instances, one store)${reuse ? `, with ${WITH[reuse]}` : ''}`;
  describe.skipIf(!enabled)(title, () => {
    it.each(seeds)(
      `seed %i × ${STEPS} steps keeps every invariant`,
      async (seed) => {
        const result = await runModel({ engine, seed, steps: STEPS, postgresUrl: PG_URL, reuse });
        // Printed on every run, so a CI log names the seeds it exercised.
        console.log(
          `model engine=${engine}${reuse ? ` reuse=${reuse}` : ''} seed=${seed} steps=${result.steps} violations=${result.violations.length} named-losses=${JSON.stringify(result.namedLosses)}${reuse ? ` recovered=${result.recovered}` : ''}`,
        );
        if (result.violations.length > 0) console.log(describeFailure(result));
        expect(result.violations, describeFailure(result)).toEqual([]);
      },
      60_000,
    );
  });
}
