/**
 * `baton-oauth/simulator`: the simulator (src/simulator/, which imports nothing from Baton's
 * providers, protocol or core) and, beside it, what turns a running one into `Baton.open()`
 * options — the README documents them together ("The simulator").
 */

export * from './simulator/index.js';
export type { SimulatorDiscovery, SimulatorProfile } from './simulator-client/profile.js';
export { connectSimulator, simulatorProfile } from './simulator-client/profile.js';
