/**
 * Mastra Studio sign-in through Clerk: Mastra's `ISSOProvider` and `ISessionProvider`, with Clerk as the OAuth 2.0 /
 * OpenID Connect identity provider (its Frontend API `/oauth/authorize`, `/oauth/token`, `/oauth/userinfo`), as
 * `@mastra/auth-clerk` 1.2 offers it, without its weak points:
 * - the authorization-code flow uses PKCE (S256) and a nonce; `state` is bound to the browser that started the flow
 *   (an encrypted, 10-minute flow cookie) and used once; the ID token's signature (the instance's keys, the same key
 *   source as session tokens), issuer, audience (the OAuth client id), expiry and nonce are checked;
 * - the Studio session cookie (encrypted, HttpOnly) is trusted for `revalidateAfterSeconds` (60 s) only, then re-checked
 *   with Clerk (the access token at `/oauth/userinfo`, else the refresh token at `/oauth/token`): when Clerk has ended
 *   the grant (signed out, session revoked), Studio access ends within that bound; `cookieMaxAge` (8 h) caps a sign-in;
 * - a cookie authenticates same-origin requests only (its sign-in origin, checked on `Origin` and `Sec-Fetch-Site`):
 *   never a request from another origin, and never next to an `Authorization` header (which always wins);
 * - in production, a missing `CLERK_COOKIE_PASSWORD` is a start-up error, not a random key that breaks every session
 *   at each restart and across instances.
 */
import { createHash, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { decodeProtectedHeader, EncryptJWT, jwtDecrypt, jwtVerify, type JWTPayload } from 'jose';
import type { ClerkClaims } from '../core/claims.js';
import { BoundedMap } from '../core/bounded-map.js';
import { VERDICT_HEADER, type ClerkAuth, type SessionRequest, type SessionSignIn } from '../core/clerk-auth.js';
import { createKeyResolver, type KeyResolver } from '../core/keys.js';
import { ClerkAuthConfigError } from '../core/options.js';

/** The Studio session cookie. Names and defaults of `@mastra/auth-clerk` where it has the option. */
export interface StudioSessionOptions {
  /**
   * Name of the session cookie. Default `'__Host-clerk_session'` when cookies are `Secure` for every origin (in
   * production, or `secureCookies: true`): pinned to this host, so no other host of the site (a subdomain) can plant
   * one; else `'clerk_session'` (`@mastra/auth-clerk`'s name).
   */
  cookieName?: string | undefined;
  /**
   * The longest a Studio sign-in lasts, in seconds (default 28800, 8 hours; `@mastra/auth-clerk`: 86400). Within it,
   * the session is re-checked with Clerk every `revalidateAfterSeconds`.
   */
  cookieMaxAge?: number | undefined;
  /** Encrypts the cookies, at least 32 characters. Env `CLERK_COOKIE_PASSWORD`. Required in production. */
  cookiePassword?: string | undefined;
  /** `Secure` cookies (default: in production, and whenever the sign-in origin is `https:`). */
  secureCookies?: boolean | undefined;
  /**
   * How long a Studio session is trusted before it is re-checked with Clerk, in seconds (default 60): the bound within
   * which a Clerk sign-out or a revoked session ends Studio access.
   */
  revalidateAfterSeconds?: number | undefined;
  /** `SameSite` of the session cookie (default `'Strict'`; the sign-in flow's own cookie is always `Lax`). */
  sameSite?: 'Strict' | 'Lax' | undefined;
  /**
   * Origins, besides the one the sign-in completed on, whose requests the session cookie authenticates (Studio served
   * from another origin than the API). Default none.
   */
  allowedOrigins?: string[] | undefined;
}

/** Options of `MastraAuthClerk` for Mastra Studio (user display, and sign-in with Clerk when the OAuth client is set). */
export interface StudioOptions {
  /** Client ID of the Clerk OAuth application Studio signs in with. Env `CLERK_OAUTH_CLIENT_ID`. */
  oauthClientId?: string | undefined;
  /** Its client secret. Env `CLERK_OAUTH_CLIENT_SECRET`. Both set: Studio shows "Sign in with Clerk". */
  oauthClientSecret?: string | undefined;
  /**
   * The callback registered with the OAuth application, e.g. `https://mastra.example.com/api/auth/sso/callback`.
   * Env `CLERK_OAUTH_REDIRECT_URI`. When set it is always used; else the one Mastra builds from the request.
   */
  redirectUri?: string | undefined;
  /** OAuth scopes (default `['openid', 'profile', 'email']`). Without `openid` the user comes from `/oauth/userinfo`. */
  scopes?: string[] | undefined;
  /** The Studio session cookie. */
  session?: StudioSessionOptions | undefined;
  /**
   * Base URL of Clerk's Frontend API, where `/oauth/authorize`, `/oauth/token` and `/oauth/userinfo` are (default:
   * `https://<frontend api>` of the publishable key, which is also the ID token's issuer).
   */
  frontendApiUrl?: string | undefined;
  /**
   * Where Studio's sign-out sends the browser to sign out of Clerk too (your app's sign-out page, for instance);
   * `redirect_url` (back to Studio) is added when absent. Default: none, Studio's sign-out ends the Studio session only.
   */
  signOutUrl?: string | undefined;
  /** How long a user read from the Backend API is kept, in milliseconds (default 60000). */
  userCacheInMs?: number | undefined;
}

/** Mastra's `Session` (`ISessionProvider`). Its `id` is the sealed cookie value. */
export interface StudioSession {
  id: string;
  userId: string;
  createdAt: Date;
  expiresAt: Date;
  metadata?: Record<string, unknown>;
}

/** The user a Studio sign-in returns (Mastra's `EEUser`). */
export interface StudioSignedInUser {
  id: string;
  email?: string;
  name?: string;
  avatarUrl?: string;
  metadata?: Record<string, unknown>;
}

/** What the encrypted session cookie holds. Times in seconds since the epoch. */
interface SessionPayload extends JWTPayload {
  /** This Studio session's id: constant across re-checks, so a signed-out session stays out on this instance. */
  jti: string;
  sub: string;
  /** Clerk's session id, when the ID token names it. */
  cs?: string;
  /** The origin the sign-in completed on: the only origin (with `allowedOrigins`) whose requests it authenticates. */
  org: string;
  /** Profile from the ID token or `/oauth/userinfo`, for display when the Backend API cannot be asked. */
  usr?: { e?: string; n?: string; a?: string };
  /** OAuth access token, its expiry, and refresh token. */
  at: string;
  ate?: number;
  rt?: string;
  /** Signed in at. */
  iat: number;
  /** Last confirmed with Clerk at: trusted until `chk + revalidateAfterSeconds`. */
  chk: number;
  /** End of the sign-in (`iat + cookieMaxAge`). */
  exp: number;
}

/** What the encrypted flow cookie holds, from the login redirect to the callback. */
interface FlowPayload extends JWTPayload {
  /** The state sent to Clerk, and its id (Mastra's server hands `handleCallback` the part before `|`). */
  st: string;
  sid: string;
  /** PKCE code verifier, nonce, and the redirect URI the code was issued for. */
  v: string;
  n: string;
  r: string;
  exp: number;
}

/**
 * A refused or failed step of the sign-in: its `message` is a code, which Mastra puts in the redirect (`?error=`).
 * Where Mastra answers with it instead (`/auth/sso/login`), `status` is the HTTP status (400: the request's fault).
 */
export class StudioSignInError extends Error {
  override readonly name = 'StudioSignInError';
  constructor(
    code: string,
    readonly status?: number,
  ) {
    super(code);
  }
}

interface ResolvedStudio {
  clientId: string;
  clientSecret: string;
  redirectUri: string | undefined;
  scopes: readonly string[];
  frontendApiUrl: string;
  issuers: readonly string[];
  cookieName: string;
  flowCookieName: string;
  cookieMaxAge: number;
  revalidateAfterSeconds: number;
  secure: boolean | undefined;
  sameSite: 'Strict' | 'Lax';
  allowedOrigins: readonly string[];
  signOutUrl: string | undefined;
  sessionKey: Uint8Array;
  flowKey: Uint8Array;
}

const DEFAULT_COOKIE_NAME = 'clerk_session';
const HOST_COOKIE_NAME = '__Host-clerk_session';
/** A response that sets or clears the session cookie: no cache keeps it. */
const NO_STORE = Object.freeze({ 'Cache-Control': 'no-store' });
const CROSS_ORIGIN_LOGOUT = 'The Studio session cookie authenticates requests from its sign-in origin only.';
const DEFAULT_SCOPES = Object.freeze(['openid', 'profile', 'email']);
const DEFAULT_MAX_AGE = 8 * 60 * 60;
const DEFAULT_REVALIDATE = 60;
/** The sign-in flow (Clerk's sign-in page included) must complete within this. */
const FLOW_MAX_AGE = 10 * 60;
const OAUTH_TIMEOUT_IN_MS = 10_000;
const MIN_PASSWORD_LENGTH = 32;
/** Bounds of the in-memory tables (a flood of sign-in attempts or sessions must not grow memory without end). */
const MAX_PENDING = 1_000;
const MAX_SESSIONS = 10_000;
const MAX_BACKOFF_IN_MS = 30_000;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** RFC 6265 cookie-name characters (a token). */
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const b64url = (bytes: Uint8Array | Buffer): string => Buffer.from(bytes).toString('base64url');
const sha256 = (value: string): Buffer => createHash('sha256').update(value).digest();
const seconds = (ms: number): number => Math.floor(ms / 1000);

function equalStrings(a: string, b: string): boolean {
  // Hash first: timingSafeEqual needs equal lengths, and the lengths must not leak either.
  return timingSafeEqual(sha256(a), sha256(b));
}

function fail(message: string): never {
  throw new ClerkAuthConfigError(message);
}

function httpUrl(value: unknown, option: string): URL {
  let url: URL | undefined;
  try {
    url = typeof value === 'string' ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password || url.hash) {
    fail(`"${option}" must be an absolute http(s) URL`);
  }
  return url;
}

function positive(value: unknown, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) fail(`"${option}" must be a positive number`);
  return value;
}

