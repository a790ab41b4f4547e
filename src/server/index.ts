export { type CallerKey, createCallerKey, type Permission } from './keys.js';
export { type BatonServer, type ServerOptions, startServer } from './server.js';
export type { AuditRow, ServerStore } from './server-store.js';
export { openServerStore } from './server-store.js';
