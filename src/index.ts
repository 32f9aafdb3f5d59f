/**
 * clerk-mastra-auth: Clerk session-token verification for Express and the Mastra server.
 *
 * This entry point is the framework-neutral core and the Express middleware; it loads neither Express nor Mastra.
 * The Mastra provider is `clerk-mastra-auth/mastra`, the fresh-token client `clerk-mastra-auth/client`; the local
 * Clerk for test suites has an entry point of its own too, never imported from here.
 */
export type { ClerkClaims, ClerkOrganizationClaims } from './core/claims.js';
export {
  ClerkAuthError,
  isClerkAuthError,
  toErrorResponse,
  type ClerkAuthErrorCode,
  type ErrorBody,
  type ErrorResponse,
} from './core/errors.js';
export {
  ClerkAuthConfigError,
  parsePublishableKey,
  type BackendApiOptions,
  type ClerkAuthOptions,
  type JwksOptions,
  type Logger,
} from './core/options.js';
export type { AuthorizeContext, AuthorizeUser, HeaderReader, RouteResource } from './core/policy.js';
export { verifyClerkToken } from './core/verify-token.js';
export { createClerkAuth, type ClerkAuth, type RequestState, type SignedOutReason } from './core/clerk-auth.js';
export type { CredentialHeaders } from './core/credentials.js';
export { rolePermissions, type RolePermissions, type RolePermissionsOptions } from './core/permissions.js';
export type {
  AnyClerkAuthObject,
  ClerkAuthObject,
  MachineAuthObject,
  SignedInAuth,
  SignedOutAuth,
  UnauthenticatedMachineAuth,
} from './core/auth-object.js';
export type { AcceptsToken, MachineTokenType, TokenType } from './core/token-types.js';
export type { ProtectedResourceMetadata, ProtectedResourceOptions } from './core/resource-metadata.js';
export {
  clerkMastraAuth,
  getClerkAuth,
  getClerkClaims,
  requireClerkAuth,
  type ClerkMastraAuthOptions,
  type ClerkRequestAuth,
  type ExpressAuthOptions,
  type RequireClerkAuthOptions,
} from './express/middleware.js';
