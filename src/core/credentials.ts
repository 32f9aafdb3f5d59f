/**
 * Where a session token is read from, with Clerk's rules for API requests (`@clerk/backend` `authenticateContext`,
 * `authenticateRequest`), minus the browser handshake an API must never answer with:
 * - `Authorization: Bearer <token>` (cross-origin requests). When present it is the credential; cookies are not read.
 * - else Clerk's session cookie (same-origin browser requests): `__session`, or this instance's suffixed
 *   `__session_<suffix>` when Clerk would use it (several Clerk apps on one domain or on localhost), valid only with a
 *   `__client_uat` cookie that says the browser is signed in and is not newer than the token.
 * Never the query string, where tokens end up in logs and browser history. One pure function for both adapters.
 */
import { ClerkAuthError } from './errors.js';

/** The credential-bearing parts of a request, as the adapter found them. */
export interface CredentialHeaders {
  /** Every `Authorization` header value, in order (Node keeps only the first in `req.headers`). */
  authorization: readonly string[];
  /** The `Cookie` header, if any. */
  cookie?: string | null;
}

/** What the verifier knows of a token before checking it: cached claims, or the unverified payload. */
export interface TokenPeek {
  iss?: unknown;
  iat?: unknown;
  sub?: unknown;
  sts?: unknown;
}

export interface CredentialRules {
  realm: string;
  /** This instance's cookie-name suffix (from the publishable key), if known. */
  cookieSuffix: string | undefined;
  /** This instance's issuers, if known: tells this instance's cookies from another app's on the same domain. */
  issuers: readonly string[] | undefined;
  /** The payload of a token, without verifying it (for choosing among cookies only; verification comes after). */
  peek: (token: string) => TokenPeek | undefined;
}

export type Credential =
  | { from: 'none' }
  | { from: 'header'; token: string }
  /** `clientUat`: the `__client_uat` value (seconds) the token's `iat` must not be older than. */
  | { from: 'cookie'; token: string; clientUat: number }
  /** A session cookie whose `__client_uat` says the browser signed out (0 or missing): signed out, as Clerk. */
  | { from: 'signed-out-cookie' };

const SESSION = '__session';
const CLIENT_UAT = '__client_uat';
const NONE: Credential = Object.freeze({ from: 'none' });
/** Leading and trailing spaces and tabs (RFC 6265 OWS), and nothing else. */
const OPTIONAL_WHITESPACE = /^[ \t]+|[ \t]+$/g;

function invalid(message: string, realm: string): ClerkAuthError {
  return new ClerkAuthError('request-invalid', { message, realm });
}

/** The credential of a request. Throws `request-invalid` (400) for credentials that are ambiguous or malformed. */
export function readCredential(headers: CredentialHeaders, rules: CredentialRules): Credential {
  const { authorization } = headers;
  if (authorization.length > 1) throw invalid('The request has more than one Authorization header.', rules.realm);
  if (authorization.length === 1) {
    const token = bearerToken(authorization[0]!, rules.realm);
    return token === undefined ? NONE : { from: 'header', token };
  }
  const cookie = headers.cookie;
  // Fast exit for requests without Clerk cookies.
  if (!cookie || !cookie.includes(SESSION)) return NONE;
  return sessionCookie(parseCookies(cookie), rules);
}

/** A space or a tab: the only white space a header value can carry (Node refuses CR and LF in headers). */
function isBlank(code: number): boolean {
  return code === 32 || code === 9;
}

/**
 * The token of an `Authorization: Bearer <token>` value, or undefined for another scheme (Basic, ...: not ours, and
 * no falling back to a cookie either, the client said how it authenticates). RFC 7235: the scheme is
 * case-insensitive. Throws `request-invalid` for an empty token or several words. Character scans and `indexOf`
 * rather than regular expressions: this runs on every request, over a ~1 KiB value.
 */