/**
 * One key per cookie kind and per sign-in (OAuth client and Frontend API), from the password: a flow cookie never
 * opens as a session cookie, nor the reverse, and another app sharing the password (another Clerk instance or OAuth
 * client, say on another port of the same host) cannot open this one's cookies.
 */
function cookieKey(password: string, purpose: 'session' | 'flow', clientId: string, frontendApiUrl: string): Uint8Array {
  const info = `studio ${purpose} cookie v2 ${clientId} ${frontendApiUrl}`;
  return new Uint8Array(hkdfSync('sha256', password, 'clerk-mastra-auth', info, 32));
}

/** Every value of the cookie `name` in a `Cookie` header (a parent domain's and this host's may both be sent). */
export function cookieValues(header: string | null | undefined, name: string): string[] {
  if (!header) return [];
  const values: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1 || part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    try {
      value = decodeURIComponent(value);
    } catch {
      continue;
    }
    if (value) values.push(value);
  }
  return values;
}

/** The Studio options, with the environment's `CLERK_OAUTH_*` and `CLERK_COOKIE_PASSWORD`. */
export function resolveStudio(
  options: StudioOptions,
  env: Record<string, string | undefined>,
  clerkAuth: ClerkAuth,
): ResolvedStudio | undefined {
  const read = (name: string): string | undefined => env[name]?.trim() || undefined;
  const clientId = options.oauthClientId ?? read('CLERK_OAUTH_CLIENT_ID');
  const clientSecret = options.oauthClientSecret ?? read('CLERK_OAUTH_CLIENT_SECRET');
  if (clientId === undefined && clientSecret === undefined) return undefined;
  if (!clientId) fail('Studio sign-in needs "oauthClientId" (CLERK_OAUTH_CLIENT_ID) next to "oauthClientSecret"');
  if (!clientSecret) fail('Studio sign-in needs "oauthClientSecret" (CLERK_OAUTH_CLIENT_SECRET) next to "oauthClientId"');

  const production = env.NODE_ENV === 'production' || process.env.NODE_ENV === 'production';
  const session = options.session ?? {};
  let password = session.cookiePassword ?? read('CLERK_COOKIE_PASSWORD');
  if (password === undefined) {
    if (production) {
      fail(
        'Studio sign-in needs "session.cookiePassword" (CLERK_COOKIE_PASSWORD) in production: at least 32 random ' +
          'characters, the same on every instance (e.g. openssl rand -base64 32). A generated one would end every ' +
          'session at each restart and on every other instance.',
      );
    }
    password = randomBytes(32).toString('base64url');
    clerkAuth.notice(
      'info',
      'Studio sign-in: no CLERK_COOKIE_PASSWORD, so a random one is used: Studio sessions end when this process ' +
        'restarts and are not shared with other instances (allowed outside production only)',
    );
  }
  if (typeof password !== 'string' || password.length < MIN_PASSWORD_LENGTH) {
    fail(`"session.cookiePassword" (CLERK_COOKIE_PASSWORD) must be at least ${MIN_PASSWORD_LENGTH} characters`);
  }

  const redirectValue = options.redirectUri ?? read('CLERK_OAUTH_REDIRECT_URI');
  const redirectUri = redirectValue === undefined ? undefined : httpUrl(redirectValue, 'redirectUri (CLERK_OAUTH_REDIRECT_URI)').href;

  const scopes = options.scopes ?? DEFAULT_SCOPES;
  if (!Array.isArray(scopes) || scopes.length === 0 || !scopes.every((s) => typeof s === 'string' && /^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s))) {
    fail('"scopes" must be a non-empty list of OAuth scope names');
  }

  const { issuers } = clerkAuth.config;
  const fapiValue = options.frontendApiUrl ?? issuers?.find((i) => i.startsWith('https://'));
  if (fapiValue === undefined) {
    fail('Studio sign-in needs Clerk\'s Frontend API: set "publishableKey" (CLERK_PUBLISHABLE_KEY) or "frontendApiUrl"');
  }
  const frontendApiUrl = httpUrl(fapiValue, 'frontendApiUrl').href.replace(/\/$/, '');

  const secureEverywhere = session.secureCookies ?? production;
  const cookieName = session.cookieName ?? (secureEverywhere === true ? HOST_COOKIE_NAME : DEFAULT_COOKIE_NAME);
  if (typeof cookieName !== 'string' || !COOKIE_NAME.test(cookieName)) fail('"session.cookieName" must be a cookie name (letters, digits, _ - . and the like)');
  if (/^(__session|__client_uat|__clerk)/.test(cookieName)) fail(`"session.cookieName" ${cookieName} is a name Clerk's own cookies use`);
  const prefixed = cookieName.startsWith('__Host-') || cookieName.startsWith('__Secure-');
  if (session.secureCookies !== undefined && typeof session.secureCookies !== 'boolean') fail('"session.secureCookies" must be a boolean');
  if (prefixed && session.secureCookies === false) fail(`"session.cookieName" ${cookieName} needs Secure cookies: remove "secureCookies: false"`);
  const cookieMaxAge = Math.floor(positive(session.cookieMaxAge, 'session.cookieMaxAge', DEFAULT_MAX_AGE));
  const revalidateAfterSeconds = positive(session.revalidateAfterSeconds, 'session.revalidateAfterSeconds', DEFAULT_REVALIDATE);
  const sameSite = session.sameSite ?? 'Strict';
  if (sameSite !== 'Strict' && sameSite !== 'Lax') fail('"session.sameSite" must be "Strict" or "Lax"');
  const allowedOrigins = (session.allowedOrigins ?? []).map((origin) => {
    const url = httpUrl(origin, 'session.allowedOrigins');
    if (url.origin !== origin.replace(/\/$/, '')) fail('"session.allowedOrigins" takes origins (scheme://host[:port]), no path');
    return url.origin;
  });
  const signOutUrl = options.signOutUrl === undefined ? undefined : httpUrl(options.signOutUrl, 'signOutUrl').href;
  if (production) {
    // An authorization code or a token sent in clear text is anyone's on the path.
    for (const [option, value] of [['redirectUri (CLERK_OAUTH_REDIRECT_URI)', redirectUri], ['frontendApiUrl', frontendApiUrl]] as const) {
      if (value !== undefined && !value.startsWith('https://')) fail(`"${option}" must be an https:// URL in production`);
    }
  }

  return Object.freeze({
    clientId,
    clientSecret,
    redirectUri,
    scopes: Object.freeze([...scopes]),
    frontendApiUrl,
    // The ID token is signed by the instance, like its session tokens: the same issuer.
    issuers: Object.freeze([...(issuers ?? [new URL(frontendApiUrl).origin])]),
    cookieName,
    flowCookieName: `${cookieName}_oauth`,
    cookieMaxAge,
    revalidateAfterSeconds,
    secure: session.secureCookies ?? (production || prefixed ? true : undefined),
    sameSite,
    allowedOrigins: Object.freeze(allowedOrigins),
    signOutUrl,
    sessionKey: cookieKey(password, 'session', clientId, frontendApiUrl),
    flowKey: cookieKey(password, 'flow', clientId, frontendApiUrl),
  });
}

