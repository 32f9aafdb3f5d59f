/**
 * The Mastra adapter: a `MastraAuthProvider` over the shared core, a drop-in for `@mastra/auth-clerk`'s
 * `MastraAuthClerk` without its flaws (one JWKS fetch per request, no issuer or `azp` check, a secret key required
 * just to verify, threads not owned by the signed-in user).
 */
import { MastraAuthProvider, type MastraAuthProviderOptions } from '@mastra/core/server';
import type { ClerkClaims } from '../core/claims.js';
import { ClerkAuthCore, isClerkAuth } from '../core/clerk-auth.js';
import { ClerkAuthError } from '../core/errors.js';
import { extractToken } from '../core/extract.js';
import type { ClerkAuthOptions } from '../core/options.js';
import { isPlainHost, originFormPath, type AuthorizeContext } from '../core/policy.js';

/** The request Mastra hands a provider: a Web `Request`, or a Hono-like wrapper around one. */
export type MastraAuthRequest = Parameters<MastraAuthProvider['authenticateToken']>[1];

/** Options that only the Mastra provider has: `@mastra/auth-clerk`'s, minus the policy (shared in the core). */
export interface MastraProviderOptions {
  /** Provider name in Mastra's logs (default `"clerk"`). */
  name?: string;
  /** Paths that require auth (Mastra's default: `/api/*`). */
  protected?: MastraAuthProviderOptions<ClerkClaims>['protected'];
  /** Paths that do not (Mastra's default: `/api`, `/api/auth/*`). */
  public?: MastraAuthProviderOptions<ClerkClaims>['public'];
  /**
   * The memory resource id of a user (default: the Clerk user id, `sub`), so Mastra threads are owned by the
   * signed-in user and one user cannot read another's.
   */
  mapUserToResourceId?: (user: ClerkClaims) => string | undefined | null;
}

/** `@mastra/auth-clerk`'s constructor options plus every `ClerkAuthOptions` field. */
export type MastraAuthClerkOptions = ClerkAuthOptions & MastraProviderOptions;

/** The Web `Request` behind what Mastra passes, if any. */
function webRequestOf(request: MastraAuthRequest | undefined): Request | undefined {
  if (request instanceof Request) return request;
  const raw = (request as { raw?: unknown } | undefined)?.raw;
  return raw instanceof Request ? raw : undefined;
}

/**
 * A header of any request shape Mastra passes: a Web `Request`, a Hono-like `{ raw, header() }`, or an object with
 * `Headers` or plain-object headers (`@mastra/core`'s `getRequestHeader` throws on the last).
 */
function headerOf(request: MastraAuthRequest | undefined, name: string): string | null {
  const web = webRequestOf(request);
  if (web) return web.headers.get(name);
  if (!request) return null;
  const { headers, header } = request as { headers?: unknown; header?: (n: string) => string | undefined };
  if (headers instanceof Headers) return headers.get(name);
  if (typeof header === 'function') return header.call(request, name) ?? null;
  if (headers && typeof headers === 'object') {
    const value = (headers as Record<string, string | string[] | undefined>)[name.toLowerCase()];
    return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
  }
  return null;
}

export class MastraAuthClerk extends MastraAuthProvider<ClerkClaims> {
  /** The shared verifier and policy. */
  readonly clerkAuth: ClerkAuthCore;

  /**
   * `new MastraAuthClerk(options)` configures its own verifier (options default to the `CLERK_*` environment);
   * `new MastraAuthClerk(createClerkAuth(...), extra)` shares that object's verifier, caches and policy.
   */
  constructor(options: MastraAuthClerkOptions | ClerkAuthCore = {}, extra: MastraProviderOptions = {}) {
    const shared = isClerkAuth(options) ? options : undefined;
    const { name, protected: protectedPaths, public: publicPaths, mapUserToResourceId, ...core } = shared
      ? extra
      : { ...(options as MastraAuthClerkOptions), ...extra };
    // The policy is not handed to Mastra's base class: it runs in `authorizeUser` below, with the shared context.
    super({ name: name ?? 'clerk', protected: protectedPaths, public: publicPaths });
    this.clerkAuth = shared ?? new ClerkAuthCore(core as ClerkAuthOptions);
    this.mapUserToResourceId = mapUserToResourceId ?? ((user: ClerkClaims) => user.sub);
  }

