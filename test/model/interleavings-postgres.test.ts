import { PG_URL } from '../store/pg.js';
import { modelSuite } from './suite.js';

// Random interleavings on postgres (see driver.ts and suite.ts); `npm run soak` runs longer.
modelSuite('postgres', Boolean(PG_URL));

// The same with a provider that documents a reuse window for a replaced refresh token, and
// with one that revokes the whole grant when it is presented after the window.
modelSuite('postgres', Boolean(PG_URL), 'window');
modelSuite('postgres', Boolean(PG_URL), 'family');
