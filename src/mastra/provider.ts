/**
 * The Mastra adapter: a `MastraAuthProvider` over the shared core, a drop-in for `@mastra/auth-clerk`'s
 * `MastraAuthClerk` without its flaws (one JWKS fetch per request, no issuer or `azp` check, a secret key required
 * just to verify, threads not owned by the signed-in user, only `/api/*` protected).
 */
import { createRequire } from 'node:module';
import { MastraAuthProvider, type MastraAuthProviderOptions } from '@mastra/core/server';
import type { ClerkClaims } from '../core/claims.js';
import type { ClerkAuth } from '../core/clerk-auth.js';
import { ClerkAuthError } from '../core/errors.js';
import { ClerkAuthConfigError, type ClerkAuthOptions } from '../core/options.js';
import type { AuthorizeContext } from '../core/policy.js';
import { clerkAuthFrom } from '../core/shared.js';
import { isValidHost, routablePath } from '../core/target.js';
import { MASTRA_PUBLIC_ROUTES, mastraRouteTable } from './routes.js';

/** The request Mastra hands a provider: a Web `Request`, or a Hono-like wrapper around one. */
export type MastraAuthRequest = Parameters<MastraAuthProvider['authenticateToken']>[1];

/** Options that only the Mastra provider has. */
export interface MastraProviderOptions {
  /** Provider name in Mastra's logs (default `"clerk"`). */
  name?: string;
  /**
   * Paths that need no Clerk session, in Mastra's pattern syntax (`'/api/health'`, `'/api/public/*'`, or
   * `[path, method]` pairs). Every other Mastra route, under any prefix, needs one. Mastra's own public routes
   * (its sign-in endpoints under `/auth`) stay public.
   */
  public?: MastraAuthProviderOptions<ClerkClaims>['public'];
  /**
   * Whose agent memory a request reads and writes (default `'user'`): `'user'`, the Clerk user id (`sub`), so one user
   * never sees another's threads; `'organization'`, the active organization (`o.id` / `org_id`), so members of an
   * organization share memory and outsiders see none (a request without an active organization is refused, 403).
   */
  resourceScope?: 'user' | 'organization';
  /**
   * Routes that act on an agent or workflow named in the request body rather than the path (`POST /v1/responses`,
   * `POST /v1/conversations`, `POST /workflows/events`, ...): `ctx.resource.params` cannot name it, so a rule about
   * one agent cannot hold there. `'refuse'` (default): with an `authorizeUser` policy, they are refused (403).
   * `'policy'`: the policy judges them (`ctx.resource.addressedInBody` is true). Without a policy every signed-in
   * user passes either way.
   */
  bodyAddressedRoutes?: 'refuse' | 'policy';
  /** A mapping of your own from the user to the memory resource id; replaces `resourceScope`. */
  mapUserToResourceId?: (user: ClerkClaims) => string | undefined | null;
}

/** The resource of a user without an active organization, in organization scope: never served (refused first). */
const NO_ORGANIZATION = 'clerk-mastra-auth:no-organization';

function organizationOf(user: ClerkClaims): string | undefined {
  const id = user.o?.id ?? user.org_id;
  return typeof id === 'string' && id.length > 0 ? id : undefined;
}

/**
 * `new MastraAuthClerk(options)`: `@mastra/auth-clerk`'s options plus every `ClerkAuthOptions` field, or
 * `clerkAuth` to share one `createClerkAuth()` (verifier, caches, policy) with the Express middleware.
 */
export type MastraAuthClerkOptions = MastraProviderOptions &
  ((ClerkAuthOptions & { clerkAuth?: undefined }) | { clerkAuth: ClerkAuth });

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

/** How long after it is built a provider that Mastra never used is reported. */
const REGISTRATION_GRACE_MS = 10_000;

/**
 * The seed's `new Mastra({ server: { experimental_auth: provider } })` is Mastra 0.x's name: Mastra 1.x ignores it,
 * and the server answers everyone. Nothing in Mastra says so; this does, loudly, once.
 */
function watchRegistration(clerkAuth: ClerkAuth, registered: () => boolean): void {
  setTimeout(() => {
    if (registered()) return;
    clerkAuth.notice(
      'error',
      `MastraAuthClerk was built ${REGISTRATION_GRACE_MS / 1000} s ago and Mastra has not used it: nothing is protected. ` +
        'Mastra 1.x reads server.auth (server.experimental_auth was Mastra 0.x\'s name and is ignored): ' +
        'new Mastra({ server: { auth: new MastraAuthClerk() } })',
    );
  }, REGISTRATION_GRACE_MS).unref();
}

