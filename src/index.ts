export type { BatonRequestInit, BatonRequestOptions } from './core/api-fetch.js';
export type {
  BatonOptions,
  BeginAuthorizationInput,
  BeginAuthorizationResult,
  BeginMcpAuthorizationInput,
  CompleteAuthorizationInput,
  ConnectInput,
  ConnectionQuery,
  RevokeResult,
} from './core/baton.js';
export { Baton } from './core/baton.js';
export type { ClientRegistration, ClientsOption } from './core/clients.js';
export type { Clock } from './core/clock.js';
export type { ConnectionInfo, GrantLifetime } from './core/connection-info.js';
export type { BatonEvents, TokenEndpointEvent } from './core/events.js';
export type { KeeperOptions, KeeperRun } from './core/keeper.js';
export type {
  McpClientInfo,
  McpConnections,
  McpHints,
  McpServer,
  McpTokens,
  StepUpInput,
} from './core/mcp.js';
export type { WebhookEvent, WebhookEventType } from './core/outbox.js';
export { WEBHOOK_EVENT_TYPES } from './core/outbox.js';
export type { ClientIdentityOptions } from './core/registrations.js';
export type { KeyState, RekeyFailure, RekeyOptions, RekeyProgress, RekeyResult } from './core/rekey.js';
export type { StaticCredentials } from './core/secrets.js';
export {
  AuthorizationError,
  BatonError,
  ConfigError,
  ConnectionMismatch,
  ConnectionNotFound,
  CredentialsRejected,
  InsufficientScope,
  InvalidClient,
  McpDiscoveryError,
  type McpLink,
  NetworkError,
  ProviderError,
  RateLimited,
  ReauthorizationRequired,
  SecretKeyError,
  StoreError,
  WebhookSignatureError,
} from './errors.js';
export type { ResourceMetadata } from './protocol/resource-metadata.js';
export type { GrantTimes, TokenSet } from './protocol/token-set.js';
export type { ClientConfig } from './protocol/types.js';
export { MCP_PREFIX, mcpIssuerOf, mcpProviderId } from './providers/mcp.js';
export { presets } from './providers/presets/index.js';
export type {
  AuthMode,
  ProviderOverride,
  ProviderSpec,
  RefreshTokenLifetime,
  RefreshTokenReuse,
  TokenRateLimit,
} from './providers/spec.js';
export type { VerifyWebhookOptions } from './server/webhooks/signature.js';
export { signWebhook, verifyWebhook } from './server/webhooks/signature.js';
export type { SimulatorDiscovery, SimulatorProfile } from './simulator-client/profile.js';
export { connectSimulator, simulatorProfile } from './simulator-client/profile.js';
export { openStore } from './store/index.js';
export { type MigrateOptions, migrateStore } from './store/migrate.js';
export type {
  BatchWrite,
  ClientRegistrationRow,
  ClientRegistrations,
  ConnectionRecord,
  ConnectionStatus,
  DueBatch,
  DueCursor,
  DueQuery,
  KeyUsage,
  ListQuery,
  PendingQuery,
  Store,
} from './store/store.js';
