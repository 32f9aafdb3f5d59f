/**
 * What the Studio tests share: a browser-like HTTP client (a cookie jar, redirects followed by hand so every hop is
 * seen), and the real Mastra server (`@mastra/express`) behind `MastraAuthClerk` with Studio sign-in, standalone or
 * in a mixed app behind `clerkMastraAuth`, against the testing kit's issuer (keys, Backend API users) and the local
 * OAuth authorization server.
 */
import { expect } from '@jest/globals';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express } from 'express';
import { Agent } from '@mastra/core/agent';
import { Mastra } from '@mastra/core/mastra';
import { MastraServer } from '@mastra/express';
import { InMemoryTaskStore } from '@mastra/server/a2a/store';
import { clerkMastraAuth, createClerkAuth, getClerkAuth, getClerkClaims, type ClerkAuthOptions } from '../../src/index.js';
import { MastraAuthClerk, type MastraAuthClerkOptions } from '../../src/mastra/index.js';
import type { TestIssuer } from '../../src/testing/index.js';
import { createTestOAuthServer, type TestOAuthServer, type TestOAuthServerOptions } from '../../src/testing/oauth-server.js';
import { offlineWeatherModel } from '../../examples/mastra/offline-model.js';

interface StoredCookie {
  value: string;
  path: string;
  expiresAt: number | undefined;
  attributes: string;
}

export interface Hop {
  url: string;
  status: number;
  location?: string;
  setCookies: string[];
}

export interface BrowserResponse {
  status: number;
  url: string;
  body: string;
  headers: Headers;
  /** Every response on the way, redirects included. */
  hops: Hop[];
  json<T = unknown>(): T;
}

/**
 * A browser's HTTP behaviour, enough for sign-in flows: cookies per host (not per port, as browsers keep them),
 * `Path` and `Max-Age` honoured, redirects followed (GET), and the request headers a page's `fetch` adds when asked.
 */
export class Browser {
  private readonly jar = new Map<string, Map<string, StoredCookie>>();

  /** The cookies this browser would send to `url`. */
  cookieHeader(url: string): string {
    const target = new URL(url);
    const now = Date.now();
    const cookies = this.jar.get(target.hostname) ?? new Map<string, StoredCookie>();
    const sent: string[] = [];
    for (const [name, cookie] of cookies) {
      if (cookie.expiresAt !== undefined && cookie.expiresAt <= now) {
        cookies.delete(name);
        continue;
      }
      const path = cookie.path.endsWith('/') ? cookie.path : `${cookie.path}/`;
      if (target.pathname === cookie.path || target.pathname.startsWith(path)) sent.push(`${name}=${cookie.value}`);
    }
    return sent.join('; ');
  }

  cookie(url: string, name: string): StoredCookie | undefined {
    return this.jar.get(new URL(url).hostname)?.get(name);
  }

  setCookie(url: string, name: string, value: string, path = '/'): void {
    const host = new URL(url).hostname;
    if (!this.jar.has(host)) this.jar.set(host, new Map());
    this.jar.get(host)!.set(name, { value, path, expiresAt: undefined, attributes: '' });
  }

  private store(url: string, header: string): void {
    const target = new URL(url);
    const [pair, ...attributes] = header.split(';').map((part) => part.trim());
    const eq = pair!.indexOf('=');
    const name = pair!.slice(0, eq);
    const value = pair!.slice(eq + 1);
    let path = target.pathname.replace(/\/[^/]*$/, '') || '/';
    let expiresAt: number | undefined;
    for (const attribute of attributes) {
      const [key, val] = attribute.split('=');
      if (key!.toLowerCase() === 'path' && val) path = val;
      if (key!.toLowerCase() === 'max-age' && val !== undefined) expiresAt = Date.now() + Number(val) * 1000;
    }
    if (!this.jar.has(target.hostname)) this.jar.set(target.hostname, new Map());
    const cookies = this.jar.get(target.hostname)!;
    if (expiresAt !== undefined && expiresAt <= Date.now()) cookies.delete(name);
    else cookies.set(name, { value, path, expiresAt, attributes: attributes.join('; ') });
  }

  /**
   * A request with this browser's cookies. `fromPage`: as a `fetch` of the page at that origin would send it
   * (`Sec-Fetch-Site` same-origin or cross-site, and `Origin` unless it is a same-origin GET).
   */
  async fetch(
    url: string,
    init: { method?: string; headers?: Record<string, string>; body?: string; fromPage?: string; follow?: boolean } = {},
  ): Promise<BrowserResponse> {
    const hops: Hop[] = [];
    let current = url;
    let method = init.method ?? 'GET';
    let body = init.body;
    for (let i = 0; i < 20; i += 1) {
      const headers: Record<string, string> = { ...init.headers };
      const cookie = this.cookieHeader(current);
      if (cookie) headers.cookie = cookie;
      if (init.fromPage && i === 0) {
        const sameOrigin = new URL(init.fromPage).origin === new URL(current).origin;
        headers['sec-fetch-site'] = sameOrigin ? 'same-origin' : 'cross-site';
        if (!sameOrigin || method !== 'GET') headers.origin = new URL(init.fromPage).origin;
      }
      if (body !== undefined) headers['content-type'] ??= 'application/json';
      const response = await fetch(current, { method, headers, body, redirect: 'manual' });
      const setCookies = response.headers.getSetCookie();
      for (const header of setCookies) this.store(current, header);
      const location = response.headers.get('location') ?? undefined;
      hops.push({ url: current, status: response.status, location, setCookies });
      if (init.follow !== false && response.status >= 300 && response.status < 400 && location) {
        await response.body?.cancel();
        current = new URL(location, current).href;
        method = 'GET';
        body = undefined;
        continue;
      }
      const text = await response.text();
      return {
        status: response.status,
        url: current,
        body: text,
        headers: response.headers,
        hops,
        json: <T>() => JSON.parse(text) as T,
      };
    }
    throw new Error('too many redirects');
  }
}

