/**
 * The Express adapter: reads the token from the request, asks the shared core, and answers. It translates and
 * nothing else; verification, policy and the error-to-HTTP mapping live in the core.
 */
import { IncomingMessage, type IncomingHttpHeaders } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import {
  forAcceptedToken,
  machineAuth,
  signedInAuth,
  signedOutAuth,
  type AnyClerkAuthObject,
  type ClerkAuthObject,
} from '../core/auth-object.js';
import type { ClerkClaims } from '../core/claims.js';
import {
  ClerkAuth,
  VERDICT_HEADER,
  type AdapterContext,
  type AuthenticateOptions,
  type RequestCredentials,
  type RequestState,
  type SignedOutReason,
} from '../core/clerk-auth.js';
import { accepts, type AcceptsToken, type MachineTokenType, type TokenTypeMask } from '../core/token-types.js';
import type { Verified } from '../core/verifier.js';
import { AUTHORIZATION_ERROR_RESPONSE, ClerkAuthError, toErrorResponse, type ErrorResponse } from '../core/errors.js';
import type { ClerkAuthOptions } from '../core/options.js';
import type { AuthorizeContext, AuthorizeUser, HeaderReader } from '../core/policy.js';
import { forwardedHeaderProblem, isMultipartBody, isServableMethod, isValidHost, routablePath, type RoutablePath } from '../core/target.js';
import { clerkAuthFrom } from '../core/shared.js';
import { UNREAD_BODY, type RequestValues } from '../core/request-values.js';
import { PROTECTED_RESOURCE_METADATA_HEADERS, PROTECTED_RESOURCE_WELL_KNOWN } from '../core/resource-metadata.js';

/** Options of the Express middleware, on top of the core's. */
export interface ExpressAuthOptions {
  /**
   * A request without a token goes on signed out (`isAuthenticated: false`) instead of 401 (default false), as do a
   * pending session and a signed-out session cookie. A bad token is still rejected: it never becomes anonymous.
   * Guard routes with `requireClerkAuth()`.
   */
  optional?: boolean | undefined;
  /**
   * Renders an error the app's own way instead of the default JSON `{ error, message }`. The error carries
   * `status`, `code` and `headers` (`WWW-Authenticate`, `Retry-After`); `next(error)` hands it to Express.
   */
  onError?: ((error: ClerkAuthError, req: Request, res: Response, next: NextFunction) => void) | undefined;
  /**
   * The token types this middleware signs requests in with, replacing the shared configuration's `acceptsToken`
   * (default: that list, `'session_token'` unless set). Any other type is refused, 401 `token-type-mismatch`.
   */
  acceptsToken?: AcceptsToken | undefined;
}

/**
 * `clerkMastraAuth()` options: the core's (`publishableKey`, `authorizeUser`, ...) for a middleware of its own, or
 * `clerkAuth` to share one `createClerkAuth()` (verifier, caches, policy) with the Mastra provider.
 */
export type ClerkMastraAuthOptions = ExpressAuthOptions &
  ((ClerkAuthOptions & { clerkAuth?: undefined }) | { clerkAuth: ClerkAuth });

/** `req.auth`, as `@clerk/express` defines it: a function returning Clerk's AuthObject. */
export type ClerkRequestAuth = (options?: unknown) => AnyClerkAuthObject;

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /**
       * Set by `clerkMastraAuth()` (or `@clerk/express`): call it, or use `getClerkAuth(req)`. Typed as
       * `@clerk/express` types it: present (behind the middleware), returning any kind of AuthObject.
       */
      auth: ClerkRequestAuth;
    }
  }
}

/** What one middleware instance shares with the route guards downstream of it. */
interface Mount {
  auth: ClerkAuth;
  reject: (error: ClerkAuthError, req: Request, res: Response, next: NextFunction) => void;
  /** Refuses a request whose body the policy could not see, saying why (and, once, in the log). */
  rejectUnreadBody: (req: Request, res: Response, next: NextFunction) => void;
}

/** Per-request state, under a private symbol no other code can forge. */
interface RequestStateFields {
  mount: Mount;
  /** The path Express routes, decoded, checked once by the middleware (origin-form, no query). */
  path: string;
  token?: string;
  claims?: ClerkClaims;
  verified?: Verified;
  /** Why the request is signed out, when it is. */
  signedOut?: SignedOutReason;
  authObject?: AnyClerkAuthObject;
}

