/**
 * The Mastra adapter: a `MastraAuthProvider` over the shared core, a drop-in for `@mastra/auth-clerk`'s
 * `MastraAuthClerk` without its flaws (one JWKS fetch per request, no issuer or `azp` check, a secret key required
 * just to verify, threads not owned by the signed-in user, only `/api/*` protected).
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { MastraAuthProvider, registerApiRoute, type ApiRoute, type MastraAuthProviderOptions } from '@mastra/core/server';
import { PROTECTED_RESOURCE_METADATA_HEADERS, PROTECTED_RESOURCE_WELL_KNOWN } from '../core/resource-metadata.js';
import type { ClerkClaims } from '../core/claims.js';
import { VERDICT_HEADER, type AuthenticateOptions, type ClerkAuth, type RequestCredentials } from '../core/clerk-auth.js';
import { ClerkAuthError } from '../core/errors.js';
import { ClerkAuthConfigError, type ClerkAuthOptions } from '../core/options.js';
import type { AuthorizeContext, HeaderReader } from '../core/policy.js';
import { clerkAuthFrom } from '../core/shared.js';
import type { AcceptsToken, TokenTypeMask } from '../core/token-types.js';
import { BUILT_IN_NAMES } from '../core/routes.js';
import { UNREAD_BODY, UNSEEN_BODY } from '../core/request-values.js';
import { isValidHost, routablePath } from '../core/target.js';
import {
  BODY_METHODS,
  MASTRA_PUBLIC_ROUTES,
  MCP_SERVER_ROUTES,
  MCP_TRANSPORT_ROUTES,
  MULTIPART_ROUTES,
  RESERVED_RUN_ID_PREFIXES,
  RUN_START_ROUTES,
  SCOPED_RPC_CALLS,
  STORED_CONTEXT_ROUTES,
  isServerContextKey,
  mastraPublicRouteTable,
  mastraRouteTable,
} from './routes.js';
import type { StudioOptions, StudioSessions, StudioSignedInUser } from './studio.js';
import { attachStudio, createStudio, takeStudioOptions, userOfClaims, type StudioMethods } from './studio-provider.js';
import type { UserDirectory } from './studio-users.js';

/** The request Mastra hands a provider: a Web `Request`, or a Hono-like wrapper around one. */
export type MastraAuthRequest = Parameters<MastraAuthProvider['authenticateToken']>[1];

/**
 * Options that only the Mastra provider has. With `StudioOptions` (`oauthClientId`, `oauthClientSecret`,
 * `redirectUri`, `scopes`, `session`, ...), Mastra Studio signs in with Clerk, as with `@mastra/auth-clerk`.
 */
export interface MastraProviderOptions extends StudioOptions {
  /** Provider name in Mastra's logs (default `"clerk"`). */
  name?: string | undefined;
  /**
   * Paths that need no Clerk session, in Mastra's pattern syntax (`'/api/health'`, `'/api/public/*'`, or
   * `[path, method]` pairs). Every other Mastra route, under any prefix, needs one. Mastra's own public routes
   * (its sign-in endpoints under `/auth`) stay public.
   */
  public?: MastraAuthProviderOptions<ClerkClaims>['public'] | undefined;
  /**
   * Whose agent memory a request reads and writes (default `'user'`): `'user'`, the Clerk user id (`sub`), so one user
   * never sees another's threads; `'organization'`, the active organization (`o.id` / `org_id`), so members of an
   * organization share memory and outsiders see none (a request without an active organization is refused, 403).
   */
  resourceScope?: 'user' | 'organization' | undefined;
  /**
   * Routes that act on an agent or workflow named in the request body rather than the path (`POST /v1/responses`,
   * `POST /v1/conversations`, `POST /workflows/events`, ...): `ctx.resource.params` cannot name it, so a rule about
   * one agent cannot hold there. `'refuse'` (default): with an `authorizeUser` policy, they are refused (403).
   * `'policy'`: the policy judges them (`ctx.resource.addressedInBody` is true). Without a policy every signed-in
   * user passes either way.
   */
  bodyAddressedRoutes?: 'refuse' | 'policy' | undefined;
  /**
   * On Mastra's own server (`mastra dev`, `mastra start`), which hands the provider the request's body: the most of a
   * JSON body it reads to judge what the body names, in bytes (default 4.5 MB, Mastra's default). Where the body
   * decides, a larger one is refused (403). A provider cannot see `server.bodySizeLimit`: raise both together.
   */
  bodySizeLimit?: number | undefined;
  /** A mapping of your own from the user to the memory resource id; replaces `resourceScope`. */
  mapUserToResourceId?: ((user: ClerkClaims) => string | undefined | null) | undefined;
}

