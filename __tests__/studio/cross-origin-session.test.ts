/**
 * Studio's own session routes (`POST /auth/logout`, `POST /auth/refresh`) from another origin of the same site, and
 * the caching of the responses that carry the session. Found by an attacker session of our own: a page on another
 * port of the same host (same site: a `SameSite=Strict` cookie is sent) auto-submitted a form to `/api/auth/logout`,
 * and Mastra's handler ended the victim's session and cleared the cookie (200): the session cookie's own rule (its
 * sign-in origin only) was not applied there. Real Mastra (`@mastra/express`), standalone and behind
 * `clerkMastraAuth`, the local OAuth server, and a real Chromium for the attacker's page.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express5 from 'express';
import { chromium, type Browser as Chromium } from 'playwright-core';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { CHROMIUM_ARGS, chromiumPath, hasChromium } from '../support/chromium.js';
import { Browser, SESSION_COOKIE, signedInBrowser, signInToClerk, startMixedStudioApp, startStudioApp, studioSignIn, type Framework, type StudioApp } from './support.js';

let issuer: TestIssuer;
let chrome: Chromium | undefined;
const browserTests = hasChromium("a page of another origin posting to Studio's logout");
const ALICE = { id: 'user_alice', firstName: 'Alice', lastName: 'Liddell', email: 'alice@example.com' };
const apps: StudioApp[] = [];
const servers: Server[] = [];
const CROSS_ORIGIN = { message: 'The Studio session cookie authenticates requests from its sign-in origin only.' };
const PASSWORD = 'a-test-cookie-password-of-at-least-32-characters';

/** A request of Studio's own page. */
const studioGet = (browser: Browser, app: StudioApp, path: string) => browser.fetch(`${app.base}${path}`, { fromPage: app.base });

beforeAll(async () => {
  issuer = await createTestIssuer();
  issuer.addUser(ALICE);
  if (browserTests) chrome = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS });
});
afterAll(async () => {
  await chrome?.close();
  await issuer.close();
});
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