/**
 * Each request's state, by request, in a module-private WeakMap that no other code can read or forge. Not a property
 * of the request: Express gives every request object a map (hidden class) of its own, so V8 copies the map for each
 * property added to one; `req.auth`, which Clerk's `getAuth(req)` needs, is served from Express's request prototype
 * (see {@link servesAuth}).
 */
const STATES = new WeakMap<Request, RequestStateFields>();
const REQUEST_TARGET =
  'The request target must be a plain path: no fragment, backslash, dot or empty segment, and valid percent-encoding.';
const REQUEST_HOST = 'The Host header is not a host name.';
const QUERY_PARSER = "The app's query parser reads this query otherwise than its text, which the checks read.";
const REQUEST_PROTOCOL = 'The forwarded protocol (X-Forwarded-Proto) does not make a URL.';
const FORWARDED_HOST = 'A forwarded host (X-Forwarded-Host, X-Mastra-Public-Host) is not a host name.';
const CLERK_EXPRESS_BRAND = Symbol.for('@clerk/express.auth');
const STATE_REDIRECT = 'The sign-in state names a place to return to that is not a path on this server.';
const UNREAD_BODY_MESSAGE =
  'The request body could not be checked: send it as JSON (Content-Type: application/json).';

/**
 * The return path in Mastra's sign-in `state` (`<id>|<encoded path>`) is absent or a plain path on this server:
 * one `/`, then no second `/` or `\` (which would make it another host), and nothing that cannot be decoded.
 */
function isSafeStateRedirect(state: unknown): boolean {
  if (state === undefined) return true;
  if (typeof state !== 'string') return false;
  const bar = state.indexOf('|');
  if (bar === -1) return true;
  let target: string;
  try {
    target = decodeURIComponent(state.slice(bar + 1));
  } catch {
    return false;
  }
  // eslint-disable-next-line no-control-regex
  return target === '' || (target.startsWith('/') && !/^\/[/\\]/.test(target) && !/[\u0000-\u001f\\]/.test(target));
}

function stateOf(req: Request): RequestStateFields | undefined {
  return STATES.get(req);
}

/** The request's AuthObject of whatever type signed it in (a machine's as a shallow copy, like a session's). */
function authObjectOf(state: RequestStateFields): AnyClerkAuthObject {
  if (!state.authObject) {
    const { verified, token, claims } = state;
    const machine = verified ? machineAuth(verified) : undefined;
    state.authObject = machine
      ? { ...machine }
      : claims && token !== undefined
        ? token === ''
          ? studioAuth(state.mount.auth, claims)
          : signedInAuth(state.mount.auth.config, token, claims)
        : signedOutAuth(state.signedOut === 'session-pending' ? 'pending' : undefined);
  }
  return state.authObject;
}

/**
 * The AuthObject of a request signed in by a Studio session (Mastra Studio's "Sign in with Clerk" cookie): the Clerk
 * user and, when Clerk named it, the session id; no organization. It carries no Clerk session token, so `getToken()`
 * answers null (with a template, Clerk's Backend API mints one for the session, as for any session).
 */
function studioAuth(auth: ClerkAuth, claims: ClerkClaims): ClerkAuthObject {
  const object = signedInAuth(auth.config, '', claims);
  const { getToken } = object;
  object.getToken = (options) => (options?.template || options?.expiresInSeconds !== undefined ? getToken(options) : Promise.resolve(null));
  return object;
}

/**
 * The one `req.auth` function, shared by every request: Clerk's SDK calls it as `req.auth(options)`, so `this` is
 * the request. Building the AuthObject waits until somebody asks for it. Called detached, it answers signed out.
 */
const requestAuth = function (this: unknown): AnyClerkAuthObject {
  const state = typeof this === 'object' && this !== null ? STATES.get(this as Request) : undefined;
  return state ? authObjectOf(state) : signedOutAuth();
} as ClerkRequestAuth;
// Clerk's brand, so `getAuth(req)` from `@clerk/express` reads our `req.auth` unchanged.
Object.defineProperty(requestAuth, CLERK_EXPRESS_BRAND, { value: true });

/** The MCP SDK's `AuthInfo`, as `@clerk/mcp-tools` fills it (`extra.userId`), for the transport and its tools. */
export interface McpAuthInfo {
  token: string;
  clientId: string;
  scopes: string[];
  expiresAt?: number;
  extra: { userId: string | null; sub: string };
}

