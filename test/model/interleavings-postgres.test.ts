import { PG_URL } from '../store/pg.js';
import { modelSuite, personaSuite } from './suite.js';

// Random interleavings on postgres (see driver.ts and suite.ts); `npm run soak` runs longer.
modelSuite('postgres', Boolean(PG_URL));

// The same with a provider that documents a reuse window for a replaced refresh token, and
// with one that revokes the whole grant when it is presented after the window.
modelSuite('postgres', Boolean(PG_URL), 'window');
modelSuite('postgres', Boolean(PG_URL), 'family');

// The personas with their own refresh-token rules: Xero's 30-minute reuse window, Atlassian's
// leeway and family revocation, and the MCP persona (reuse revokes the grant; the authorization
// server forgets its clients) with a registered client and with a client metadata document.
personaSuite('postgres', 'xero', Boolean(PG_URL));
personaSuite('postgres', 'atlassian', Boolean(PG_URL));
personaSuite('postgres', 'mcp-dcr', Boolean(PG_URL));
personaSuite('postgres', 'mcp-cimd', Boolean(PG_URL));
