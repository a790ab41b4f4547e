import { modelSuite } from './suite.js';

// Random interleavings on memory (see driver.ts and suite.ts); `npm run soak` runs longer.
modelSuite('memory');