/**
 * `req.auth` of a request to an MCP endpoint: still Clerk's `req.auth()` function (so `getAuth(req)` works), per
 * request, carrying the MCP SDK's AuthInfo fields that the MCP transport hands to tools as `extra.authInfo`.
 */
function mcpRequestAuth(state: RequestStateFields, token: string): ClerkRequestAuth & McpAuthInfo {
  const machine = state.verified ? machineAuth(state.verified) : undefined;
  const claims = state.claims!;
  const info: McpAuthInfo = {
    token,
    clientId: (machine as { clientId?: string } | undefined)?.clientId ?? (typeof claims.azp === 'string' ? claims.azp : ''),
    scopes: [...((machine as { scopes?: string[] } | undefined)?.scopes ?? [])],
    expiresAt: typeof claims.exp === 'number' ? claims.exp : undefined,
    extra: { userId: (machine as { userId?: string | null } | undefined)?.userId ?? (machine ? null : claims.sub), sub: claims.sub },
  };
  const fn = (() => authObjectOf(state)) as ClerkRequestAuth;
  Object.defineProperty(fn, CLERK_EXPRESS_BRAND, { value: true });
  // A function to JSON.stringify is nothing: a tool that logs or returns its AuthInfo gets the fields, not the token.
  const { token: _token, ...shown } = info;
  Object.defineProperty(fn, 'toJSON', { value: () => ({ ...shown }) });
  return Object.assign(fn, info);
}

/**
 * `req.auth` without a property per request. Express sets the prototype of each request after Node has given it its
 * fields, and V8 keeps no transitions from such a hidden class: every property added to a request builds a new one,
 * and Express's later reads of the request miss their caches (7 to 17 µs of CPU a request in an in-process A/B of the
 * two, through the real Express 5 app). So `auth` is an accessor on Express's own request prototype (`express.request`,
 * the object every app's `app.request` inherits from; each copy of Express has one), installed the first time, as
 * Passport puts its request methods on Node's. It reads `requestAuth` for a request this middleware attached and
 * undefined for any other, in any app: which app a request passes through next (a sub-app mounted in two apps, an app
 * called as a function) cannot lose it. An assignment (another middleware's, the MCP endpoint's) makes an own property,
 * as before.
 */
function authAccessor(this: unknown): ClerkRequestAuth | undefined {
  return typeof this === 'object' && this !== null && STATES.has(this as Request) ? requestAuth : undefined;
}
function setAuth(this: object, value: unknown): void {
  Object.defineProperty(this, 'auth', { value, writable: true, enumerable: true, configurable: true });
}
/** Express request prototypes (`express.request`) that carry {@link authAccessor}. */
const SERVING = new WeakSet<object>();

/**
 * Whether `req.auth` reads {@link authAccessor}, installing it on the request's `express.request`: the object of its
 * prototype chain whose own prototype is Node's `IncomingMessage.prototype`. False (a property per request, as
 * before) for a request without one, or whose `express.request` has an `auth` of somebody else's.
 */
function servesAuth(req: Request): boolean {
  let base = Object.getPrototypeOf(req) as object | null;
  while (base !== null && Object.getPrototypeOf(base) !== IncomingMessage.prototype) base = Object.getPrototypeOf(base) as object | null;
  if (base === null) return false;
  if (SERVING.has(base)) return true;
  if (Object.getOwnPropertyDescriptor(base, 'auth') !== undefined || !Object.isExtensible(base)) return false;
  Object.defineProperty(base, 'auth', { get: authAccessor, set: setAuth, configurable: true, enumerable: false });
  SERVING.add(base);
  return true;
}

function attach(req: Request, state: RequestStateFields): void {
  STATES.set(req, state);
  // Overwrites whatever another middleware put on `req.auth`: only our own state is trusted.
  if (Object.hasOwn(req, 'auth') || !servesAuth(req)) req.auth = requestAuth;
}

/**
 * The request's Clerk AuthObject, with `@clerk/express`'s `getAuth` rules: `getClerkAuth(req)` is the session's
 * (`userId`, `sessionId`, `orgId`, `orgRole`, `has()`, `isAuthenticated`...), signed out for a machine token;
 * `getClerkAuth(req, { acceptsToken })` returns a machine token's AuthObject (`tokenType`, `id`, `subject`,
 * `scopes`...) when its type is in the list. Reads only what `clerkMastraAuth()` stored, never a `req.auth` set by
 * another middleware.
 *
 * @example
 * app.get('/me', (req, res) => res.json({ userId: getClerkAuth(req).userId }));
 * @example
 * app.post('/jobs', (req, res) => {
 *   const auth = getClerkAuth(req, { acceptsToken: 'm2m_token' });
 *   res.json({ machineId: auth.isAuthenticated ? auth.subject : null });
 * });
 */
