/**
 * The Express adapter: reads the token from the request, asks the shared core, and answers. It translates and
 * nothing else; verification, policy and the error-to-HTTP mapping live in the core.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { signedInAuth, signedOutAuth, type ClerkAuthObject } from '../core/auth-object.js';
import type { ClerkClaims } from '../core/claims.js';
import { ClerkAuthCore, isClerkAuth } from '../core/clerk-auth.js';
import { AUTHORIZATION_ERROR_RESPONSE, ClerkAuthError, toErrorResponse, type ErrorResponse } from '../core/errors.js';
import { extractToken } from '../core/extract.js';
import type { ClerkAuthOptions } from '../core/options.js';
import { isPlainHost, originFormPath, type AuthorizeContext, type AuthorizeUser, type HeaderReader } from '../core/policy.js';

/** Options of the Express middleware, on top of the core's. */
export interface ExpressAuthOptions {
  /**
   * A request without a token goes on signed out (`isAuthenticated: false`) instead of 401 (default false). A bad
   * token is still rejected: it never becomes anonymous. Guard routes with `requireClerkAuth()`.
   */
  optional?: boolean;
  /**
   * Renders an error the app's own way instead of the default JSON `{ error, message }`. The error carries
   * `status`, `code` and `headers` (`WWW-Authenticate`, `Retry-After`); `next(error)` hands it to Express.
   */
  onError?: (error: ClerkAuthError, req: Request, res: Response, next: NextFunction) => void;
}

export type ClerkMastraAuthOptions = ClerkAuthOptions & ExpressAuthOptions;

/** `req.auth`, as `@clerk/express` defines it: a function returning Clerk's AuthObject. */
export type ClerkRequestAuth = (options?: unknown) => ClerkAuthObject;

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by `clerkMastraAuth()` (or `@clerk/express`): call it, or use `getClerkAuth(req)`. */
      auth?: ClerkRequestAuth;
    }
  }
}

/** What one middleware instance shares with the route guards downstream of it. */
interface Mount {
  auth: ClerkAuthCore;
  reject: (error: ClerkAuthError, req: Request, res: Response, next: NextFunction) => void;
}

/** Per-request state, under a private symbol no other code can forge. */
interface RequestState {
  mount: Mount;
  /** The request's path, checked once by the middleware (origin-form, no query). */
  path: string;
  token?: string;
  claims?: ClerkClaims;
  pending?: boolean;
  authObject?: ClerkAuthObject;
}

const STATE = Symbol('clerk-mastra-auth.request');
const REQUEST_TARGET = 'The request target must be a path (origin-form) without a fragment.';
const REQUEST_HOST = 'The Host header is not a host name.';
const CLERK_EXPRESS_BRAND = Symbol.for('@clerk/express.auth');

type WithState = Request & { [STATE]?: RequestState };

function stateOf(req: Request): RequestState | undefined {
  return (req as WithState)[STATE];
}

function authObjectOf(state: RequestState): ClerkAuthObject {
  state.authObject ??=
    state.claims && state.token
      ? signedInAuth(state.mount.auth.config, state.token, state.claims)
      : signedOutAuth(state.pending ? 'pending' : undefined);
  return state.authObject;
}

/**
 * The one `req.auth` function, shared by every request: Clerk's SDK calls it as `req.auth(options)`, so `this` is
 * the request. Building the AuthObject waits until somebody asks for it. Called detached, it answers signed out.
 */
const requestAuth = function (this: unknown): ClerkAuthObject {
  const state = typeof this === 'object' && this !== null ? (this as WithState)[STATE] : undefined;
  return state ? authObjectOf(state) : signedOutAuth();
} as ClerkRequestAuth;
// Clerk's brand, so `getAuth(req)` from `@clerk/express` reads our `req.auth` unchanged.
Object.defineProperty(requestAuth, CLERK_EXPRESS_BRAND, { value: true });

function attach(req: Request, state: RequestState): void {
  (req as WithState)[STATE] = state;
  // Overwrites whatever another middleware put on `req.auth`: only our own state is trusted.
  req.auth = requestAuth;
}

/**
 * The request's Clerk AuthObject: `userId`, `sessionId`, `orgId`, `orgRole`, `has()`, `isAuthenticated`...
 * Reads only what `clerkMastraAuth()` stored, never a `req.auth` set by another middleware.
 */
export function getClerkAuth(req: Request): ClerkAuthObject {
  const state = stateOf(req);
  if (!state) throw new Error('getClerkAuth(req) needs app.use(clerkMastraAuth()) to run before it');
  return authObjectOf(state);
}

/** The verified claims of the request (the `user` the policy sees), or undefined when signed out. */
export function getClerkClaims(req: Request): ClerkClaims | undefined {
  return stateOf(req)?.claims;
}

function headerReader(req: Request): HeaderReader {
  return {
    get(name: string): string | null {
      const value = req.headers[name.toLowerCase()];
      return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
    },
  };
}

function expressContext(req: Request, path: string): AuthorizeContext<Request> {
  return {
    method: req.method,
    path,
    headers: headerReader(req),
    source: 'express',
    request: req,
  };
}

