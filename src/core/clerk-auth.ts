/**
 * `createClerkAuth(options)`: one verifier (keys, caches), one policy and one request flow, shared by every adapter
 * given it (`clerkMastraAuth({ clerkAuth })`, `new MastraAuthClerk({ clerkAuth })`). The adapters translate requests
 * and responses; what a request's credentials mean is decided here, once, for both.
 */
import { randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import type { ClerkClaims } from './claims.js';
import { clerkCookiesSignOut, readCredential, type CredentialHeaders, type CredentialRules, type TokenPeek } from './credentials.js';
import { ClerkAuthError, type ClerkAuthErrorCode } from './errors.js';
import { assertKnownOptions, ClerkAuthConfigError, resolveOptions, withEnvironment, type ClerkAuthOptions, type Logger, type ResolvedOptions } from './options.js';
import { allowAuthenticated, type AuthorizeContext, type AuthorizeUser } from './policy.js';
import { machineAuth } from './auth-object.js';
import { decodeEscapes, type RouteTable, type RouteResource } from './routes.js';
import { carriesNul, namedValues, namesBuiltIn, overriddenParam, ownedKeyOf, pollutesPrototypes, readsAsQuery, runIdOf, setsContextKey, UNREAD_BODY, UNSEEN_BODY, withQueryParams, type RequestValues } from './request-values.js';
import { BoundedMap } from './bounded-map.js';
import { createProtectedResources, resourceUrl, type ProtectedResources } from './resource-metadata.js';
import { BackendApiVerifier } from './backend-api.js';
import { accepts, acceptsMask, opaqueTypeOf, SESSION_ONLY, type TokenType, type TokenTypeMask } from './token-types.js';
import { MAX_TOKEN_LENGTH, Verifier, machineTokenOf, type Verified } from './verifier.js';

const userOf = (verified: Verified): ClerkClaims => verified.user;

const NO_READINGS: readonly RouteResource[] = Object.freeze([]);

/** A route of a protected resource's server: the parameter naming the server, and its segment in the route. */
interface ServerRoute {
  readonly param: string;
  readonly index: number;
}

const UNSCOPED_CALL =
  "Mastra's A2A route serves stored tasks without checking whose they are: only sending a message (message/send, message/stream) is let through.";

const OTHER_RUN = "This run id is another workflow's run: Mastra keeps a run's events by its id alone.";
const OTHER_USERS_RUN = "This run id is another user's run: Mastra hands a run to whoever names its id on its start and stream routes.";
const RUN_ID = 'The request names its run id more than once, or in a form that is not a plain string.';
const RESERVED_RUN_ID = "This run id names another kind of entry of Mastra's server cache.";
const OTHER_RESOURCE = "This route serves the memory resource the request names, unchecked by Mastra: only your own is let through.";
const FOREIGN_ORIGIN = 'The session cookie was sent from another origin than the one its token was issued to: send the token as a Bearer header.';
/**
 * The refusal of a client's request context (or one to be `stored`) that sets `key`, a key of the server's: named when
 * it is a plain name (the ones listed are; one of a prefix, `mastra__...`, is the client's text, named only if it is
 * letters, digits and `_`).
 */
function clientContext(key: string, stored = false): string {
  const named = /^\w{1,64}$/.test(key) ? `${key}, ` : '';
  return `A ${stored ? 'stored ' : ''}request context may not set ${named}a key of the server's own (the user, their memory resource, thread or run, the chat channel, Mastra's own keys): Mastra's runs trust them.`;
}
const ROUTE_PARAMETER = 'An id in the request target or body is not a name that can be served.';
const PROTOTYPE_KEY = 'A bracketed query key names a built-in of every object (__proto__[x]=) or does not decode as UTF-8.';
const NUL_CHARACTER = 'A NUL character (U+0000) in the request target or JSON body is not accepted: databases and file systems refuse it.';
const EVERY_USER = "Mastra serves or changes every user's data on this route, whoever asks: it is not served here.";

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * How many run ids the adapters remember with their workflow (`otherRun`), and how many of them one user's requests
 * may hold: past that, the user's own oldest go, never another user's. The per-user bound is what Mastra's default
 * server cache keeps in all (1,000 runs), so a user who pushes an id of their own out has pushed its events out of that
 * cache too; pushing out another user's id takes a hundred users, each streaming a thousand runs.
 */
const RUN_OWNERS = 100_000;
const RUNS_PER_USER = 1_000;
/** The longest run id taken: Mastra's are UUIDs (36 characters); a tie keeps the id, so its size is bounded. */
const MAX_RUN_ID_LENGTH = 256;
const LONG_RUN_ID = `A run id is at most ${MAX_RUN_ID_LENGTH} characters long.`;

const NOT_MULTIPART =
  "Mastra's routes take JSON bodies: only its voice transcription (POST /agents/:agentId/voice/listen) takes a multipart one.";
const LENGTHLESS_MULTIPART = "A multipart body must say its length (Content-Length): Mastra's body limits read only that.";

/** A regex matching any of `words` as a whole path segment (`/a2a/`, `/schedules` at the end), case-insensitive as routes match. */
function segmentWords(words: Iterable<string>): RegExp {
  const unique = [...new Set(words)];
  return unique.length === 0 ? /$^/ : new RegExp(`/(?:${unique.map((word) => word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})(?:[/?#]|$)`, 'i');
}

/**
 * `Object.prototype`'s functions, as they were when this module loaded. Mastra's query normalizer writes
 * `name[child]=` into `{}[name]`: `?hasOwnProperty[call]=x` gives one of them a property.
 */
const SHARED_FUNCTIONS: readonly object[] = Object.getOwnPropertyNames(Object.prototype)
  .map((name) => Object.getOwnPropertyDescriptor(Object.prototype, name)?.value as unknown)
  .filter((value): value is object => typeof value === 'function' && value !== Object);
const { toString } = Object.prototype;
const { assign, create, defineProperty, entries, freeze, fromEntries, getOwnPropertyDescriptor, getOwnPropertyNames, getPrototypeOf, hasOwn, keys, values } = Object;

/**
 * Whether something wrote into what every plain object shares (Mastra's query normalizer does, for `?__proto__[rol]=`,
 * `?constructor[freeze]=`, `?__proto__[toString]=` or `?hasOwnProperty[call]=` on routes that never ask the
 * provider): an enumerable property on `Object.prototype`, on `Object`, on `Function` or on `Object.prototype`'s
 * functions (and so on `Function.prototype`, which they inherit), or one of `Object`'s functions or
 * `Object.prototype.toString` replaced. Every missing claim may then read as the written value
 * (`user.o?.rol === 'admin'`) for every user, or the checks themselves fail (with `toString` gone, jose's throw for
 * every token): no request can be judged. `Object.prototype`'s other functions replaced (`?__proto__[valueOf]=x`)
 * changed no verdict when tried, and are not counted. About 55 ns (named reads: a keyed loop costs 300 ns or more).
 */
function prototypeChanged(): boolean {
  for (const _ in Object.prototype) return true;
  for (const _ in Object) return true;
  for (const _ in Function) return true;
  for (const shared of SHARED_FUNCTIONS) for (const _ in shared) return true;
  return (
    Object.prototype.toString !== toString ||
    Object.assign !== assign ||
    Object.create !== create ||
    Object.defineProperty !== defineProperty ||
    Object.entries !== entries ||
    Object.freeze !== freeze ||
    Object.fromEntries !== fromEntries ||
    Object.getOwnPropertyDescriptor !== getOwnPropertyDescriptor ||
    Object.getOwnPropertyNames !== getOwnPropertyNames ||
    Object.getPrototypeOf !== getPrototypeOf ||
    Object.hasOwn !== hasOwn ||
    Object.keys !== keys ||
    Object.values !== values
  );
}

/** Only spaces and tabs, or nothing: what Node leaves of an empty header value. */
function isBlankHeader(value: string): boolean {
  return /^[ \t]*$/.test(value);
}

/** The same request without its (blank) Authorization header. */
function withoutAuthorization(headers: RequestCredentials): RequestCredentials {
  return {
    authorization: [],
    cookie: headers.cookie,
    method: headers.method,
    header: headers.header === undefined ? undefined : (name: string) => headers.header!(name),
  };
}

/** A transport's path around its server id (`/mcp/` and `/mcp` of `/mcp/:serverId/mcp`), after the prefix. */
interface EndpointTemplate {
  readonly before: string;
  readonly after: string;
}

/** A server id as `encodeURIComponent` spells it: not empty, not a dot segment, nothing spelled another way. */
function isCanonicalSegment(segment: string): boolean {
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    return false;
  }
  return decoded !== '' && decoded !== '.' && decoded !== '..' && encodeURIComponent(decoded) === segment;
}

