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

/** Options of `withClerkToken`. */
export interface ClerkFetchOptions {
  /**
   * The API the token is for: its origin or base URL (`'https://agents.example.com'`), or several. Only requests to
   * these origins carry the token; any other goes out as the app wrote it. Default: in a browser, the page's own
   * origin; elsewhere it is required. A relative value (`''`, `'/api'`) is resolved as the page's fetch resolves
   * relative URLs, against the document's base URL.
   */
  origin?: string | readonly string[] | undefined;
  /** The `fetch` to wrap (default `globalThis.fetch`). */
  fetch?: typeof fetch | undefined;
}

/** The page's URL in a browser, else undefined. */
function pageUrl(): string | undefined {
  const href = (globalThis as { location?: { href?: unknown } }).location?.href;
  return typeof href === 'string' ? href : undefined;
}

/** What a browser's fetch resolves a relative URL against: the document's base URL (`<base href>`), else the page's. */
function baseUrlOfDocument(): string | undefined {
  const base = (globalThis as { document?: { baseURI?: unknown } }).document?.baseURI;
  return typeof base === 'string' ? base : pageUrl();
}

/** The origins `value` names; `invalid` is the error message for one that is no http(s) URL (in the caller's words). */
function originsOf(value: ClerkFetchOptions['origin'], invalid = 'withClerkToken: "origin" must be an http(s) origin or base URL, such as "https://agents.example.com"'): ReadonlySet<string> {
  const page = pageUrl();
  if (value === undefined && page === undefined) {
    throw new TypeError(
      'withClerkToken: "origin" must name the API the token is for (its origin or base URL); only a browser page has one to default to',
    );
  }
  const list: readonly unknown[] = value === undefined ? [page] : typeof value === 'string' ? [value] : value;
  const origins = new Set<string>();
  for (const item of list) {
    // A relative value is a path ('', '/api', './x'): a host name without its scheme ('agents.example.com') or '*'
    // would otherwise resolve against the page, and the token would go to the page's own server.
    if (typeof item === 'string' && item !== '' && !/^[a-z][a-z0-9+.-]*:/i.test(item) && !item.startsWith('/') && !item.startsWith('.')) {
      throw new TypeError(invalid);
    }
    let url: URL | undefined;
    try {
      // A relative one ('' for a client of relative URLs, as `new MastraClient({ baseUrl: '' })` in a page) is where
      // the page's relative requests go: resolved against the document's base URL, as fetch resolves them.
      url = typeof item === 'string' && (item !== '' || page !== undefined) ? new URL(item, baseUrlOfDocument()) : undefined;
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) throw new TypeError(invalid);
    origins.add(url.origin);
  }
  return origins;
}

/**
 * The request as fetch will read it, fixed now (before any `await`): a string or URL as its absolute URL (resolved as
 * a browser's fetch resolves it, against the document's base URL), a Request as it is (its URL cannot change), and
 * anything else (a Request of another realm, an object) through `new Request()`, as fetch reads it. `url` is
 * undefined when fetch could not read it either (fetch then fails on its own).
 */
function fixedRequest(input: Parameters<typeof fetch>[0]): { url: string | undefined; input: Parameters<typeof fetch>[0] } {
  try {
    if (typeof input === 'string' || input instanceof URL) {
      const url = new URL(String(input), baseUrlOfDocument()).href;
      return { url, input: url };
    }
    if (input instanceof Request) return { url: input.url, input };
    const request = new Request(input as RequestInfo);
    return { url: request.url, input: request };
  } catch {
    return { url: undefined, input };
  }
}

/**
 * Wraps a `fetch` so that each request to the API (`origin`) carries `Authorization: Bearer <await getToken()>`,
 * replacing any Authorization header already set; with no token, it goes without one. A request to any other origin
 * is sent as the app wrote it, without the token: the wrapped `fetch` can serve the whole app.
 *
 * @example
 * const clerkFetch = withClerkToken(() => window.Clerk.session?.getToken(), { origin: 'https://agents.example.com' });
 * await clerkFetch('https://agents.example.com/api/reports');
 */