function bearerToken(value: string, realm: string): string | undefined {
  let start = 0;
  let end = value.length;
  while (start < end && isBlank(value.charCodeAt(start))) start += 1;
  while (end > start && isBlank(value.charCodeAt(end - 1))) end -= 1;
  if (end - start < 6 || value.slice(start, start + 6).toLowerCase() !== 'bearer') return undefined;
  let tokenStart = start + 6;
  if (tokenStart < end && !isBlank(value.charCodeAt(tokenStart))) return undefined; // "Bearerx": another scheme
  while (tokenStart < end && isBlank(value.charCodeAt(tokenStart))) tokenStart += 1;
  if (tokenStart === end) throw invalid('The Bearer authorization has an empty token.', realm);
  const token = value.slice(tokenStart, end);
  if (token.includes(' ') || token.includes('\t')) throw invalid('The Bearer authorization has more than one word.', realm);
  return token;
}

/**
 * Cookie pairs by name, every value kept (a browser sends two cookies of one name when a parent domain and a
 * subdomain both set it). Values are read and decoded as the `cookie` package Clerk bundles reads them.
 */
function parseCookies(header: string): Map<string, string[]> {
  const cookies = new Map<string, string[]>();
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1) continue;
    const name = pair.slice(0, eq).replace(OPTIONAL_WHITESPACE, '');
    if (!name.startsWith('__')) continue;
    // As `cookie` 1.x (the parser @clerk/backend bundles): spaces and tabs trimmed, quotes kept.
    let value = pair.slice(eq + 1).replace(OPTIONAL_WHITESPACE, '');
    if (value.includes('%')) {
      try {
        value = decodeURIComponent(value);
      } catch {
        // As the `cookie` package: a value that does not decode is kept as sent (and then fails verification).
      }
    }
    if (value.length === 0) continue;
    const list = cookies.get(name);
    if (list) {
      if (!list.includes(value)) list.push(value);
    } else cookies.set(name, [value]);
  }
  return cookies;
}

function issuedAt(peek: TokenPeek | undefined): number {
  return typeof peek?.iat === 'number' ? peek.iat : 0;
}

function belongsToInstance(peek: TokenPeek | undefined, issuers: readonly string[] | undefined): boolean {
  return issuers === undefined || (typeof peek?.iss === 'string' && issuers.includes(peek.iss));
}

/**
 * One value of a cookie that may have been sent several times: this instance's, else any. Among several of this
 * instance's, the newest; two that name different users are ambiguous (400) rather than a guess.
 */
function pick(values: string[] | undefined, rules: CredentialRules): string | undefined {
  if (!values) return undefined;
  if (values.length === 1) return values[0];
  const peeks = values.map((value) => ({ value, peek: rules.peek(value) }));
  const ours = peeks.filter((p) => p.peek !== undefined && belongsToInstance(p.peek, rules.issuers));
  if (ours.length === 0) return values[0];
  const subjects = new Set(ours.map((p) => p.peek!.sub));
  if (subjects.size > 1) throw invalid('The request has session cookies of different users.', rules.realm);
  ours.sort((a, b) => issuedAt(b.peek) - issuedAt(a.peek));
  return ours[0]!.value;
}

/**
 * This instance's session cookie and `__client_uat`, suffixed or not as Clerk chooses (`usesSuffixedCookies`); the
 * `__client_uat` value as sent. Throws `request-invalid` for session cookies of different users.
 */
function clerkCookies(cookies: Map<string, string[]>, rules: CredentialRules): { token: string | undefined; uat: string | undefined } {
  const suffix = rules.cookieSuffix;
  const session = pick(cookies.get(SESSION), rules);
  const clientUat = cookies.get(CLIENT_UAT)?.[0];
  const suffixedSession = suffix === undefined ? undefined : pick(cookies.get(`${SESSION}_${suffix}`), rules);
  const suffixedClientUat = suffix === undefined ? undefined : cookies.get(`${CLIENT_UAT}_${suffix}`)?.[0];
  const suffixed = suffix !== undefined && usesSuffixedCookies(rules, session, clientUat, suffixedSession, suffixedClientUat);
  return suffixed ? { token: suffixedSession, uat: suffixedClientUat } : { token: session, uat: clientUat };
}