/** What an adapter knows of a request for the policy; the core adds the resource and the token's type. */
export type AdapterContext = Omit<AuthorizeContext, 'resource' | 'tokenType' | 'machine'>;

/** Why a request is signed out. With `optional: true` an adapter lets it through signed out; else it is a 401. */
export type SignedOutReason = Extract<ClerkAuthErrorCode, 'token-missing' | 'session-pending' | 'session-signed-out'>;

const SIGNED_OUT_REASONS: readonly SignedOutReason[] = ['token-missing', 'session-pending', 'session-signed-out'];

/**
 * The request header by which the Express middleware tells the Mastra provider of the same `createClerkAuth()` object
 * (through `@mastra/express`, which copies `req.headers` into the Web request it hands the provider) what it made of a
 * request: its value is a verdict and a tag of the object, made at random when it is built.
 * - `<reason>; <tag>`: let through signed out (`optional: true`). The provider then signs nothing in: one request, one
 *   verdict, however differently the two would read its credentials.
 * - `signed-in; <tag>`: signed in, and judged with its body (`ClerkAuth.servedError`), which the provider never sees.
 *
 * A value without the tag (a client's own, or one an app forwards to another server) means nothing; the middleware
 * replaces it on every request it lets through.
 */
export const VERDICT_HEADER = 'x-clerk-mastra-auth-verdict';

/** What a request's credentials amount to, computed once by the core; adapters only convert it. */
export type RequestState =
  | {
      readonly status: 'signed-in';
      /** The Clerk token that signed the request in; `''` for a session of a `SessionSource` (no Clerk token). */
      readonly token: string;
      /** Which kind of Clerk token signed the request in (`'session_token'` for a `SessionSource`'s session too). */
      readonly tokenType: TokenType;
      /** The `user` the policy sees: a session's claims, or a machine token's `{ sub, exp, jti }`. */
      readonly claims: ClerkClaims;
      /** The verified token (with Clerk's machine verification result for machine tokens). */
      readonly verified: Verified;
      /**
       * A `Set-Cookie` value the adapter must send with its answer: a `SessionSource`'s session cookie, renewed after
       * a re-check with Clerk (only when `authenticate` was asked to renew).
       */
      readonly setCookie?: string;
    }
  | { readonly status: 'signed-out'; readonly reason: SignedOutReason };

/**
 * The credential-bearing parts of a request (`Authorization`, `Cookie`), and, for a `SessionSource`, the request's
 * method and a reader of its other headers (`Origin`, `Sec-Fetch-Site`). Without `header`, no `SessionSource` is asked.
 */
export interface RequestCredentials extends CredentialHeaders {
  /** The HTTP method (a request whose method is unknown is treated as state-changing). */
  readonly method?: string | undefined;
  /** A request header by (case-insensitive) name, several values joined by `, `; null when absent. */
  header?(name: string): string | null;
  /**
   * The request's `VERDICT_HEADER` value, if any: when it is this object's mark (`signedOutMark`), the
   * request is signed out, whatever its credentials.
   */
  readonly passedSignedOut?: string | null | undefined;
}

/** The request as a `SessionSource` reads it. */
export interface SessionRequest {
  readonly method: string | undefined;
  header(name: string): string | null;
}

/** A session a `SessionSource` recognised: the claims the policy sees, and the renewed cookie to send, if any. */
export interface SessionSignIn {
  readonly claims: ClerkClaims;
  readonly setCookie?: string;
}

/**
 * A browser session of another kind than Clerk's own cookie, signed in through Clerk: Mastra Studio's "Sign in with
 * Clerk" (registered by `MastraAuthClerk` when an OAuth client is configured). `authenticate` asks it only where
 * Clerk's credentials leave the request signed out for lack of a credential, never where they decide (see
 * `ClerkAuth.authenticate`); what the session itself requires (its cookie, its origin checks, its re-check with
 * Clerk) is the source's own.
 */
export interface SessionSource {
  /**
   * The request's session, or null. `renew`: a session due for its re-check with Clerk is re-checked now and its
   * renewed cookie returned as `setCookie` (false: such a session is null, and the framework renews it itself).
   * Never rejects.
   */
  authenticate(request: SessionRequest, renew: boolean): Promise<SessionSignIn | null>;
  /**
   * Whether the request is for one of the routes that sign browsers in and out with these sessions (Mastra's
   * `/auth/*` routes under its prefix): public, as the framework serving them makes them. `rawPath` is still
   * percent-encoded; allocation-free for other paths (it runs on every request).
   */
  isSignInRoute(method: string, rawPath: string): boolean;
}

/** Options of `ClerkAuth.authenticate`. */
export interface AuthenticateOptions {
  /** A `SessionSource`'s session due for its re-check is re-checked now, its cookie renewed (`setCookie`). */
  readonly renewSession?: boolean;
}

const SIGNED_OUT: Readonly<Record<SignedOutReason, RequestState>> = Object.freeze({
  'token-missing': Object.freeze({ status: 'signed-out', reason: 'token-missing' }),
  'session-pending': Object.freeze({ status: 'signed-out', reason: 'session-pending' }),
  'session-signed-out': Object.freeze({ status: 'signed-out', reason: 'session-signed-out' }),
});

/** Credentials a `SessionSource` can read (checked in `authenticate` before it is asked). */
type SessionCredentials = RequestCredentials & SessionRequest;

type LogLevel = 'debug' | 'info' | 'warn' | 'error';
type LogSink = Record<LogLevel, ((line: string) => void) | undefined>;

function sinkOf(logger: Logger | false | undefined): LogSink {
  if (logger === false) return { debug: undefined, info: undefined, warn: undefined, error: undefined };
  // Default: outages and policy failures only; refusals (a client's mistake, or an attacker's) are not worth a line.
  if (logger === undefined) {
    return { debug: undefined, info: (l) => console.info(l), warn: (l) => console.warn(l), error: (l) => console.error(l) };
  }
  if (typeof logger === 'function') return { debug: logger, info: logger, warn: logger, error: logger };
  if (typeof logger !== 'object' || logger === null) throw new TypeError('"logger" must be a function, an object with debug/warn/error methods, or false');
  const level = (name: LogLevel) => (typeof logger[name] === 'function' ? (line: string) => logger[name]!(line) : undefined);
  return { debug: level('debug'), info: level('info'), warn: level('warn'), error: level('error') };
}

/** The reason an outage happened (`getaddrinfo ENOTFOUND …`, `answered HTTP 500`), from the error's causes. */
function outageReason(error: unknown): string {
  const reasons: string[] = [];
  let cause = (error as { cause?: unknown }).cause;
  for (let depth = 0; cause instanceof Error && depth < 3; depth += 1) {
    reasons.push(cause.message);
    cause = (cause as { cause?: unknown }).cause;
  }
  return reasons.length > 0 ? `: ${reasons.join(': ')}` : '';
}

