import { modelSuite } from './suite.js';

// Random interleavings on memory (see driver.ts and suite.ts); `npm run soak` runs longer.
modelSuite('memory');

// The same with a provider that documents a reuse window for a replaced refresh token, and
// with one that revokes the whole grant when it is presented after the window.
modelSuite('memory', true, 'window');
modelSuite('memory', true, 'family');
