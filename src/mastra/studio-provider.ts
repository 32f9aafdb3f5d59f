/**
 * How `MastraAuthClerk` takes on Mastra Studio: its options, the user directory it always has (`IUserProvider`), and
 * the sign-in and session methods (`ISSOProvider`, `ISessionProvider`) it gets only when an OAuth client is configured,
 * as `@mastra/auth-clerk` does: Mastra detects them by their presence.
 */
import type { ClerkClaims } from '../core/claims.js';
import type { ClerkAuth } from '../core/clerk-auth.js';
import { ClerkAuthError } from '../core/errors.js';
import { ClerkAuthConfigError } from '../core/options.js';
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
    clerkAuth.notice(
      'info',
      `Studio: sign-in with Clerk (OAuth client, PKCE); a Studio session is re-checked with Clerk every ` +
        `${resolved!.revalidateAfterSeconds} s and lasts at most ${resolved!.cookieMaxAge} s`,
    );
  }
  return { users, studio };
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
    getLogoutUrl: (redirectUri) => studio.getLogoutUrl(redirectUri),
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
  const type = clerkAuth.verifiedOf(claims)?.tokenType;
  if (type === 'm2m_token' || type === 'api_key') return fallback;
  const found = await users.lookup(claims.sub);
  if (found === null) return null;
  return found ? { ...fallback, ...definedFields(found) } : fallback;
}
