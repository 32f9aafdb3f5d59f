/**
 * How `MastraAuthClerk` takes on Mastra Studio: its options, the user directory it always has (`IUserProvider`), and
 * the sign-in and session methods (`ISSOProvider`, `ISessionProvider`) it gets only when an OAuth client is configured,
 * as `@mastra/auth-clerk` does: Mastra detects them by their presence.
 */
import type { ClerkClaims } from '../core/claims.js';
import type { ClerkAuth, SessionSource } from '../core/clerk-auth.js';
import { ClerkAuthError } from '../core/errors.js';
import { ClerkAuthConfigError } from '../core/options.js';
import { MASTRA_PUBLIC_ROUTES, mastraPublicRouteTable } from './routes.js';
import { resolveStudio, StudioSessions, type StudioOptions, type StudioSignedInUser } from './studio.js';
import { UserDirectory, type StudioUser } from './studio-users.js';

/** The options of `MastraAuthClerk` that belong to Studio (never handed to the core). */
export const STUDIO_OPTION_NAMES: ReadonlyArray<keyof StudioOptions> = Object.freeze([
  'oauthClientId',
  'oauthClientSecret',
  'redirectUri',
  'scopes',
  'session',
  'frontendApiUrl',
  'signOutUrl',
  'userCacheInMs',
]);

/** The sign-in and session methods a provider gets when Studio sign-in is configured. */
export type StudioMethods = Pick<
  StudioSessions,
  | 'getLoginUrl'
  | 'getLoginCookies'
  | 'setCallbackCookieHeader'
  | 'handleCallback'
  | 'getLoginButtonConfig'
  | 'getLogoutUrl'
  | 'createSession'
  | 'validateSession'
  | 'destroySession'
  | 'refreshSession'
  | 'getSessionIdFromRequest'
  | 'getSessionHeaders'
  | 'getClearSessionHeaders'
>;

const DEFAULT_USER_CACHE_IN_MS = 60_000;

/** Splits the Studio options off the provider's options. */
export function takeStudioOptions<T extends object>(options: T): { studio: StudioOptions; rest: T } {
  const rest = { ...options } as Record<string, unknown>;
  const studio: Record<string, unknown> = {};
  for (const name of STUDIO_OPTION_NAMES) {
    if (name in rest) {
      studio[name] = rest[name];
      delete rest[name];
    }
  }
  return { studio: studio as StudioOptions, rest: rest as T };
}

/** The user directory, and the Studio sessions when an OAuth client is configured. Throws at start-up when unusable. */
export function createStudio(
  options: StudioOptions,
  clerkAuth: ClerkAuth,
  env: Record<string, string | undefined>,
): { users: UserDirectory; studio: StudioSessions | undefined } {
  const cacheInMs = options.userCacheInMs ?? DEFAULT_USER_CACHE_IN_MS;
  if (typeof cacheInMs !== 'number' || !Number.isFinite(cacheInMs) || cacheInMs < 0) {
    throw new ClerkAuthConfigError('"userCacheInMs" must be a finite, non-negative number');
  }
  const { config } = clerkAuth;
  const users = new UserDirectory({
    secretKey: config.secretKey,
    apiUrl: config.apiUrl,
    cacheInMs,
    timeoutInMs: config.backendApi.timeoutInMs,
    failureBackoffInMs: config.backendApi.failureBackoffInMs,
    now: config.now,
    onOutage: (reason) =>
      clerkAuth.log('user lookup failed', new ClerkAuthError('backend-api-failed-to-load', { cause: new Error(reason) })),
  });
  const resolved = resolveStudio(options, env, clerkAuth);
  const studio = resolved ? new StudioSessions(resolved, clerkAuth) : undefined;
  if (studio) {
    // Shared with the Express middleware in front (same `clerkAuth`): one set of rules for the Studio cookie.
    const { source, prefix } = studioSessionSource(studio);
    clerkAuth.useSessionSource(source);
    clerkAuth.notice(
      'info',
      `Studio: sign-in with Clerk (OAuth client, PKCE); a Studio session is re-checked with Clerk every ` +
        `${resolved!.revalidateAfterSeconds} s and lasts at most ${resolved!.cookieMaxAge} s; ` +
        `clerkMastraAuth({ clerkAuth }) in front lets Mastra's public sign-in routes under ${prefix}/auth/ through`,
    );
    if (!mastraOffersStudioSignIn(env)) {
      clerkAuth.notice(
        'warn',
        'Studio: Mastra offers its sign-in only in development or with a Mastra licence (MASTRA_LICENSE_KEY): with ' +
          'NODE_ENV=production and no licence, Studio shows no "Sign in with Clerk" (Clerk tokens are still accepted)',
      );
    }
  }
  return { users, studio };
}

/**
 * Whether Mastra shows Studio's sign-in (`buildCapabilities` in `@mastra/core`): in development (`MASTRA_DEV`, or a
 * `NODE_ENV` other than production), or with a licence key, as Mastra reads them.
 */
function mastraOffersStudioSignIn(env: Record<string, string | undefined>): boolean {
  const dev = env.MASTRA_DEV === 'true' || env.MASTRA_DEV === '1' || (env.NODE_ENV !== 'production' && env.NODE_ENV !== 'prod');
  return dev || Boolean(env.MASTRA_LICENSE_KEY || env.MASTRA_EE_LICENSE);
}