/** The headers and method of a request, whatever shape the adapter (Mastra's, or the Express middleware) has. */
export type RequestView = SessionRequest;

type TokenAnswer =
  | { kind: 'ok'; accessToken: string; expiresIn?: number; refreshToken?: string; idToken?: string }
  | { kind: 'refused' }
  | { kind: 'outage'; reason: string };

type Revalidation = { kind: 'ok'; payload: SessionPayload; sealed: string } | { kind: 'ended' } | { kind: 'outage' };

export class StudioSessions {
  private readonly keys: KeyResolver;
  /** Sign-in flows between `getLoginUrl` and `getLoginCookies` (the same request), by state. */
  private readonly pending = new Map<string, { cookie: string; at: number }>();
  /** Flow states already used at the callback, until their flow cookie expires: a state (and its code) works once. */
  private readonly usedStates = new Map<string, number>();
  /** Sessions signed out or ended by Clerk, until their own end: a copy of their cookie is refused here. */
  private readonly endedSessions = new BoundedMap<string, number>(MAX_SESSIONS);
  /** The newest state of each session known here: re-checks and rotated refresh tokens are shared by its requests. */
  private readonly latest = new BoundedMap<string, { payload: SessionPayload; sealed: string }>(MAX_SESSIONS);
  private readonly inFlight = new Map<string, Promise<Revalidation>>();
  /** The callback request's `Cookie` header, handed over by Mastra just before `handleCallback`. */
  private callbackCookieHeader: string | null = null;
  private blockedUntil = 0;
  private backoff: number;

