import { PG_URL } from '../store/pg.js';
import { modelSuite } from './suite.js';

// Random interleavings on postgres (see driver.ts and suite.ts); `npm run soak` runs longer.
modelSuite('postgres', Boolean(PG_URL));