  /**
   * The verified claims, or `null` (Mastra answers 401) with the failure's code logged, never the token.
   * The token is read from the request with the same rules as the Express middleware: `Authorization: Bearer`
   * (any case), else the `__session` cookie, which Mastra's adapters do not read; never the query string.
   */
  override async authenticateToken(token: string, request: MastraAuthRequest): Promise<ClerkClaims | null> {
    const { clerkAuth } = this;
    let sessionToken: string | undefined;
    try {
      sessionToken = this.tokenOf(token, request);
    } catch (error) {
      clerkAuth.log('request refused', error);
      return null;
    }
    if (sessionToken === undefined) {
      clerkAuth.log('request refused', 'token-missing');
      return null;
    }
    try {
      return await clerkAuth.verify(sessionToken);
    } catch (error) {
      // A JWKS outage is logged as such (jwk-remote-failed-to-load), not as an invalid token.
      clerkAuth.log(error instanceof ClerkAuthError && error.status >= 500 ? 'keys unavailable' : 'token refused', error);
      return null;
    }
  }

  private tokenOf(token: string, request: MastraAuthRequest): string | undefined {
    const authorization = headerOf(request, 'authorization');
    const cookie = headerOf(request, 'cookie');
    const extracted = extractToken(
      { authorization: authorization === null ? [] : [authorization], cookie },
      this.clerkAuth.config.realm,
    );
    if (extracted !== undefined || authorization !== null) return extracted;
    // Nothing in the headers: the token the caller passed (Mastra strips only "Bearer ", case-sensitively).
    const bare = token.replace(/^bearer\s+/i, '').trim();
    if (!bare) return undefined;
    const web = webRequestOf(request);
    if (web && new URL(web.url).searchParams.has('apiKey')) {
      // Mastra also reads `?apiKey=`: tokens in URLs end up in logs, proxies and browser history.
      throw new ClerkAuthError('request-invalid', { message: 'A session token in the query string is not accepted.' });
    }
    return bare;
  }

  /** Runs the shared `authorizeUser` policy with `source: 'mastra'`; Mastra answers 403 for false, 500 for a throw. */
  override async authorizeUser(user: ClerkClaims, request: MastraAuthRequest): Promise<boolean> {
    const { clerkAuth } = this;
    if (!clerkAuth.hasPolicy) return true;
    const ctx = mastraContext(request);
    if (!ctx) {
      // No trustworthy path to decide by: a policy that decides by path must not be fooled.
      clerkAuth.log('request refused', 'request-invalid');
      return false;
    }
    try {
      return await clerkAuth.authorize(user, ctx);
    } catch (error) {
      clerkAuth.log('authorizeUser threw', 'authorization-error');
      throw error;
    }
  }
}

/**
 * The path of the Web request Mastra built, or undefined when it cannot be trusted. Mastra's Express adapter builds
 * the URL as `${req.protocol}://${Host}${originalUrl}`: a hostile Host, an `X-Forwarded-Proto` (with `trust proxy`)
 * or an absolute-form target would each move the path a policy sees away from the route Mastra serves. So the URL's
 * host must be the request's own Host. (The Web `Request` has already resolved dot segments and backslashes; the
 * Express middleware in front refuses such targets, see README.)
 */
function trustedPath(web: Request, host: string | null): string | undefined {
  try {
    const url = new URL(web.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    if (url.username || url.password || url.hash) return undefined;
    if (host !== null && !isPlainHost(host)) return undefined;
    if (url.host !== new URL(`${url.protocol}//${host ?? 'localhost'}`).host) return undefined;
    return originFormPath(url.pathname);
  } catch {
    return undefined;
  }
}

function mastraContext(request: MastraAuthRequest): AuthorizeContext | undefined {
  const web = webRequestOf(request);
  const path = web && trustedPath(web, headerOf(request, 'host'));
  if (!web || path === undefined || path.startsWith('//')) return undefined;
  return {
    method: web.method.toUpperCase(),
    path,
    headers: { get: (name: string) => headerOf(request, name) },
    source: 'mastra',
    request: web,
  };
}
