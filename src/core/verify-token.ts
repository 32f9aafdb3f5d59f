/**
 * `verifyClerkToken(token, options)`: the one-call form. Calling it per request with the same options reuses one
 * verifier (key resolver, JWKS cache, token cache) per distinct configuration instead of rebuilding it.
 */
import type { ClerkClaims } from './claims.js';
import { BoundedMap } from './bounded-map.js';
import { ClerkAuth } from './clerk-auth.js';
import { assertKnownOptions, withEnvironment, type ClerkAuthOptions } from './options.js';

const MAX_CONFIGURATIONS = 64;
const verifiers = new BoundedMap<string, ClerkAuth>(MAX_CONFIGURATIONS);
const functionIds = new WeakMap<object, number>();
let nextFunctionId = 0;

function identity(value: unknown): string | undefined {
  if (typeof value !== 'function') return undefined;
  let id = functionIds.get(value);
  if (id === undefined) functionIds.set(value, (id = nextFunctionId++));
  return `function#${id}`;
}

/**
 * What decides verification, in a fixed order: equal configurations share a verifier whatever the key order of the
 * options object. The logger and the policy do not verify anything, so a new closure per call does not matter; the
 * clock (`now`) does, by identity.
 */
function configurationKey(options: ClerkAuthOptions): string {
  const o = withEnvironment(options);
  const j = o.jwks ?? {};
  return JSON.stringify([
    o.publishableKey,
    o.jwksUri,
    o.jwtKey,
    o.secretKey,
    o.apiUrl,
    o.issuer,
    o.audience,
    o.authorizedParties,
    o.clockSkewInMs,
    o.treatPendingAsSignedOut,
    o.algorithms,
    o.tokenCache,
    [j.cacheMaxAgeInMs, j.cooldownInMs, j.timeoutInMs, j.staleIfErrorInMs, j.failureBackoffInMs, j.maxResponseBytes],
    o.realm,
    identity(o.now),
  ]);
}

/** The shared verifier for a configuration, built on first use. */
export function verifierFor(options: ClerkAuthOptions = {}): ClerkAuth {
  const key = configurationKey(options);
  let verifier = verifiers.get(key);
  if (!verifier) {
    // A misspelt option (`authorisedParties`) leaves its configuration without the real one, so it is caught here,
    // when that configuration's verifier is built, and again on every call (none is kept).
    assertKnownOptions('verifyClerkToken', options);
    verifier = new ClerkAuth({ ...options, authorizeUser: undefined });
    verifiers.set(key, verifier);
  }
  return verifier;
}

/**
 * Verifies a Clerk session token with Clerk's rules. Resolves with the verified claims; rejects with a
 * `ClerkAuthError` whose `code`, `status` and `headers` say why. Options default to the `CLERK_*` environment.
 *
 * @example
 * const claims = await verifyClerkToken(token); // CLERK_PUBLISHABLE_KEY or CLERK_JWKS_URI or CLERK_JWT_KEY
 * console.log(claims.sub, claims.o?.rol);
 */
export async function verifyClerkToken(token: string, options?: ClerkAuthOptions): Promise<ClerkClaims> {
  return verifierFor(options).verify(token);
}