/** The major version of the installed `@mastra/core`, or undefined when it cannot be read. */
function mastraCoreMajor(): number | undefined {
  try {
    const { version } = createRequire(import.meta.url)('@mastra/core/package.json') as { version?: string };
    return Number.parseInt(version ?? '', 10);
  } catch {
    return undefined;
  }
}

/** Every path, under any prefix: Mastra's default protects only `/api/*`, so another prefix was left open. */
const EVERY_PATH = ['/*'];

/**
 * A Mastra auth provider verifying Clerk session tokens: `new Mastra({ server: { auth: new MastraAuthClerk() } })`.
 *
 * @example
 * import { MastraAuthClerk } from 'clerk-mastra-auth/mastra';
 * export const mastra = new Mastra({ server: { auth: new MastraAuthClerk() } }); // CLERK_* from the environment
 */
export class MastraAuthClerk extends MastraAuthProvider<ClerkClaims> {
  /** The shared verifier and policy. */
  readonly clerkAuth: ClerkAuth;
  /** Memory is per organization: a request without an active organization is refused. */
  private readonly organizationScope: boolean;

  constructor(options: MastraAuthClerkOptions = {}) {
    const major = mastraCoreMajor();
    if (major !== undefined && major < 1) {
      throw new ClerkAuthConfigError(
        `MastraAuthClerk needs Mastra 1.x; @mastra/core ${major}.x is installed (npm on Node 20 picks 0.x for a bare ` +
          '"npm install @mastra/core"): npm install @mastra/core@^1 @mastra/server@^1.50',
      );
    }
    const { name, public: publicPaths, mapUserToResourceId, resourceScope = 'user', bodyAddressedRoutes = 'refuse', ...rest } = options;
    if (bodyAddressedRoutes !== 'refuse' && bodyAddressedRoutes !== 'policy') {
      throw new TypeError('MastraAuthClerk: "bodyAddressedRoutes" must be "refuse" or "policy"');
    }
    if (resourceScope !== 'user' && resourceScope !== 'organization') {
      throw new TypeError('MastraAuthClerk: "resourceScope" must be "user" or "organization"');
    }
    if (mapUserToResourceId !== undefined && options.resourceScope !== undefined) {
      throw new TypeError('MastraAuthClerk: give "resourceScope" or "mapUserToResourceId", not both');
    }
    if ('protected' in rest) {
      throw new TypeError('MastraAuthClerk: every Mastra route is protected; declare the exceptions with "public"');
    }
    if ('authorizeUser' in rest && rest.clerkAuth !== undefined) {
      throw new TypeError('MastraAuthClerk: pass "authorizeUser" to createClerkAuth(), not next to "clerkAuth"');
    }
    // The policy is not handed to Mastra's base class: it runs in `authorizeUser` below, with the shared context.
    super({ name: name ?? 'clerk', protected: EVERY_PATH, public: publicPaths });
    this.clerkAuth = clerkAuthFrom(rest, 'MastraAuthClerk');
    // The Express middleware sharing this object then judges Mastra's routes by resource too, and answers for them.
    this.clerkAuth.useRouteTable(mastraRouteTable(), { policyJudgesBodyAddressed: bodyAddressedRoutes === 'policy' });
    if (mapUserToResourceId !== undefined && typeof mapUserToResourceId !== 'function') {
      throw new TypeError('MastraAuthClerk: "mapUserToResourceId" must be a function');
    }
    this.organizationScope = mapUserToResourceId === undefined && resourceScope === 'organization';
    const mapper =
      mapUserToResourceId ??
      (this.organizationScope ? (user: ClerkClaims) => organizationOf(user) ?? NO_ORGANIZATION : (user: ClerkClaims) => user.sub);
    // Mastra reads this when its server starts (and per request): proof that the provider was registered.
    let registered = false;
    Object.defineProperty(this, 'mapUserToResourceId', {
      enumerable: true,
      get: () => {
        registered = true;
        return mapper;
      },
    });
    watchRegistration(this.clerkAuth, () => registered);
    const declared = publicPaths === undefined ? [] : Array.isArray(publicPaths) ? publicPaths : [publicPaths];
    this.clerkAuth.notice(
      'info',
      `Mastra: every route needs a Clerk session except Mastra's own public routes (${MASTRA_PUBLIC_ROUTES.join(', ')})` +
        (declared.length > 0 ? ` and the paths declared public (${declared.map((p) => String(p)).join(', ')})` : ''),
    );
  }

