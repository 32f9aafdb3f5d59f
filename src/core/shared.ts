/**
 * How an adapter gets its `ClerkAuth`: the one given as `clerkAuth` (shared with the other adapter), or one of its
 * own from the core options. Never both: options next to `clerkAuth` would be silently ignored.
 */
import { ClerkAuth } from './clerk-auth.js';
import type { ClerkAuthOptions } from './options.js';

/** Every field of `ClerkAuthOptions`: anything else is a typo, or a spread `createClerkAuth()` object. */
const OPTION_NAMES: ReadonlySet<string> = new Set<keyof ClerkAuthOptions>([
  'publishableKey', 'jwksUri', 'jwtKey', 'secretKey', 'apiUrl', 'issuer', 'audience', 'authorizedParties',
  'clockSkewInMs', 'treatPendingAsSignedOut', 'algorithms', 'tokenCache', 'jwks', 'realm', 'now', 'authorizeUser',
  'logger', 'env', 'acceptsToken', 'machineSecretKey', 'backendApi', 'protectedResource',
]);

export function clerkAuthFrom(options: ClerkAuthOptions & { clerkAuth?: unknown }, adapter: string): ClerkAuth {
  const { clerkAuth, ...core } = options;
  if (clerkAuth === undefined) {
    const unknown = Object.keys(core).filter((key) => !OPTION_NAMES.has(key));
    if (unknown.length > 0) {
      throw new TypeError(
        `${adapter}: unknown option ${unknown.map((k) => `"${k}"`).join(', ')}; to share a createClerkAuth() object, pass it as { clerkAuth }`,
      );
    }
    return new ClerkAuth(core);
  }
  if (!(clerkAuth instanceof ClerkAuth)) {
    throw new TypeError(`${adapter}: "clerkAuth" must be an object made by createClerkAuth() (of this copy of clerk-mastra-auth)`);
  }
  const extra = Object.keys(core).filter((key) => (core as Record<string, unknown>)[key] !== undefined);
  if (extra.length > 0) {
    throw new TypeError(`${adapter}: pass ${extra.map((k) => `"${k}"`).join(', ')} to createClerkAuth(), not next to "clerkAuth"`);
  }
  return clerkAuth;
}
