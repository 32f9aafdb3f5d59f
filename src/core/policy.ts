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

/**
 * The path of an origin-form request target (`/a/b?q`), without the query; undefined for any other form
 * (absolute-form `http://host/a`, asterisk-form `*`), which a policy deciding by path must never see.
 */
export function originFormPath(target: string): string | undefined {
  if (target.charCodeAt(0) !== 47 /* / */) return undefined;
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}