/** Every `Authorization` value: Node keeps only the first in `req.headers`, so duplicates are counted raw. */
function authorizationValues(req: Request): readonly string[] {
  const first = req.headers.authorization;
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
  state: RequestState,
  policy: (user: ClerkClaims, ctx: AuthorizeContext) => boolean | Promise<boolean>,
  claims: ClerkClaims,
  req: Request,
  res: Response,
  next: NextFunction,
): Promise<void> {
  const { mount } = state;
  let allowed: boolean;
  try {
    allowed = (await policy(claims, expressContext(req, state.path))) === true;
  } catch {
    mount.auth.log('authorizeUser threw', 'authorization-error');
    send(res, AUTHORIZATION_ERROR_RESPONSE);
    return;
  }
  if (allowed) next();
  else mount.reject(new ClerkAuthError('access-denied', { realm: mount.auth.config.realm }), req, res, next);
}

function createMiddleware(auth: ClerkAuthCore, options: ExpressAuthOptions): RequestHandler {
  const { optional = false, onError } = options;
  if (onError !== undefined && typeof onError !== 'function') throw new TypeError('"onError" must be a function');
  const realm = auth.config.realm;
  const mount: Mount = {
    auth,
    reject(error, req, res, next) {
      if (error.status >= 500) auth.log('keys unavailable', error);
      if (onError) onError(error, req, res, next);
      else send(res, toErrorResponse(error));
    },
  };
  const authorize = (user: ClerkClaims, ctx: AuthorizeContext) => auth.authorize(user, ctx);

  return function clerkMastraAuthMiddleware(req: Request, res: Response, next: NextFunction): void {
    // An absolute-form target (`GET http://host/path`) is for proxies, and a path policy must never be handed one;
    // a Host that is no host name would move the URL Mastra's adapter builds from it (or make it throw).
    const path = originFormPath(req.originalUrl ?? req.url);
    if (path === undefined) {
      mount.reject(new ClerkAuthError('request-invalid', { realm, message: REQUEST_TARGET }), req, res, next);
      return;
    }
    const host = req.headers.host;
    if (host !== undefined && !isPlainHost(host)) {
      mount.reject(new ClerkAuthError('request-invalid', { realm, message: REQUEST_HOST }), req, res, next);
      return;
    }
    let token: string | undefined;
    try {
      token = extractToken({ authorization: authorizationValues(req), cookie: req.headers.cookie }, realm);
    } catch (error) {
      mount.reject(error as ClerkAuthError, req, res, next);
      return;
    }
    if (token === undefined) {
      if (optional) {
        attach(req, { mount, path });
        next();
      } else {
        mount.reject(new ClerkAuthError('token-missing', { realm }), req, res, next);
      }
      return;
    }
    const verifiedToken = token;
    const accept = (claims: ClerkClaims): void => {
      const state: RequestState = { mount, path, token: verifiedToken, claims };
      attach(req, state);
      if (auth.hasPolicy) runPolicy(state, authorize, claims, req, res, next).catch(next);
      else next();
    };
    // A token verified before (a client reusing it) is answered without a promise.
    const cached = auth.cached(verifiedToken);
    if (cached) {
      accept(cached);
      return;
    }
    auth
      .verify(verifiedToken)
      .then(accept, (error: ClerkAuthError) => {
        // Clerk treats a pending session as signed out: with `optional`, it goes on signed out.
        if (optional && error.code === 'session-pending') {
          attach(req, { mount, path, pending: true });
          next();
          return;
        }
        mount.reject(error, req, res, next);
      })
      .catch(next);
  };
}

/**
 * Express middleware that protects every route after it with Clerk: `app.use(clerkMastraAuth())`.
 * With no argument it configures itself from the `CLERK_*` environment. Given a `createClerkAuth()` object, it
 * shares that object's verifier, caches and `authorizeUser` policy (with the Mastra provider, for instance).
 */
export function clerkMastraAuth(options?: ClerkMastraAuthOptions | ClerkAuthCore, extra: ExpressAuthOptions = {}): RequestHandler {
  if (isClerkAuth(options)) return createMiddleware(options, extra);
  const { optional, onError, ...core } = options ?? {};
  return createMiddleware(new ClerkAuthCore(core), { optional, onError, ...extra });
}

/**
 * A per-route guard for apps that mount `clerkMastraAuth({ optional: true })` globally: 401 for a signed-out
 * request, and, given a policy, 403 when it says no. The global `authorizeUser` has already run.
 */
export function requireClerkAuth(policy?: AuthorizeUser<ClerkClaims>): RequestHandler {
  return function requireClerkAuthMiddleware(req: Request, res: Response, next: NextFunction): void {
    const state = stateOf(req);
    if (!state) {
      next(new Error('requireClerkAuth() needs app.use(clerkMastraAuth()) to run before it'));
      return;
    }
    const { mount, claims } = state;
    if (!claims) {
      const code = state.pending ? 'session-pending' : 'token-missing';
      mount.reject(new ClerkAuthError(code, { realm: mount.auth.config.realm }), req, res, next);
      return;
    }
    if (!policy) {
      next();
      return;
    }
    runPolicy(state, policy, claims, req, res, next).catch(next);
  };
}
