import { afterEach, beforeEach, describe } from 'vitest';
import { crossProcessSuite } from '../helpers/cross-process.js';
import { authorize, type World, world } from '../helpers/sim-baton.js';

describe('refresh across processes sharing SQLite', () => {
  let w: World;
  beforeEach(async () => {
    w = await world({ sim: { cronofyRotation: 'always' } });
    await authorize(w, { provider: 'cronofy', connectionId: 'alice' });
  });
  afterEach(async () => {
    await w.close();
  });
  crossProcessSuite({ world: () => w, store: () => `sqlite:${w.dbPath}`, processes: 4 });
});
