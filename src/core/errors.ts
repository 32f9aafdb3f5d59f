/**
 * Every failure of the library is a `ClerkAuthError` with a stable string `code`. The code decides the HTTP
 * status and the RFC 6750 `WWW-Authenticate` challenge, here and nowhere else, so the Express middleware, the
 * Mastra provider and Express's own default error handler (which reads `status` and `headers`) all answer alike.
 *
 * Messages are fixed sentences: they never contain the token, a key, or the list of known key ids.
 */

/** Codes of a failed verification or authorization. Clerk's own reason names where Clerk has one. */
export type ClerkAuthErrorCode =
  | 'token-missing'
  | 'token-invalid'
  | 'token-invalid-algorithm'
  | 'token-invalid-signature'
  | 'token-expired'
  | 'token-not-active-yet'
  | 'token-iat-in-the-future'
  | 'token-invalid-issuer'
  | 'token-invalid-audience'
  | 'token-invalid-authorized-parties'
  | 'session-pending'
  | 'session-signed-out'
  | 'token-type-mismatch'
  | 'token-revoked'
  | 'jwk-kid-mismatch'
  | 'jwk-remote-failed-to-load'
  | 'backend-api-failed-to-load'
  | 'request-invalid'
  | 'access-denied'
  | 'server-unsafe';

interface CodeInfo {
  status: number;
  /** RFC 6750 section 3.1 error code for the challenge, or none. */
  bearerError?: 'invalid_token' | 'invalid_request' | 'insufficient_scope';
  message: string;
}

const CODES: Record<ClerkAuthErrorCode, CodeInfo> = {
  // RFC 6750 3.1: a request with no credentials gets a challenge without an error code.
  'token-missing': { status: 401, message: 'No token was sent.' },
  'token-invalid': { status: 401, bearerError: 'invalid_token', message: 'The token is malformed.' },
  'token-invalid-algorithm': {
    status: 401,
    bearerError: 'invalid_token',
    message: 'The token is signed with an algorithm that is not allowed.',
  },
  'token-invalid-signature': {
    status: 401,
    bearerError: 'invalid_token',
    message: 'The token signature is invalid.',
  },
  'token-expired': { status: 401, bearerError: 'invalid_token', message: 'The token has expired.' },
  'token-not-active-yet': {
    status: 401,
    bearerError: 'invalid_token',
    message: 'The token is not valid yet.',
  },
  'token-iat-in-the-future': {
    status: 401,
    bearerError: 'invalid_token',
    message: 'The token was issued in the future.',
  },
  'token-invalid-issuer': {
    status: 401,
    bearerError: 'invalid_token',
    message: 'The token was issued by an unexpected issuer.',
  },
  'token-invalid-audience': {
    status: 401,
    bearerError: 'invalid_token',
    message: 'The token is not meant for this audience.',
  },
  'token-invalid-authorized-parties': {
    status: 401,
    bearerError: 'invalid_token',
    message: 'The session token was requested by an origin that is not authorized.',
  },
  'session-pending': {
    status: 401,
    bearerError: 'invalid_token',
    message: 'The session is pending and is treated as signed out.',
  },
  'session-signed-out': {
    status: 401,
    bearerError: 'invalid_token',
    message: 'The session cookie belongs to a signed-out or refreshed session.',
  },
  'token-type-mismatch': {
    status: 401,
    bearerError: 'invalid_token',
    message: 'This kind of token is not accepted here.',
  },
  'token-revoked': { status: 401, bearerError: 'invalid_token', message: 'The token has been revoked.' },
  'jwk-kid-mismatch': {
    status: 401,
    bearerError: 'invalid_token',
    message: 'The token is signed with an unknown key.',
  },
  'jwk-remote-failed-to-load': {
    status: 503,
    message: 'The signing keys could not be loaded; try again later.',
  },
  'backend-api-failed-to-load': {
    status: 503,
    message: "Clerk's Backend API could not verify the token; try again later.",
  },
  'request-invalid': {
    status: 400,
    bearerError: 'invalid_request',
    message: 'The request carries its credentials in an ambiguous or malformed way.',
  },
  'access-denied': {
    status: 403,
    bearerError: 'insufficient_scope',
    message: 'The signed-in user is not allowed to access this resource.',
  },
  'server-unsafe': {
    status: 503,
    message: 'This server refuses every request until it restarts: a request changed a prototype every object shares.',
  },
};

/** `Object.freeze` as it was at load: an error is still built after a request replaced it (`server-unsafe`). */
const { freeze } = Object;

/** The default `realm` of the `WWW-Authenticate` challenge. */
export const DEFAULT_REALM = 'api';