export class ClerkAuth {
  /** @internal The validated configuration (keys, issuer, parties...), frozen. */
  readonly config: ResolvedOptions;
  /** @internal False when every verified user passes: adapters then skip building the policy's context. */
  readonly hasPolicy: boolean;
  private readonly verifier: Verifier;
  /** @internal RFC 9728 metadata of the protected resources (MCP endpoints), when `protectedResource` is configured. */
  readonly protectedResources: ProtectedResources | undefined;
  /** Opaque machine tokens, verified by the Backend API; built only when some machine type is accepted. */
  private backend: BackendApiVerifier | undefined;
  private readonly policy: AuthorizeUser<ClerkClaims>;
  private readonly sink: LogSink;
  /** How this instance reads credentials, built once (not per request). */
  private readonly credentialRules: CredentialRules;
  private readonly peek = (token: string): TokenPeek | undefined => {
    const cached = this.verifier.cached(token);
    if (cached) return cached.user;
    try {
      return decodeJwt(token);
    } catch {
      return undefined;
    }
  };

  /** `VERDICT_HEADER` values by reason: the reason, then this object's random tag. */
  private readonly signedOutMarks: Readonly<Record<SignedOutReason, string>>;

  /** @internal The `VERDICT_HEADER` value saying this object's middleware let a request through signed out. */
  signedOutMark(reason: SignedOutReason): string {
    return this.signedOutMarks[reason];
  }

  /** @internal The `VERDICT_HEADER` value saying this object's middleware signed a request in and judged its body. */
  readonly signedInMark: string;

  /** @internal Whether a `VERDICT_HEADER` value is this object's `signedInMark`. */
  judgedSignedIn(value: string | null | undefined): boolean {
    return value === this.signedInMark;
  }

  /** @internal The reason of a `VERDICT_HEADER` value made by this object (`signedOutMark`); undefined for any other. */
  passedSignedOut(value: string | null | undefined): SignedOutReason | undefined {
    if (!value) return undefined;
    return SIGNED_OUT_REASONS.find((reason) => this.signedOutMarks[reason] === value);
  }

  /** Use `createClerkAuth(options)`. */
  constructor(options: ClerkAuthOptions = {}) {
    if (options.authorizeUser !== undefined && typeof options.authorizeUser !== 'function') {
      throw new TypeError('"authorizeUser" must be a function');
    }
    this.sink = sinkOf(options.logger);
    this.config = resolveOptions(options);
    this.verifier = new Verifier(this.config);
    if (this.config.issuers === undefined) {
      // As in Clerk, the key alone then ties tokens to the instance; say so once, since `iss` is usually checked.
      this.notice('info', 'the token issuer (iss) is not checked: set CLERK_PUBLISHABLE_KEY (or the issuer option) to check it');
    }
    const given = withEnvironment(options);
    if (given.jwtKey !== undefined && given.jwksUri !== undefined) {
      // The key wins, as in Clerk; a key left in the environment from another instance would then refuse every token.
      this.notice('info', '"jwtKey" (CLERK_JWT_KEY) verifies every token: the JWKS of "jwksUri" (CLERK_JWKS_URI) is not fetched');
    }
    if (!this.config.secretKey) {
      // The opaque forms of the accepted types that cannot be verified: M2M tokens need a secret key of either kind.
      const { acceptsToken, machineSecretKey } = this.config;
      const forms = [accepts(acceptsToken, 'm2m_token') && !machineSecretKey ? 'mt_…' : '', accepts(acceptsToken, 'oauth_token') ? 'oat_…' : ''].filter(Boolean);
      if (forms.length > 0) this.notice('info', `opaque machine tokens (${forms.join(', ')}) need CLERK_SECRET_KEY; only their JWT form is accepted`);
    }
    this.credentialRules = Object.freeze({
      realm: this.config.realm,
      cookieSuffix: this.config.cookieSuffix,
      issuers: this.config.issuers,
      peek: this.peek,
    });
    this.protectedResources =
      options.protectedResource === undefined ? undefined : createProtectedResources(options.protectedResource, this.config.issuers);
    this.policy = options.authorizeUser ?? allowAuthenticated;
    this.hasPolicy = options.authorizeUser !== undefined;
    const tag = randomUUID();
    this.signedInMark = `signed-in; ${tag}`;
    this.signedOutMarks = Object.freeze(Object.fromEntries(SIGNED_OUT_REASONS.map((reason) => [reason, `${reason}; ${tag}`])) as Record<SignedOutReason, string>);
  }

  /** The verified claims of a session token; rejects with a `ClerkAuthError`. */
  verify(token: string): Promise<ClerkClaims> {
    // A token verified before costs no async hop: the cache answers and the promise is already settled.
    const cached = typeof token === 'string' && token.length <= MAX_TOKEN_LENGTH ? this.verifier.cached(token) : undefined;
    if (cached?.tokenType === 'session_token') return Promise.resolve(cached.user);
    return this.verifier.verify(token, SESSION_ONLY).then(userOf);
  }

  /** @internal
   * The token types an adapter or guard accepts: its own `acceptsToken` (validated here, at start-up), else this
   * object's.
   */
  acceptsMask(value: unknown, option: string): TokenTypeMask {
    return acceptsMask(value, option, this.config.acceptsToken);
  }

  /** @internal The machine token a verified `user` object came from (its type, Clerk's verification result); undefined for a session's. */
  machineTokenOf(user: ClerkClaims): Verified | undefined {
    return machineTokenOf(user);
  }

  /** @internal
   * The request state of a request's credentials: signed in (verified claims) or signed out (and why). Answers
   * synchronously for a token verified before, so a client reusing its token costs no promise. Throws (or rejects
   * with) a `ClerkAuthError` for credentials that must be refused whatever the route: malformed or ambiguous
   * (400), a bad token (401: a bad token never becomes anonymous), keys unreachable (503).
   *
   * With a `SessionSource` registered (Mastra Studio's sessions), its session signs the request in only where Clerk's
   * credentials do not decide, the rules of both adapters, here once:
   * - never with an `Authorization` header (of any scheme): it always wins, and a bad token is not rescued;
   * - only where session tokens are accepted (`mask`): a browser session is never a machine's credential;
   * - only with a `Cookie` header, and only when Clerk's own session cookie is absent or fails (a forged, expired or
   *   foreign cookie; a key outage): then the source's session, else Clerk's failure;
   * - never when Clerk's cookies say the browser signed out or its session is pending (`clerkCookiesSignOut`: the
   *   same rule Mastra's session refresh asks through `clerkSignsOut`): a browser Clerk says is signed out stays so.
   * What the session then requires (its origin checks, its re-check with Clerk) is the source's; the policy runs on
   * its user as on any other (`authorizeRoute`).
   */
  authenticate(
    headers: RequestCredentials,
    mask: TokenTypeMask = this.config.acceptsToken,
    options?: AuthenticateOptions,
  ): RequestState | Promise<RequestState> {
    if (prototypeChanged()) throw this.unsafe();
    const passed = headers.passedSignedOut;
    if (passed !== undefined && passed !== null) {
      const reason = this.passedSignedOut(passed);
      if (reason !== undefined) return SIGNED_OUT[reason];
    }
    // An empty Authorization value is no Authorization header: Clerk reads it so, and Mastra's adapters drop it before
    // the provider sees the request. Read otherwise, the cookie the provider then signs in with would go unjudged here.
    if (headers.authorization.length === 1 && isBlankHeader(headers.authorization[0]!)) headers = withoutAuthorization(headers);
    const sessions = this.sessions;
    // Hot path: a request with an Authorization header (or an app without Studio sign-in) is Clerk's alone.
    if (sessions === undefined || headers.authorization.length > 0) return this.clerkState(headers, mask);
    if (!headers.cookie || headers.header === undefined || !accepts(mask, 'session_token')) return this.clerkState(headers, mask);
    const request = headers as SessionCredentials;
    const renew = options?.renewSession === true;
    // Signed out for lack of a credential: the source's session may stand in. Any other signed-out reason stands.
    const orSession = (state: RequestState): RequestState | Promise<RequestState> =>
      state.status === 'signed-out' && state.reason === 'token-missing' ? this.orSession(sessions, request, renew, state) : state;
    let state: RequestState | Promise<RequestState>;
    try {
      state = this.clerkState(headers, mask);
    } catch (error) {
      return this.orSession(sessions, request, renew, undefined, error);
    }
    if (state instanceof Promise) return state.then(orSession, (error: unknown) => this.orSession(sessions, request, renew, undefined, error));
    return orSession(state);
  }