export function getClerkAuth(req: Request, options?: { acceptsToken?: 'session_token' }): ClerkAuthObject;
export function getClerkAuth<T extends MachineTokenType>(
  req: Request,
  options: { acceptsToken: T },
): Extract<AnyClerkAuthObject, { tokenType: T }>;
export function getClerkAuth(req: Request, options: { acceptsToken: AcceptsToken }): AnyClerkAuthObject;
export function getClerkAuth(req: Request, options?: { acceptsToken?: AcceptsToken }): AnyClerkAuthObject {
  const state = stateOf(req);
  if (!state) throw new Error('getClerkAuth(req) needs app.use(clerkMastraAuth()) to run before it');
  return forAcceptedToken(authObjectOf(state), options?.acceptsToken);
}

/**
 * The verified claims of the request (the `user` the policy sees), or undefined when signed out.
 *
 * @example
 * app.get('/org', (req, res) => res.json({ org: getClerkClaims(req)?.o?.slg ?? null }));
 */
export function getClerkClaims(req: Request): ClerkClaims | undefined {
  return stateOf(req)?.claims;
}

/**
 * A header as Mastra's Express adapter passes it on to the provider: absent when empty (it drops empty values), so
 * the middleware and the provider never judge one request by different headers.
 */
function headerOf(headers: IncomingHttpHeaders, name: string): string | null {
  const value = headers[name.toLowerCase()];
  return value === undefined || value === '' ? null : Array.isArray(value) ? value.join(', ') : value;
}

function headerReader(req: Request): HeaderReader {
  return { get: (name: string) => headerOf(req.headers, name) };
}

function expressContext(req: Request, state: RequestStateFields): AdapterContext {
  return { method: req.method, path: state.path, headers: headerReader(req), source: 'express', request: req };
}

/**
 * What the core reads of a request: `Authorization` and `Cookie`, and, for a Studio session only (no Authorization
 * header), the method and other headers, read on demand. One object per request, as the plain one it replaces.
 */
class ExpressCredentials implements RequestCredentials {
  readonly authorization: readonly string[];
  readonly cookie: string | undefined;
  constructor(
    req: Request,
    private readonly headers: IncomingHttpHeaders,
    readonly method: string,
  ) {
    this.authorization = authorizationValues(req, headers);
    this.cookie = headers.cookie;
  }
  header(name: string): string | null {
    return headerOf(this.headers, name);
  }
}

/** The middleware renews a Studio session due for its re-check with Clerk, and sends the renewed cookie. */
const RENEW_SESSION: AuthenticateOptions = Object.freeze({ renewSession: true });

/** Every `Authorization` value: Node keeps only the first in `req.headers`, so duplicates are counted raw. */
function authorizationValues(req: Request, headers: IncomingHttpHeaders): readonly string[] {
  const first = headers.authorization;
  if (first === undefined) return [];
  const raw = req.rawHeaders;
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 13 && name.toLowerCase() === 'authorization') count += 1;
  }
  if (count <= 1) return [first];
  const values: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'authorization') values.push(raw[i + 1]!);
  return values;
}

function send(res: Response, response: ErrorResponse): void {
  res.status(response.status);
  for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value);
  res.json(response.body);
}

/** Runs a policy: `next()` when it says yes, 403 when it says no, 500 when it throws. */
async function runPolicy(
  state: RequestStateFields,
  policy: (user: ClerkClaims, ctx: AuthorizeContext) => boolean | typeof UNREAD_BODY | Promise<boolean | typeof UNREAD_BODY>,
  claims: ClerkClaims,
  req: Request,
  res: Response,
  next: NextFunction,
): Promise<void> {
  const { mount } = state;
  let verdict: unknown;
  try {
    verdict = await policy(claims, mount.auth.contextFor(claims, expressContext(req, state)));
  } catch (thrown) {
    mount.auth.policyThrew(thrown);
    send(res, AUTHORIZATION_ERROR_RESPONSE);
    return;
  }
  if (verdict === true) next();
  else if (verdict === UNREAD_BODY) mount.rejectUnreadBody(req, res, next);
  else mount.reject(new ClerkAuthError('access-denied', { realm: mount.auth.config.realm }), req, res, next);
}