/**
 * What Mastra is told for a user with no memory resource (no active organization in organization scope, a mapper of the
 * app's that returns none or throws), with a random part of its own each time: Mastra answers 500 without a string,
 * and the provider refuses the request (403). Should one get through all the same (Mastra's `CompositeAuth` serves
 * what any of its providers allows; a mapper that answers otherwise when the provider asks again), its resource is one
 * no other request ever has: no user reads another's memory by it.
 */
const NO_RESOURCE = 'clerk-mastra-auth:no-resource';
/** Why a request is refused when `mastraContext` finds its URL untrustworthy: the usual cause in a test is a missing Host. */
const UNTRUSTED_URL =
  "request refused: the URL Mastra built for it cannot be judged (its host must be the request's Host header, and its path a plain path; " +
  "a test client such as Hono's app.request() must send a Host)";

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

/** The methods whose JSON body Mastra reads a request context from (its servers' context middleware). */
const CONTEXT_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT']);

/** A URL that may carry a built-in name (`__proto__`, `constructor`...), encoded or not, or a bracketed query key. */
const SUSPECT_URL = new RegExp(`[%[]|${[...BUILT_IN_NAMES].map((name) => name.replace(/[$]/g, '\\$&')).join('|')}`);

/** Mastra's public routes in a few words: how many under `/auth/`, or the list when some are elsewhere. */
function publicRoutesInBrief(): string {
  const paths = MASTRA_PUBLIC_ROUTES.map((route) => route.slice(route.indexOf(' ') + 1));
  return paths.every((path) => path.startsWith('/auth/')) ? `${paths.length} under /auth/` : MASTRA_PUBLIC_ROUTES.join(', ');
}

/** What the provider knows of a request's body: that one came (`Content-Length` above 0, or chunked), never what it says. */
const bodyOf = (headers: HeaderReader): typeof UNSEEN_BODY | undefined => {
  const length = headers.get('content-length');
  return headers.get('transfer-encoding') !== null || (length !== null && length !== '0') ? UNSEEN_BODY : undefined;
};

/**
 * The most of a body the provider reads unless told (`bodySizeLimit`): Mastra's default `server.bodySizeLimit`. Mastra
 * bounds its own routes' bodies before it asks the provider, but not those of custom routes (`registerApiRoute`, whose
 * paths may read as Mastra's under a prefix) nor its MCP transports, so the provider holds to a limit of its own.
 */
const DEFAULT_BODY_BYTES = 4.5 * 1024 * 1024;

/** A multipart body, whose form fields Mastra reads: only the routes that take one get it (`multipartError`). */
const MULTIPART = Symbol('multipart body');

/**
 * The body Mastra's handler will read, from a Web request that carries one (Mastra's Hono server hands the provider
 * its request, body included; its Express adapter builds one without), read as Mastra's Hono adapter reads it: JSON
 * when the `Content-Type` says so (undefined for an empty or malformed one: Mastra reads nothing, or answers 400),
 * nothing of another type, MULTIPART for a multipart one. UNREAD_BODY for one that cannot be read, is larger than
 * `limit` bytes, or says it is both multipart and JSON: the request is refused.
 */