  constructor(
    readonly config: ResolvedStudio,
    private readonly clerkAuth: ClerkAuth,
  ) {
    const { keySource, realm, jwks, now } = clerkAuth.config;
    this.keys = createKeyResolver(keySource, { realm, jwks, now });
    this.backoff = clerkAuth.config.backendApi.failureBackoffInMs;
  }

  private now(): number {
    return this.clerkAuth.config.now();
  }

  // ---- cookies -------------------------------------------------------------------------------------------------

  private secureFor(origin: string): boolean {
    return this.config.secure ?? origin.startsWith('https:');
  }

  private sessionCookie(value: string, maxAge: number, origin: string): string {
    const { cookieName, sameSite } = this.config;
    const flags = `Path=/; HttpOnly; SameSite=${sameSite}; Max-Age=${Math.max(0, Math.floor(maxAge))}`;
    return `${cookieName}=${value}; ${flags}${this.secureFor(origin) ? '; Secure' : ''}`;
  }

  private flowCookie(value: string, maxAge: number, redirectUri: string): string {
    const url = new URL(redirectUri);
    // Sent back on the callback only (a __Host- name must have Path=/). Lax: the callback is a top-level navigation
    // from Clerk's site, which a Strict cookie would not be sent on.
    const path = this.config.cookieName.startsWith('__Host-') ? '/' : url.pathname;
    const flags = `Path=${path}; HttpOnly; SameSite=Lax; Max-Age=${maxAge}`;
    return `${this.config.flowCookieName}=${value}; ${flags}${this.secureFor(url.origin) ? '; Secure' : ''}`;
  }

  /**
   * Encrypts a cookie's payload. A session's sign-in origin is also in the protected header (authenticated with the
   * payload, not secret): `getSessionIdFromRequest`, which cannot wait for a decryption, applies the origin rule.
   */
  private async seal(payload: JWTPayload, key: Uint8Array, typ: string): Promise<string> {
    const org = typeof payload.org === 'string' ? { org: payload.org } : {};
    return new EncryptJWT(payload).setProtectedHeader({ alg: 'dir', enc: 'A256GCM', typ, ...org }).encrypt(key);
  }

  private async open<T extends JWTPayload>(value: string, key: Uint8Array, typ: string): Promise<T | undefined> {
    if (value.length > 8192) return undefined;
    try {
      const { payload, protectedHeader } = await jwtDecrypt(value, key, {
        keyManagementAlgorithms: ['dir'],
        contentEncryptionAlgorithms: ['A256GCM'],
        currentDate: new Date(this.now()),
        requiredClaims: ['exp'],
      });
      if (protectedHeader.typ !== typ) return undefined;
      return protectedHeader.org === undefined || protectedHeader.org === payload.org ? (payload as T) : undefined;
    } catch {
      return undefined;
    }
  }

  private openSession(value: string): Promise<SessionPayload | undefined> {
    return this.open<SessionPayload>(value, this.config.sessionKey, 'studio-session').then((payload) =>
      payload && typeof payload.jti === 'string' && typeof payload.sub === 'string' && typeof payload.at === 'string' && !this.isEnded(payload.jti)
        ? payload
        : undefined,
    );
  }

  private isEnded(jti: string): boolean {
    const until = this.endedSessions.get(jti);
    if (until === undefined) return false;
    if (until * 1000 > this.now()) return true;
    this.endedSessions.delete(jti);
    return false;
  }

  private end(payload: SessionPayload): void {
    this.latest.delete(payload.jti);
    this.endedSessions.set(payload.jti, payload.exp);
  }

  private remember(payload: SessionPayload, sealed: string): void {
    this.latest.set(payload.jti, { payload, sealed });
  }

  private freshUntil(payload: SessionPayload): number {
    return Math.min(payload.exp, payload.chk + this.config.revalidateAfterSeconds);
  }

  // ---- the session cookie on a request -------------------------------------------------------------------------

  /**
   * Whether the request may be authenticated by the cookie: it comes from the sign-in origin (or an allowed one).
   * A browser sends `Origin` on every cross-origin request and on same-origin ones that change state, and
   * `Sec-Fetch-Site` on all of them. SameSite alone is not enough: another port or subdomain is the same site.
   */
  private fromSignInOrigin(org: string, request: RequestView): boolean {
    const origin = request.header('origin');
    if (origin !== null) return origin === org || this.config.allowedOrigins.includes(origin);
    const site = request.header('sec-fetch-site');
    if (site !== null && site !== 'same-origin' && site !== 'none') return false;
    // Without Origin, a state-changing request must at least say it is same-origin.
    if (!SAFE_METHODS.has((request.method ?? 'POST').toUpperCase())) return site === 'same-origin';
    return true;
  }