  /** The source's session, else what Clerk's credentials said: signed out for lack of one (`state`), or `error`. */
  private async orSession(
    sessions: SessionSource,
    request: SessionCredentials,
    renew: boolean,
    state: RequestState | undefined,
    error?: unknown,
  ): Promise<RequestState> {
    if (this.clerkSignsOut(request.cookie)) {
      if (state !== undefined) return state;
      throw error;
    }
    const signIn = await sessions.authenticate(request, renew).catch(() => null);
    if (signIn) {
      const { claims, setCookie } = signIn;
      const verified: Verified = { tokenType: 'session_token', user: claims };
      return setCookie === undefined
        ? { status: 'signed-in', token: '', tokenType: 'session_token', claims, verified }
        : { status: 'signed-in', token: '', tokenType: 'session_token', claims, verified, setCookie };
    }
    if (state !== undefined) return state;
    throw error;
  }

  /**
   * @internal Clerk's own cookies say the browser signed out or its session is pending (see `clerkCookiesSignOut`):
   * then no `SessionSource`'s session stands in, here or in Mastra's session refresh.
   */
  clerkSignsOut(cookie: string | null | undefined): boolean {
    return clerkCookiesSignOut(cookie, this.credentialRules, this.config.treatPendingAsSignedOut);
  }

  /** The request state of Clerk's own credentials (`Authorization`, else Clerk's session cookie). */
  private clerkState(headers: CredentialHeaders, mask: TokenTypeMask): RequestState | Promise<RequestState> {
    const credential = readCredential(headers, this.credentialRules);
    if (credential.from === 'none') return SIGNED_OUT['token-missing'];
    if (credential.from === 'signed-out-cookie') return SIGNED_OUT['session-signed-out'];
    const { token } = credential;
    let clientUat = 0;
    let origin: string | null = null;
    if (credential.from === 'cookie') {
      // A cookie is a browser's session, never a machine's credential; where sessions are not accepted it is none.
      if (!accepts(mask, 'session_token')) return SIGNED_OUT['token-missing'];
      mask = SESSION_ONLY;
      clientUat = credential.clientUat;
      origin = (headers as RequestCredentials).header?.('origin') ?? null;
    }
    const opaque = opaqueTypeOf(token);
    if (opaque !== undefined) {
      if (!accepts(mask, opaque)) throw this.typeMismatch();
      const backend = (this.backend ??= new BackendApiVerifier(this.config));
      const answered = backend.cached(token);
      if (answered instanceof ClerkAuthError) throw answered;
      if (answered) return this.signedIn(token, answered, 0, null);
      return backend.verify(token, opaque).then((verified) => this.signedIn(token, verified, 0, null));
    }
    const cached = this.verifier.cached(token);
    if (cached) {
      if (!accepts(mask, cached.tokenType)) throw this.typeMismatch();
      return this.signedIn(token, cached, clientUat, origin);
    }
    return this.verifier.verify(token, mask).then(
      (verified) => this.signedIn(token, verified, clientUat, origin),
      (error: unknown) => {
        if (error instanceof ClerkAuthError && error.code === 'session-pending') return SIGNED_OUT['session-pending'];
        throw error;
      },
    );
  }

  private typeMismatch(): ClerkAuthError {
    return new ClerkAuthError('token-type-mismatch', { realm: this.config.realm });
  }

  /** `origin`: the `Origin` of a request whose token came in Clerk's session cookie (else null). */
  private signedIn(token: string, verified: Verified, clientUat: number, origin: string | null): RequestState {
    const claims = verified.user;
    // A cookie older than the browser's last sign-in or refresh (`__client_uat`) belongs to an earlier session.
    if (typeof claims.iat === 'number' && claims.iat < clientUat) return SIGNED_OUT['session-signed-out'];
    // A browser sends the cookie from every page of its site (a sibling subdomain, another port), and Mastra's Hono
    // server lets any origin read the answer: the cookie counts only from the origin its token was issued to (`azp`;
    // a token without one, which Clerk's browser sessions always have, only on a request without `Origin`).
    if (origin !== null && (typeof claims.azp !== 'string' || origin !== claims.azp.replace(/\/$/, ''))) {
      throw new ClerkAuthError('token-invalid-authorized-parties', { realm: this.config.realm, message: FOREIGN_ORIGIN });
    }
    return { status: 'signed-in', token, tokenType: verified.tokenType, claims, verified };
  }

  /** @internal Runs the shared `authorizeUser` policy. Resolves true or false; rejects if the policy throws. */
  async authorize(user: ClerkClaims, ctx: AuthorizeContext): Promise<boolean> {
    // Judged again after the policy: a write into Object.prototype may land while a token or the policy is awaited.
    return (await this.policy(user, ctx)) === true && this.stillSafe();
  }

  /**
   * @internal False (said once at `error`) once `Object.prototype` was written into: every missing claim read since
   * may have been that value. Checked before a request is let through, after the awaits that precede it.
   */
  stillSafe(): boolean {
    if (!prototypeChanged()) return true;
    this.unsafe();
    return false;
  }

  /** Mastra's routes, once a Mastra provider shares this object: then the Express middleware names them too. */
  private routes: RouteTable | undefined;
  /** Route patterns (without prefix) that are OAuth protected resources: Mastra's MCP transport routes. */
  private resourceRoutes: ReadonlySet<string> = new Set();
  /**
   * Route patterns (without prefix) that act on one protected resource's server, by the parameter naming the server
   * (null: every server): Mastra's MCP transports and the REST routes of the same MCP servers.
   */
  private serverRoutes: ReadonlyMap<string, ServerRoute | null> = new Map();
  /** The transports' paths around the server id, built once: what an `aud` naming a server's endpoint looks like. */
  private endpointTemplates: readonly EndpointTemplate[] = [];

  /** @internal
   * An OAuth access token on a route of a protected resource's server (an MCP server: its transport, or Mastra's REST
   * routes of its tools and resources) must name, in `aud`, an endpoint of that server (RFC 8707 and 9728; the MCP
   * specification requires it): a token a user granted another server or app is not replayed here, by any route of
   * the server. See `namesEndpoint` for what counts. The server is the one Mastra's handler serves: a query or body
   * naming another value for a parameter of the route (`?serverId=`, which Mastra reads over the path) is the
   * audience refusal too, with or without a policy; a body no parser has read yet, `UNREAD_BODY` (`values`: the query,
   * and the body as far as the adapter has it).
   */
  resourceAudienceError(verified: Verified, method: string, rawPath: string, values: RequestValues): ClerkAuthError | typeof UNREAD_BODY | undefined {
    if (verified.tokenType !== 'oauth_token' || this.protectedResources === undefined || this.serverRoutes.size === 0) return undefined;
    const readings = this.routes?.match(method, rawPath);
    if (!Array.isArray(readings)) return undefined;
    const audiences = verified.machine?.data.aud ?? [];
    for (const reading of readings) {
      const serverRoute = this.serverRoutes.get(reading.route);
      if (serverRoute === undefined) continue;
      const overridden = overriddenParam(withQueryParams(reading, values.query), values) !== undefined;
      if (overridden && values.body === UNREAD_BODY) return UNREAD_BODY;
      if (overridden || !audiences.some((aud) => this.namesEndpoint(aud, reading, rawPath, serverRoute))) {
        return new ClerkAuthError('token-invalid-audience', {
          realm: this.config.realm,
          message: 'The OAuth access token is not meant for this resource.',
        });
      }
    }
    return undefined;
  }

