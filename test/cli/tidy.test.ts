import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tidy } from '../../src/cli/runtime.js';

/**
 * The CLI's message tidier only merges a doubled full stop that ends a sentence; what a message
 * quotes — the user's input in "double quotes" or `backticks` — comes out unchanged (README,
 * "Exit codes and errors": nothing alters quoted input except redaction).
 */
describe('tidy', () => {
  it('leaves the quoted path of the API path error as typed (the reported instance)', () => {
    const message =
      'The API path "../../checkfront/acme/api/3.0/ping" has a ".." segment; give a path under the API base without "." or ".." segments.';
    expect(tidy(message)).toBe(message);
  });

  it('any input quoted in double quotes or backticks survives unchanged', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => !s.includes('"')),
        fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => !s.includes('`')),
        fc.constantFrom('', '.', '..', ' again..', ' it.'),
        (dq, bt, tail) => {
          const out = tidy(`The value "${dq}" is not allowed; run \`${bt}\`${tail}`);
          expect(out).toContain(`"${dq}"`);
          expect(out).toContain(`\`${bt}\``);
        },
      ),
    );
  });

  it('a sentence that ends in two stops ends in one; three dots (an ellipsis) stay', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z][A-Za-z ,]{0,30}[A-Za-z]$/),
        fc.constantFrom('', ' Then more.', '\nNext line.'),
        (sentence, rest) => {
          expect(tidy(`${sentence}..${rest}`)).toBe(`${sentence}.${rest}`);
          expect(tidy(`${sentence}...${rest}`)).toBe(`${sentence}...${rest}`);
        },
      ),
    );
  });
});