  /** The session in the request's cookie (valid and not ended), or undefined. */
  private async sessionOf(request: RequestView): Promise<SessionPayload | undefined> {
    const values = cookieValues(request.header('cookie'), this.config.cookieName);
    if (values.length === 0) return undefined;
    const sessions = (await Promise.all(values.slice(0, 4).map((v) => this.openSession(v)))).filter((p): p is SessionPayload => !!p);
    if (sessions.length === 0) {
      this.clerkAuth.log('studio session refused', 'studio-cookie-invalid');
      return undefined;
    }
    // Two cookies of two users (one planted on a parent domain): refuse rather than guess.
    if (sessions.some((s) => s.sub !== sessions[0]!.sub)) {
      this.clerkAuth.log('studio session refused', 'studio-cookie-ambiguous');
      return undefined;
    }
    const session = sessions.reduce((a, b) => (b.chk > a.chk ? b : a));
    if (!this.fromSignInOrigin(session.org, request)) {
      this.clerkAuth.log('studio session refused', 'studio-cookie-cross-origin');
      return undefined;
    }
    return session;
  }

  /** The claims the policy and Mastra see for a Studio session: a Clerk user id, never an organization. */
  private claimsOf(payload: SessionPayload): ClerkClaims {
    return {
      sub: payload.sub,
      id: payload.sub,
      sid: payload.cs,
      iss: this.config.issuers[0],
      azp: payload.org,
      iat: payload.iat,
      exp: this.freshUntil(payload),
      sts: 'active',
      studio: true,
      email: payload.usr?.e,
      name: payload.usr?.n,
      picture: payload.usr?.a,
    };
  }

  /**
   * The Studio user of a request authenticated by the session cookie alone, or null: a valid cookie from its sign-in
   * origin, fresh (re-checked with Clerk within `revalidateAfterSeconds`). A stale one is re-checked with Clerk now
   * when `renew` is set (the Express middleware, which sends the renewed cookie as `setCookie`; `getCurrentUser`,
   * which cannot); else it is null, and Mastra calls `refreshSession`, which re-checks it and sets the renewed cookie.
   * Re-checks are shared: one Clerk call per session per period, whoever asks.
   */
  async authenticate(request: RequestView, renew: boolean): Promise<SessionSignIn | null> {
    const payload = await this.sessionOf(request);
    if (!payload) return null;
    if (this.freshUntil(payload) * 1000 > this.now()) return { claims: this.claimsOf(payload) };
    if (!renew) {
      this.clerkAuth.log('studio session refused', 'studio-session-stale');
      return null;
    }
    const result = await this.renew(payload);
    if (result.kind !== 'ok') return null;
    const { payload: renewed, sealed } = result;
    return { claims: this.claimsOf(renewed), setCookie: this.sessionCookie(sealed, renewed.exp - this.now() / 1000, renewed.org) };
  }

  // ---- re-checking a session with Clerk ------------------------------------------------------------------------

  /** The session's newest state, confirmed with Clerk within `revalidateAfterSeconds`: one Clerk call per period. */
  private renew(payload: SessionPayload): Promise<Revalidation> {
    const known = this.latest.get(payload.jti);
    const current = known && known.payload.chk >= payload.chk ? known.payload : payload;
    if (known && known.payload === current && this.freshUntil(current) * 1000 > this.now()) {
      return Promise.resolve({ kind: 'ok', payload: current, sealed: known.sealed });
    }
    let call = this.inFlight.get(payload.jti);
    if (!call) {
      call = this.revalidate(current).finally(() => this.inFlight.delete(payload.jti));
      this.inFlight.set(payload.jti, call);
    }
    return call;
  }

  private async revalidate(payload: SessionPayload): Promise<Revalidation> {
    const now = this.now();
    if (payload.exp * 1000 <= now) {
      this.end(payload);
      return { kind: 'ended' };
    }
    if (now < this.blockedUntil) return { kind: 'outage' };
    let next: SessionPayload | undefined;
    const skew = this.clerkAuth.config.clockSkewInMs;
    if (payload.ate === undefined || payload.ate * 1000 > now + skew) {
      const info = await this.userinfo(payload.at);
      if (info.kind === 'outage') return this.outage(info.reason);
      if (info.kind === 'ok') {
        if (info.sub !== payload.sub) return this.ended(payload, 'studio-session-subject-changed');
        next = { ...payload, chk: seconds(this.now()), usr: info.usr ?? payload.usr };
      }
    }
    if (!next && payload.rt) {
      const answer = await this.tokenRequest({ grant_type: 'refresh_token', refresh_token: payload.rt });
      if (answer.kind === 'outage') return this.outage(answer.reason);
      if (answer.kind === 'ok') {
        let usr = payload.usr;
        if (answer.idToken !== undefined) {
          const claims = await this.verifyIdToken(answer.idToken, { sub: payload.sub }).catch(() => undefined);
          if (!claims) return this.ended(payload, 'studio-session-id-token-invalid');
          usr = profileClaims(claims) ?? usr;
        }
        const at = seconds(this.now());
        next = {
          ...payload,
          at: answer.accessToken,
          ate: answer.expiresIn === undefined ? undefined : at + answer.expiresIn,
          rt: answer.refreshToken ?? payload.rt,
          chk: at,
          usr,
        };
      }
    }
    if (!next) return this.ended(payload, 'studio-session-ended-by-clerk');
    this.backoff = this.clerkAuth.config.backendApi.failureBackoffInMs;
    const sealed = await this.seal(next, this.config.sessionKey, 'studio-session');
    this.remember(next, sealed);
    return { kind: 'ok', payload: next, sealed };
  }

  private ended(payload: SessionPayload, code: string): Revalidation {
    this.end(payload);
    this.clerkAuth.log('studio session ended', code);
    return { kind: 'ended' };
  }