  /**
   * `aud` is, as one exact string, the canonical URL of a transport of the server `reading` acts on: a configured
   * origin, the request's prefix, the server id as `encodeURIComponent` spells it, `/mcp`, `/sse` or `/messages`; on
   * a transport, the request's own URL too, if it spells the server so. On the registry's list (`serverRoute` null), a
   * transport of any server, canonically spelled. Never a string that would only resolve to one (`notes/../billing`,
   * `bil%6Cing`, a trailing `/`), even by a request spelled alike: what authorized the token upstream may have judged
   * the string as written.
   */
  private namesEndpoint(aud: string, reading: RouteResource, rawPath: string, serverRoute: ServerRoute | null): boolean {
    const origin = this.protectedResources!.origins.find((o) => aud.startsWith(o) && aud.charCodeAt(o.length) === 47 /* / */);
    if (origin === undefined) return false;
    const path = aud.slice(origin.length);
    const server = serverRoute === null ? undefined : reading.params[serverRoute.param];
    if (serverRoute !== null && !this.spellsServer(reading, rawPath, serverRoute)) return false;
    if (this.resourceRoutes.has(reading.route) && resourceUrl(origin, rawPath) === aud) return true;
    for (const { before, after } of this.endpointTemplates) {
      const head = `${reading.prefix}${before}`;
      if (!path.startsWith(head) || !path.endsWith(after) || path.length < head.length + after.length) continue;
      const segment = path.slice(head.length, path.length - after.length);
      if (server !== undefined ? segment === encodeURIComponent(server) : isCanonicalSegment(segment)) return true;
    }
    return false;
  }

  /**
   * @internal The target check of both adapters, policy or not: a query key Mastra's normalizer would write into a
   * shared prototype (`__proto__[x]=`), and, on a known (Mastra) route, an id that cannot be served: a route parameter
   * whose percent-encoding does not decode, an id in the path, query or body named like a built-in of every object
   * (`/agents/__proto__`, `?agentId=constructor`), or a NUL character anywhere in them (`carriesNul`). `values.body`
   * is the body as far as the adapter has it. The refusal (400 `request-invalid`), or undefined.
   */
  refusesTarget(method: string, rawPath: string, values: RequestValues): ClerkAuthError | undefined {
    if (pollutesPrototypes(values.query)) return new ClerkAuthError('request-invalid', { realm: this.config.realm, message: PROTOTYPE_KEY });
    const readings = this.routes?.match(method, rawPath);
    let message: string | undefined;
    if (readings === 'invalid') message = ROUTE_PARAMETER;
    else if (readings === undefined || readings.length === 0) return undefined;
    else if (namesBuiltIn(values, readings)) message = ROUTE_PARAMETER;
    // Its own message: a NUL pasted into a chat message is refused too (a route of the table, PostgreSQL or not).
    else if (carriesNul(rawPath, values)) message = NUL_CHARACTER;
    return message === undefined ? undefined : new ClerkAuthError('request-invalid', { realm: this.config.realm, message });
  }

  /**
   * @internal True when a request with a query goes to a Mastra route and `parsed`, the query as the framework parsed it
   * (what Mastra's adapter reads), names what the raw query does not (`readsAsQuery`): the checks read the raw query.
   */
  readsQueryOtherwise(method: string, rawPath: string, query: string, parsed: () => unknown): boolean {
    if (query === '') return false;
    const readings = this.routes?.match(method, rawPath);
    return Array.isArray(readings) && readings.length > 0 && !readsAsQuery(query, parsed());
  }

  /** Routes served without authentication (see `useRouteTable`), and the routes that take a multipart body. */
  private publicRoutes: RouteTable | undefined;
  private multipartRoutes: ReadonlySet<string> = new Set();

  /**
   * @internal The refusal of a multipart body (`isMultipartBody`), signed in or not, or undefined. Mastra parses a
   * multipart body itself on any route with a body, before the route's handler, and its parser's failures escape the
   * handler: a file part that never ends (the process exits, Express 4 and 5; the adapter guards the parser), a size
   * limit passed by a body that says no length (`Content-Length` is all its body limits read; Express 4 exits). So on
   * Mastra's own routes (known once a provider shares this object) only those that take one (voice transcription)
   * get one, and on any path only with its length.
   */
  multipartError(method: string, rawPath: string, hasLength: boolean): ClerkAuthError | undefined {
    const known = this.routes?.match(method, rawPath) ?? [];
    const open = this.publicRoutes?.match(method, rawPath) ?? [];
    if (known === 'invalid' || open === 'invalid') return new ClerkAuthError('request-invalid', { realm: this.config.realm });
    if ([...known, ...open].some((reading) => !this.multipartRoutes.has(`${reading.method} ${reading.route}`))) {
      return new ClerkAuthError('request-invalid', { realm: this.config.realm, message: NOT_MULTIPART });
    }
    // On every path, with or without Mastra's route table: Mastra's custom routes (`createRoute`) parse one at paths of
    // the app's choosing, and a middleware built apart from the provider knows no Mastra route at all.
    if (!hasLength) return new ClerkAuthError('request-invalid', { realm: this.config.realm, message: LENGTHLESS_MULTIPART });
    return undefined;
  }

  /**
   * @internal True when `rawPath` is a protected resource (an MCP endpoint) and `protectedResource` is configured:
   * a transport whose server id is spelled as `encodeURIComponent` spells it, the only spelling an `aud` may name
   * (`namesEndpoint`). Another spelling (`bil%6Cing`) gets no metadata document and no pointer to one.
   */
  isProtectedResource(rawPath: string): boolean {
    if (this.protectedResources === undefined || this.resourceRoutes.size === 0) return false;
    const readings = this.routes?.match('POST', rawPath);
    return Array.isArray(readings) && readings.some((reading) => this.resourceRoutes.has(reading.route) && this.spellsServer(reading, rawPath));
  }

  /** The server id segment of `rawPath` under `reading` (a route of an MCP server) is the id as published. */
  private spellsServer(reading: RouteResource, rawPath: string, serverRoute = this.serverRoutes.get(reading.route)): boolean {
    if (!serverRoute) return true;
    const server = reading.params[serverRoute.param];
    return server === undefined || rawPath.slice(reading.prefix.length).split('/')[serverRoute.index] === encodeURIComponent(server);
  }

  /** JSON-RPC routes ('METHOD /path') and the calls on them whose results are kept to the signed-in user. */
  private scopedCalls: ReadonlyMap<string, ReadonlySet<string>> = new Map();
  /**
   * The first path words (as a segment: `/a2a/`, `/workflows/`) of the routes `servedError` judges: a request without
   * one is not matched against the route table for them (most requests, at the cost of one regex test).
   */
  private servedWords = /$^/;
  /** The run ids streamed through this object, with the workflow each belongs to (`otherRun`). */
  private readonly runOwners = new BoundedMap<string, { readonly workflow: string; readonly user: string; readonly resource: string }>(RUN_OWNERS, (runId, { user }) =>
    this.forgetRun(user, runId),
  );
  /** Each user's tied run ids, oldest first (`RUNS_PER_USER` at most): together, the ids `runOwners` holds. */
  private readonly runsOf = new Map<string, string[]>();
  /**
   * Routes ('METHOD /path', without prefix) that make a run of the id the request chooses, or hand back the one of that
   * id whoever made it, with no check of Mastra's whose it is (`create-run`, `start`, `start-async`, `stream`,
   * `stream-legacy`): they tie the run id, as the other streaming routes do, and refuse another resource's.
   */
  private runStartRoutes: ReadonlySet<string> = new Set();
  /** Routes ('METHOD /path') that store a request context from the body, by where it sits (`serverContext`). */
  private storedContextRoutes: ReadonlyMap<string, 'body' | 'items'> = new Map();
  /** Whether a request-context key is one the server sets itself (`serverContext`). */
  private isServerContextKey: (key: string) => boolean = () => false;
  /** Run id prefixes the framework's cache keeps other entries under (Mastra's durable agents: `pubsub:`). */
  private reservedRunIds: readonly string[] = [];
  /** The memory resource of a signed-in user, as the Mastra provider maps it (`otherResource`). */
  private memoryResourceOf: ((user: ClerkClaims) => string | undefined) | undefined;

