import type { ProviderSpec } from '../spec.js';
import { atlassian } from './atlassian.js';
import { checkbook } from './checkbook.js';
import { checkfront } from './checkfront.js';
import { checkissuing } from './checkissuing.js';
import { cronofy } from './cronofy.js';
import { dropbox } from './dropbox.js';
import { github } from './github.js';
import { google } from './google.js';
import { hubspot } from './hubspot.js';
import { microsoft } from './microsoft.js';
import { notion } from './notion.js';
import { quickbooks } from './quickbooks.js';
import { salesforce } from './salesforce.js';
import { shopify } from './shopify.js';
import { slack } from './slack.js';
import { xero } from './xero.js';
import { zoom } from './zoom.js';

/** The providers Baton knows out of the box, by id. */
export const presets: Readonly<Record<string, ProviderSpec>> = Object.freeze({
  checkfront,
  checkbook,
  checkissuing,
  cronofy,
  xero,
  quickbooks,
  atlassian,
  shopify,
  salesforce,
  google,
  microsoft,
  slack,
  github,
  hubspot,
  zoom,
  dropbox,
  notion,
});
