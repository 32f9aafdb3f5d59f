/**
 * The shared object both adapters hang off: one verifier (keys, caches) and one policy per configuration.
 */
import type { ClerkClaims } from './claims.js';
import { ClerkAuthError } from './errors.js';
import { resolveOptions, type ClerkAuthOptions, type ResolvedOptions } from './options.js';
import { allowAuthenticated, type AuthorizeContext, type AuthorizeUser } from './policy.js';
import { Verifier } from './verifier.js';

/** Global, so an object from another copy of this package (two versions installed) is still recognised. */
const BRAND = Symbol.for('clerk-mastra-auth.ClerkAuth');

/** Bumped when the methods adapters call change, so a copy of another shape is not mistaken for one of ours. */
const BRAND_VERSION = 1;

/** True for a `createClerkAuth()` object, from this copy of the package or another. */
export function isClerkAuth(value: unknown): value is ClerkAuthCore {
  if (typeof value !== 'object' || value === null) return false;
  if ((value as Record<symbol, unknown>)[BRAND] === BRAND_VERSION) return true;
  if ('verifier' in value && 'config' in value) {
    // `{ ...auth, optional: true }` copies the fields but not the methods: say so instead of silently rebuilding a
    // verifier from the environment without the shared policy.
    throw new TypeError('Pass the createClerkAuth() object itself, with adapter options as the second argument');
  }
  return false;
}

export class ClerkAuthCore {
  /** The validated configuration (keys, issuer, parties...). */
  readonly config: ResolvedOptions;
  private readonly verifier: Verifier;
  private readonly policy: AuthorizeUser<ClerkClaims>;
  /** False when every verified user passes: adapters then skip building the policy's context. */
  readonly hasPolicy: boolean;
  private readonly logger: ((message: string) => void) | undefined;

  /** Validates the options (throws `ClerkAuthConfigError` naming the option) and builds the key resolver once. */
  constructor(readonly options: ClerkAuthOptions = {}) {
    this.config = resolveOptions(options);
    this.verifier = new Verifier(this.config);
    if (options.authorizeUser !== undefined && typeof options.authorizeUser !== 'function') {
      throw new TypeError('"authorizeUser" must be a function');
    }
    this.policy = options.authorizeUser ?? allowAuthenticated;
    this.hasPolicy = options.authorizeUser !== undefined;
    this.logger = options.logger === false ? undefined : (options.logger ?? ((m) => console.warn(m)));
  }

  /** The verified claims of a session token; rejects with a `ClerkAuthError`. */
  verify(token: string): Promise<ClerkClaims> {
    return this.verifier.verify(token);
  }

  /** The claims of a token this verifier accepted before and that is still valid, without a promise; else undefined. */
  cached(token: string): ClerkClaims | undefined {
    return this.verifier.cached(token);
  }

  /** Runs the shared `authorizeUser` policy. Resolves true or false; rejects if the policy throws. */
  async authorize(user: ClerkClaims, ctx: AuthorizeContext): Promise<boolean> {
    return (await this.policy(user, ctx)) === true;
  }

  /** Logs a failure by its code only: never the token, a key, or the known kids. */
  log(event: string, error: unknown): void {
    if (!this.logger) return;
    const code = error instanceof ClerkAuthError ? error.code : typeof error === 'string' ? error : 'unexpected-error';
    this.logger(`[clerk-mastra-auth] ${event} (${code})`);
  }
}

// On the prototype, not enumerable: not copied by a spread, not shown by JSON or a console.log of options.
Object.defineProperty(ClerkAuthCore.prototype, BRAND, { value: BRAND_VERSION });
