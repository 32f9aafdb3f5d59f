/**
 * The playground (`/` of `npm start`, development mode) in headless Chromium: sign in as a member, call the agent
 * (200), the admin route (403, code shown), sign out (401); and the same-origin way, with Clerk's cookies.
 *
 * Needs Chromium (`which chromium`): without it the tests are skipped with a reason, except under CI, where a
 * missing browser fails the suite.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, chromiumPath, hasChromium } from '../support/chromium.js';
import { demoEnv, freePort, killAll, runScript, tempDataDir } from './processes.js';

(hasChromium('the playground in a browser') ? describe : describe.skip)('playground in a browser', () => {
  const data = tempDataDir();
  let browser: Browser;
  let page: Page;
  let base: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const server = runScript('examples/start.ts', [], demoEnv({ PORT: String(port), DEMO_DATA_DIR: data.dir }));
    await server.waitFor(/Ctrl-C stops the server\./, 90_000);
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: CHROMIUM_ARGS,
    });
    page = await browser.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      // The browser logs every non-2xx fetch as an error: expected here. Anything else (a CSP refusal, a script error) is not.
      if (message.type() === 'error' && !/Failed to load resource/.test(message.text())) pageErrors.push(message.text());
    });
    await page.goto(`${base}/`);
    await page.waitForSelector('body[data-ready="true"]');
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await killAll();
    data.remove();
  });

  let calls = 0;
  /** Picks the user and transport, clicks the call button, and returns the new result's status, code and text. */
  async function call(user: string, button: string, transport: 'header' | 'cookie' = 'header') {
    await page.check(`#transport-${transport}`);
    await page.check(`#user-${user}`);
    await page.click(`#${button}`);
    calls += 1;
    await page.waitForFunction((n) => document.querySelectorAll('#results .result').length === n, calls, { timeout: 30_000 });
    const result = page.locator('#results .result').first();
    return {
      status: await result.getAttribute('data-status'),
      code: await result.locator('.code').textContent(),
      policy: await result.locator('.policy').textContent(),
      body: await result.locator('.body').textContent(),
      claims: await result.locator('.claims').textContent(),
    };
  }

  it('says it is development mode, and where its tokens come from', async () => {
    const mode = await page.locator('#mode').textContent();
    expect(mode).toContain('Development mode');
    expect(mode).toContain('POST /dev/token');
    expect(mode).toContain('getToken()');
  });

  it('member → agent 200, admin route 403 with its code; signed out → 401', async () => {
    const agent = await call('member', 'call-agent');
    expect(agent.status).toBe('200');
    expect(agent.body).toContain('Weather in London');
    expect(agent.policy).toBe('policy: allowed');
    expect(JSON.parse(agent.claims!)).toMatchObject({ sub: 'user_member', o: { id: 'org_acme', rol: 'member' }, azp: base });

    const admin = await call('member', 'call-admin');
    expect(admin.status).toBe('403');
    expect(admin.code).toBe('error code: access-denied');
    expect(admin.policy).toContain('denied');

    const signedOut = await call('signed-out', 'call-me');
    expect(signedOut.status).toBe('401');
    expect(signedOut.code).toBe('error code: token-missing');
  }, 60_000);

  it('org admin passes the admin route; the banned user is refused everywhere', async () => {
    expect((await call('admin', 'call-admin')).status).toBe('200');
    const banned = await call('banned', 'call-agent');
    expect(banned.status).toBe('403');
    expect(banned.code).toBe('error code: access-denied');
  }, 60_000);

  it('same-origin, with the __session cookie: member 200, signed out 401', async () => {
    const member = await call('member', 'call-me', 'cookie');
    expect(member.status).toBe('200');
    expect(member.body).toContain('"userId": "user_member"');
    const cookies = (await page.context().cookies()).map((c) => c.name);
    expect(cookies).toEqual(expect.arrayContaining(['__session', '__client_uat']));
    expect((await call('member', 'call-agent', 'cookie')).status).toBe('200');
    expect((await call('signed-out', 'call-me', 'cookie')).status).toBe('401');
    expect(pageErrors).toEqual([]);
  }, 60_000);
});
