/**
 * Mastra Studio's "Sign in with Clerk", end to end: the real Mastra server (`@mastra/express`) and its `/api/auth/*`
 * routes, a browser-like client following every redirect, the local OAuth authorization server (PKCE enforced, ID
 * tokens signed by the issuer's key) and the issuer's Backend API. Then the ways a sign-in must end signed out.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { Browser, SESSION_COOKIE, signedInBrowser, signInError, signInToClerk, startStudioApp, studioSignIn, type StudioApp } from './support.js';

let issuer: TestIssuer;
const apps: StudioApp[] = [];
const ALICE = { id: 'user_alice', firstName: 'Alice', lastName: 'Liddell', email: 'alice@example.com', imageUrl: 'https://img.example.com/alice.png' };

beforeAll(async () => {
  issuer = await createTestIssuer();
  issuer.addUser(ALICE);
  issuer.addUser({ id: 'user_bob', firstName: 'Bob' });
});
afterAll(async () => {
  await issuer.close();
});
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

async function start(options: Parameters<typeof startStudioApp>[1] = {}): Promise<StudioApp> {
  const app = await startStudioApp(issuer, options);
  apps.push(app);
  app.oauth.addUser(ALICE);
  return app;
}

/** A browser signed in to Clerk as Alice, then to Studio. */
const signedIn = (app: StudioApp): Promise<Browser> => signedInBrowser(app, ALICE.id);

/** What Studio's page calls (same origin). */
const studioGet = (browser: Browser, app: StudioApp, path: string) => browser.fetch(`${app.base}${path}`, { fromPage: app.base });

