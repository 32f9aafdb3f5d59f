/**
 * The one authorization policy shared by the Express middleware and the Mastra provider.
 */
import type { MachineAuthObject } from './auth-object.js';
import type { ClerkClaims } from './claims.js';
import type { RouteResource } from './routes.js';
import type { TokenType } from './token-types.js';

export type { RouteResource } from './routes.js';

/** A read-only view of the request headers, the same in both frameworks. */
export interface HeaderReader {
  /** The header's value (several values joined by `, `), or null. Case-insensitive name. */
  get(name: string): string | null;
}

/** What the policy knows of the request, whichever framework served it. */
export interface AuthorizeContext<Request = unknown> {
  /** Upper-case HTTP method. */
  method: string;
  /**
   * The path that will be routed, decoded (`%66` is `f`), without the query string: for Express, the full path
   * after any rewrite of `req.url` by earlier middleware (mount paths included); for Mastra, the path of its
   * request, e.g. `/api/agents/weatherAgent/generate`.
   */
  path: string;
  /**
   * For a Mastra route, the resource Mastra will act on, whatever path, prefix or encoding reached it: the route
   * (`/agents/:agentId/generate`), its decoded parameters (`{ agentId: 'weatherAgent' }`) and Mastra's permission
   * name for it (`agents:execute`). Undefined for routes that are not Mastra's.
   */
  resource?: RouteResource;
  headers: HeaderReader;
  /**
   * Which kind of Clerk token signed the request in: always `'session_token'` unless the app accepts machine tokens
   * (`acceptsToken`). A rule meant for people should check it: `ctx.tokenType === 'session_token' && ...`.
   */
  tokenType: TokenType;
  /**
   * For a machine token, Clerk's machine AuthObject: `tokenType`, `id`, `subject`, `scopes`, `claims`, and
   * `machineId` (M2M), `userId` and `clientId` (OAuth), `name`, `userId` or `orgId` (API key). Undefined for sessions.
   */
  machine?: MachineAuthObject;
  /** Which adapter is asking. */
  source: 'express' | 'mastra';
  /** The framework's own request: Express's `req`, or the Web `Request` Mastra passes. */
  request: Request;
}

/**
 * Decide whether a verified user may go on: `true` lets them in, `false` answers 403 `access-denied`.
 * A policy that throws answers 500 `authorization-error`.
 */
export type AuthorizeUser<User = ClerkClaims> = (user: User, ctx: AuthorizeContext) => boolean | Promise<boolean>;

/** The default policy, as Mastra's and the seed's: every verified user passes. */
export const allowAuthenticated: AuthorizeUser<unknown> = () => true;