/** A `__client_uat` value as Clerk reads it (`parseInt(value) || 0`): seconds, 0 for signed out or unreadable. */
function clientUatSeconds(value: string | undefined): number {
  return Number.parseInt(value ?? '', 10) || 0;
}

function sessionCookie(cookies: Map<string, string[]>, rules: CredentialRules): Credential {
  const { token, uat } = clerkCookies(cookies, rules);
  if (token === undefined) return NONE;
  const seconds = clientUatSeconds(uat);
  // No `__client_uat`, or 0: the browser signed out (in another tab, say); the cookie outlives it by up to 60 s.
  if (seconds === 0) return { from: 'signed-out-cookie' };
  return { from: 'cookie', token, clientUat: seconds };
}

/** `AuthenticateContext.usesSuffixedCookies()` of `@clerk/backend`, on the values picked above. */
function usesSuffixedCookies(
  rules: CredentialRules,
  session: string | undefined,
  clientUat: string | undefined,
  suffixedSession: string | undefined,
  suffixedClientUat: string | undefined,
): boolean {
  const sessionPeek = session === undefined ? undefined : rules.peek(session);
  if (session !== undefined && typeof sessionPeek?.iss !== 'string') return false;
  // Another app's `__session` on the same domain: this instance's is the suffixed one.
  if (session !== undefined && rules.issuers !== undefined && !belongsToInstance(sessionPeek, rules.issuers)) return true;
  if (suffixedClientUat === undefined && suffixedSession === undefined) return false;
  const suffixedIat = issuedAt(suffixedSession === undefined ? undefined : rules.peek(suffixedSession));
  if (suffixedClientUat !== '0' && clientUat !== '0' && issuedAt(sessionPeek) > suffixedIat) return false;
  if (suffixedClientUat === '0' && clientUat !== '0') return false;
  if (suffixedClientUat === undefined && suffixedSession !== undefined) return false;
  return true;
}

/**
 * Clerk's own cookies say this browser signed out, or that its session is pending (with `pendingSignsOut`), read as
 * Clerk reads them (this instance's cookies, suffixed or not): a session cookie whose `__client_uat` is 0, missing or
 * newer than the token, a pending session's token, no session cookie but a `__client_uat` of 0 (what Clerk leaves
 * after a sign-out), or session cookies of different users (Clerk's credentials are refused, 400). Read from the
 * request alone, the token only peeked at (cached or unverified claims): a browser session of another kind (Mastra
 * Studio's) must not stand in for it.
 */
export function clerkCookiesSignOut(cookie: string | null | undefined, rules: CredentialRules, pendingSignsOut: boolean): boolean {
  if (!cookie || !(cookie.includes(SESSION) || cookie.includes(CLIENT_UAT))) return false;
  const cookies = parseCookies(cookie);
  let read: { token: string | undefined; uat: string | undefined };
  try {
    read = clerkCookies(cookies, rules);
  } catch {
    return true;
  }
  if (read.token === undefined) {
    // No session cookie: this instance's `__client_uat`, the suffixed one when sent (another app's may be the other).
    const suffixed = rules.cookieSuffix === undefined ? undefined : cookies.get(`${CLIENT_UAT}_${rules.cookieSuffix}`)?.[0];
    const uat = suffixed ?? cookies.get(CLIENT_UAT)?.[0];
    return uat !== undefined && clientUatSeconds(uat) === 0;
  }
  const seconds = clientUatSeconds(read.uat);
  if (seconds === 0) return true;
  const peek = rules.peek(read.token);
  if (pendingSignsOut && peek?.sts === 'pending') return true;
  return typeof peek?.iat === 'number' && peek.iat < seconds;
}