  /**
   * @internal What both adapters refuse of a signed-in user's request, policy or not, before the policy runs, because
   * Mastra would serve it whatever the policy says of its path:
   * - on any path, a client's request context (body or query) that sets a key of the server's (`setsContextKey`,
   *   `isServerContextKey`): Mastra's runs read whose memory, knowledge or cached answers they serve from such keys,
   *   which run an MCP server's workflow tool writes over (`runId`), which chat thread the app's bot acts in (`channel`);
   * and on a known route:
   * - a JSON-RPC call the route serves whoever asks (`unscopedCall`);
   * - a run of another workflow (`otherRun`);
   * - another user's memory resource where Mastra does not check whose it is, or every user's (`otherResource`).
   *
   * The refusal, UNREAD_BODY when the body that decides has not been parsed yet, or undefined. `jsonBody`: whether the
   * request's `Content-Type` says JSON (for a body not parsed yet). `bodyOf(request)` is asked for once; the provider
   * on Mastra's Express adapter, which never has the body, answers UNSEEN_BODY when one came (and such a request is
   * refused where the body decides).
   */
  servedError<R>(
    user: ClerkClaims,
    method: string,
    rawPath: string,
    query: string,
    request: R,
    bodyOf: (request: R) => unknown,
    jsonBody = true,
  ): ClerkAuthError | typeof UNREAD_BODY | undefined {
    let body: unknown;
    let read = false;
    const values = (): RequestValues => {
      if (!read) {
        read = true;
        body = bodyOf(request);
      }
      return { query, body };
    };
    // Mastra builds every request's request context from the client's (`setsContextKey`), its custom routes' too
    // (`registerApiRoute`, at paths of the app's choosing): refused on any path. A body is asked for here whatever the
    // route (the middleware's parsed body, the provider's read one or UNSEEN_BODY: no parsing); one not parsed yet is
    // refused on Mastra's own routes, where the body then decides, when it says it is JSON (`jsonBody`: Mastra reads a
    // request context from no other).
    let forged = setsContextKey(method === 'GET' || method === 'HEAD' ? { query } : values(), this.isServerContextKey);
    if (forged === UNREAD_BODY && !jsonBody) forged = false;
    if (typeof forged === 'string') return new ClerkAuthError('access-denied', { realm: this.config.realm, message: clientContext(forged) });
    if (forged !== UNREAD_BODY && !this.mayRefuseServed(rawPath)) return undefined;
    const readings = this.routes?.match(method, rawPath);
    if (!Array.isArray(readings) || readings.length === 0) return undefined;
    if (forged === UNREAD_BODY) return UNREAD_BODY;
    for (const reading of readings) {
      const refused =
        this.unscopedCall(reading, values) ??
        this.serverContext(reading, values) ??
        this.otherRun(user, reading, query, values) ??
        this.otherResource(user, reading, query, values);
      if (refused !== undefined) return refused;
    }
    return undefined;
  }

  /** @internal Whether a JSON body's request context sets a key of the server's (`setsContextKey`): see `servedError`. */
  forgesContext(body: unknown): boolean {
    return typeof setsContextKey({ query: '', body }, this.isServerContextKey) === 'string';
  }

  /**
   * @internal Whether a request to `url` (or a path) may be refused by `servedError`: worth parsing by the provider.
   * Its route words may be percent-encoded (Mastra's Hono server routes `/api/schedul%65s` as `/api/schedules`), and
   * so may a query's `requestContext`.
   */
  mayRefuseServed(url: string): boolean {
    return this.judges(url) || (url.includes('%') && this.judges(decodeEscapes(url)));
  }

  private judges(text: string): boolean {
    return this.servedWords.test(text) || text.includes('requestContext');
  }

  /**
   * A JSON-RPC call that the route would serve whoever asks: on Mastra's A2A route, anything but sending a message
   * (Mastra serves stored tasks by agent and task id alone). A body that is no JSON-RPC 2.0 request, or whose call is
   * not a string, is left to the route (Mastra answers 400); so is a body the adapter never sees (the provider alone).
   */
  private unscopedCall(reading: RouteResource, values: () => RequestValues): ClerkAuthError | typeof UNREAD_BODY | undefined {
    const scoped = this.scopedCalls.get(`${reading.method} ${reading.route}`);
    if (scoped === undefined) return undefined;
    const { body } = values();
    if (body === UNREAD_BODY) return UNREAD_BODY;
    // Only a JSON-RPC 2.0 request is Mastra's to serve there (its schema refuses anything else): an app's own route
    // of the same shape (`POST /payments/a2a/charge`) with another body is not judged.
    const rpc = typeof body === 'object' && body !== null && (body as { jsonrpc?: unknown }).jsonrpc === '2.0';
    const call = rpc ? (body as { method?: unknown }).method : undefined;
    if (typeof call === 'string' && !scoped.has(call)) return new ClerkAuthError('access-denied', { realm: this.config.realm, message: UNSCOPED_CALL });
    return undefined;
  }

  /**
   * A request context to be stored (a dataset item's, which an experiment runs its agent or workflow with, over the
   * server's own) that sets a key of the server's (`isServerContextKey`): the user, their memory resource, thread or
   * permissions, a run, a chat channel.
   * UNREAD_BODY when the body is not parsed yet or never seen (the provider alone): refused where it decides.
   */
  private serverContext(reading: RouteResource, values: () => RequestValues): ClerkAuthError | typeof UNREAD_BODY | undefined {
    const where = this.storedContextRoutes.get(`${reading.method} ${reading.route}`);
    if (where === undefined) return undefined;
    const { body } = values();
    if (body === UNREAD_BODY || body === UNSEEN_BODY) return UNREAD_BODY;
    const holders = where === 'items' ? (isRecord(body) && Array.isArray(body.items) ? body.items : []) : [body];
    for (const holder of holders) {
      const context = isRecord(holder) ? holder.requestContext : undefined;
      const key = ownedKeyOf(context, this.isServerContextKey);
      if (key !== undefined) return new ClerkAuthError('access-denied', { realm: this.config.realm, message: clientContext(key, true) });
    }
    return undefined;
  }

