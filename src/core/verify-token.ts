/**
 * `verifyClerkToken(token, options)`: the one-call form. Calling it per request with the same options reuses one
 * verifier (key resolver, JWKS cache, token cache) per distinct configuration instead of rebuilding it.
 */
import type { ClerkClaims } from './claims.js';
import { ClerkAuthCore } from './clerk-auth.js';
import { withEnvironment, type ClerkAuthOptions } from './options.js';

const MAX_CONFIGURATIONS = 64;
const verifiers = new Map<string, ClerkAuthCore>();
const functionIds = new WeakMap<object, number>();
let nextFunctionId = 0;

function configurationKey(options: ClerkAuthOptions): string {
  // Functions (clock, logger, policy) are told apart by identity; everything else by value.
  return JSON.stringify(withEnvironment(options), (key, value: unknown) => {
    if (key === 'env') return undefined;
    if (typeof value !== 'function') return value;
    let id = functionIds.get(value);
    if (id === undefined) functionIds.set(value, (id = nextFunctionId++));
    return `function#${id}`;
  });
}

/** The shared verifier for a configuration, built on first use. */
export function verifierFor(options: ClerkAuthOptions = {}): ClerkAuthCore {
  const key = configurationKey(options);
  let verifier = verifiers.get(key);
  if (!verifier) {
    verifier = new ClerkAuthCore(options);
    if (verifiers.size >= MAX_CONFIGURATIONS) verifiers.delete(verifiers.keys().next().value!);
    verifiers.set(key, verifier);
  }
  return verifier;
}

/**
 * Verifies a Clerk session token with Clerk's rules. Resolves with the verified claims; rejects with a
 * `ClerkAuthError` whose `code`, `status` and `headers` say why. Options default to the `CLERK_*` environment.
 */
export async function verifyClerkToken(token: string, options?: ClerkAuthOptions): Promise<ClerkClaims> {
  return verifierFor(options).verify(token);
}