/** `MastraServer`'s default prefix: where Mastra's routes are unless `redirectUri` says otherwise. */
const DEFAULT_MASTRA_PREFIX = '/api';
/** The path of Mastra's sign-in callback, under its prefix. */
const CALLBACK_ROUTE = '/auth/sso/callback';

/**
 * Where Mastra's routes are mounted, for its public routes: the path of the configured `redirectUri` before
 * `/auth/sso/callback` (Mastra serves the callback under its prefix), else `/api`, `MastraServer`'s default. Known,
 * not guessed under any prefix: an app's own `/x/auth/me` must not become public.
 */
export function mastraPrefixOf(redirectUri: string | undefined): string {
  if (redirectUri === undefined) return DEFAULT_MASTRA_PREFIX;
  const { pathname } = new URL(redirectUri);
  return pathname.toLowerCase().endsWith(CALLBACK_ROUTE) ? pathname.slice(0, -CALLBACK_ROUTE.length) : DEFAULT_MASTRA_PREFIX;
}

/** True when `path` starts with `start` (lower case), ASCII letters compared case-insensitively, as Express routes. */
function startsWithFolded(path: string, start: string): boolean {
  if (path.length < start.length) return false;
  for (let i = 0; i < start.length; i += 1) {
    let c = path.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== start.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * The Studio sessions as the core's `SessionSource`: the Express middleware sharing the provider's `clerkAuth` then
 * signs requests in with the Studio cookie under the same rules, and lets Mastra's public sign-in routes (under
 * Mastra's prefix, see `mastraPrefixOf`) through, as Mastra does.
 */
export function studioSessionSource(studio: StudioSessions): { source: SessionSource; prefix: string } {
  const prefix = mastraPrefixOf(studio.config.redirectUri);
  const folded = prefix.toLowerCase();
  // The first segment of each public route under the prefix ('/api/auth/'): a cheap test before the table's walk.
  const heads = [...new Set(MASTRA_PUBLIC_ROUTES.map((route) => `${folded}/${route.split(' ')[1]!.split('/')[1]}/`))];
  const table = mastraPublicRouteTable();
  const source: SessionSource = {
    authenticate: (request, renew) => studio.authenticate(request, renew),
    isSignInRoute(method, rawPath) {
      let candidate = false;
      for (const head of heads) if (startsWithFolded(rawPath, head)) candidate = true;
      if (!candidate) return false;
      const readings = table.match(method, rawPath);
      return readings !== 'invalid' && readings.some((reading) => reading.prefix.toLowerCase() === folded);
    },
  };
  return { source, prefix };
}

/** Gives `target` the sign-in and session methods, bound to `studio`. */
export function attachStudio(target: object, studio: StudioSessions, users: UserDirectory): void {
  const methods: StudioMethods = {
    getLoginUrl: (redirectUri, state) => studio.getLoginUrl(redirectUri, state),
    getLoginCookies: (redirectUri, state) => studio.getLoginCookies(redirectUri, state),
    setCallbackCookieHeader: (cookieHeader) => studio.setCallbackCookieHeader(cookieHeader),
    handleCallback: async (code, state) => {
      const result = await studio.handleCallback(code, state);
      // The full Clerk user (as @mastra/auth-clerk), when the Backend API can say it; the ID token's profile otherwise.
      const found = await users.lookup(result.user.id).catch(() => undefined);
      return found ? { ...result, user: { ...result.user, ...definedFields(found) } } : result;
    },
    getLoginButtonConfig: () => studio.getLoginButtonConfig(),
    getLogoutUrl: (redirectUri, request) => studio.getLogoutUrl(redirectUri, request),
    createSession: () => studio.createSession(),
    validateSession: (sessionId) => studio.validateSession(sessionId),
    destroySession: (sessionId) => studio.destroySession(sessionId),
    refreshSession: (sessionId) => studio.refreshSession(sessionId),
    getSessionIdFromRequest: (request) => studio.getSessionIdFromRequest(request),
    getSessionHeaders: (session) => studio.getSessionHeaders(session),
    getClearSessionHeaders: () => studio.getClearSessionHeaders(),
  };
  Object.assign(target, methods);
}

function definedFields(user: StudioUser): Partial<StudioUser> {
  return Object.fromEntries(Object.entries(user).filter(([, value]) => value !== undefined)) as Partial<StudioUser>;
}

const text = (value: unknown): string | undefined => (typeof value === 'string' && value ? value : undefined);

/**
 * Mastra's user for verified claims: the Clerk user from the Backend API (cached), else what the claims say (a
 * session token's custom claims, or the profile a Studio session holds). Null when Clerk says the user is gone.
 */
export async function userOfClaims(claims: ClerkClaims, users: UserDirectory, clerkAuth: ClerkAuth): Promise<StudioSignedInUser | null> {
  const fallback: StudioSignedInUser = {
    id: claims.sub,
    email: text(claims.email),
    name: text(claims.name),
    avatarUrl: text(claims.picture) ?? text(claims.image_url),
  };
  // A machine is no Clerk user: what its token says is all there is.
  const type = clerkAuth.machineTokenOf(claims)?.tokenType;
  if (type === 'm2m_token' || type === 'api_key') return fallback;
  const found = await users.lookup(claims.sub);
  if (found === null) return null;
  return found ? { ...fallback, ...definedFields(found) } : fallback;
}