  private outage(reason: string): Revalidation {
    // Fail closed (signed out) until Clerk answers again, without a call per request meanwhile.
    this.blockedUntil = this.now() + this.backoff;
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_IN_MS);
    this.clerkAuth.notice('error', `Studio: Clerk's Frontend API (OAuth) unavailable: ${reason}`);
    return { kind: 'outage' };
  }

  // ---- Clerk's OAuth endpoints ---------------------------------------------------------------------------------

  private async tokenRequest(params: Record<string, string>): Promise<TokenAnswer> {
    const { clientId, clientSecret, frontendApiUrl } = this.config;
    // RFC 6749 section 2.3.1: the client id and secret are form-encoded before they are joined.
    const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64');
    const answer = await askClerk('token', `${frontendApiUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json', Authorization: `Basic ${basic}` },
      body: new URLSearchParams(params),
    });
    if (answer.kind !== 'ok') return answer;
    const { body } = answer;
    const type = body?.token_type;
    if (!body || typeof body.access_token !== 'string' || !body.access_token || (type !== undefined && String(type).toLowerCase() !== 'bearer')) {
      return { kind: 'outage', reason: 'the token endpoint answered without a bearer access token' };
    }
    return {
      kind: 'ok',
      accessToken: body.access_token,
      expiresIn: typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : undefined,
      refreshToken: typeof body.refresh_token === 'string' && body.refresh_token ? body.refresh_token : undefined,
      idToken: typeof body.id_token === 'string' && body.id_token ? body.id_token : undefined,
    };
  }

  private async userinfo(
    accessToken: string,
  ): Promise<{ kind: 'ok'; sub: string; usr?: SessionPayload['usr'] } | { kind: 'refused' } | { kind: 'outage'; reason: string }> {
    const answer = await askClerk('userinfo', `${this.config.frontendApiUrl}/oauth/userinfo`, {
      headers: { Authorization: `Bearer ${accessToken}`, Accept: 'application/json' },
    });
    if (answer.kind !== 'ok') return answer;
    const { body } = answer;
    // Clerk answers `user_id` (and, more recently, OpenID's `sub`).
    const sub = body?.sub ?? body?.user_id;
    if (typeof sub !== 'string' || !sub) return { kind: 'outage', reason: 'the userinfo endpoint answered without a user' };
    return { kind: 'ok', sub, usr: profileClaims(body!) };
  }

  /**
   * The ID token's claims, checked as OpenID Connect Core 3.1.3.7 asks: signature by the instance's keys (RS256),
   * issuer, audience (this client), `azp` when present, expiry and issue time (with the configured clock skew), and
   * the nonce of the sign-in that asked for it.
   */
  private async verifyIdToken(idToken: string, expect: { nonce?: string; sub?: string }): Promise<JWTPayload & { sub: string }> {
    const { clientId, issuers } = this.config;
    const { payload, protectedHeader } = await jwtVerify(idToken, this.keys, {
      issuer: [...issuers],
      audience: clientId,
      algorithms: ['RS256'],
      clockTolerance: this.clerkAuth.config.clockSkewInMs / 1000,
      currentDate: new Date(this.now()),
      requiredClaims: ['sub', 'iat', 'exp'],
    });
    if (protectedHeader.typ !== undefined && protectedHeader.typ.toUpperCase() !== 'JWT') throw new Error('typ');
    if (payload.azp !== undefined && payload.azp !== clientId) throw new Error('azp');
    if (expect.nonce !== undefined && (typeof payload.nonce !== 'string' || !equalStrings(payload.nonce, expect.nonce))) {
      throw new Error('nonce');
    }
    if (expect.sub !== undefined && payload.sub !== expect.sub) throw new Error('sub');
    return payload as JWTPayload & { sub: string };
  }

  // ---- ISSOProvider ----------------------------------------------------------------------------------------------

  /**
   * Clerk's authorization URL, with PKCE (S256) and a nonce. The configured `redirectUri` wins over the one Mastra
   * builds from the request's `Host` (which a client chooses).
   */
  async getLoginUrl(redirectUri: string, state: string): Promise<string> {
    const redirect = this.config.redirectUri ?? redirectUri;
    try {
      httpUrl(redirect, 'redirectUri');
    } catch {
      // Without a configured `redirectUri`, Mastra builds it from the request's Host and forwarded headers.
      throw new StudioSignInError('sso_redirect_uri_invalid', 400);
    }
    if (typeof state !== 'string' || state.length < 8 || state.length > 2048) throw new StudioSignInError('sso_state_invalid', 400);
    const verifier = b64url(randomBytes(32));
    const nonce = b64url(randomBytes(16));
    const exp = seconds(this.now()) + FLOW_MAX_AGE;
    const flow: FlowPayload = { st: state, sid: state.split('|', 1)[0]!, v: verifier, n: nonce, r: redirect, exp };
    const sealed = await this.seal(flow, this.config.flowKey, 'studio-flow');
    // Handed to getLoginCookies, which Mastra calls next in the same request (it must be synchronous).
    this.prune(this.pending, MAX_PENDING);
    this.pending.set(state, { cookie: this.flowCookie(sealed, FLOW_MAX_AGE, redirect), at: this.now() });
    const params = new URLSearchParams({
      client_id: this.config.clientId,
      response_type: 'code',
      scope: this.config.scopes.join(' '),
      redirect_uri: redirect,
      state,
      code_challenge: b64url(sha256(verifier)),
      code_challenge_method: 'S256',
    });
    if (this.config.scopes.includes('openid')) params.set('nonce', nonce);
    return `${this.config.frontendApiUrl}/oauth/authorize?${params}`;
  }

  /** The flow cookie (state, PKCE verifier, nonce) of the login URL just built for `state`. */
  getLoginCookies(_redirectUri: string, state: string): string[] | undefined {
    const pending = this.pending.get(state);
    if (!pending) return undefined;
    this.pending.delete(state);
    return [pending.cookie];
  }

  private prune(map: Map<string, { at: number }>, max: number): void {
    const oldest = this.now() - FLOW_MAX_AGE * 1000;
    for (const [key, value] of map) {
      if (value.at >= oldest && map.size < max) break;
      map.delete(key);
    }
  }

  private pruneUsedStates(): void {
    const now = seconds(this.now());
    for (const [state, exp] of this.usedStates) {
      if (exp > now && this.usedStates.size < MAX_PENDING) break;
      this.usedStates.delete(state);
    }
  }

  /** Mastra hands over the callback's `Cookie` header just before `handleCallback` (synchronously). */
  setCallbackCookieHeader(cookieHeader: string | null): void {
    this.callbackCookieHeader = cookieHeader;
  }

  async handleCallback(code: string, stateId: string): Promise<{
    user: StudioSignedInUser;
    tokens: { accessToken: string; refreshToken?: string; idToken?: string; expiresAt?: Date };
    cookies: string[];
  }> {
    // Read before the first await: the next callback may hand over its own header while this one waits.
    const cookieHeader = this.callbackCookieHeader;
    this.callbackCookieHeader = null;
    try {
      return await this.completeSignIn(code, stateId, cookieHeader);
    } catch (error) {
      const reason = error instanceof StudioSignInError ? error.message : 'sso_failed';
      this.clerkAuth.log('studio sign-in refused', reason);
      throw error instanceof StudioSignInError ? error : new StudioSignInError(reason);
    }
  }

  private async completeSignIn(code: string, stateId: string, cookieHeader: string | null) {
    const { flowCookieName, scopes, cookieMaxAge } = this.config;
    const values = cookieValues(cookieHeader, flowCookieName);
    if (values.length === 0) throw new StudioSignInError('sso_missing_verifier');
    let flow: FlowPayload | undefined;
    for (const value of values.slice(0, 4)) {
      const opened = await this.open<FlowPayload>(value, this.config.flowKey, 'studio-flow');
      if (opened && typeof stateId === 'string' && (equalStrings(stateId, opened.sid) || equalStrings(stateId, opened.st))) flow = opened;
    }
    if (!flow) throw new StudioSignInError('sso_state_mismatch');
    if (typeof code !== 'string' || !code || code.length > 4096) throw new StudioSignInError('sso_code_invalid');
    this.pruneUsedStates();
    if (this.usedStates.has(flow.sid)) throw new StudioSignInError('sso_state_reused');
    this.usedStates.set(flow.sid, flow.exp);

    const answer = await this.tokenRequest({ grant_type: 'authorization_code', code, redirect_uri: flow.r, code_verifier: flow.v });
    if (answer.kind === 'outage') {
      this.clerkAuth.notice('error', `Studio: Clerk's Frontend API (OAuth) unavailable: ${answer.reason}`);
      throw new StudioSignInError('sso_provider_unavailable');
    }
    if (answer.kind === 'refused') throw new StudioSignInError('sso_code_refused');

    let sub: string;
    let cs: string | undefined;
    let usr: SessionPayload['usr'];
    if (scopes.includes('openid')) {
      if (answer.idToken === undefined) throw new StudioSignInError('sso_id_token_missing');
      const claims = await this.verifyIdToken(answer.idToken, { nonce: flow.n }).catch(() => undefined);
      if (!claims) throw new StudioSignInError('sso_id_token_invalid');
      sub = claims.sub;
      cs = typeof claims.sid === 'string' ? claims.sid : undefined;
      usr = profileClaims(claims);
    } else {
      const info = await this.userinfo(answer.accessToken);
      if (info.kind !== 'ok') throw new StudioSignInError(info.kind === 'outage' ? 'sso_provider_unavailable' : 'sso_code_refused');
      sub = info.sub;
      usr = info.usr;
    }

    const now = seconds(this.now());
    const payload: SessionPayload = {
      jti: b64url(randomBytes(16)),
      sub,
      cs,
      org: new URL(flow.r).origin,
      usr,
      at: answer.accessToken,
      ate: answer.expiresIn === undefined ? undefined : now + answer.expiresIn,
      rt: answer.refreshToken,
      iat: now,
      chk: now,
      exp: now + cookieMaxAge,
    };
    const sealed = await this.seal(payload, this.config.sessionKey, 'studio-session');
    this.remember(payload, sealed);
    return {
      user: { id: sub, email: usr?.e, name: usr?.n, avatarUrl: usr?.a },
      tokens: {
        accessToken: answer.accessToken,
        refreshToken: answer.refreshToken,
        idToken: answer.idToken,
        expiresAt: answer.expiresIn === undefined ? undefined : new Date((now + answer.expiresIn) * 1000),
      },
      // The session cookie last: an adapter that keeps one Set-Cookie header per name (@mastra/express) keeps it.
      cookies: [this.flowCookie('', 0, flow.r), this.sessionCookie(sealed, cookieMaxAge, payload.org)],
    };
  }

  getLoginButtonConfig(): { provider: string; text: string; description?: string } {
    return { provider: 'clerk', text: 'Sign in with Clerk', description: 'Sign in using your Clerk account' };
  }

  /**
   * Clerk's sign-out (`signOutUrl`), back to Studio afterwards; null when none is configured. Mastra asks it on
   * `POST /auth/logout` before it clears the cookie: a request from another origin than the cookie's is refused here
   * (403), so its cookie is kept.
   */
  getLogoutUrl(redirectUri: string, request?: Request): string | null {
    if (request !== undefined && this.crossOrigin(cookieValues(request.headers.get('cookie'), this.config.cookieName), request)) {
      throw Object.assign(new Error(CROSS_ORIGIN_LOGOUT), { status: 403 });
    }
    if (!this.config.signOutUrl) return null;
    const url = new URL(this.config.signOutUrl);
    if (!url.searchParams.has('redirect_url') && typeof redirectUri === 'string' && /^https?:\/\//.test(redirectUri)) {
      url.searchParams.set('redirect_url', redirectUri);
    }
    return url.href;
  }

  // ---- ISessionProvider ----------------------------------------------------------------------------------------

  private sessionFrom(payload: SessionPayload, sealed: string): StudioSession {
    return {
      id: sealed,
      userId: payload.sub,
      createdAt: new Date(payload.iat * 1000),
      expiresAt: new Date(payload.exp * 1000),
      metadata: { origin: payload.org },
    };
  }

  /** Studio sessions begin at the Clerk sign-in callback only, never for a user id alone. */
  async createSession(): Promise<StudioSession> {
    throw new Error('MastraAuthClerk: a Studio session is created by the Clerk sign-in callback only');
  }

  async validateSession(sessionId: string): Promise<StudioSession | null> {
    const payload = typeof sessionId === 'string' ? await this.openSession(sessionId) : undefined;
    if (!payload || this.freshUntil(payload) * 1000 <= this.now()) return null;
    return this.sessionFrom(payload, sessionId);
  }

  /** Studio's sign-out: the session is refused on this instance from now on, even if a copy of its cookie remains. */
  async destroySession(sessionId: string): Promise<void> {
    const payload = typeof sessionId === 'string' ? await this.openSession(sessionId) : undefined;
    if (payload) {
      this.end(payload);
      this.clerkAuth.log('studio session ended', 'studio-signed-out');
    }
  }

  /** The session, re-checked with Clerk when it is stale; null when Clerk has ended it (or cannot say so now). */
  async refreshSession(sessionId: string): Promise<StudioSession | null> {
    const payload = typeof sessionId === 'string' ? await this.openSession(sessionId) : undefined;
    if (!payload) return null;
    if (this.freshUntil(payload) * 1000 > this.now()) {
      const known = this.latest.get(payload.jti);
      return known && known.payload.chk > payload.chk ? this.sessionFrom(known.payload, known.sealed) : this.sessionFrom(payload, sessionId);
    }
    const result = await this.renew(payload);
    return result.kind === 'ok' ? this.sessionFrom(result.payload, result.sealed) : null;
  }

  /**
   * The session Mastra's refresh fallback re-checks (after `authenticateToken` said no, and on `/auth/refresh`): none
   * where the rules of `authenticate` would not use the cookie (an `Authorization` header, Clerk's cookies saying the
   * browser signed out, two Studio cookies in one request, the Express middleware in front having let the request
   * through signed out), so the fallback cannot sign in what they refuse.
   */
  getSessionIdFromRequest(request: Request): string | null {
    const cookie = request.headers.get('cookie');
    const values = cookieValues(cookie, this.config.cookieName);
    if (values.length !== 1 || request.headers.get('authorization') !== null) return null;
    if (this.clerkAuth.passedSignedOut(request.headers.get(VERDICT_HEADER)) !== undefined) return null;
    if (this.clerkAuth.clerkSignsOut(cookie)) return null;
    // Mastra's logout and refresh routes are public: the cookie's origin rule is applied here (a form on another port
    // or subdomain of the same site sends a SameSite cookie, and would end the session).
    if (this.crossOrigin(values, request)) return null;
    return values[0]!;
  }

  /**
   * A Studio cookie of the request was signed in on another origin than the request comes from (`fromSignInOrigin`),
   * by the sign-in origin its protected header names (read without decrypting; a forged header fails decryption).
   * A cookie sealed without one (by an earlier release) is not judged here.
   */
  private crossOrigin(values: readonly string[], request: Request): boolean {
    const view: RequestView = { method: request.method, header: (name) => request.headers.get(name) };
    return values.some((value) => {
      let org: unknown;
      try {
        org = decodeProtectedHeader(value).org;
      } catch {
        return false;
      }
      return typeof org === 'string' && !this.fromSignInOrigin(org, view);
    });
  }

  getSessionHeaders(session: StudioSession): Record<string, string> {
    const origin = typeof session.metadata?.origin === 'string' ? session.metadata.origin : '';
    return { 'Set-Cookie': this.sessionCookie(session.id, (session.expiresAt.getTime() - this.now()) / 1000, origin), ...NO_STORE };
  }

  getClearSessionHeaders(): Record<string, string> {
    const { cookieName, sameSite, secure } = this.config;
    return { 'Set-Cookie': `${cookieName}=; Path=/; HttpOnly; SameSite=${sameSite}; Max-Age=0${secure ? '; Secure' : ''}`, ...NO_STORE };
  }
}

