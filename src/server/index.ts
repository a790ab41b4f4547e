export { createCallerKey } from './keys.js';
export { type BatonServer, type ServerOptions, startServer } from './server.js';
export type { AuditRow, CallerKey, Operation, ServerStore } from './server-store.js';
export { openServerStore } from './server-store.js';
