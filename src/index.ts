/**
 * clerk-mastra-auth: Clerk session-token verification for Express and the Mastra server.
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
export { extractToken, type CredentialHeaders } from './core/extract.js';
export {
  ClerkAuthConfigError,
  parsePublishableKey,
  type ClerkAuthOptions,
  type JwksOptions,
} from './core/options.js';
export type { AuthorizeContext, AuthorizeUser, HeaderReader } from './core/policy.js';
export { verifyClerkToken } from './core/verify-token.js';
export { createClerkAuth, ClerkAuth } from './clerk-auth.js';
export type { ClerkAuthObject, SignedInAuth, SignedOutAuth } from './core/auth-object.js';
export {
  clerkMastraAuth,
  getClerkAuth,
  getClerkClaims,
  requireClerkAuth,
  type ClerkMastraAuthOptions,
  type ClerkRequestAuth,
  type ExpressAuthOptions,
} from './express/middleware.js';
export {
  MastraAuthClerk,
  type MastraAuthClerkOptions,
  type MastraAuthRequest,
  type MastraProviderOptions,
} from './mastra/provider.js';