  /**
   * A request to a workflow run (`RouteResource.run`) that names another workflow's run. Mastra keeps a streamed run's
   * events in its server cache under the run id alone, and its observe routes replay them for any run of that id, of
   * any workflow: a user who may create runs of one workflow (`create-run?runId=`, any id) would read, or add to,
   * another workflow's run by its id, whoever started it. So a run id streamed through this object belongs to that
   * workflow (the path's first id: `payroll` of `/workflows/payroll/stream`) from then on, and every other workflow's
   * routes that stream, observe or start a run refuse it (403). Mastra's start and stream routes (`runStartRoutes`)
   * hand back, or overwrite, the run of the id the request chooses whoever made it, with no check of its own, so the
   * tie also holds the memory resource that made it (the user, or the organization), and those routes refuse it to
   * another (403). Also refused (400): a run id named twice in different ways, and one that spells a key of another
   * kind of cache entry.
   */
  private otherRun(user: ClerkClaims, reading: RouteResource, query: string, values: () => RequestValues): ClerkAuthError | typeof UNREAD_BODY | undefined {
    if (reading.run === undefined) return undefined;
    const runId = runIdOf(withQueryParams(reading, query), values());
    if (typeof runId !== 'string') {
      if (runId === null) return new ClerkAuthError('request-invalid', { realm: this.config.realm, message: RUN_ID });
      return runId; // UNREAD_BODY, or undefined: no run named (Mastra answers 400)
    }
    if (runId.length > MAX_RUN_ID_LENGTH) return new ClerkAuthError('request-invalid', { realm: this.config.realm, message: LONG_RUN_ID });
    if (this.reservedRunIds.some((prefix) => runId.startsWith(prefix))) {
      return new ClerkAuthError('request-invalid', { realm: this.config.realm, message: RESERVED_RUN_ID });
    }
    const [workflow = ''] = Object.values<string>(reading.params);
    const resource = this.memoryResourceOf?.(user) ?? user.sub;
    const owner = this.runOwners.get(runId);
    const starts = this.runStartRoutes.has(`${reading.method} ${reading.route}`);
    // Another workflow's run id, where Mastra's run-id cache is written or replayed, or a run of that id made. Mastra
    // looks a run up by workflow and id on its other run routes, so there a tie made by anyone (a request Mastra then
    // answered 404, for a run Mastra named and nobody tied) keeps its owner out of nothing.
    if (owner !== undefined && owner.workflow !== workflow && (reading.run !== 'names' || starts)) {
      return new ClerkAuthError('access-denied', { realm: this.config.realm, message: OTHER_RUN });
    }
    // Only where Mastra checks no owner: elsewhere its own check judges by the stored run, so a tie made by a request
    // Mastra refused (a run stored before the process started, named by another user) keeps its owner out of nothing.
    if (owner !== undefined && owner.resource !== resource && starts) {
      return new ClerkAuthError('access-denied', { realm: this.config.realm, message: OTHER_USERS_RUN });
    }
    if (owner === undefined && (reading.run === 'streams' || starts)) this.recordRun(user.sub, runId, workflow, resource);
    return undefined;
  }

  /**
   * Ties `runId` to `workflow` and to the memory resource that made it (`resource`: the user, or in organization scope
   * the organization) for `otherRun`, as one of `user`'s: past `RUNS_PER_USER`, the user's oldest tie goes.
   */
  private recordRun(user: string, runId: string, workflow: string, resource: string): void {
    let runs = this.runsOf.get(user);
    if (runs === undefined) this.runsOf.set(user, (runs = []));
    runs.push(runId);
    if (runs.length > RUNS_PER_USER) this.runOwners.delete(runs.shift()!);
    this.runOwners.set(runId, { workflow, user, resource });
  }

  /** A tie `runOwners` let go of (past its bound): out of its user's list too, so both hold the same ids. */
  private forgetRun(user: string, runId: string): void {
    const runs = this.runsOf.get(user);
    if (runs === undefined) return;
    const at = runs.indexOf(runId);
    if (at !== -1) runs.splice(at, 1);
    if (runs.length === 0) this.runsOf.delete(user);
  }

  /**
   * A route that takes the memory resource it reads or changes from the request, unchecked by Mastra
   * (`RouteResource.memoryResource`: an AgentController session's `:resourceId`), naming one that is not the
   * signed-in user's (as the Mastra provider maps it: the user, or the active organization), or naming none where one
   * is required; or a route that serves every user's ('everyone'). 403 either way; UNREAD_BODY when a body that may
   * name one is not parsed yet; a body the adapter never sees (the provider alone) is refused where it may name one.
   */
  private otherResource(user: ClerkClaims, reading: RouteResource, query: string, values: () => RequestValues): ClerkAuthError | typeof UNREAD_BODY | undefined {
    const rule = reading.memoryResource;
    if (rule === undefined) return undefined;
    if (rule === 'everyone') return new ClerkAuthError('access-denied', { realm: this.config.realm, message: EVERY_USER });
    const named = namedValues(reading, values(), rule);
    if (named === UNREAD_BODY) return UNREAD_BODY;
    if (named?.length === 0 && !rule.required) return undefined;
    const own = this.memoryResourceOf?.(user);
    if (own === undefined || named === null || named.length === 0 || named.some((value) => value !== own)) {
      return new ClerkAuthError('access-denied', { realm: this.config.realm, message: OTHER_RESOURCE });
    }
    return undefined;
  }

  /** Whether the policy judges routes that name their resource in the body (else they are refused). */
  private policyJudgesBodyAddressed = false;

  /** A second kind of browser session (Mastra Studio's), once a Mastra provider with Studio sign-in shares this object. */
  private sessions: SessionSource | undefined;

  /**
   * @internal Called by `MastraAuthClerk` with Studio sign-in configured, when it shares this object: the Express
   * middleware then knows its sessions and its public sign-in routes too. One source per object.
   */
  useSessionSource(source: SessionSource): void {
    if (this.sessions !== undefined && this.sessions !== source) {
      throw new ClerkAuthConfigError(
        'one createClerkAuth() object serves one Studio sign-in: build a single MastraAuthClerk with the OAuth client per clerkAuth',
      );
    }
    this.sessions = source;
  }

  /**
   * @internal True when the request is for a public sign-in route of the registered `SessionSource` (Mastra's
   * `/auth/*` routes with Studio sign-in): Mastra serves those without authentication, so the middleware lets them
   * through signed out. False, at the cost of one comparison, without a source.
   */
  isSignInRoute(method: string, rawPath: string): boolean {
    return this.sessions !== undefined && this.sessions.isSignInRoute(method, rawPath);
  }

  /** @internal Called by `MastraAuthClerk` when it shares this object. */
  useRouteTable(
    table: RouteTable,
    {
      policyJudgesBodyAddressed,
      resourceRoutes = [],
      resourceServerRoutes = new Map(),
      scopedCalls = new Map(),
      publicRoutes,
      multipartRoutes = [],
      reservedRunIds = [],
      runStartRoutes = [],
      storedContextRoutes = new Map(),
      isServerContextKey = () => false,
      memoryResourceOf,
    }: {
      policyJudgesBodyAddressed: boolean;
      resourceRoutes?: readonly string[];
      resourceServerRoutes?: ReadonlyMap<string, string | null>;
      scopedCalls?: ReadonlyMap<string, readonly string[]>;
      /** The framework's routes served without authentication (Mastra's `/auth/*`): they take request bodies too. */
      publicRoutes?: RouteTable;
      /** The routes ('METHOD /path') that take a multipart body; the others of both tables are refused one. */
      multipartRoutes?: readonly string[];
      /** Run id prefixes the framework's cache keeps other entries under: refused as run ids (`runError`). */
      reservedRunIds?: readonly string[];
      /** The run routes ('METHOD /path') that make or hand back a run of the id the request chooses (`runStartRoutes`). */
      runStartRoutes?: readonly string[];
      /** The routes ('METHOD /path') that store a request context from the body, by where it sits (`serverContext`). */
      storedContextRoutes?: ReadonlyMap<string, 'body' | 'items'>;
      /** Whether a request-context key is one the server sets itself (`serverContext`). */
      isServerContextKey?: (key: string) => boolean;
      /** The memory resource of a signed-in user (Mastra's `mapUserToResourceId`), for `RouteResource.memoryResource`. */
      memoryResourceOf?: (user: ClerkClaims) => string | undefined;
    },
  ): void {
    this.reservedRunIds = reservedRunIds;
    this.runStartRoutes = new Set(runStartRoutes);
    this.storedContextRoutes = storedContextRoutes;
    this.isServerContextKey = isServerContextKey;
    this.memoryResourceOf = memoryResourceOf;
    this.publicRoutes = publicRoutes;
    this.multipartRoutes = new Set(multipartRoutes);
    this.scopedCalls = new Map([...scopedCalls].map(([route, calls]) => [route, new Set(calls)]));
    // The first word of each route `servedError` judges: the JSON-RPC routes, and those the table marks.
    this.servedWords = segmentWords(
      [...scopedCalls.keys(), ...storedContextRoutes.keys(), ...table.servedRoutes].map((route) => route.slice(route.indexOf('/') + 1).split('/')[0]!),
    );
    this.resourceRoutes = new Set(resourceRoutes);
    this.serverRoutes = new Map(
      [...resourceServerRoutes].map(([route, param]) => [route, param === null ? null : { param, index: route.split('/').indexOf(`:${param}`) }]),
    );
    this.endpointTemplates = resourceRoutes.flatMap((route) => {
      const param = resourceServerRoutes.get(route);
      const [before, after] = typeof param === 'string' ? route.split(`:${param}`) : [];
      return before !== undefined && after !== undefined ? [{ before, after }] : [];
    });
    this.routes = table;
    this.policyJudgesBodyAddressed = policyJudgesBodyAddressed;
  }