async function bodyMastraReads(web: Request, limit: number): Promise<unknown> {
  const type = web.headers.get('content-type') ?? '';
  // A type that says both: Mastra parses the body as multipart for the route and as JSON for the request context.
  if (type.includes('multipart/form-data')) return type.includes('application/json') ? UNREAD_BODY : MULTIPART;
  if (!type.includes('application/json')) return undefined;
  const text = await textOf(web.clone(), limit);
  if (text === undefined) return UNREAD_BODY;
  if (text.trim().length === 0) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The body's text (UTF-8, a BOM dropped, as `Request.text()`), or undefined past `limit` bytes or when it fails. */
async function textOf(web: Request, limit: number): Promise<string | undefined> {
  const reader = web.body?.getReader();
  if (reader === undefined) return '';
  const decoder = new TextDecoder();
  let text = '';
  let bytes = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return text + decoder.decode();
      bytes += value.byteLength;
      if (bytes > limit) {
        // Not awaited: a branch of a cloned (teed) body settles its cancel only once the other branch is cancelled too.
        reader.cancel().catch(() => undefined);
        return undefined;
      }
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    return undefined;
  }
}

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
  const value = rawHeaderOf(request, name);
  // Empty is absent, as Mastra's Express adapter passes headers on (and as the middleware reads them).
  return value === '' ? null : value;
}

