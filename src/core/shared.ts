/**
 * How an adapter gets its `ClerkAuth`: the one given as `clerkAuth` (shared with the other adapter), or one of its
 * own from the core options. Never both: options next to `clerkAuth` would be silently ignored.
 */
import { ClerkAuth } from './clerk-auth.js';
import { assertKnownOptions, unknownOptions, type ClerkAuthOptions } from './options.js';

/** `ownOptions`: the adapter's own option names, for the "did you mean" of a misspelt one. */
export function clerkAuthFrom(options: ClerkAuthOptions & { clerkAuth?: unknown }, adapter: string, ownOptions: readonly string[]): ClerkAuth {
  const { clerkAuth, ...core } = options;
  if (clerkAuth === undefined) {
    // A spread createClerkAuth() object brings its own fields (`config`...); anything else is likely a misspelling.
    if (unknownOptions(core).some((key) => key in ClerkAuth.prototype || key === 'config')) {
      throw new TypeError(`${adapter}: the options are a spread createClerkAuth() object; to share a createClerkAuth() object, pass it as { clerkAuth }`);
    }
    assertKnownOptions(adapter, core, ownOptions);
    return new ClerkAuth(core);
  }
  if (!(clerkAuth instanceof ClerkAuth)) {
    throw new TypeError(`${adapter}: "clerkAuth" must be an object made by createClerkAuth() (of this copy of clerk-mastra-auth)`);
  }
  // A misspelling is no option of createClerkAuth() either: sending it there would have it refused again.
  assertKnownOptions(adapter, core, ownOptions);
  const extra = Object.keys(core).filter((key) => (core as Record<string, unknown>)[key] !== undefined);
  if (extra.length > 0) {
    throw new TypeError(`${adapter}: pass ${extra.map((k) => `"${k}"`).join(', ')} to createClerkAuth(), not next to "clerkAuth"`);
  }
  return clerkAuth;
}
