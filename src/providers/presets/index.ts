import type { ProviderSpec } from '../spec.js';
import { checkbook } from './checkbook.js';
import { checkfront } from './checkfront.js';
import { checkissuing } from './checkissuing.js';
import { cronofy } from './cronofy.js';

/** The providers Baton knows out of the box, by id. */
export const presets: Readonly<Record<string, ProviderSpec>> = Object.freeze({
  checkfront,
  checkbook,
  checkissuing,
  cronofy,
});