/** The display profile of ID-token or userinfo claims (`email`, `name` or given/family name, `picture`). */
function profileClaims(claims: Record<string, unknown>): SessionPayload['usr'] | undefined {
  const text = (value: unknown, max = 512): string | undefined => (typeof value === 'string' && value && value.length <= max ? value : undefined);
  const joined = [text(claims.given_name), text(claims.family_name)].filter(Boolean).join(' ');
  const usr = {
    e: text(claims.email),
    n: text(claims.name) ?? (joined || text(claims.preferred_username) || text(claims.username)),
    a: text(claims.picture, 2048),
  };
  return usr.e || usr.n || usr.a ? usr : undefined;
}

/**
 * One call to an OAuth endpoint of Clerk's Frontend API (`token`, `userinfo`), without following redirects and with a
 * timeout: its JSON body (undefined when it is not JSON); `refused` for 400, 401 and 403 (the grant or token is not
 * good); `outage` for anything else that is not a 2xx, or no answer at all.
 */
async function askClerk(
  endpoint: string,
  url: string,
  init: RequestInit,
): Promise<{ kind: 'ok'; body: Record<string, unknown> | undefined } | { kind: 'refused' } | { kind: 'outage'; reason: string }> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(OAUTH_TIMEOUT_IN_MS) });
  } catch (error) {
    return { kind: 'outage', reason: `the ${endpoint} endpoint could not be reached (${(error as Error).name})` };
  }
  if (response.status === 400 || response.status === 401 || response.status === 403) {
    await response.body?.cancel();
    return { kind: 'refused' };
  }
  if (!response.ok) {
    await response.body?.cancel();
    return { kind: 'outage', reason: `the ${endpoint} endpoint answered HTTP ${response.status}` };
  }
  return { kind: 'ok', body: (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined };
}
