import { modelSuite, personaSuite } from './suite.js';

// Random interleavings on memory (see driver.ts and suite.ts); `npm run soak` runs longer.
modelSuite('memory');

// The same with a provider that documents a reuse window for a replaced refresh token, and
// with one that revokes the whole grant when it is presented after the window.
modelSuite('memory', true, 'window');
modelSuite('memory', true, 'family');

// The personas with their own refresh-token rules: Xero's 30-minute reuse window, Atlassian's
// leeway and family revocation, and the MCP persona (reuse revokes the grant; the authorization
// server forgets its clients) with a registered client and with a client metadata document.
personaSuite('memory', 'xero', true);
personaSuite('memory', 'atlassian', true);
personaSuite('memory', 'mcp-dcr', true);
personaSuite('memory', 'mcp-cimd', true);
