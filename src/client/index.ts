/**
 * `clerk-mastra-auth/client`: a Mastra client that sends a fresh Clerk token with every request.
 *
 * Clerk session tokens live 60 seconds (the browser SDK refreshes them about every 50). A token fixed in
 * `new MastraClient({ headers: { Authorization } })`, as in `@mastra/auth-clerk`'s docs, stops working after a
 * minute; here every request awaits `getToken()` (Clerk's `useAuth().getToken`, which returns a cached token until
 * it is close to expiry, so this costs no network round trip per request).
 */
import { MastraClient, type ClientOptions } from '@mastra/client-js';

/** Returns the current session token, or null when signed out (Clerk's `getToken`). */
export type GetToken = () => Promise<string | null | undefined> | string | null | undefined;

/**
 * Wraps a `fetch` so that each call carries `Authorization: Bearer <await getToken()>`, replacing any Authorization
 * header already set; with no token, the request goes without one.
 *
 * @example
 * const client = new MastraClient({ baseUrl, fetch: withClerkToken(() => window.Clerk.session?.getToken()) });
 */
export function withClerkToken(getToken: GetToken, baseFetch: typeof fetch = globalThis.fetch): typeof fetch {
  if (typeof getToken !== 'function') throw new TypeError('"getToken" must be a function');
  const clerkFetch = async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    const token = await getToken();
    // Headers given on a Request object are the base; init's headers win, as in fetch itself.
    const headers = new Headers(input instanceof Request ? input.headers : undefined);
    new Headers(init?.headers).forEach((value, name) => headers.set(name, value));
    if (token) headers.set('Authorization', `Bearer ${token}`);
    else headers.delete('Authorization');
    return baseFetch(input, { ...init, headers });
  };
  return clerkFetch as typeof fetch;
}

export interface ClerkMastraClientOptions extends ClientOptions {
  /** Clerk's `getToken` (`useAuth().getToken` in React, `window.Clerk.session.getToken` elsewhere). */
  getToken: GetToken;
}

/**
 * A `MastraClient` whose every request carries a fresh Clerk session token.
 *
 * @example
 * const { getToken } = useAuth(); // @clerk/clerk-react
 * const client = createClerkMastraClient({ baseUrl: 'http://localhost:4111', getToken });
 */
export function createClerkMastraClient({ getToken, fetch: baseFetch, ...options }: ClerkMastraClientOptions): MastraClient {
  return new MastraClient({ ...options, fetch: withClerkToken(getToken, baseFetch) });
}
