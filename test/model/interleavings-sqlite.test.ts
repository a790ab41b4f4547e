import { modelSuite, personaSuite } from './suite.js';

// Random interleavings on sqlite (see driver.ts and suite.ts); `npm run soak` runs longer.
modelSuite('sqlite');

// The same with a provider that documents a reuse window for a replaced refresh token, and
// with one that revokes the whole grant when it is presented after the window.
modelSuite('sqlite', true, 'window');
modelSuite('sqlite', true, 'family');

// The personas with their own refresh-token rules: Xero's 30-minute reuse window, Atlassian's
// leeway and family revocation, and the MCP persona (reuse revokes the grant; the authorization
// server forgets its clients) with a registered client and with a client metadata document.
personaSuite('sqlite', 'xero', true);
personaSuite('sqlite', 'atlassian', true);
personaSuite('sqlite', 'mcp-dcr', true);
personaSuite('sqlite', 'mcp-cimd', true);