/**
 * The path Express will route, decoded, or a 400: the method must be one a Web `Request` can carry, the target
 * Mastra's adapter builds its URL from (`req.originalUrl`) and the one Express routes after earlier rewrites
 * (`req.baseUrl + req.url`) must both be plain paths, and the Host and forwarded protocol must make a URL (else
 * Mastra's adapter throws: a 500, or on Express 4 an exit). `method` and `headers` are `req.method` and
 * `req.headers`, read once by the caller: Express gives every request object a hidden class of its own, so each read
 * of a request property is a lookup V8 cannot cache (about 0.25 µs here).
 */
function checkedPath(req: Request, method: string, headers: IncomingHttpHeaders, realm: string): RoutablePath | ClerkAuthError {
  if (!isServableMethod(method)) return new ClerkAuthError('request-invalid', { realm, message: `The request method ${method.toUpperCase()} is not served.` });
  const url = req.url;
  const original = req.originalUrl ?? url;
  const routedTarget = routedTargetOf(req, req.baseUrl, url, original);
  const routed = routablePath(routedTarget);
  if (routed === undefined || (original !== routedTarget && routablePath(original) === undefined)) {
    return new ClerkAuthError('request-invalid', { realm, message: REQUEST_TARGET });
  }
  const host = headers.host;
  if (host !== undefined && !isValidHost(host)) return new ClerkAuthError('request-invalid', { realm, message: REQUEST_HOST });
  const forwarded = forwardedHeaderProblem(headers['x-mastra-public-host'], headers['x-forwarded-host'], headers['x-forwarded-proto']);
  if (forwarded !== undefined) return new ClerkAuthError('request-invalid', { realm, message: forwarded === 'host' ? FORWARDED_HOST : REQUEST_PROTOCOL });
  return routed;
}

/**
 * The target Express routes: `req.baseUrl + req.url`, except for a request to a mount path itself (`GET /admin` to
 * `app.use('/admin', ...)`, or to a sub-app at `/v1`): Express hands the mounted code `req.url` `/` whether or not the
 * path had the slash, and routes the path as it was after it. That path is the one Express's router parsed just before
 * it trimmed the mount path off (`parseurl` keeps it as `req._parsedUrl`, rewrites of `req.url` included); where that
 * parse is gone (a route inside a router at the mount path), the request's own path says it, as sent.
 */
function routedTargetOf(req: Request, baseUrl: string, url: string, original: string): string {
  if (baseUrl === '' || !(url === '/' || url.startsWith('/?'))) return baseUrl + url;
  const parsed = (req as { _parsedUrl?: { _raw?: unknown; pathname?: unknown } })._parsedUrl;
  let before: string;
  if (parsed !== undefined && parsed !== null && typeof parsed._raw === 'string' && parsed._raw !== url && typeof parsed.pathname === 'string') {
    before = parsed.pathname;
  } else {
    const mark = original.indexOf('?');
    before = mark === -1 ? original : original.slice(0, mark);
  }
  return before.endsWith('/') ? baseUrl + url : baseUrl + url.slice(1);
}

const ignore = (): void => {};

/**
 * A multipart body that gets through (voice transcription, the app's own uploads): the parser the request is piped
 * into gets a listener for the errors of each file stream it emits. Mastra's adapter pipes the request into busboy and
 * listens on the file streams for everything but errors, so a body that ends inside a file part made busboy emit an
 * error nobody handled, and the process exited. The parser's own error still reaches whoever piped (Mastra answers
 * 400). Only for multipart requests: one property on the request, no cost elsewhere.
 */
function guardMultipartParsers(req: Request): void {
  const pipe = req.pipe;
  req.pipe = function (this: Request, destination, options) {
    const parser = destination as unknown as { on?: (event: string, listener: (name: unknown, file: unknown) => void) => unknown };
    if (typeof parser.on === 'function') {
      parser.on('file', (_name, file) => {
        if (typeof (file as { on?: unknown }).on === 'function') (file as NodeJS.EventEmitter).on('error', ignore);
      });
    }
    return pipe.call(this, destination, options);
  } as Request['pipe'];
}

function queryOf(target: string): string {
  const mark = target.indexOf('?');
  return mark === -1 ? '' : target.slice(mark + 1);
}