export interface StudioApp {
  base: string;
  /** Mastra's prefix (`/api`). */
  prefix?: string;
  provider: MastraAuthClerk;
  oauth: TestOAuthServer;
  /** Advances the provider's clock. */
  advance(ms: number): void;
  /** Stops the provider's clock at the current time: from then on only `advance` moves it. */
  freeze(): void;
  now(): number;
  close(): Promise<void>;
}

/** Two agents: `public` and `finance` (a policy in the tests keeps `finance` for some users). */
function createAgents() {
  const agent = (id: string) => new Agent({ id, name: id, instructions: 'Answer.', model: offlineWeatherModel() as never });
  return { public: agent('public'), finance: agent('finance') };
}

/**
 * The real Mastra server (`@mastra/express`, prefix `/api`) on 127.0.0.1, protected by a `MastraAuthClerk` with Studio
 * sign-in through `oauth` (a fresh authorization server unless given), and a clock the test moves.
 */
/** The provider options of Studio sign-in against the testing kit's OAuth server. */
export function studioSignInOptions(oauth: TestOAuthServer): Pick<MastraAuthClerkOptions, 'oauthClientId' | 'oauthClientSecret' | 'frontendApiUrl' | 'session'> {
  return {
    oauthClientId: oauth.clientId,
    oauthClientSecret: oauth.clientSecret,
    frontendApiUrl: oauth.url,
    session: { cookiePassword: 'a-test-cookie-password-of-at-least-32-characters' },
  };
}

export async function startStudioApp(
  issuer: TestIssuer,
  options: Partial<MastraAuthClerkOptions> & {
    oauthServer?: Partial<TestOAuthServerOptions>;
    /** A policy: the provider then shares a `createClerkAuth({ authorizeUser })`, as a mixed app would. */
    policy?: ClerkAuthOptions['authorizeUser'];
  } = {},
): Promise<StudioApp> {
  const { oauthServer, policy, ...providerOptions } = options;
  const oauth = await createTestOAuthServer({ issuer, ...oauthServer });
  const clock = testClock();
  const now = clock.now;
  const core = { ...issuer.authOptions, secretKey: issuer.secretKey, apiUrl: issuer.apiUrl, env: {}, logger: false as const, now };
  const provider = new MastraAuthClerk({
    ...(policy ? { clerkAuth: createClerkAuth({ ...core, authorizeUser: policy }) } : core),
    ...studioSignInOptions(oauth),
    ...(providerOptions as object),
  } as MastraAuthClerkOptions);
  const mastra = new Mastra({ agents: createAgents(), server: { auth: provider as never }, logger: false });
  const app = express();
  app.use(express.json());
  await new MastraServer({ app, mastra, prefix: '/api' }).init();
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  oauth.allowRedirectUri(`${base}/api/auth/sso/callback`);
  return { ...handle(server, oauth, clock), base, provider };
}

/** The provider's clock: the wall clock plus what the test added, until the test freezes it. */
function testClock() {
  let offset = 0;
  let frozenAt: number | undefined;
  return {
    now: (): number => (frozenAt ?? Date.now()) + offset,
    advance: (ms: number): void => {
      offset += ms;
    },
    freeze: (): void => {
      frozenAt ??= Date.now();
    },
  };
}

/** What both app starters hand back besides the app's own fields: the clock, the OAuth server, and how to stop. */
function handle(server: Server, oauth: TestOAuthServer, clock: ReturnType<typeof testClock>) {
  return {
    oauth,
    advance: clock.advance,
    freeze: clock.freeze,
    now: clock.now,
    close: async (): Promise<void> => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await oauth.close();
    },
  };
}

/** `express` of Express 5 or 4 (`express4`): the same factory shape. */
export type Framework = () => Express;

/**
 * The mixed app of `examples/app.ts`: one `createClerkAuth({ authorizeUser: policy })`, `clerkMastraAuth({ clerkAuth })`
 * in front of everything, the app's own Express routes (`GET /me`, `GET /admin/report`, `POST /notes`, and
 * `GET /x/auth/me`, an app route that only looks like Mastra's), then Mastra (`@mastra/express`, under `prefix`) with
 * `new MastraAuthClerk({ clerkAuth, oauthClientId, ... })`, on 127.0.0.1.
 */
