/**
 * `createClerkAuth(options)`: one verifier and one policy, shared by every adapter built from it.
 */
import { ClerkAuthCore } from './core/clerk-auth.js';
import type { ClerkAuthOptions } from './core/options.js';

export class ClerkAuth extends ClerkAuthCore {}

/**
 * Builds the shared object: validates the options once (throwing `ClerkAuthConfigError` at start-up for a
 * configuration that cannot work) and builds the key resolver once.
 */
export function createClerkAuth(options?: ClerkAuthOptions): ClerkAuth {
  return new ClerkAuth(options);
}
