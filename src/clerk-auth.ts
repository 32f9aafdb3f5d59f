/**
 * `createClerkAuth(options)`: one verifier and one policy, shared by every adapter built from it.
 */
import type { RequestHandler } from 'express';
import { ClerkAuthCore } from './core/clerk-auth.js';
import type { ClerkAuthOptions } from './core/options.js';
import { clerkMastraAuth, type ExpressAuthOptions } from './express/middleware.js';
import { MastraAuthClerk, type MastraProviderOptions } from './mastra/provider.js';

export class ClerkAuth extends ClerkAuthCore {
  /** The Express middleware, sharing this object's verifier, caches and policy. */
  express(options?: ExpressAuthOptions): RequestHandler {
    return clerkMastraAuth(this, options);
  }

  /** A Mastra auth provider (`new Mastra({ server: { auth } })`), sharing this object's verifier, caches and policy. */
  mastra(options?: MastraProviderOptions): MastraAuthClerk {
    return new MastraAuthClerk(this, options);
  }
}

/**
 * Builds the shared object: validates the options once (throwing `ClerkAuthConfigError` at start-up for a
 * configuration that cannot work) and builds the key resolver once.
 */
export function createClerkAuth(options?: ClerkAuthOptions): ClerkAuth {
  return new ClerkAuth(options);
}