/** A page on another port of the same host: the same site, another origin. */
async function attackerSite(html: string): Promise<string> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(html);
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe.each([
  ['standalone Mastra', (i: TestIssuer) => startStudioApp(i, {})],
  ['mixed app (clerkMastraAuth in front)', (i: TestIssuer) => startMixedStudioApp(i, express5 as unknown as Framework, {})],
])('%s', (_name, start) => {
  async function signedIn() {
    const app = await start(issuer);
    apps.push(app);
    app.oauth.addUser(ALICE);
    return { app, browser: await signedInBrowser(app, ALICE.id) };
  }

  it('a logout from another origin of the same site is refused: the session lives on, its cookie is kept', async () => {
    const { app, browser } = await signedIn();
    for (const headers of [
      { origin: 'http://127.0.0.1:1', 'sec-fetch-site': 'same-site' },
      { origin: 'null', 'sec-fetch-site': 'same-site' },
      { 'sec-fetch-site': 'same-site' },
      // No Origin and no Sec-Fetch-Site: a state change must show one of them.
      {},
    ] as Array<Record<string, string>>) {
      const res = await browser.fetch(`${app.base}/api/auth/logout`, { method: 'POST', headers: { ...headers, 'content-type': 'text/plain' }, body: '' });
      expect([headers, res.status, res.json()]).toEqual([headers, 403, expect.objectContaining({ error: CROSS_ORIGIN.message })]);
      expect(res.hops[0]!.setCookies).toEqual([]);
    }
    expect((await studioGet(browser, app, '/api/agents')).status).toBe(200);
    // Its own page signs out as before.
    const own = await browser.fetch(`${app.base}/api/auth/logout`, { method: 'POST', fromPage: app.base, body: '{}' });
    expect(own.status).toBe(200);
    expect(own.hops[0]!.setCookies).toEqual([`${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`]);
    expect((await studioGet(browser, app, '/api/agents')).status).toBe(401);
  });

  it('a refresh from another origin finds no session and sets no cookie', async () => {
    const { app, browser } = await signedIn();
    const res = await browser.fetch(`${app.base}/api/auth/refresh`, { method: 'POST', fromPage: 'http://127.0.0.1:1', body: '{}' });
    expect(res.status).toBe(401);
    expect(res.hops[0]!.setCookies).toEqual([]);
    expect((await browser.fetch(`${app.base}/api/auth/refresh`, { method: 'POST', fromPage: app.base, body: '{}' })).status).toBe(200);
  });

  it('responses that carry the session cookie are not stored by any cache (Cache-Control: no-store)', async () => {
    const { app, browser } = await signedIn();
    const refresh = await browser.fetch(`${app.base}/api/auth/refresh`, { method: 'POST', fromPage: app.base, body: '{}' });
    expect(refresh.hops[0]!.setCookies.join()).toContain(`${SESSION_COOKIE}=ey`);
    expect(refresh.headers.get('cache-control')).toBe('no-store');
    const logout = await browser.fetch(`${app.base}/api/auth/logout`, { method: 'POST', fromPage: app.base, body: '{}' });
    expect(logout.headers.get('cache-control')).toBe('no-store');
  });

  (browserTests ? it : it.skip)("a real browser: an auto-submitting form on another port of the same host does not sign Alice out of Studio", async () => {
    const app = await start(issuer);
    apps.push(app);
    app.oauth.addUser(ALICE);
    const context = await chrome!.newContext();
    const page = await context.newPage();
    // Alice signs in to Clerk, then to Studio, the way Studio's page does it.
    await page.goto(app.oauth.signInUrl(ALICE.id));
    await page.goto(`${app.base}/api/auth/capabilities`);
    const login = await page.evaluate(async () => ((await (await fetch('/api/auth/sso/login')).json()) as { url: string }).url);
    await page.goto(login);
    expect(page.url().startsWith(app.base)).toBe(true);
    await page.goto(`${app.base}/api/auth/capabilities`);
    const me = () => page.evaluate(async () => (await fetch('/api/auth/me')).json() as Promise<{ id: string } | null>);
    expect(await me()).toMatchObject({ id: ALICE.id });

    const evil = await attackerSite(`<form id=f method=POST action="${app.base}/api/auth/logout" enctype="text/plain"></form><script>f.submit()</script>`);
    const attack = await context.newPage();
    const answered = attack.waitForResponse(`${app.base}/api/auth/logout`);
    await attack.goto(evil);
    expect((await answered).status()).toBe(403);
    expect(await me()).toMatchObject({ id: ALICE.id });
    await context.close();
  }, 60_000);
});

describe('the mixed app', () => {
  it("Studio's user and capabilities routes are not stored by any cache either", async () => {
    const app = await startMixedStudioApp(issuer, express5 as unknown as Framework, {});
    apps.push(app);
    app.oauth.addUser(ALICE);
    const browser = await signedInBrowser(app, ALICE.id);
    for (const path of ['/api/auth/me', '/api/auth/capabilities']) {
      const res = await browser.fetch(`${app.base}${path}`, { fromPage: app.base });
      expect([path, res.status, res.body.includes(ALICE.email), res.headers.get('cache-control')]).toEqual([path, 200, true, 'no-store']);
    }
  });
});

describe('the session cookie name', () => {
  it('is __Host-clerk_session when cookies are Secure (production, or secureCookies): no other host of the site can plant one', async () => {
    const app = await startStudioApp(issuer, { session: { cookiePassword: PASSWORD, secureCookies: true } });
    apps.push(app);
    app.oauth.addUser(ALICE);
    const browser = new Browser();
    await signInToClerk(browser, app, ALICE.id);
    const { final } = await studioSignIn(browser, app);
    const set = final.hops.flatMap((hop) => hop.setCookies).filter((cookie) => cookie.includes('session='));
    expect(set.some((cookie) => /^__Host-clerk_session=ey[^;]*; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/.test(cookie))).toBe(true);
    expect(set.some((cookie) => cookie.startsWith(`${SESSION_COOKIE}=`))).toBe(false);
  });
});
