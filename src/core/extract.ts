/**
 * Where a session token is read from, as Clerk's SDKs send it: `Authorization: Bearer <token>` (cross-origin
 * requests), else the `__session` cookie (same-origin browser requests). Never from the query string, where tokens
 * end up in logs and browser history. One pure function, shared by both adapters.
 */
import { ClerkAuthError } from './errors.js';

/** The credential-bearing parts of a request, as the adapter found them. */
export interface CredentialHeaders {
  /** Every `Authorization` header value, in order (Node keeps only the first in `req.headers`). */
  authorization: readonly string[];
  /** The `Cookie` header, if any. */
  cookie?: string | null;
}

export const SESSION_COOKIE = '__session';

const AUTHORIZATION = /^([^\s]+)(?:\s+(.*))?$/s;

/**
 * The session token of a request, or undefined when it carries none (a non-Bearer `Authorization` counts as none).
 * Throws `request-invalid` (400) for credentials that are ambiguous or malformed.
 */
function invalid(message: string, realm: string | undefined): ClerkAuthError {
  return new ClerkAuthError('request-invalid', { message, realm });
}

export function extractToken(headers: CredentialHeaders, realm?: string): string | undefined {
  if (headers.authorization.length > 1) throw invalid('The request has more than one Authorization header.', realm);

  const cookieToken = headers.cookie ? sessionCookie(headers.cookie, realm) : undefined;
  const authorization = headers.authorization[0];
  if (authorization === undefined) return cookieToken;

  const match = AUTHORIZATION.exec(authorization.trim());
  // RFC 7235: the scheme is case-insensitive. Another scheme (Basic, ...) is not ours: no session token.
  if (!match || match[1]!.toLowerCase() !== 'bearer') return undefined;
  const token = (match[2] ?? '').trim();
  if (token.length === 0) throw invalid('The Bearer authorization has an empty token.', realm);
  if (/\s/.test(token)) throw invalid('The Bearer authorization has more than one word.', realm);
  if (cookieToken !== undefined && cookieToken !== token) {
    throw invalid('The Authorization header and the __session cookie carry different tokens.', realm);
  }
  return token;
}

/** Reads the one `__session` cookie of a Cookie header. */
export function sessionCookie(cookie: string, realm?: string): string | undefined {
  let found: string | undefined;
  let count = 0;
  // Fast exit for the common case of cookies without a session.
  if (!cookie.includes(SESSION_COOKIE)) return undefined;
  for (const pair of cookie.split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1 || pair.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    count += 1;
    found = pair.slice(eq + 1).trim();
  }
  if (count > 1) {
    throw invalid('The request has more than one __session cookie.', realm);
  }
  return found ? found : undefined;
}