describe('Studio sign-in through Clerk', () => {
  it('the login button, the redirect with PKCE, the callback, the current user, an API call, sign-out', async () => {
    const app = await start({ signOutUrl: 'https://accounts.example.com/sign-out' });
    const browser = new Browser();

    // Studio's login page: Mastra's capabilities name the button and the login URL.
    const capabilities = await studioGet(browser, app, '/api/auth/capabilities');
    expect(capabilities.status).toBe(200);
    expect(capabilities.json()).toEqual({
      enabled: true,
      login: {
        type: 'sso',
        description: 'Sign in using your Clerk account',
        sso: { provider: 'clerk', text: 'Sign in with Clerk', description: 'Sign in using your Clerk account', url: '/api/auth/sso/login' },
      },
    });
    expect((await studioGet(browser, app, '/api/auth/me')).body).toBe('null');

    await signInToClerk(browser, app, ALICE.id);
    const { loginUrl, final } = await studioSignIn(browser, app);

    // The redirect to Clerk: the authorization-code flow with PKCE (S256) and a nonce.
    expect(loginUrl.origin + loginUrl.pathname).toBe(`${app.oauth.url}/oauth/authorize`);
    const params = Object.fromEntries(loginUrl.searchParams);
    expect(params).toEqual({
      client_id: app.oauth.clientId,
      response_type: 'code',
      scope: 'openid profile email',
      redirect_uri: `${app.base}/api/auth/sso/callback`,
      state: expect.stringMatching(/^[0-9a-f-]{36}\|%2F$/),
      code_challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      code_challenge_method: 'S256',
      nonce: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
    });

    // Every hop: Clerk's authorize redirects to the callback, the callback sets the session cookie.
    expect(final.hops.map((hop) => `${hop.status} ${new URL(hop.url).pathname}`)).toEqual([
      '302 /oauth/authorize',
      '302 /api/auth/sso/callback',
      expect.stringMatching(/^\d+ \/$/),
    ]);
    const callback = final.hops[1]!;
    expect(callback.location).toBe(`${app.base}/`);
    // @mastra/express keeps the last Set-Cookie of a response only: the session cookie (the flow cookie's clearing
    // comes first and is lost there; that cookie expires in 10 minutes, is sent to the callback only, and its state is
    // spent: see the replay test).
    expect(callback.setCookies).toEqual([
      expect.stringMatching(/^clerk_session=[\w-]+\.\.[\w-]+\.[\w-]+\.[\w-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=28800$/),
    ]);

    // Who is signed in: the Clerk user from the Backend API.
    const me = await studioGet(browser, app, '/api/auth/me');
    expect(me.json()).toEqual({ id: ALICE.id, email: ALICE.email, name: 'Alice Liddell', avatarUrl: ALICE.imageUrl });
    const signedInCapabilities = await studioGet(browser, app, '/api/auth/capabilities');
    expect(signedInCapabilities.json()).toMatchObject({
      enabled: true,
      user: { id: ALICE.id, email: ALICE.email, name: 'Alice Liddell' },
      capabilities: { user: true, session: true, sso: true },
    });

    // An API call of Studio's page, authenticated by the session cookie alone.
    const agents = await studioGet(browser, app, '/api/agents');
    expect(agents.status).toBe(200);
    expect(Object.keys(agents.json<object>()).sort()).toEqual(['finance', 'public']);

    // Sign-out: the cookie is cleared, Clerk's sign-out URL offered (back to Studio afterwards).
    const copy = browser.cookie(app.base, SESSION_COOKIE)!.value;
    const logout = await browser.fetch(`${app.base}/api/auth/logout`, { method: 'POST', fromPage: app.base, body: '{}' });
    expect(logout.status).toBe(200);
    expect(logout.json()).toEqual({
      success: true,
      redirectTo: `https://accounts.example.com/sign-out?redirect_url=${encodeURIComponent(app.base)}`,
    });
    expect(logout.headers.getSetCookie()).toEqual(['clerk_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0']);
    expect(browser.cookie(app.base, SESSION_COOKIE)).toBeUndefined();
    expect((await studioGet(browser, app, '/api/agents')).status).toBe(401);
    // A copy of the signed-out cookie is refused too.
    const stolen = new Browser();
    stolen.setCookie(app.base, SESSION_COOKIE, copy);
    expect((await studioGet(stolen, app, '/api/agents')).status).toBe(401);
    expect((await studioGet(stolen, app, '/api/auth/me')).body).toBe('null');
  });

  it('the post-login redirect Studio asks for is kept (state carries it through Clerk)', async () => {
    const app = await start();
    const browser = new Browser();
    await signInToClerk(browser, app, ALICE.id);
    const login = await browser.fetch(`${app.base}/api/auth/sso/login?redirect_uri=${encodeURIComponent('/agents/public/chat')}`, { fromPage: app.base });
    const final = await browser.fetch(login.json<{ url: string }>().url);
    expect(signInError(final)).toBeNull();
    expect(final.hops[1]!.location).toBe(`${app.base}/agents/public/chat`);
  });

  it('a browser not signed in to Clerk is sent to its sign-in page first', async () => {
    const app = await start();
    const browser = new Browser();
    const { final } = await studioSignIn(browser, app);
    expect(final.hops.map((hop) => new URL(hop.url).pathname)).toEqual(['/oauth/authorize', '/sign-in']);
    expect(browser.cookie(app.base, SESSION_COOKIE)).toBeUndefined();
  });

  it('a configured redirectUri wins over the one Mastra builds from the Host header', async () => {
    const app = await start();
    const configured = await start({ redirectUri: `${app.base}/api/auth/sso/callback` });
    const browser = new Browser();
    const login = await browser.fetch(`${configured.base}/api/auth/sso/login`, { headers: { 'x-forwarded-host': 'evil.example' } });
    expect(new URL(login.json<{ url: string }>().url).searchParams.get('redirect_uri')).toBe(`${app.base}/api/auth/sso/callback`);
  });
});

describe('every broken sign-in ends signed out', () => {
  let app: StudioApp;
  beforeAll(async () => {
    app = await startStudioApp(issuer);
    app.oauth.addUser(ALICE);
  });
  afterAll(async () => {
    await app.close();
  });

  async function expectSignedOut(browser: Browser): Promise<void> {
    expect(browser.cookie(app.base, SESSION_COOKIE)).toBeUndefined();
    expect((await studioGet(browser, app, '/api/auth/me')).body).toBe('null');
    expect((await studioGet(browser, app, '/api/agents')).status).toBe(401);
  }

  it('a forged state (not the one this browser started with)', async () => {
    const browser = new Browser();
    await signInToClerk(browser, app, ALICE.id);
    const { final } = await studioSignIn(browser, app, (url) => {
      url.searchParams.set('state', `${crypto.randomUUID()}|%2F`);
      return url;
    });
    expect(signInError(final)).toBe('sso_state_mismatch');
    await expectSignedOut(browser);
  });

  it("another browser's callback (login CSRF: the attacker's code and state, without the attacker's flow cookie)", async () => {
    const attacker = new Browser();
    await signInToClerk(attacker, app, ALICE.id);
    const login = await attacker.fetch(`${app.base}/api/auth/sso/login`);
    const authorize = await attacker.fetch(login.json<{ url: string }>().url, { follow: false });
    const callbackUrl = authorize.hops[0]!.location!;
    const victim = new Browser();
    const final = await victim.fetch(callbackUrl);
    expect(signInError(final)).toBe('sso_missing_verifier');
    await expectSignedOut(victim);
  });

  it('a replayed code (the same callback twice): refused, and what the first use granted is revoked by Clerk', async () => {
    const browser = new Browser();
    await signInToClerk(browser, app, ALICE.id);
    const login = await browser.fetch(`${app.base}/api/auth/sso/login`);
    const authorize = await browser.fetch(login.json<{ url: string }>().url, { follow: false });
    const callbackUrl = authorize.hops[0]!.location!;
    const flowCookie = browser.cookie(app.base, 'clerk_session_oauth')!.value;
    const first = await browser.fetch(callbackUrl);
    expect(signInError(first)).toBeNull();
    expect((await studioGet(browser, app, '/api/agents')).status).toBe(200);
    // The attacker replays the callback with the flow cookie and the code: the state was used, and so was the code.
    const replay = new Browser();
    replay.setCookie(app.base, 'clerk_session_oauth', flowCookie, '/api/auth/sso/callback');
    expect(signInError(await replay.fetch(callbackUrl))).toBe('sso_state_reused');
    await expectSignedOut(replay);
    // Straight to Clerk's token endpoint: the code is refused, and Clerk revokes the grant it made.
    const code = new URL(callbackUrl).searchParams.get('code')!;
    const direct = await fetch(`${app.oauth.url}/oauth/token`, {
      method: 'POST',
      headers: { Authorization: `Basic ${Buffer.from(`${app.oauth.clientId}:${app.oauth.clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: `${app.base}/api/auth/sso/callback`, code_verifier: 'x'.repeat(43) }),
    });
    expect(direct.status).toBe(400);
    // The first browser's session now ends at its next check with Clerk.
    app.advance(61_000);
    expect((await studioGet(browser, app, '/api/agents')).status).toBe(401);
    expect((await studioGet(browser, app, '/api/auth/me')).body).toBe('null');
  });

  it('a missing verifier (the flow cookie lost, or never set)', async () => {
    const browser = new Browser();
    await signInToClerk(browser, app, ALICE.id);
    const login = await browser.fetch(`${app.base}/api/auth/sso/login`);
    const authorize = await browser.fetch(login.json<{ url: string }>().url, { follow: false });
    const fresh = new Browser();
    const final = await fresh.fetch(authorize.hops[0]!.location!);
    expect(signInError(final)).toBe('sso_missing_verifier');
    await expectSignedOut(fresh);
  });

  it('a code redeemed without PKCE is refused by the authorization server', async () => {
    const browser = new Browser();
    await signInToClerk(browser, app, ALICE.id);
    const { final } = await studioSignIn(browser, app, (url) => {
      url.searchParams.delete('code_challenge');
      url.searchParams.delete('code_challenge_method');
      return url;
    });
    expect(final.hops[0]!.location).toContain('error=invalid_request');
    await expectSignedOut(browser);
  });

  it.each([
    ['a wrong audience', { claims: { aud: 'client_other' } }],
    ['a wrong issuer', { claims: { iss: 'https://evil.clerk.accounts.dev' } }],
    ['a wrong nonce', { claims: { nonce: 'not-the-nonce' } }],
    ['no nonce', { claims: { nonce: undefined } }],
    ['an expired ID token', { claims: { exp: Math.floor(Date.now() / 1000) - 120, iat: Math.floor(Date.now() / 1000) - 3720 } }],
    ['a foreign signature', { signWith: 'foreign' as const }],
    ['an azp of another client', { claims: { azp: 'client_other' } }],
  ])('an ID token with %s', async (_name, tamper) => {
    const browser = new Browser();
    await signInToClerk(browser, app, ALICE.id);
    app.oauth.tamperNextIdToken(tamper);
    const { final } = await studioSignIn(browser, app);
    expect(signInError(final)).toBe('sso_id_token_invalid');
    await expectSignedOut(browser);
  });

  it('a callback without state', async () => {
    const browser = new Browser();
    await signInToClerk(browser, app, ALICE.id);
    const login = await browser.fetch(`${app.base}/api/auth/sso/login`);
    const authorize = await browser.fetch(login.json<{ url: string }>().url, { follow: false });
    const callback = new URL(authorize.hops[0]!.location!);
    callback.searchParams.delete('state');
    expect(signInError(await browser.fetch(callback.href))).toBe('sso_state_mismatch');
    await expectSignedOut(browser);
  });
});

describe('a Studio session ends with Clerk, and stays on its own origin', () => {
  it('Clerk revokes the session: Studio access ends at the next check, within revalidateAfterSeconds (60 s)', async () => {
    const app = await start();
    const browser = await signedIn(app);
    app.freeze(); // 55 s after sign-in means 55 s, however slow this machine is
    expect((await studioGet(browser, app, '/api/agents')).status).toBe(200);
    const [session] = app.oauth.sessions().filter((s) => s.active);
    app.oauth.revokeSession(session!.sid);
    // Within the bound the cookie is still trusted (no call to Clerk per request)...
    app.oauth.resetCounts();
    app.advance(55_000);
    expect((await studioGet(browser, app, '/api/agents')).status).toBe(200);
    expect(app.oauth.counts).toEqual({ authorize: 0, token: 0, refresh: 0, userinfo: 0 });
    // ...past it, the check with Clerk fails: signed out, everywhere Studio looks.
    app.advance(6_000);
    expect((await studioGet(browser, app, '/api/agents')).status).toBe(401);
    expect((await studioGet(browser, app, '/api/auth/me')).body).toBe('null');
    expect((await studioGet(browser, app, '/api/auth/capabilities')).json()).not.toHaveProperty('user');
    expect(app.oauth.counts.userinfo + app.oauth.counts.refresh).toBeGreaterThanOrEqual(1);
  });

  it('signing out of Clerk in the browser ends Studio access the same way', async () => {
    const app = await start();
    const browser = await signedIn(app);
    await browser.fetch(`${app.oauth.url}/sign-out`);
    app.advance(61_000);
    expect((await studioGet(browser, app, '/api/agents')).status).toBe(401);
  });

  it('while Clerk keeps the session, the cookie is renewed after each check: one Clerk call per period, not per request', async () => {
    const app = await start();
    const browser = await signedIn(app);
    const before = browser.cookie(app.base, SESSION_COOKIE)!.value;
    app.oauth.resetCounts();
    app.advance(61_000);
    const renewed = await Promise.all(Array.from({ length: 5 }, () => studioGet(browser, app, '/api/agents')));
    expect(renewed.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(app.oauth.counts.userinfo).toBe(1);
    expect(renewed[0]!.headers.getSetCookie()[0]).toMatch(/^clerk_session=/);
    expect(browser.cookie(app.base, SESSION_COOKIE)!.value).not.toBe(before);
    expect((await studioGet(browser, app, '/api/auth/me')).json()).toMatchObject({ id: ALICE.id });
  });

  it('an access token Clerk no longer accepts is renewed with the refresh token (rotated), then the session goes on', async () => {
    const app = await start({ oauthServer: { accessTokenTtlSeconds: 30 } });
    const browser = await signedIn(app);
    app.oauth.resetCounts();
    app.advance(61_000);
    expect((await studioGet(browser, app, '/api/agents')).status).toBe(200);
    expect(app.oauth.counts).toMatchObject({ refresh: 1, userinfo: 0 });
  });

  it('Clerk unreachable at the check: signed out meanwhile (fail closed, one try per backoff), back once Clerk answers', async () => {
    const app = await start();
    const browser = await signedIn(app);
    // Only the test moves the clock from here: a slow machine must not end (or, with a second try, double) the 1 s backoff.
    app.freeze();
    app.oauth.setDown(true);
    app.oauth.resetCounts();
    app.advance(61_000);
    for (let i = 0; i < 5; i += 1) expect((await studioGet(browser, app, '/api/agents')).status).toBe(401);
    // One try, then none for a second.
    expect(app.oauth.counts.userinfo).toBe(1);
    // Not ended: once Clerk answers again (after the backoff), the same cookie is renewed.
    app.oauth.setDown(false);
    app.advance(1_500);
    expect((await studioGet(browser, app, '/api/agents')).status).toBe(200);
  });

  it('an expired cookie (past cookieMaxAge) is refused, whatever Clerk says', async () => {
    const app = await start({ session: { cookiePassword: 'a-test-cookie-password-of-at-least-32-characters', cookieMaxAge: 600 } });
    const browser = await signedIn(app);
    expect(browser.cookie(app.base, SESSION_COOKIE)!.attributes).toContain('Max-Age=600');
    const copy = browser.cookie(app.base, SESSION_COOKIE)!.value;
    app.advance(601_000);
    const late = new Browser();
    late.setCookie(app.base, SESSION_COOKIE, copy);
    expect((await studioGet(late, app, '/api/agents')).status).toBe(401);
    expect((await studioGet(late, app, '/api/auth/me')).body).toBe('null');
  });

  it('a tampered or foreign cookie is refused', async () => {
    const app = await start();
    const browser = await signedIn(app);
    const value = browser.cookie(app.base, SESSION_COOKIE)!.value;
    const other = await start({ session: { cookiePassword: 'another-cookie-password-of-at-least-32-chars' } });
    for (const forged of [`${value.slice(0, -2)}AA`, value.split('.').reverse().join('.'), 'garbage']) {
      const b = new Browser();
      b.setCookie(app.base, SESSION_COOKIE, forged);
      expect((await studioGet(b, app, '/api/agents')).status).toBe(401);
    }
    // Another deployment's password: its cookies mean nothing here.
    const b = new Browser();
    b.setCookie(other.base, SESSION_COOKIE, value);
    expect((await studioGet(b, other, '/api/agents')).status).toBe(401);
  });

  it('the cookie never authenticates a request from another origin, nor a state-changing request without Origin', async () => {
    const app = await start();
    const browser = await signedIn(app);
    // A page of another origin (another port of the same host is the same site: SameSite does not stop it).
    const cross = await browser.fetch(`${app.base}/api/agents`, { fromPage: 'http://127.0.0.1:1' });
    expect(cross.status).toBe(401);
    expect((await browser.fetch(`${app.base}/api/auth/me`, { fromPage: 'http://localhost:3000' })).body).toBe('null');
    expect((await browser.fetch(`${app.base}/api/agents`, { headers: { 'sec-fetch-site': 'same-site' } })).status).toBe(401);
    const post = (headers: Record<string, string>) =>
      browser.fetch(`${app.base}/api/agents/public/generate`, { method: 'POST', headers, body: JSON.stringify({ messages: 'Paris' }) });
    expect((await post({})).status).toBe(401);
    expect((await post({ origin: 'http://evil.example' })).status).toBe(401);
    expect((await post({ origin: app.base })).status).toBe(200);
  });

  it("a browser Clerk's cookies say is signed out stays signed out, through Mastra's session refresh too", async () => {
    const app = await start();
    const browser = await signedIn(app);
    const studio = browser.cookie(app.base, SESSION_COOKIE)!.value;
    const active = await issuer.mintToken({}, { userId: ALICE.id });
    const pending = await issuer.mintToken({}, { userId: ALICE.id, pending: true });
    const iat = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).iat as number;
    const withCookies = (clerk: string) =>
      fetch(`${app.base}/api/agents`, { headers: { cookie: `${clerk}; ${SESSION_COOKIE}=${studio}`, 'sec-fetch-site': 'same-origin' } });
    // As in the mixed app (README, Studio): Mastra's refresh fallback asks the provider for the session to refresh,
    // and then signs in a request carrying the Studio cookie alone; it must not get a session Clerk's cookies refused.
    for (const [name, clerk] of [
      ['a pending Clerk session', `__session=${pending}; __client_uat=${iat(pending)}`],
      ['a Clerk session cookie without __client_uat', `__session=${active}`],
      ['__client_uat newer than the token', `__session=${active}; __client_uat=${iat(active) + 100}`],
      ['__client_uat=0', `__session=${active}; __client_uat=0`],
    ]) {
      const res = await withCookies(clerk!);
      expect({ name, status: res.status }).toEqual({ name, status: 401 });
    }
    // An expired Clerk cookie of a browser still signed in to Clerk: the Studio session stands in.
    const expired = await issuer.mintToken({}, { userId: ALICE.id, expired: true });
    expect((await withCookies(`__session=${expired}; __client_uat=1`)).status).toBe(200);
    expect((await withCookies('__client_uat=1')).status).toBe(200);
  });

  it('an Authorization header always wins over the cookie (a bad token is not rescued by it)', async () => {
    const app = await start();
    const browser = await signedIn(app);
    const bad = await studioGet(browser, app, '/api/agents').then(() =>
      browser.fetch(`${app.base}/api/agents`, { fromPage: app.base, headers: { authorization: 'Bearer garbage.garbage.garbage' } }),
    );
    expect(bad.status).toBe(401);
    const bob = await issuer.mintToken({}, { userId: 'user_bob' });
    const asBob = await browser.fetch(`${app.base}/api/auth/me`, { fromPage: app.base, headers: { authorization: `Bearer ${bob}` } });
    expect(asBob.json()).toMatchObject({ id: 'user_bob' });
  });
});