/**
 * The query Mastra's handlers see: Express parses `req.query` from `req.url` (which an earlier middleware may have
 * rewritten), Mastra builds its URL from `req.originalUrl`, so both count.
 */
function requestQuery(req: Request): string {
  const original = queryOf(req.originalUrl ?? req.url);
  const routed = queryOf(req.url);
  return original === routed || routed === '' ? original : original === '' ? routed : `${original}&${routed}`;
}

/**
 * The query and body Mastra's Express adapter will hand the route's handler along with the path parameters: the
 * query (`requestQuery`), and the body as parsed so far. A body still to come
 * is unread (`express.json()` after this middleware), and so is any multipart body: Mastra parses those itself.
 */
function requestValues(req: Request, query: string): RequestValues {
  return { query, body: requestBody(req) };
}

/** The body as far as it is parsed (see `requestValues`), or undefined for a method without one. */
function requestBody(req: Request): unknown {
  const { headers, method } = req;
  if (method !== 'POST' && method !== 'PUT' && method !== 'PATCH' && method !== 'DELETE') return undefined;
  const coming = headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0');
  if (!coming) return req.body as unknown;
  // Mastra parses any body whose type mentions multipart/form-data itself, from the stream, after the policy. Any
  // other body counts as read only once its stream has ended: Express 4's express.json() sets `req.body = {}` for a
  // body it skipped.
  if (isMultipartBody(method, headers['content-type']) || !req.readableEnded) return UNREAD_BODY;
  return req.body as unknown;
}

/** RFC 9728 section 5.1: a 401 on a protected resource (an MCP endpoint) points the client at its metadata. */
function withResourceMetadata(auth: ClerkAuth, error: ClerkAuthError, rawPath: string, req: Request): ClerkAuthError {
  const resources = auth.protectedResources;
  if (resources === undefined || error.status !== 401 || !auth.isProtectedResource(rawPath)) return error;
  const challenge = resources.challenge(rawPath, req.headers.host);
  return challenge ? error.withChallengeParams(challenge.params) : error;
}

