import { modelSuite } from './suite.js';

// Random interleavings on sqlite (see driver.ts and suite.ts); `npm run soak` runs longer.
modelSuite('sqlite');
