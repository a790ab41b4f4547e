/**
 * `baton-oauth/simulator`: the simulator (src/simulator/, which imports nothing from Baton's
 * providers, protocol or core) and, beside it, what turns a running one into `Baton.open()`
 * options — the README documents them together ("The simulator").
 */
export type { SimulatorDiscovery, SimulatorProfile } from './core/simulator-profile.js';
export { connectSimulator, simulatorProfile } from './core/simulator-profile.js';
export * from './simulator/index.js';