  /** @internal The policy context of a request: what an adapter read, plus the token type and machine of the verified user. */
  contextFor(user: ClerkClaims, base: AdapterContext): AuthorizeContext {
    const machine = machineTokenOf(user);
    return { ...base, tokenType: machine?.tokenType ?? 'session_token', machine: machine ? machineAuth(machine) : undefined };
  }

  /** @internal
   * Runs the policy for a request whose route may be one of the known routes (Mastra's): once per reading of the
   * path, with `ctx.resource` set, and every reading must be allowed. A path can have several readings because the
   * mount prefix is not known here (`/api/agents/agents` is agent `agents` under `/api`, or the agent list under
   * `/api/agents`). Resolves false for a route parameter whose percent-encoding does not decode.
   */
  async authorizeRoute(user: ClerkClaims, base: AdapterContext, rawPath: string, values: RequestValues): Promise<boolean | typeof UNREAD_BODY> {
    const ctx = this.contextFor(user, base);
    const readings = this.routes?.match(ctx.method, rawPath) ?? NO_READINGS;
    if (readings === 'invalid') return false;
    if (readings.length === 0) return this.authorize(user, ctx);
    for (const reading of readings) {
      // A route acting on an agent or workflow named in its body: a rule about one agent cannot hold there, so with a
      // policy it is refused unless the app said its policy judges such routes.
      if (reading.addressedInBody && !this.policyJudgesBodyAddressed) return false;
      // The ids a route reads from its query (`/memory/threads?agentId=`) join the path's in `params`.
      const resource = withQueryParams(reading, values.query);
      // The handler would act on what the query or body names instead of what the policy judged.
      // A body the adapter could not read is no decision of the policy's: the adapter says why (`UNREAD_BODY`).
      if (overriddenParam(resource, values) !== undefined) return values.body === UNREAD_BODY ? UNREAD_BODY : false;
      if (!(await this.authorize(user, { ...ctx, resource }))) return false;
    }
    return true;
  }

  /** Whether `unsafe()` said why already (once a process: it lasts until a restart). */
  private saidUnsafe = false;

  /** The refusal of every request once `Object.prototype` was written into, said once at `error` with its keys. */
  private unsafe(): ClerkAuthError {
    if (!this.saidUnsafe) {
      this.saidUnsafe = true;
      const keys: string[] = [];
      for (const key in Object.prototype) if (keys.push(key) === 8) break;
      this.notice(
        'error',
        `Object.prototype or Object has changed${keys.length > 0 ? ` (properties ${keys.map((key) => JSON.stringify(key.slice(0, 40))).join(', ')})` : ''}: a request wrote into it ` +
          "(Mastra's query normalizer does, for ?__proto__[...]= on routes that never ask the provider), so every missing claim " +
          'reads as that value for every user. Every request is refused until the server restarts (503 server-unsafe from ' +
          "clerkMastraAuth(); Mastra's own 401 where its provider alone decides).",
      );
    }
    return new ClerkAuthError('server-unsafe', { realm: this.config.realm });
  }

  /** @internal The error for a signed-out reason, when the route needs a signed-in user. */
  signedOutError(reason: SignedOutReason): ClerkAuthError {
    return new ClerkAuthError(reason, { realm: this.config.realm });
  }

  /**
   * @internal The shared policy (or a route guard's, or another function of the app's: `source`) threw: logged at
   * `error` with what it threw, its stack included, and the code the request was answered with. The policy is the
   * app's own code, and its author needs the message to mend it.
   */
  policyThrew(thrown: unknown, source = 'authorizeUser', code = 'authorization-error'): void {
    let what: string;
    try {
      what = String(thrown instanceof Error ? (thrown.stack ?? `${thrown.name}: ${thrown.message}`) : thrown);
    } catch {
      what = 'a value that cannot be printed'; // String() throws for an object without a prototype (or such a stack)
    }
    this.sink.error?.(`[clerk-mastra-auth] ${source} threw (${code}): ${what}`);
  }

  /**
   * Per outage (event and code): until when it is not logged again (its `Retry-After`), how many times it was not, and
   * the causes logged in that period (at most 8). Bounded by the events and codes there are.
   */
  private readonly outages = new Map<string, { until: number; unlogged: number; reasons: Set<string> }>();

  /** @internal
   * The one logging rule of both adapters: a refusal at `debug`, by code; an outage (a 5xx code) at `warn` with its
   * cause, once per cause and back-off period (its `Retry-After`) rather than once per request: hundreds a second under
   * load (a throwing policy: `policyThrew`, at `error`). Never the token, a key, or the list of known kids.
   */
  log(event: string, error: unknown): void {
    // An outage of Clerk's keys or Backend API (not `server-unsafe`, said once at `error` by `unsafe()`).
    if (error instanceof ClerkAuthError && error.status >= 500 && error.code !== 'server-unsafe') {
      const what = error.code === 'backend-api-failed-to-load' ? "Clerk's Backend API unavailable" : 'keys unavailable';
      const reason = outageReason(error);
      // Requests refused while backing off after a failure carry no cause of their own (or "in back-off"): counted
      // with it. Another cause within the period (a refused secret key after a 503) is a line of its own.
      const continued = reason === '' || reason.startsWith(': in back-off');
      const key = `${event}\n${error.code}`;
      const now = this.config.now();
      const seen = this.outages.get(key);
      const within = seen !== undefined && now < seen.until;
      if (within && (continued || seen.reasons.has(reason) || seen.reasons.size >= 8)) {
        seen.unlogged += 1;
        return;
      }
      const line = `[clerk-mastra-auth] ${what} (${error.code})${reason}`;
      this.sink.warn?.(seen !== undefined && seen.unlogged > 0 ? `${line} (${seen.unlogged} more since the last line)` : line);
      if (within) {
        seen.reasons.add(reason);
        seen.unlogged = 0;
      } else {
        this.outages.set(key, { until: now + Number(error.headers['Retry-After'] ?? 1) * 1000, unlogged: 0, reasons: new Set([reason]) });
      }
      return;
    }
    const code = error instanceof ClerkAuthError ? error.code : typeof error === 'string' ? error : 'unexpected-error';
    this.sink.debug?.(`[clerk-mastra-auth] ${event} (${code})`);
  }

  /** @internal
   * A start-up line: what is public, which key source is used (info), a feature that will not be offered (warn), a
   * configuration that protects nothing (error).
   */
  notice(level: 'info' | 'warn' | 'error', line: string): void {
    this.sink[level]?.(`[clerk-mastra-auth] ${line}`);
  }
}

/**
 * Builds the shared object: validates the options once (throwing `ClerkAuthConfigError` at start-up for a
 * configuration that cannot work) and builds the key resolver once.
 *
 * @example
 * const isAdmin = (user: ClerkClaims) => user.o?.id === ACME_ORG_ID && user.o?.rol === 'admin'; // of your organization
 * const clerkAuth = createClerkAuth({ authorizeUser: (user, ctx) => ctx.resource?.params.agentId !== 'finance' || isAdmin(user) });
 * app.use(clerkMastraAuth({ clerkAuth }));
 * const mastra = new Mastra({ server: { auth: new MastraAuthClerk({ clerkAuth }) } });
 */
export function createClerkAuth(options?: ClerkAuthOptions): ClerkAuth {
  assertKnownOptions('createClerkAuth', options ?? {});
  return new ClerkAuth(options);
}
