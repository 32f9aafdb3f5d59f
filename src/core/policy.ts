/**
 * The one authorization policy shared by the Express middleware and the Mastra provider.
 */

/** A read-only view of the request headers, the same in both frameworks. */
export interface HeaderReader {
  /** The header's value (several values joined by `, `), or null. Case-insensitive name. */
  get(name: string): string | null;
}

/** What the policy knows of the request, whichever framework served it. */
export interface AuthorizeContext<Request = unknown> {
  /** Upper-case HTTP method. */
  method: string;
  /** The full path of the request without the query string, e.g. `/api/agents/weather/generate`. */
  path: string;
  headers: HeaderReader;
  /** Which adapter is asking. */
  source: 'express' | 'mastra';
  /** The framework's own request: Express's `req`, or the Web `Request` Mastra passes. */
  request: Request;
}

/**
 * Decide whether a verified user may go on: `true` lets them in, `false` answers 403 `access-denied`.
 * A policy that throws answers 500 `authorization-error`.
 */
export type AuthorizeUser<User> = (user: User, ctx: AuthorizeContext) => boolean | Promise<boolean>;

/** The default policy, as Mastra's and the seed's: every verified user passes. */
export const allowAuthenticated: AuthorizeUser<unknown> = () => true;

/** A `.` or `..` path segment, also percent-encoded (`%2e`), which URL parsing resolves. */
const DOT_SEGMENT = /\/(?:\.|%2e){1,2}(?:\/|$)/i;

/**
 * The path of an origin-form request target (`/a/b?q`), without the query; undefined for any other form
 * (absolute-form `http://host/a`, asterisk-form `*`), for a target with a fragment (`/admin#`, which Express routes
 * as `/admin`), and for one with backslashes or dot segments: none of which a policy deciding by path may see.
 */
export function originFormPath(target: string): string | undefined {
  if (target.charCodeAt(0) !== 47 /* / */ || target.includes('#')) return undefined;
  const query = target.indexOf('?');
  const path = query === -1 ? target : target.slice(0, query);
  // Express routes these as written; URL parsing (Mastra's Web Request) resolves them: two adapters, two paths.
  return path.includes('\\') || DOT_SEGMENT.test(path) ? undefined : path;
}


/** A host name or address with an optional port: nothing that could move the path of a URL built from it. */
const HOST = /^(?:[A-Za-z0-9._~!$&'()*+,;=%-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$/;

/** True for a Host header value a URL can be built from (Mastra's adapters build the request URL from it). */
export function isPlainHost(host: string): boolean {
  const match = HOST.exec(host);
  return match !== null && (match[1] === undefined || Number(match[1]) <= 65535);
}