  /**
   * The verified claims, or `null` (Mastra answers 401) with the failure's code logged, never the token.
   * The credentials are read from the request with the same rules as the Express middleware: `Authorization:
   * Bearer` (any case), else Clerk's session cookie, which Mastra's adapters do not read; never the query string.
   */
  override async authenticateToken(token: string, request: MastraAuthRequest): Promise<ClerkClaims | null> {
    const { clerkAuth } = this;
    try {
      const authorization = headerOf(request, 'authorization');
      const cookie = headerOf(request, 'cookie');
      let headers = { authorization: authorization === null ? [] : [authorization], cookie };
      if (authorization === null && cookie === null) {
        const bare = this.bareToken(token, request);
        if (bare === undefined) {
          clerkAuth.log('request refused', 'token-missing');
          return null;
        }
        headers = { authorization: [`Bearer ${bare}`], cookie: null };
      }
      const state = await clerkAuth.authenticate(headers);
      if (state.status === 'signed-in') return state.claims;
      clerkAuth.log('request refused', state.reason);
      return null;
    } catch (error) {
      // Mastra's contract has no 503: an outage is logged as such (jwk-remote-failed-to-load), with its cause.
      clerkAuth.log('request refused', error);
      return null;
    }
  }

  /** The token Mastra passed when the request has no headers we can read (another adapter's request shape). */
  private bareToken(token: string, request: MastraAuthRequest): string | undefined {
    const bare = token.replace(/^bearer\s+/i, '').trim();
    if (!bare) return undefined;
    const web = webRequestOf(request);
    if (web && new URL(web.url).searchParams.has('apiKey')) {
      // Mastra also reads `?apiKey=`: tokens in URLs end up in logs, proxies and browser history.
      throw new ClerkAuthError('request-invalid', { message: 'A session token in the query string is not accepted.' });
    }
    return bare;
  }

  /**
   * Runs the shared `authorizeUser` policy with `source: 'mastra'` and the resource Mastra will act on. When the
   * path could be more than one route (Mastra's prefix is not known to the provider: `/api/agents/agents` is agent
   * `agents` under `/api`, or the agent list under `/api/agents`), the policy must allow every reading.
   * Mastra answers 403 for false, 500 for a throw.
   */
  override async authorizeUser(user: ClerkClaims, request: MastraAuthRequest): Promise<boolean> {
    const { clerkAuth } = this;
    if (this.organizationScope && organizationOf(user) === undefined) {
      clerkAuth.log('request refused: no active organization for organization-scoped memory', 'access-denied');
      return false;
    }
    if (!clerkAuth.hasPolicy) return true;
    const base = mastraContext(request);
    if (!base) {
      // No trustworthy path to decide by: a policy that decides by path must not be fooled.
      clerkAuth.log('request refused', 'request-invalid');
      return false;
    }
    try {
      if (await clerkAuth.authorizeRoute(user, base.ctx, base.rawPath)) return true;
      clerkAuth.log('request refused', 'access-denied');
      return false;
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
function mastraContext(request: MastraAuthRequest): { ctx: AuthorizeContext; rawPath: string } | undefined {
  const web = webRequestOf(request);
  if (!web) return undefined;
  const host = headerOf(request, 'host');
  let url: URL;
  try {
    url = new URL(web.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    if (url.username || url.password || url.hash) return undefined;
    if (host !== null && !isValidHost(host)) return undefined;
    if (url.host !== new URL(`${url.protocol}//${host ?? 'localhost'}`).host) return undefined;
  } catch {
    return undefined;
  }
  const path = routablePath(url.pathname);
  if (!path) return undefined;
  const method = web.method.toUpperCase();
  return {
    rawPath: path.raw,
    ctx: {
      method,
      path: path.decoded,
      headers: { get: (name: string) => headerOf(request, name) },
      source: 'mastra',
      request: web,
    },
  };
}