export function withClerkToken(getToken: GetToken, options: ClerkFetchOptions = {}): typeof fetch {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('withClerkToken: the second argument is an options object: withClerkToken(getToken, { origin, fetch })');
  }
  return tokenFetch(getToken, originsOf(options.origin), options.fetch, 'withClerkToken');
}

/** `withClerkToken`'s fetch, for a `getToken` and the origins that get the token. */
function tokenFetch(getToken: GetToken, origins: ReadonlySet<string>, fetchOption: typeof fetch | undefined, caller: string): typeof fetch {
  if (typeof getToken !== 'function') throw new TypeError(`${caller}: "getToken" must be a function (Clerk's getToken)`);
  const baseFetch = fetchOption ?? globalThis.fetch;
  if (typeof baseFetch !== 'function') throw new TypeError('withClerkToken: "fetch" must be a function');
  const clerkFetch = async (given: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    const { url, input } = fixedRequest(given);
    if (url === undefined || !origins.has(new URL(url).origin)) return baseFetch(input, init);
    // What fetch reads of a Request (its mode, signal and headers) unless init says otherwise.
    const own = input instanceof Request ? input : undefined;
    // A browser drops Authorization from a 'no-cors' request without a word: it would go out signed out.
    if ((init?.mode ?? own?.mode) === 'no-cors') {
      throw new TypeError(`${caller}: a request in mode 'no-cors' cannot carry the token (the browser drops Authorization); use mode 'cors'`);
    }
    // An aborted request is not kept waiting for a token (nor for a getToken() that never settles), as fetch rejects it.
    const token = await untilAborted(getToken, init?.signal ?? own?.signal);
    if (token !== null && token !== undefined && typeof token !== 'string') {
      throw new TypeError(`${caller}: getToken() must give a token string, null or undefined, not ${typeof token}`);
    }
    // As in fetch itself: init's headers, when given, replace a Request's own.
    const headers = new Headers(init?.headers !== undefined ? init.headers : own?.headers);
    if (token) headers.set('Authorization', `Bearer ${token}`);
    else headers.delete('Authorization');
    return baseFetch(input, { ...init, headers });
  };
  return clerkFetch as typeof fetch;
}

/** What `get()` gives, or a rejection with the signal's reason as soon as it aborts (without calling it if it has). */
function untilAborted<T>(get: () => T | Promise<T>, signal: AbortSignal | null | undefined): Promise<T> {
  if (!signal) return Promise.resolve().then(get);
  const reason = (): unknown => signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
  if (signal.aborted) return Promise.reject(reason());
  const value = Promise.resolve().then(get);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(reason());
    signal.addEventListener('abort', onAbort, { once: true });
    value.then(
      (result) => (signal.removeEventListener('abort', onAbort), resolve(result)),
      (error: unknown) => (signal.removeEventListener('abort', onAbort), reject(error)),
    );
  });
}

export interface ClerkMastraClientOptions extends ClientOptions {
  /** Clerk's `getToken` (`useAuth().getToken` in React, `window.Clerk.session.getToken` elsewhere). */
  getToken: GetToken;
}

/**
 * A `MastraClient` whose every request carries a fresh Clerk session token.
 *
 * @example
 * const { getToken } = useAuth(); // @clerk/react
 * const client = createClerkMastraClient({ baseUrl: 'http://localhost:4111', getToken });
 */
export function createClerkMastraClient({ getToken, fetch: baseFetch, ...options }: ClerkMastraClientOptions): MastraClient {
  const wrongBaseUrl = 'createClerkMastraClient: "baseUrl" must be the URL of the Mastra server (the token goes to its origin only)';
  if (typeof options.baseUrl !== 'string') throw new TypeError(wrongBaseUrl);
  return new MastraClient({ ...options, fetch: tokenFetch(getToken, originsOf(options.baseUrl, wrongBaseUrl), baseFetch, 'createClerkMastraClient') });
}
