/**
 * `baton-oauth/mcp`: the MCP SDK's `OAuthClientProvider` backed by a Baton connection
 * (docs/architecture.md, "MCP"). It needs `@modelcontextprotocol/sdk` only for its types: the SDK the
 * application runs is the one it talks to.
 */

export type { BeginMcpAuthorizationInput, McpServer, McpTokens, StepUpInput } from './core/mcp.js';
export { InsufficientScope, McpDiscoveryError } from './errors.js';
export {
  type AuthorizationReason,
  type AuthorizationRequest,
  BatonOAuthProvider,
  type BatonOAuthProviderOptions,
  batonOAuthProvider,
} from './mcp/provider.js';