function createMiddleware(auth: ClerkAuth, options: ExpressAuthOptions): RequestHandler {
  const { optional = false, onError } = options;
  if (onError !== undefined && typeof onError !== 'function') throw new TypeError('"onError" must be a function');
  const mask = auth.acceptsMask(options.acceptsToken, 'acceptsToken');
  const realm = auth.config.realm;
  let unreadBodyNoticed = false;
  const mount: Mount = {
    auth,
    reject(error, req, res, next) {
      auth.log('request refused', error);
      if (onError) onError(error, req, res, next);
      else send(res, toErrorResponse(error));
    },
    rejectUnreadBody(req, res, next) {
      if (!unreadBodyNoticed) {
        unreadBodyNoticed = true;
        auth.notice(
          'error',
          "a request to a Mastra route was refused (403): its body, which Mastra reads in place of the path's agent, tool or workflow id, " +
            'was not parsed when the policy ran: a body that is not JSON (see its Content-Type), or no app.use(express.json()) before clerkMastraAuth().',
        );
      }
      mount.reject(new ClerkAuthError('access-denied', { realm, message: UNREAD_BODY_MESSAGE }), req, res, next);
    },
  };

  return function clerkMastraAuthMiddleware(req: Request, res: Response, next: NextFunction): void {
    const headers = req.headers;
    const method = req.method;
    const checked = checkedPath(req, method, headers, realm);
    if (checked instanceof ClerkAuthError) {
      mount.reject(checked, req, res, next);
      return;
    }
    const { decoded: path, raw: rawPath } = checked;
    const query = requestQuery(req);
    const badTarget = auth.refusesTarget(method, rawPath, { query, body: req.body as unknown });
    if (badTarget) {
      mount.reject(badTarget, req, res, next);
      return;
    }
    if (auth.readsQueryOtherwise(method, rawPath, query, () => req.query)) {
      mount.reject(new ClerkAuthError('request-invalid', { realm, message: QUERY_PARSER }), req, res, next);
      return;
    }
    if (isMultipartBody(method, headers['content-type'])) {
      // A length only without Transfer-Encoding: Node's lenient parser (--insecure-http-parser) takes both, reads the
      // body as chunked, and Mastra's limit would read the Content-Length.
      const refused = auth.multipartError(method, rawPath, headers['content-length'] !== undefined && headers['transfer-encoding'] === undefined);
      if (refused) {
        mount.reject(refused, req, res, next);
        return;
      }
      guardMultipartParsers(req);
    }
    const resources = auth.protectedResources;
    if (resources && (method === 'GET' || method === 'HEAD') && rawPath.startsWith(PROTECTED_RESOURCE_WELL_KNOWN)) {
      // RFC 9728 section 3: the metadata is public, clients read it before they have a token.
      const found = resources.metadata(rawPath, headers.host, (resourcePath) => auth.isProtectedResource(resourcePath));
      if (found) {
        res.set(PROTECTED_RESOURCE_METADATA_HEADERS).status(200).json(found.document);
        return;
      }
    }
    if (auth.isSignInRoute(method, rawPath)) {
      // Mastra's public sign-in routes (Studio's `/auth/*`, with Studio sign-in configured): Mastra serves them
      // without authentication (its handlers read the session themselves), and so does this middleware. Mastra's
      // callback redirects to the part of `state` after `|`, appended to the origin unchecked: `|@evil.example` would
      // send the browser away (an open redirect), so only a plain path gets through.
      if (!isSafeStateRedirect(req.query.state)) {
        mount.reject(new ClerkAuthError('request-invalid', { realm, message: STATE_REDIRECT }), req, res, next);
        return;
      }
      attach(req, { mount, path, signedOut: 'token-missing' });
      // They answer with the signed-in user, or set the session cookie: no cache keeps them.
      res.set('Cache-Control', 'no-store');
      next();
      return;
    }
    const reject = (error: ClerkAuthError): void => mount.reject(withResourceMetadata(auth, error, rawPath, req), req, res, next);
    const proceed = (state: RequestState): void => {
      if (state.status === 'signed-out') {
        // An MCP endpoint (with `protectedResource`) is a protected resource whatever `optional` says: a client without a
        // token is discovering how to sign in, and only this answer carries the challenge that tells it (RFC 9728).
        if (optional && !(resources !== undefined && auth.isProtectedResource(rawPath))) {
          attach(req, { mount, path, signedOut: state.reason });
          // Mastra's provider behind this middleware then signs nothing in (see VERDICT_HEADER).
          headers[VERDICT_HEADER] = auth.signedOutMark(state.reason);
          // The route may answer by who is signed in: a shared cache must not hand this copy to a caller with credentials.
          res.vary('Cookie').vary('Authorization');
          next();
        } else {
          reject(auth.signedOutError(state.reason));
        }
        return;
      }
      const wrongResource = state.tokenType === 'oauth_token' ? auth.resourceAudienceError(state.verified, method, rawPath, requestValues(req, query)) : undefined;
      if (wrongResource === UNREAD_BODY) {
        mount.rejectUnreadBody(req, res, next);
        return;
      }
      if (wrongResource) {
        reject(wrongResource);
        return;
      }
      const refused = auth.servedError(state.claims, method, rawPath, query, req, requestBody, headers['content-type']?.includes('application/json') === true);
      if (refused === UNREAD_BODY) {
        mount.rejectUnreadBody(req, res, next);
        return;
      }
      if (refused) {
        reject(refused);
        return;
      }
      const requestState: RequestStateFields = { mount, path, token: state.token, claims: state.claims, verified: state.verified };
      attach(req, requestState);
      // Mastra's provider of the same object then knows the body was judged here (and a client's mark is replaced).
      headers[VERDICT_HEADER] = auth.signedInMark;
      // A Studio session renewed after its re-check with Clerk: the browser gets the new cookie, whatever follows.
      if (state.setCookie !== undefined) res.append('Set-Cookie', state.setCookie).set('Cache-Control', 'no-store');
      // Signed in by a cookie: HTTP keeps a request with Authorization out of shared caches (RFC 9111 section 3.5), one
      // with a cookie only by what the answer says, so it says the answer is this user's (a route may say otherwise).
      else if (headers.authorization === undefined) res.set('Cache-Control', 'private').vary('Cookie');
      // The MCP transport reads the caller from `req.auth` (the MCP SDK's AuthInfo): the same function, with it.
      if (resources !== undefined && auth.isProtectedResource(rawPath)) req.auth = mcpRequestAuth(requestState, state.token);
      if (!auth.hasPolicy) next();
      else runPolicy(requestState, (user, ctx) => auth.authorizeRoute(user, ctx, rawPath, requestValues(req, query)), state.claims, req, res, next).catch(next);
    };
    let state: RequestState | Promise<RequestState>;
    try {
      state = auth.authenticate(new ExpressCredentials(req, headers, method), mask, RENEW_SESSION);
    } catch (error) {
      reject(error as ClerkAuthError);
      return;
    }
    // A token verified before (a client reusing it) is answered without a promise.
    if (!(state instanceof Promise)) {
      proceed(state);
      return;
    }
    state.then(proceed, (error: ClerkAuthError) => reject(error)).catch(next);
  };
}