export interface ClerkAuthErrorOptions {
  /** A more specific fixed sentence than the code's default. Never put a token, key or kid list in it. */
  message?: string;
  cause?: unknown;
  /** The realm of the challenge (default `"api"`). */
  realm?: string;
  /** For 503s: seconds after which a retry may succeed (`Retry-After`). */
  retryAfterSeconds?: number;
  /** For 401s: auth-params appended to the challenge, e.g. RFC 9728's `resource_metadata="<url>"`. */
  challengeParams?: string;
}

function quoted(value: string): string {
  // RFC 7230 quoted-string: escape backslash and quote; anything but printable ASCII (control characters, and what
  // Node refuses in a header, such as "…") becomes a space.
  return `"${value.replace(/[\\"]/g, '\\$&').replace(/[^\x20-\x7e]/g, ' ')}"`;
}

/**
 * The error of every failed verification or authorization.
 *
 * `status`/`statusCode` and `headers` follow the convention of `http-errors`, which Express's default error handler
 * honours, so `next(err)` answers correctly without an error handler of the app's own.
 *
 * @example
 * try { await verifyClerkToken(token); } catch (error) { if (error instanceof ClerkAuthError) console.log(error.code, error.status); }
 */
export class ClerkAuthError extends Error {
  override readonly name = 'ClerkAuthError';
  readonly code: ClerkAuthErrorCode;
  readonly status: number;
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  /** Express's default error handler shows the message of errors that say so (4xx only). */
  readonly expose: boolean;

  constructor(code: ClerkAuthErrorCode, options: ClerkAuthErrorOptions = {}) {
    const info = CODES[code];
    super(options.message ?? info.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = info.status;
    this.statusCode = info.status;
    this.expose = info.status < 500;
    this.headers = freeze(challengeHeaders(code, this.message, options));
    this.options = options;
  }
  private readonly options: ClerkAuthErrorOptions;

  /** The same error whose 401 challenge also carries `params` (RFC 9728's `resource_metadata`). */
  withChallengeParams(params: string): ClerkAuthError {
    if (this.status !== 401) return this;
    return new ClerkAuthError(this.code, { ...this.options, message: this.message, challengeParams: params });
  }
}

function challengeHeaders(
  code: ClerkAuthErrorCode,
  message: string,
  options: ClerkAuthErrorOptions,
): Record<string, string> {
  const info = CODES[code];
  const headers: Record<string, string> = {};
  if (info.status === 503) {
    headers['Retry-After'] = String(Math.max(1, Math.ceil(options.retryAfterSeconds ?? 1)));
    return headers;
  }
  let challenge = `Bearer realm=${quoted(options.realm ?? DEFAULT_REALM)}`;
  if (info.bearerError) {
    challenge += `, error=${quoted(info.bearerError)}, error_description=${quoted(message)}`;
  }
  if (options.challengeParams && info.status === 401) challenge += `, ${options.challengeParams}`;
  headers['WWW-Authenticate'] = challenge;
  return headers;
}

/**
 * True for an error of this library.
 *
 * @example
 * app.use((err, req, res, next) => (isClerkAuthError(err) ? res.status(err.status).json({ code: err.code }) : next(err)));
 */
export function isClerkAuthError(value: unknown): value is ClerkAuthError {
  return value instanceof ClerkAuthError;
}

/** The JSON body both adapters send for an error: `{ error: <code>, message: <plain sentence> }`. */
export interface ErrorBody {
  error: string;
  message: string;
}

/** What an adapter sends for a `ClerkAuthError`: the one mapping from errors to HTTP. */
export interface ErrorResponse {
  status: number;
  headers: Readonly<Record<string, string>>;
  body: ErrorBody;
}

/**
 * The HTTP answer for an error: status, headers (`WWW-Authenticate`, `Retry-After`) and the JSON body both adapters
 * send. For a framework of your own.
 *
 * @example
 * const { status, headers, body } = toErrorResponse(error);
 * return new Response(JSON.stringify(body), { status, headers: { ...headers, 'content-type': 'application/json' } });
 */
export function toErrorResponse(error: ClerkAuthError): ErrorResponse {
  return { status: error.status, headers: error.headers, body: { error: error.code, message: error.message } };
}

/** The answer when the app's own `authorizeUser` throws: a 500 that names no internals. */
export const AUTHORIZATION_ERROR_RESPONSE: ErrorResponse = Object.freeze({
  status: 500,
  headers: Object.freeze({}),
  body: Object.freeze({ error: 'authorization-error', message: 'The authorization policy failed.' }),
});
