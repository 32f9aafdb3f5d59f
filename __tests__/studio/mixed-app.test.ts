/**
 * Mastra Studio in a mixed app (`examples/app.ts`): `clerkMastraAuth({ clerkAuth })` in front of everything, then Mastra
 * (`@mastra/express`) with `new MastraAuthClerk({ clerkAuth, oauthClientId, ... })`. The middleware knows the Studio
 * session through the shared `clerkAuth` (the core's `SessionSource`), under the same rules as the provider: sign-in
 * through Studio's endpoints, Mastra and Express routes with the Studio cookie alone, the one policy, the origin
 * checks, sign-out, a session Clerk ended, the renewed cookie. Express 5 and 4, over real HTTP, redirects followed.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import express5 from 'express';
import express4 from 'express4';
import { createClerkAuth, type AuthorizeContext } from '../../src/index.js';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { raw } from '../security/support.js';
import {
  Browser,
  SESSION_COOKIE,
  signedInBrowser,
  signInError,
  signInToClerk,
  startMixedStudioApp,
  studioSignIn,
  type Framework,
  type StudioApp,
} from './support.js';

let issuer: TestIssuer;
const ALICE = { id: 'user_alice', firstName: 'Alice', lastName: 'Liddell', email: 'alice@example.com' };
const PASSWORD = 'a-test-cookie-password-of-at-least-32-characters';

const FRAMEWORKS: ReadonlyArray<readonly [string, Framework]> = [
  ['Express 5', express5],
  ['Express 4', express4 as unknown as Framework],
];

beforeAll(async () => {
  issuer = await createTestIssuer();
  issuer.addUser(ALICE);
});
afterAll(async () => {
  await issuer.close();
});

const apps: StudioApp[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

/** The policy of `examples/app.ts`, in short: `/admin` by path, the finance agent by resource, both for org admins. */
interface Seen {
  source: AuthorizeContext['source'];
  path: string;
  studio: boolean;
}
function policy(seen: Seen[] = []) {
  return (user: { o?: { rol?: string }; studio?: unknown }, ctx: AuthorizeContext) => {
    seen.push({ source: ctx.source, path: ctx.path, studio: user.studio === true });
    const admin = user.o?.rol === 'admin';
    if (ctx.path.toLowerCase().startsWith('/admin')) return admin;
    return ctx.resource?.params.agentId !== 'finance' || admin;
  };
}

/** A browser signed in to Clerk as Alice, then to Studio through the mixed app's own endpoints. */
async function signedIn(app: StudioApp): Promise<Browser> {
  app.oauth.addUser(ALICE);
  return signedInBrowser(app, ALICE.id);
}

/** What Studio's page (same origin) sends. */
const get = (browser: Browser, app: StudioApp, path: string) => browser.fetch(`${app.base}${path}`, { fromPage: app.base });
/** A POST from the page at `from` (default Studio's own origin); `null`: from no page (no Origin, no Sec-Fetch-Site). */
const post = (browser: Browser, app: StudioApp, path: string, body: unknown, from: string | null = app.base) =>
  browser.fetch(`${app.base}${path}`, { method: 'POST', body: JSON.stringify(body), ...(from === null ? {} : { fromPage: from }) });

/** A browser holding only a copy of `value` as the Studio cookie. */
function withCookie(app: StudioApp, value: string): Browser {
  const browser = new Browser();
  browser.setCookie(app.base, SESSION_COOKIE, value);
  return browser;
}

