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
      // A spread createClerkAuth() object brings its own fields (`config`...); anything else is likely a misspelling.
      if (unknown.some((key) => key in ClerkAuth.prototype || key === 'config')) {
        throw new TypeError(`${adapter}: the options are a spread createClerkAuth() object; to share a createClerkAuth() object, pass it as { clerkAuth }`);
      }
      const hint = closestOptions(unknown);
      throw new TypeError(`${adapter}: unknown option ${unknown.map((k) => `"${k}"`).join(', ')}${hint ? `; ${hint}` : ''}`);
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

/** "did you mean ..." for option names within two edits of a known one (`authorisedParties`), or ''. */
function closestOptions(unknown: readonly string[]): string {
  const near = unknown.flatMap((key) => [...OPTION_NAMES].filter((name) => editDistance(key.toLowerCase(), name.toLowerCase()) <= 2));
  return near.length === 0 ? '' : `did you mean ${near.map((name) => `"${name}"`).join(', ')}?`;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