function rawHeaderOf(request: MastraAuthRequest | undefined, name: string): string | null {
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

/** `getCurrentUser` re-checks a stale Studio session itself (it sets no cookie; Mastra's refresh hook does not run there). */
const RENEW_SESSION: AuthenticateOptions = Object.freeze({ renewSession: true });

/** The script of a process of Mastra's CLI: the CLI itself, or the server bundle it runs (`.mastra/output/index.mjs`). */
const MASTRA_PROCESS = /[\\/](?:\.mastra[\\/]output[\\/]index\.m?js|mastra[\\/]dist[\\/]index\.js|\.bin[\\/]mastra)$/;

/** How long after it is built a provider that Mastra never used is reported. */
const REGISTRATION_GRACE_MS = 10_000;

/**
 * The seed's `new Mastra({ server: { experimental_auth: provider } })` is Mastra 0.x's name: Mastra 1.x ignores it,
 * and the server answers everyone. Nothing in Mastra says so; this does, once. Mastra's own server (`mastra dev`,
 * `mastra start`) reads nothing of the provider before the first request, so an idle one gets the line too: it says
 * both, at `warn`.
 */
function watchRegistration(clerkAuth: ClerkAuth, registered: () => boolean): void {
  // Mastra's CLI builds the provider in its own process too, only to read the server's options, and its server (the
  // bundle it runs, `mastra dev` and `mastra start`) uses it on the first request: not said there.
  if (MASTRA_PROCESS.test(process.argv[1] ?? '')) return;
  setTimeout(() => {
    if (registered()) return;
    clerkAuth.notice(
      'warn',
      `MastraAuthClerk was built ${REGISTRATION_GRACE_MS / 1000} s ago and Mastra has not used it yet. ` +
        'A server that has had no request yet says this too: Mastra first uses it on the first request. ' +
        "Otherwise check where it is passed: Mastra 1.x reads only server.auth (it ignores server.experimental_auth, " +
        'Mastra 0.x\'s name, and then nothing is protected): new Mastra({ server: { auth: new MastraAuthClerk() } }).',
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
  /** The memory resource may be missing (organization scope, the app's own mapper): a request without one is refused. */
  private readonly resourceMayLack: boolean;
  /** The memory resource Mastra scopes a signed-in user to (`mapUserToResourceId`), or undefined when there is none. */
  private readonly resourceOf: (user: ClerkClaims) => string | undefined;
  /** The token types this provider signs requests in with. */
  private readonly accepts: TokenTypeMask;
  /** Clerk users for Studio (`getCurrentUser`, `getUser`): cached, single flight, with a fallback to the claims. */
  private readonly users: UserDirectory;
  /** Studio sign-in with Clerk and its sessions, when an OAuth client is configured. */
  private readonly studio: StudioSessions | undefined;
  /** The most of a JSON body read to judge it (`bodySizeLimit`). */
  private readonly bodySizeLimit: number;

  constructor(options: MastraAuthClerkOptions = {}) {
    const major = mastraCoreMajor();
    if (major !== undefined && major < 1) {
      throw new ClerkAuthConfigError(
        `MastraAuthClerk needs Mastra 1.x; @mastra/core ${major}.x is installed (npm on Node 20 picks 0.x for a bare ` +
          '"npm install @mastra/core"): npm install @mastra/core@^1 @mastra/server@^1.50',
      );
    }
    const { studio: studioOptions, rest: providerOptions } = takeStudioOptions(options);
    const {
      name,
      public: publicPaths,
      mapUserToResourceId,
      resourceScope = 'user',
      bodyAddressedRoutes = 'refuse',
      bodySizeLimit = DEFAULT_BODY_BYTES,
      ...withAccepts
    } = providerOptions;
    // With a shared object, `acceptsToken` is this provider's own list; without one it configures the provider's object.
    const { acceptsToken, ...rest } = withAccepts as typeof withAccepts & { acceptsToken?: AcceptsToken };
    const coreOptions = rest.clerkAuth === undefined ? withAccepts : rest;
    if (bodyAddressedRoutes !== 'refuse' && bodyAddressedRoutes !== 'policy') {
      throw new TypeError('MastraAuthClerk: "bodyAddressedRoutes" must be "refuse" or "policy"');
    }
    if (typeof bodySizeLimit !== 'number' || !Number.isSafeInteger(bodySizeLimit) || bodySizeLimit <= 0) {
      throw new TypeError('MastraAuthClerk: "bodySizeLimit" must be a positive whole number of bytes (as Mastra\'s server.bodySizeLimit)');
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
    this.bodySizeLimit = bodySizeLimit;
    const own = ['name', 'public', 'mapUserToResourceId', 'resourceScope', 'bodyAddressedRoutes', 'bodySizeLimit', 'acceptsToken', 'clerkAuth'];
    this.clerkAuth = clerkAuthFrom(coreOptions, 'MastraAuthClerk', own);
    this.accepts = this.clerkAuth.acceptsMask(acceptsToken, 'acceptsToken');
    ({ users: this.users, studio: this.studio } = createStudio(studioOptions, this.clerkAuth, ('env' in rest && rest.env) || process.env));
    // Only when configured, as @mastra/auth-clerk: Mastra shows "Sign in with Clerk" when these methods exist.
    if (this.studio) attachStudio(this, this.studio, this.users);
    // The Express middleware sharing this object then judges Mastra's routes by resource too, and answers for them.
    this.clerkAuth.useRouteTable(mastraRouteTable(), {
      policyJudgesBodyAddressed: bodyAddressedRoutes === 'policy',
      resourceRoutes: MCP_TRANSPORT_ROUTES,
      resourceServerRoutes: MCP_SERVER_ROUTES,
      scopedCalls: SCOPED_RPC_CALLS,
      publicRoutes: mastraPublicRouteTable(),
      multipartRoutes: MULTIPART_ROUTES,
      reservedRunIds: RESERVED_RUN_ID_PREFIXES,
      runStartRoutes: RUN_START_ROUTES,
      storedContextRoutes: STORED_CONTEXT_ROUTES,
      isServerContextKey,
      memoryResourceOf: (user) => this.resourceOf(user),
    });
    if (mapUserToResourceId !== undefined && typeof mapUserToResourceId !== 'function') {
      throw new TypeError('MastraAuthClerk: "mapUserToResourceId" must be a function');
    }
    this.organizationScope = mapUserToResourceId === undefined && resourceScope === 'organization';
    this.resourceMayLack = mapUserToResourceId !== undefined || this.organizationScope;
    const mapper = mapUserToResourceId ?? (this.organizationScope ? organizationOf : (user: ClerkClaims) => user.sub);
    /** The app's mapping, checked as Mastra checks it; a throw is logged (`log`) with what was thrown. */
    const resourceOf = (user: ClerkClaims, log: boolean): string | undefined => {
      let resource: unknown;
      try {
        resource = mapper(user);
      } catch (thrown) {
        // The app's own code, as a throwing policy: logged with what it threw, and the request refused (403).
        if (log) this.clerkAuth.policyThrew(thrown, 'mapUserToResourceId', 'access-denied');
        return undefined;
      }
      return typeof resource === 'string' && resource.trim() !== '' && !resource.startsWith(NO_RESOURCE) ? resource : undefined;
    };
    this.resourceOf = (user) => resourceOf(user, true);
    // What Mastra calls, before the policy, on every request: always a string, never a throw (see NO_RESOURCE).
    const forMastra = (user: ClerkClaims): string => resourceOf(user, false) ?? `${NO_RESOURCE}:${randomUUID()}`;
    // Mastra reads this when its server starts (and per request): proof that the provider was registered.
    const declared = publicPaths === undefined ? [] : Array.isArray(publicPaths) ? publicPaths : [publicPaths];
    // What is protected is said once Mastra uses the provider (it reads this mapper when it registers it), so a
    // provider Mastra ignores (`server.experimental_auth`) never claims to protect anything.
    // Mastra's Express and Hono adapters read the mapper when their server starts; Mastra's own server (`mastra dev`,
    // `mastra start`) first uses the provider on the first request.
    let registered = false;
    this.#used = () => {
      if (registered) return;
      registered = true;
      this.clerkAuth.notice(
        'info',
        `Mastra: every API route needs a Clerk session except ` +
          (declared.length > 0 ? `the paths declared public (${declared.map((p) => String(p)).join(', ')}) and ` : '') +
          'custom routes registered with requiresAuth: false' +
          `; Mastra serves its own sign-in routes (${publicRoutesInBrief()}) without asking the provider` +
          (MASTRA_PROCESS.test(process.argv[1] ?? '')
            ? ''
            : ': clerkMastraAuth() in front (Mastra in Express) asks for a session there too, unless Studio sign-in is configured'),
      );
    };
    Object.defineProperty(this, 'mapUserToResourceId', {
      enumerable: true,
      get: () => {
        this.#used();
        return forMastra;
      },
    });
    watchRegistration(this.clerkAuth, () => registered);
  }

  /** Marks the provider as used by Mastra (once: says what it protects). */
  readonly #used: () => void;

  /**
   * Mastra custom routes serving the RFC 9728 metadata of the MCP servers, for `server.apiRoutes` (public: clients
   * read them before they have a token). Needs `protectedResource`.
   *
   * @example
   * const auth = new MastraAuthClerk({ acceptsToken: 'oauth_token', protectedResource: { origin: 'https://api.example.com' } });
   * new Mastra({ server: { auth, apiRoutes: [...auth.protectedResourceRoutes()] } });
   */
  protectedResourceRoutes(): ApiRoute[] {
    const { clerkAuth } = this;
    const resources = clerkAuth.protectedResources;
    if (!resources) throw new TypeError('MastraAuthClerk: protectedResourceRoutes() needs the "protectedResource" option');
    return [
      registerApiRoute(`${PROTECTED_RESOURCE_WELL_KNOWN}/*`, {
        method: 'GET',
        requiresAuth: false,
        handler: (c) => {
          const found = resources.metadata(new URL(c.req.url).pathname, c.req.header('host'), (path) => clerkAuth.isProtectedResource(path));
          if (!found) return c.json({ error: 'not_found' }, 404);
          return c.json(found.document, 200, { ...PROTECTED_RESOURCE_METADATA_HEADERS });
        },
      }),
    ];
  }

  /**
   * The verified claims, or `null` (Mastra answers 401) with the failure's code logged, never the token.
   * The credentials are read from the request with the same rules as the Express middleware: `Authorization:
   * Bearer` (any case), else Clerk's session cookie, which Mastra's adapters do not read; never the query string.
   */
  override authenticateToken(token: string, request: MastraAuthRequest): Promise<ClerkClaims | null> {
    this.#used();
    return this.userOf(token, request, false);
  }

  /**
   * The signed-in user of a request: Clerk's credentials (`Authorization`, else Clerk's session cookie), else, with
   * Studio sign-in configured, the Studio session cookie, under the core's rules (`ClerkAuth.authenticate`), the same
   * as the Express middleware's. `renewStudio`: a stale Studio session is re-checked with Clerk here (for
   * `getCurrentUser`, which sets no cookie); else Mastra's session refresh (`refreshSession`) does it and sets the
   * renewed cookie.
   */
  private async userOf(token: string, request: MastraAuthRequest, renewStudio: boolean): Promise<ClerkClaims | null> {
    const { clerkAuth } = this;
    try {
      const authorization = headerOf(request, 'authorization');
      const cookie = headerOf(request, 'cookie');
      const passedSignedOut = headerOf(request, VERDICT_HEADER);
      let credentials: RequestCredentials;
      if (clerkAuth.passedSignedOut(passedSignedOut) !== undefined) {
        // The Express middleware in front let the request through signed out: so it stays, here too.
        credentials = { authorization: [], cookie: null, passedSignedOut };
      } else if (authorization === null && cookie === null) {
        const bare = this.bareToken(token, request);
        if (bare === undefined) {
          clerkAuth.log('request refused', 'token-missing');
          return null;
        }
        credentials = { authorization: [`Bearer ${bare}`], cookie: null };
      } else if (authorization !== null) {
        credentials = { authorization: [authorization], cookie };
      } else {
        // Only a cookie: the Studio session may be asked, which reads the method, Origin and Sec-Fetch-Site.
        credentials = { authorization: [], cookie, method: webRequestOf(request)?.method, header: (name) => headerOf(request, name) };
      }
      const state = await clerkAuth.authenticate(credentials, this.accepts, renewStudio ? RENEW_SESSION : undefined);
      if (state.status === 'signed-in') {
        if (state.tokenType !== 'oauth_token') return state.claims;
        const target = mastraContext(request);
        // The body is judged in `authorizeUser`, where it is read (Mastra's Hono server); the query here.
        const wrongResource = target ? clerkAuth.resourceAudienceError(state.verified, target.ctx.method, target.rawPath, { query: target.query, body: UNSEEN_BODY }) : undefined;
        if (!target || wrongResource) {
          clerkAuth.log(target ? 'request refused' : UNTRUSTED_URL, wrongResource === UNREAD_BODY ? 'access-denied' : (wrongResource ?? 'request-invalid'));
          return null;
        }
        return state.claims;
      }
      clerkAuth.log('request refused', state.reason);
      return null;
    } catch (error) {
      // Mastra's contract has no 503: an outage is logged as such (jwk-remote-failed-to-load), with its cause.
      clerkAuth.log('request refused', error);
      return null;
    }
  }

  /**
   * Studio's signed-in user (`IUserProvider`): from Clerk's credentials or the Studio session, with the Clerk user
   * read from the Backend API at most once per user per `userCacheInMs`, else what the token or session says.
   */
  async getCurrentUser(request: Request): Promise<StudioSignedInUser | null> {
    const claims = await this.userOf('', request, true);
    return claims ? userOfClaims(claims, this.users, this.clerkAuth) : null;
  }

  /** A Clerk user by id (Backend API, cached), or null when unknown or when it cannot be asked (no secret key). */
  async getUser(userId: string): Promise<StudioSignedInUser | null> {
    return (await this.users.lookup(userId)) ?? null;
  }

  /** Clerk users by id, in order, null for the unknown ones. */
  async getUsers(userIds: string[]): Promise<Array<StudioSignedInUser | null>> {
    return Promise.all(userIds.map((id) => this.getUser(id)));
  }

  /** Where Studio links a user's profile (as `@mastra/auth-clerk`). */
  getUserProfileUrl(user: { id: string }): string {
    return `/user/${user.id}`;
  }

  /** Whether Studio signs in with Clerk (an OAuth client is configured). */
  isSSOEnabled(): boolean {
    return this.studio !== undefined;
  }

  /** The Frontend API URL Studio's sign-in uses (`/oauth/*`); empty when Studio sign-in is off. */
  getFapiUrl(): string {
    return this.studio?.config.frontendApiUrl ?? '';
  }

  /**
   * The token Mastra passed for a request with neither `Authorization` nor `Cookie` (a request shape whose headers we
   * cannot read, or a direct call). Refused when it is in the request's query string, however spelled: Mastra's
   * adapters read `?apiKey=`, which Express 4's parser also reads from `?[apiKey]=`, `?apiKey[]=`, `?%5BapiKey%5D=`;
   * tokens in URLs end up in logs, proxies and browser history.
   */
  private bareToken(token: unknown, request: MastraAuthRequest): string | undefined {
    const values = typeof token === 'string' ? [token] : Array.isArray(token) ? token.filter((v): v is string => typeof v === 'string') : [];
    const bare = values.map((value) => value.replace(/^bearer\s+/i, '').trim()).filter(Boolean);
    if (bare.length === 0) return undefined;
    const web = webRequestOf(request);
    const query = web === undefined ? '' : queryText(web.url);
    if (typeof token !== 'string' || bare.some((value) => query.includes(value))) {
      throw new ClerkAuthError('request-invalid', { message: 'A session token in the query string is not accepted.' });
    }
    return bare[0];
  }

  /**
   * Runs the shared `authorizeUser` policy with `source: 'mastra'` and the resource Mastra will act on. When the
   * path could be more than one route (Mastra's prefix is not known to the provider: `/api/agents/agents` is agent
   * `agents` under `/api`, or the agent list under `/api/agents`), the policy must allow every reading.
   * Mastra answers 403 for false, 500 for a throw.
   */
  override async authorizeUser(user: ClerkClaims, request: MastraAuthRequest): Promise<boolean> {
    // Judged again at the end: a write into Object.prototype may land while the token, the body or the policy is awaited.
    return (await this.judge(user, request)) && this.clerkAuth.stillSafe();
  }

  private async judge(user: ClerkClaims, request: MastraAuthRequest): Promise<boolean> {
    const { clerkAuth } = this;
    if (this.resourceMayLack && this.resourceOf(user) === undefined) {
      const why = this.organizationScope ? 'no active organization for organization-scoped memory' : 'mapUserToResourceId gave no memory resource';
      clerkAuth.log(`request refused: ${why}`, 'access-denied');
      return false;
    }
    // With or without a policy: an id Mastra cannot serve (`/agents/__proto__`, `?agentId=constructor`: its 500), and
    // a query key its normalizer would write into a shared prototype (`__proto__[x]=`). Without a policy, only a URL
    // that could name either is parsed (2 µs a request otherwise).
    const web = webRequestOf(request);
    const url = web?.url ?? '';
    const judgeable = clerkAuth.mayRefuseServed(url);
    // A body in the request Mastra hands the provider (its Hono server; its Express adapter builds one without): read
    // as Mastra's handler will read it, and judged as the middleware judges it.
    const method = web?.method.toUpperCase() ?? '';
    const bodied = web !== undefined && web.body !== null && BODY_METHODS.has(method);
    // A body Mastra reads a request context from, on every path (its custom routes' too): a JSON POST or PUT.
    const contextual = bodied && CONTEXT_METHODS.has(method) && (web.headers.get('content-type') ?? '').includes('application/json');
    const suspect = clerkAuth.hasPolicy || judgeable || bodied || SUSPECT_URL.test(url);
    const base = suspect ? mastraContext(request) : undefined;
    let read: { body: unknown } | undefined;
    if (bodied && (base !== undefined || contextual)) {
      read = { body: await bodyMastraReads(web, this.bodySizeLimit) };
      if (read.body === UNREAD_BODY && contextual) {
        // Not read (past `bodySizeLimit`, or typed both multipart and JSON): its request context is judged by nothing.
        clerkAuth.log('request refused', 'access-denied');
        return false;
      }
      if (read.body === MULTIPART && base !== undefined) {
        // Mastra parses any multipart body into fields over the path's: only the routes that take one get it. (The
        // length rule is the Express adapter's: Hono's body limit reads the body itself.)
        const refused = clerkAuth.multipartError(base.ctx.method, base.rawPath, true);
        if (refused !== undefined) {
          clerkAuth.log('request refused', refused.code);
          return false;
        }
        read.body = UNSEEN_BODY;
      }
    }
    const badTarget = base === undefined ? undefined : clerkAuth.refusesTarget(base.ctx.method, base.rawPath, { query: base.query, ...read });
    if (badTarget !== undefined) {
      clerkAuth.log('request refused', badTarget.code);
      return false;
    }
    // What Mastra would serve whatever the policy says (`servedError`), unless the Express middleware of this object
    // in front judged it, body included (`VERDICT_HEADER`).
    // Nothing to judge (most requests): neither the verdict header nor the route table is read.
    // A request with no trustworthy URL is judged by its request context alone (its route is unknown).
    if (
      (base !== undefined || judgeable || contextual) &&
      !clerkAuth.judgedSignedIn(headerOf(request, VERDICT_HEADER)) &&
      this.refusesServed(user, base, judgeable, read)
    ) {
      return false;
    }
    if (!clerkAuth.hasPolicy) return true;
    if (!base) {
      // No trustworthy path to decide by: a policy that decides by path must not be fooled.
      clerkAuth.log(UNTRUSTED_URL, 'request-invalid');
      return false;
    }
    try {
      const judged = await clerkAuth.authorizeRoute(user, base.ctx, base.rawPath, { query: base.query, ...read });
      if (judged === true) return true;
      clerkAuth.log('request refused', 'access-denied');
      return false;
    } catch (error) {
      clerkAuth.policyThrew(error);
      throw error;
    }
  }

  /**
   * Whether `servedError` refuses the request, with the body `read` from the request where it carries one. Without
   * (Mastra's Express adapter hands the provider a Web request without its body), where the body decides a request that
   * has one is refused; so is one that may be judged there (`judgeable`) without a trustworthy path.
   */
  private refusesServed(user: ClerkClaims, base: ReturnType<typeof mastraContext>, judgeable: boolean, read: { body: unknown } | undefined): boolean {
    const { clerkAuth } = this;
    if (base === undefined) {
      if (judgeable) clerkAuth.log('request refused', 'request-invalid');
      else if (read !== undefined && clerkAuth.forgesContext(read.body)) clerkAuth.log('request refused', 'access-denied');
      else return false;
      return true;
    }
    const refused = clerkAuth.servedError(user, base.ctx.method, base.rawPath, base.query, base.ctx.headers, read === undefined ? bodyOf : () => read.body);
    if (refused === undefined) return false;
    clerkAuth.log('request refused', refused === UNREAD_BODY ? 'access-denied' : refused.code);
    return true;
  }
}

// With Studio sign-in configured, the provider also has Mastra's sign-in and session methods (set in the constructor).
export interface MastraAuthClerk extends Partial<StudioMethods> {}

/**
 * The query string of `url` as any parser could read it: `+` as a space, and each ASCII percent-escape decoded on its
 * own (a token is ASCII; Node's lenient parser decodes valid escapes next to invalid ones).
 */
function queryText(url: string): string {
  const mark = url.indexOf('?');
  if (mark === -1) return '';
  const hash = url.indexOf('#', mark);
  return url
    .slice(mark + 1, hash === -1 ? undefined : hash)
    .replace(/\+/g, ' ')
    .replace(/%([0-7][0-9a-f])/gi, (_escape, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

/**
 * The path of the Web request Mastra built, or undefined when it cannot be trusted. Mastra's Express adapter builds
 * the URL as `${req.protocol}://${Host}${originalUrl}`: a hostile Host, an `X-Forwarded-Proto` (with `trust proxy`)
 * or an absolute-form target would each move the path a policy sees away from the route Mastra serves. So the URL's
 * host must be the request's own Host. (The Web `Request` has already resolved dot segments and backslashes; the
 * Express middleware in front refuses such targets, see README.)
 */
function mastraContext(request: MastraAuthRequest): { ctx: Omit<AuthorizeContext, 'tokenType'>; rawPath: string; query: string } | undefined {
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
    query: url.search.slice(1),
    ctx: {
      method,
      path: path.decoded,
      headers: { get: (name: string) => headerOf(request, name) },
      source: 'mastra',
      request: web,
    },
  };
}