describe.each(FRAMEWORKS)('%s: Studio in a mixed app', (_name, framework) => {
  async function start(options: Parameters<typeof startMixedStudioApp>[2] = {}): Promise<StudioApp> {
    const app = await startMixedStudioApp(issuer, framework, { policy: policy(), ...options });
    apps.push(app);
    return app;
  }

  it("signs in through Studio's endpoints (public through the middleware, as in Mastra), then the cookie alone signs Mastra and Express routes in", async () => {
    const app = await start({ signOutUrl: 'https://accounts.example.com/sign-out' });
    app.oauth.addUser(ALICE);
    const browser = new Browser();
    // Before sign-in: Studio's login page reaches Mastra's public routes, not the middleware's 401.
    const capabilities = await get(browser, app, '/api/auth/capabilities');
    expect(capabilities.status).toBe(200);
    expect(capabilities.json()).toMatchObject({ enabled: true, login: { type: 'sso', sso: { provider: 'clerk', url: '/api/auth/sso/login' } } });
    expect((await get(browser, app, '/api/auth/me')).body).toBe('null');
    // Everything else still needs a session.
    const anonymous = await get(browser, app, '/api/agents');
    expect(anonymous.status).toBe(401);
    expect(anonymous.json()).toMatchObject({ error: 'token-missing' });

    await signInToClerk(browser, app, ALICE.id);
    const { final } = await studioSignIn(browser, app);
    expect(signInError(final)).toBeNull();
    expect(final.hops.slice(0, 2).map((hop) => `${hop.status} ${new URL(hop.url).pathname}`)).toEqual(['302 /oauth/authorize', '302 /api/auth/sso/callback']);
    expect(final.hops[1]!.setCookies).toEqual([expect.stringMatching(/^clerk_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=28800$/)]);

    // A Mastra API route with the Studio cookie alone: 200 (the middleware, then Mastra, both signed it in).
    const agents = await get(browser, app, '/api/agents');
    expect(agents.status).toBe(200);
    expect(Object.keys(agents.json<object>()).sort()).toEqual(['finance', 'public']);
    expect((await get(browser, app, '/api/auth/me')).json()).toMatchObject({ id: ALICE.id, email: ALICE.email });
    // An Express route of the app: the same user (same origin, same rules), without a Clerk session token.
    const me = await get(browser, app, '/me');
    expect(me.status).toBe(200);
    expect(me.json()).toEqual({ userId: ALICE.id, sessionId: expect.stringMatching(/^sess_/), orgId: null, studio: true, token: null });

    // Sign-out through Mastra's public route: the cookie is cleared, and a copy of it no longer signs anything in.
    const copy = browser.cookie(app.base, SESSION_COOKIE)!.value;
    const logout = await post(browser, app, '/api/auth/logout', {});
    expect(logout.status).toBe(200);
    expect(logout.json()).toMatchObject({ success: true, redirectTo: expect.stringContaining('https://accounts.example.com/sign-out') });
    expect(logout.headers.getSetCookie()).toEqual(['clerk_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0']);
    expect(browser.cookie(app.base, SESSION_COOKIE)).toBeUndefined();
    const stolen = withCookie(app, copy);
    for (const path of ['/api/agents', '/me']) {
      const res = await get(stolen, app, path);
      expect({ path, status: res.status, error: res.json<{ error: string }>().error }).toEqual({ path, status: 401, error: 'token-missing' });
    }
    expect((await get(stolen, app, '/api/auth/me')).body).toBe('null');
  });

  it('the one policy sees the Studio user on both sides: the finance agent and /admin are refused (403), the rest passes', async () => {
    const seen: Seen[] = [];
    const app = await start({ policy: policy(seen) });
    const browser = await signedIn(app);
    expect((await get(browser, app, '/api/agents/public')).status).toBe(200);
    for (const path of ['/api/agents/finance', '/API/Agents/%66inance', '/admin/report']) {
      const res = await get(browser, app, path);
      expect({ path, status: res.status, error: res.json<{ error: string }>().error }).toEqual({ path, status: 403, error: 'access-denied' });
    }
    const generate = await post(browser, app, '/api/agents/finance/generate', { messages: 'numbers' });
    expect(generate.status).toBe(403);
    // Refused by the middleware (source express) with the Studio user; Mastra asked the same policy where it ran.
    expect(seen.filter((s) => s.path === '/api/agents/finance').map((s) => s.source)).toEqual(['express']);
    expect(seen.filter((s) => s.path === '/api/agents/public').map((s) => s.source)).toEqual(['express', 'mastra']);
    expect(seen.every((s) => s.studio)).toBe(true);
    // An admin's Clerk token passes the same rule, cookie or not.
    const admin = await issuer.mintToken({}, { userId: 'user_admin', org: { id: 'org_1', role: 'org:admin' } });
    const asAdmin = await browser.fetch(`${app.base}/api/agents/finance`, { headers: { authorization: `Bearer ${admin}` } });
    expect(asAdmin.status).toBe(200);
  });

  it('the origin checks hold on Mastra and Express routes: another origin, or a state change without Origin, is refused', async () => {
    const app = await start();
    const browser = await signedIn(app);
    for (const path of ['/api/agents', '/me']) {
      // A page of another origin (another port of the same host: the same site, SameSite does not stop it).
      expect((await browser.fetch(`${app.base}${path}`, { fromPage: 'http://127.0.0.1:1' })).status).toBe(401);
      expect((await browser.fetch(`${app.base}${path}`, { headers: { 'sec-fetch-site': 'same-site' } })).status).toBe(401);
    }
    for (const path of ['/api/agents/public/generate', '/notes']) {
      const body = path === '/notes' ? { note: 'hi' } : { messages: 'Paris' };
      expect((await post(browser, app, path, body, 'http://evil.example')).status).toBe(401);
      // No Origin and no Sec-Fetch-Site on a POST: not provably same-origin.
      expect((await post(browser, app, path, body, null)).status).toBe(401);
      const ok = await post(browser, app, path, body);
      expect({ path, status: ok.status }).toEqual({ path, status: path === '/notes' ? 201 : 200 });
    }
    expect((await post(browser, app, '/notes', { note: 'hi' })).json()).toEqual({ by: ALICE.id, note: 'hi' });
  });

  it('an Authorization header always wins, and a browser Clerk says is signed out stays signed out', async () => {
    const app = await start();
    const browser = await signedIn(app);
    const garbage = await browser.fetch(`${app.base}/me`, { fromPage: app.base, headers: { authorization: 'Bearer garbage.garbage.garbage' } });
    expect(garbage.status).toBe(401);
    expect(garbage.json()).toMatchObject({ error: 'token-invalid' });
    const basic = await browser.fetch(`${app.base}/api/agents`, { fromPage: app.base, headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(basic.status).toBe(401);
    // Clerk's own cookies say this browser signed out (`__client_uat=0`): the Studio cookie does not overrule Clerk.
    const token = await issuer.mintToken({}, { userId: ALICE.id });
    browser.setCookie(app.base, '__session', token);
    browser.setCookie(app.base, '__client_uat', '0');
    const signedOut = await get(browser, app, '/api/agents');
    expect(signedOut.status).toBe(401);
    expect(signedOut.json()).toMatchObject({ error: 'session-signed-out' });
    // An expired Clerk cookie (the browser is still signed in to Clerk): the Studio session stands in, as standalone.
    browser.setCookie(app.base, '__session', await issuer.mintToken({}, { userId: ALICE.id, expired: true }));
    browser.setCookie(app.base, '__client_uat', '1');
    expect((await get(browser, app, '/api/agents')).status).toBe(200);
  });

  it('a session Clerk revoked ends within 60 s on both sides; an expired cookie is refused whatever Clerk says', async () => {
    const app = await start({ session: { cookiePassword: PASSWORD, cookieMaxAge: 600 } });
    const browser = await signedIn(app);
    app.freeze(); // 55 s after sign-in means 55 s, however slow this machine is
    const copy = browser.cookie(app.base, SESSION_COOKIE)!.value;
    const [session] = app.oauth.sessions().filter((s) => s.active);
    app.oauth.revokeSession(session!.sid);
    app.advance(55_000);
    expect((await get(browser, app, '/me')).status).toBe(200);
    app.advance(6_000);
    for (const path of ['/me', '/api/agents']) expect((await get(browser, app, path)).status).toBe(401);
    expect((await get(browser, app, '/api/auth/me')).body).toBe('null');

    // Another sign-in, past cookieMaxAge: refused without asking Clerk.
    const again = await signedIn(app);
    const late = again.cookie(app.base, SESSION_COOKIE)!.value;
    expect(late).not.toBe(copy);
    app.advance(601_000);
    app.oauth.resetCounts();
    for (const path of ['/me', '/api/agents']) expect((await get(withCookie(app, late), app, path)).status).toBe(401);
    expect(app.oauth.counts).toMatchObject({ token: 0, refresh: 0, userinfo: 0 });
  });

  it('the renewed cookie reaches the browser from Express routes and Mastra routes: one Clerk call per period', async () => {
    const app = await start();
    const browser = await signedIn(app);
    const first = browser.cookie(app.base, SESSION_COOKIE)!.value;
    app.oauth.resetCounts();
    app.advance(61_000);
    // An Express route: the middleware re-checks with Clerk and sends the renewed cookie.
    const me = await Promise.all(Array.from({ length: 4 }, () => get(browser, app, '/me')));
    expect(me.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(app.oauth.counts.userinfo).toBe(1);
    const renewed = me[0]!.headers.getSetCookie();
    expect(renewed).toEqual([expect.stringMatching(/^clerk_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/)]);
    const second = browser.cookie(app.base, SESSION_COOKIE)!.value;
    expect(second).not.toBe(first);
    expect((await get(browser, app, '/me')).headers.getSetCookie()).toEqual([]);

    // A Mastra route, a period later: renewed once; the response carries one Set-Cookie (Mastra's refresh sets the same).
    app.advance(61_000);
    const agents = await get(browser, app, '/api/agents');
    expect(agents.status).toBe(200);
    expect(app.oauth.counts.userinfo).toBe(2);
    expect(agents.headers.getSetCookie()).toEqual([expect.stringMatching(/^clerk_session=/)]);
    expect(browser.cookie(app.base, SESSION_COOKIE)!.value).not.toBe(second);
    // The renewed cookie then signs in without another call, and the old ones are refreshed from it, not from Clerk.
    expect((await get(browser, app, '/api/agents')).status).toBe(200);
    expect((await get(withCookie(app, second), app, '/me')).status).toBe(200);
    expect(app.oauth.counts.userinfo).toBe(2);
  });

  it("Mastra's public routes are public under Mastra's prefix only: an app route that looks like one still needs a session", async () => {
    const app = await start();
    const anonymous = new Browser();
    const lookalike = await get(anonymous, app, '/x/auth/me');
    expect(lookalike.status).toBe(401);
    for (const path of ['/auth/capabilities', '/API/AUTH/CAPABILITIES', '/api/auth/permission-patterns', '/api/auth/roles/admin/permissions']) {
      const res = await get(anonymous, app, path);
      const expected = path === '/API/AUTH/CAPABILITIES' ? 200 : 401;
      expect({ path, status: res.status }).toEqual({ path, status: expected });
    }
    const browser = await signedIn(app);
    expect((await get(browser, app, '/x/auth/me')).json()).toEqual({ appRoute: true, userId: ALICE.id });
  });

  it("a proxy header Mastra builds its sign-in redirect from, and no URL can be built from, is a 400 on its public routes, not Mastra's 500", async () => {
    // Mastra's `getPublicOrigin` reads X-Mastra-Public-Host, X-Forwarded-Host and X-Forwarded-Proto whatever `trust
    // proxy` says, and throws on a value that makes no URL (UPSTREAM 26): the middleware answers first, anonymous too.
    const app = await start();
    const port = Number(new URL(app.base).port);
    const bad = [{ 'X-Forwarded-Host': 'a b' }, { 'X-Mastra-Public-Host': 'a b' }, { 'X-Forwarded-Host': 'a%2fb' }, { 'X-Forwarded-Host': 'ok.example, a b' }, { 'X-Forwarded-Proto': 'a b' }] as Record<string, string>[];
    for (const headers of bad) {
      for (const target of ['/api/auth/sso/login', '/api/auth/sso/callback?code=x&state=abcdefgh|/']) {
        const res = await raw(port, 'GET', target, headers);
        expect({ headers, target, status: res.status, code: (JSON.parse(res.body) as { error?: unknown }).error }).toEqual({ headers, target, status: 400, code: 'request-invalid' });
        expect(res.headers['www-authenticate']).toContain('error="invalid_request"');
      }
    }
    // A proxy's own values still pass: the sign-in starts (Mastra answers the URL of Clerk's sign-in).
    for (const headers of [{ 'X-Forwarded-Host': 'studio.example:8443', 'X-Forwarded-Proto': 'https' }, { 'X-Mastra-Public-Host': 'studio.example', 'X-Forwarded-Host': 'a.example, b.example' }] as Record<string, string>[]) {
      const res = await raw(port, 'GET', '/api/auth/sso/login', headers);
      expect({ headers, status: res.status }).toEqual({ headers, status: 200 });
    }
  });
});

describe('Studio in a mixed app: the prefix and what the middleware accepts', () => {
  it("another prefix: Mastra's public routes follow it (from the configured redirectUri), /api/auth is not public", async () => {
    const app = await startMixedStudioApp(issuer, express5, { policy: policy(), prefix: '/mastra', redirectPath: '/mastra/auth/sso/callback' });
    apps.push(app);
    const anonymous = new Browser();
    expect((await get(anonymous, app, '/api/auth/capabilities')).status).toBe(401);
    expect((await get(anonymous, app, '/mastra/auth/capabilities')).status).toBe(200);
    const browser = await signedIn(app);
    expect((await get(browser, app, '/mastra/agents')).status).toBe(200);
    expect((await get(browser, app, '/mastra/agents/finance')).status).toBe(403);
  });

  it('a middleware that accepts no session tokens (machines only) does not take a Studio session either', async () => {
    const app = await startMixedStudioApp(issuer, express5, { acceptsToken: 'm2m_token' });
    apps.push(app);
    const browser = await signedIn(app);
    expect((await get(browser, app, '/me')).status).toBe(401);
  });
});

describe('the core: one session source per clerkAuth, and no cost where Clerk decides', () => {
  const studioOptions = { oauthClientId: 'client_1', oauthClientSecret: 'secret_1', session: { cookiePassword: PASSWORD } };

  it('a second Studio sign-in on one createClerkAuth() is a start-up error', () => {
    const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false });
    new MastraAuthClerk({ clerkAuth, ...studioOptions });
    expect(() => new MastraAuthClerk({ clerkAuth, ...studioOptions })).toThrow(/one Studio sign-in/);
    // A provider without Studio sign-in next to it is fine.
    expect(() => new MastraAuthClerk({ clerkAuth })).not.toThrow();
  });

  it('with Studio sign-in registered, a reused token (header or Clerk cookie) is still answered without a promise', async () => {
    const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false });
    new MastraAuthClerk({ clerkAuth, ...studioOptions });
    const token = await issuer.mintToken({}, { userId: ALICE.id });
    const header = (name: string) => (name === 'origin' ? 'http://127.0.0.1' : null);
    const byHeader = { authorization: [`Bearer ${token}`], cookie: 'clerk_session=whatever', method: 'GET', header };
    await clerkAuth.authenticate(byHeader);
    const again = clerkAuth.authenticate(byHeader);
    expect(again).not.toBeInstanceOf(Promise);
    expect(again).toMatchObject({ status: 'signed-in', token, claims: { sub: ALICE.id } });
    const iat = Math.floor(Date.now() / 1000) - 5;
    const cookieToken = await issuer.mintToken({ iat }, { userId: ALICE.id });
    // A Clerk cookie counts from the origin its token was issued to (`azp`).
    const fromApp = (name: string) => (name === 'origin' ? issuer.authorizedParty : null);
    const byCookie = { authorization: [], cookie: `__session=${cookieToken}; __client_uat=${iat}; clerk_session=whatever`, method: 'GET', header: fromApp };
    await clerkAuth.authenticate(byCookie);
    expect(clerkAuth.authenticate(byCookie)).toMatchObject({ status: 'signed-in', token: cookieToken });
    // No credential of Clerk's and a Studio cookie that does not open: asked, then signed out (token-missing).
    await expect(clerkAuth.authenticate({ authorization: [], cookie: 'clerk_session=garbage', method: 'GET', header })).resolves.toEqual({
      status: 'signed-out',
      reason: 'token-missing',
    });
  });
});