export async function startMixedStudioApp(
  issuer: TestIssuer,
  framework: Framework,
  options: Partial<MastraAuthClerkOptions> & {
    oauthServer?: Partial<TestOAuthServerOptions>;
    policy?: ClerkAuthOptions['authorizeUser'];
    /** Mastra's prefix (default `/api`). */
    prefix?: string;
    /** The redirect URI configured on the provider, from the server's base URL (default: none, Mastra builds it). */
    redirectPath?: string;
    /** The middleware's own `acceptsToken`. */
    acceptsToken?: ClerkAuthOptions['acceptsToken'];
    /** The middleware's `optional`. */
    optional?: boolean;
    /** Serve Mastra's A2A route (an in-memory task store). */
    a2a?: boolean;
  } = {},
): Promise<StudioApp> {
  const { oauthServer, policy, prefix = '/api', redirectPath, acceptsToken, optional = false, a2a = false, ...providerOptions } = options;
  const oauth = await createTestOAuthServer({ issuer, ...oauthServer });
  const clock = testClock();
  const now = clock.now;
  const clerkAuth = createClerkAuth({
    ...issuer.authOptions,
    secretKey: issuer.secretKey,
    apiUrl: issuer.apiUrl,
    env: {},
    logger: false,
    now,
    ...(policy ? { authorizeUser: policy } : {}),
  });
  const app = framework();
  // The port is known before the provider is built: a configured redirect URI names it.
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  app.use(express.json());
  app.use(clerkMastraAuth(acceptsToken === undefined ? { clerkAuth, optional } : { clerkAuth, acceptsToken, optional }));
  app.get('/me', async (req, res) => {
    const auth = getClerkAuth(req);
    res.json({ userId: auth.userId, sessionId: auth.sessionId, orgId: auth.orgId ?? null, studio: getClerkClaims(req)?.studio === true, token: await auth.getToken() });
  });
  app.get('/admin/report', (_req, res) => res.json({ report: 'all good' }));
  app.post('/notes', (req, res) => res.status(201).json({ by: getClerkAuth(req).userId, note: (req.body as { note?: string }).note }));
  app.get('/x/auth/me', (req, res) => res.json({ appRoute: true, userId: getClerkAuth(req).userId }));
  const provider = new MastraAuthClerk({
    clerkAuth,
    ...studioSignInOptions(oauth),
    ...(redirectPath === undefined ? {} : { redirectUri: `${base}${redirectPath}` }),
    ...(providerOptions as object),
  } as MastraAuthClerkOptions);
  const mastra = new Mastra({ agents: createAgents(), server: { auth: provider as never }, logger: false });
  await new MastraServer({ app, mastra, prefix, ...(a2a ? { taskStore: new InMemoryTaskStore() } : {}) }).init();
  oauth.allowRedirectUri(`${base}${prefix}/auth/sso/callback`);
  return { ...handle(server, oauth, clock), base, prefix, provider };
}

/** Signs `userId` in to Clerk (the authorization server's sign-in page) in this browser. */
export async function signInToClerk(browser: Browser, app: StudioApp, userId: string): Promise<void> {
  const res = await browser.fetch(app.oauth.signInUrl(userId));
  if (res.status !== 200) throw new Error(`sign-in to Clerk failed: ${res.status} ${res.body}`);
}

/**
 * What Studio does on "Sign in with Clerk": asks the server for the login URL (which sets the flow cookie), then
 * navigates there; the browser follows Clerk's redirect to the callback and the callback's redirect back to Studio.
 * Returns the login URL and the final response.
 */
export async function studioSignIn(
  browser: Browser,
  app: StudioApp,
  change?: (loginUrl: URL) => URL,
): Promise<{ loginUrl: URL; final: BrowserResponse }> {
  const login = await browser.fetch(`${app.base}${app.prefix ?? '/api'}/auth/sso/login`, { fromPage: app.base });
  if (login.status !== 200) throw new Error(`login URL: ${login.status} ${login.body}`);
  const loginUrl = new URL(login.json<{ url: string }>().url);
  const target = change ? change(new URL(loginUrl)) : loginUrl;
  const final = await browser.fetch(target.href);
  return { loginUrl, final };
}

/** The `error` query parameter Mastra's callback put in its redirect back to Studio, if any. */
export function signInError(final: BrowserResponse): string | null {
  const callbackHop = final.hops.find((hop) => hop.url.includes('/auth/sso/callback'));
  if (!callbackHop?.location) return null;
  return new URL(callbackHop.location, callbackHop.url).searchParams.get('error');
}

export const SESSION_COOKIE = 'clerk_session';

/** A browser signed in to Clerk as `userId` (the authorization server's page), then to Studio through the app. */
export async function signedInBrowser(app: StudioApp, userId: string): Promise<Browser> {
  const browser = new Browser();
  await signInToClerk(browser, app, userId);
  const { final } = await studioSignIn(browser, app);
  expect(signInError(final)).toBeNull();
  expect(browser.cookie(app.base, SESSION_COOKIE)).toBeDefined();
  return browser;
}