/**
 * Express middleware that protects every route after it with Clerk: `app.use(clerkMastraAuth())`.
 * With no argument it configures itself from the `CLERK_*` environment. Given `{ clerkAuth }` (a
 * `createClerkAuth()` object), it shares that object's verifier, caches and `authorizeUser` policy with the Mastra
 * provider built from the same object.
 *
 * @example
 * app.use(clerkMastraAuth()); // CLERK_PUBLISHABLE_KEY (or CLERK_JWKS_URI, CLERK_JWT_KEY) from the environment
 * @example
 * const clerkAuth = createClerkAuth({ authorizeUser });
 * app.use(clerkMastraAuth({ clerkAuth, optional: true }));
 */
export function clerkMastraAuth(options: ClerkMastraAuthOptions = {}): RequestHandler {
  const { optional, onError, ...rest } = options;
  // With a shared object, `acceptsToken` is this middleware's own list; without one it configures the middleware's.
  const { acceptsToken, ...core } = rest as typeof rest & { acceptsToken?: AcceptsToken };
  const own = ['optional', 'onError', 'acceptsToken', 'clerkAuth'];
  const auth = clerkAuthFrom(core.clerkAuth === undefined ? rest : core, 'clerkMastraAuth', own);
  return createMiddleware(auth, { optional, onError, acceptsToken });
}

/** Options of `requireClerkAuth`. */
export interface RequireClerkAuthOptions {
  /**
   * The token types these routes take, among those the global middleware let through (default: `'session_token'`).
   * Another type gets 401 `token-type-mismatch`.
   */
  acceptsToken?: AcceptsToken | undefined;
}

/**
 * A per-route guard: 401 for a signed-out request (apps that mount `clerkMastraAuth({ optional: true })` globally) or
 * one whose token type the route does not take, and, given a policy, 403 when it says no. The global `authorizeUser`
 * has already run.
 *
 * @example
 * app.use(clerkMastraAuth({ optional: true }));
 * app.get('/reports', requireClerkAuth((user) => user.o?.id === ACME_ORG_ID && user.o?.rol === 'admin'), (_req, res) => res.json({ ok: true }));
 * @example
 * // with clerkMastraAuth({ acceptsToken: ['session_token', 'm2m_token'] }) in front
 * app.post('/jobs', requireClerkAuth((_user, ctx) => ctx.machine?.scopes.includes('mch_scheduler') === true, { acceptsToken: 'm2m_token' }), runJob);
 */
export function requireClerkAuth(policy?: AuthorizeUser<ClerkClaims>, options: RequireClerkAuthOptions = {}): RequestHandler {
  if (policy !== undefined && typeof policy !== 'function') throw new TypeError('requireClerkAuth: the policy must be a function');
  let mask: TokenTypeMask | undefined;
  return function requireClerkAuthMiddleware(req: Request, res: Response, next: NextFunction): void {
    const state = stateOf(req);
    if (!state) {
      next(new Error('requireClerkAuth() needs app.use(clerkMastraAuth()) to run before it'));
      return;
    }
    const { mount, claims } = state;
    if (!claims) {
      mount.reject(mount.auth.signedOutError(state.signedOut ?? 'token-missing'), req, res, next);
      return;
    }
    mask ??= mount.auth.acceptsMask(options.acceptsToken ?? 'session_token', 'requireClerkAuth acceptsToken');
    if (!accepts(mask, state.verified?.tokenType ?? 'session_token')) {
      mount.reject(new ClerkAuthError('token-type-mismatch', { realm: mount.auth.config.realm }), req, res, next);
      return;
    }
    if (!policy) {
      next();
      return;
    }
    // The path this route serves, which a middleware between the global one and this guard may have rewritten.
    const checked = checkedPath(req, req.method, req.headers, mount.auth.config.realm);
    if (checked instanceof ClerkAuthError) {
      mount.reject(checked, req, res, next);
      return;
    }
    runPolicy(checked.decoded === state.path ? state : { ...state, path: checked.decoded }, policy, claims, req, res, next).catch(next);
  };
}
