import { describe, expect, it } from 'vitest';
import { PG_URL } from '../store/pg.js';
import { type Engine, type PersonaName, type ReuseVariant, runModel } from './driver.js';
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
/** The personas beyond Cronofy run fewer, shorter seeds here; `npm run soak:personas` runs them long. */
const PERSONA_SEEDS = Number(process.env['BATON_MODEL_PERSONA_SEEDS'] ?? 3);
const PERSONA_STEPS = Number(process.env['BATON_MODEL_PERSONA_STEPS'] ?? 20);
const personaSeeds = Array.from({ length: PERSONA_SEEDS }, (_, i) => FIRST + i);

const PERSONA: Record<Exclude<PersonaName, 'cronofy'>, string> = {
  xero: 'Xero (a 30-minute reuse window)',
  atlassian: 'Atlassian (a 10-minute leeway, then family revocation)',
  'mcp-dcr': 'the MCP persona, client registered by RFC 7591 (reuse revokes the grant; eviction)',
  'mcp-cimd': 'the MCP persona, client by its metadata document (reuse revokes the grant; eviction)',
};

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
  run(title, enabled, seeds, STEPS, { engine, reuse });
}

/** The same against another persona (personas.ts), with its own invariants. */
export function personaSuite(engine: Engine, persona: Exclude<PersonaName, 'cronofy'>, enabled = true): void {
  const title = `model interleavings on ${engine} (three instances, one store) against ${PERSONA[persona]}`;
  run(title, enabled, personaSeeds, PERSONA_STEPS, { engine, persona });
}

function run(
  title: string,
  enabled: boolean,
  list: number[],
  steps: number,
  o: { engine: Engine; reuse?: ReuseVariant; persona?: PersonaName },
): void {
  const { engine, reuse, persona } = o;
  describe.skipIf(!enabled)(title, () => {
    it.each(list)(
      `seed %i × ${steps} steps keeps every invariant`,
      async (seed) => {
        const result = await runModel({ engine, seed, steps, postgresUrl: PG_URL, reuse, persona });
        // Printed on every run, so a CI log names the seeds it exercised.
        console.log(
          `model engine=${engine} persona=${result.persona}${reuse ? ` reuse=${reuse}` : ''} seed=${seed} steps=${result.steps} violations=${result.violations.length} named-losses=${JSON.stringify(result.namedLosses)} recovered=${result.recovered} gave-up-in-doubt=${result.gaveUpInDoubt}${persona?.startsWith('mcp') ? ` evictions=${result.evictions} re-registrations=${result.reRegistrations}` : ''}`,
        );
        if (result.violations.length > 0) console.log(describeFailure(result));
        expect(result.violations, describeFailure(result)).toEqual([]);
      },
      60_000,
    );
  });
}
