/**
 * A browser Clerk's own cookies say is signed out (or pending) stays signed out, whatever its Studio session, in
 * standalone Mastra and in the mixed app alike, on every path Mastra has to sign it in: the request itself, Mastra's
 * session refresh of a stale Studio session, and the public `/auth/refresh` and `/auth/me` routes. The rule reads the
 * request alone (from an attacker session of our own on the first fix, which remembered `authenticateToken`'s
 * decision and so missed `__client_uat=0` without `__session`, Clerk's state after a sign-out, and `/auth/refresh`).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import type { Express } from 'express';
import { cookieSuffixOf } from '../../src/core/options.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { SESSION_COOKIE, signedInBrowser, startMixedStudioApp, startStudioApp, type StudioApp } from './support.js';

let issuer: TestIssuer;
const apps: StudioApp[] = [];
const ALICE = { id: 'user_alice', firstName: 'Alice', email: 'alice@example.com' };
beforeAll(async () => {
  issuer = await createTestIssuer();
  issuer.addUser(ALICE);
});
afterAll(async () => {
  await issuer.close();
});
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

const iat = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).iat as number;

async function send(app: StudioApp, method: string, path: string, cookie: string) {
  const res = await fetch(`${app.base}${path}`, { method, headers: { cookie, 'sec-fetch-site': 'same-origin', origin: app.base } });
  const renewed = res.headers.getSetCookie().some((c) => c.startsWith(`${SESSION_COOKIE}=`) && !c.includes('Max-Age=0'));
  return { status: res.status, body: await res.text(), renewed };
}

describe.each([
  ['standalone Mastra', false],
  ['the mixed app', true],
])('%s, with a Studio session due for its re-check with Clerk', (_name, mixed) => {
  async function staleStudioSession(): Promise<{ app: StudioApp; studio: string }> {
    const app = mixed ? await startMixedStudioApp(issuer, express as unknown as () => Express) : await startStudioApp(issuer);
    apps.push(app);
    app.oauth.addUser(ALICE);
    const studio = (await signedInBrowser(app, ALICE.id)).cookie(app.base, SESSION_COOKIE)!.value;
    app.freeze();
    app.advance(61_000);
    return { app, studio };
  }

  it("Clerk's cookies after a sign-out (__client_uat=0, no __session; this instance's suffix too): 401, nothing renewed", async () => {
    const { app, studio } = await staleStudioSession();
    const suffix = cookieSuffixOf(issuer.publishableKey);
    for (const clerk of ['__client_uat=0', `__client_uat_${suffix}=0`]) {
      for (const [method, path] of [
        ['GET', '/api/agents'],
        ['POST', '/api/auth/refresh'],
        ['GET', '/api/auth/me'],
      ]) {
        const res = await send(app, method!, path!, `${clerk}; ${SESSION_COOKIE}=${studio}`);
        const user = res.body.includes(ALICE.id);
        expect({ clerk, path, status: path === '/api/auth/me' ? undefined : res.status, user, renewed: res.renewed }).toEqual({
          clerk,
          path,
          status: path === '/api/auth/me' ? undefined : 401,
          user: false,
          renewed: false,
        });
      }
    }
  });

  it('a pending session, __client_uat 0 or newer than the token: neither the API nor /auth/refresh renews the session', async () => {
    const { app, studio } = await staleStudioSession();
    const active = await issuer.mintToken({}, { userId: ALICE.id });
    const pending = await issuer.mintToken({}, { userId: ALICE.id, pending: true });
    for (const [name, clerk] of [
      ['pending', `__session=${pending}; __client_uat=${iat(pending)}`],
      ['__client_uat=0', `__session=${active}; __client_uat=0`],
      ['newer __client_uat', `__session=${active}; __client_uat=${iat(active) + 100}`],
      ['__client_uat a second newer', `__session=${active}; __client_uat=${iat(active) + 1}`],
      ['no __client_uat', `__session=${active}`],
    ]) {
      const cookie = `${clerk}; ${SESSION_COOKIE}=${studio}`;
      const api = await send(app, 'GET', '/api/agents', cookie);
      const refresh = await send(app, 'POST', '/api/auth/refresh', cookie);
      expect({ name, api: api.status, refresh: refresh.status, renewed: api.renewed || refresh.renewed }).toEqual({
        name,
        api: 401,
        refresh: 401,
        renewed: false,
      });
    }
  });

  it("Clerk's cookies read as Clerk reads them: zero-like __client_uat is 0; two users' session cookies are no sign-in", async () => {
    const { app, studio } = await staleStudioSession();
    for (const clerk of ['__client_uat=00', '__client_uat=x', '__client_uat=""']) {
      const res = await send(app, 'GET', '/api/agents', `${clerk}; ${SESSION_COOKIE}=${studio}`);
      expect({ clerk, status: res.status, renewed: res.renewed }).toEqual({ clerk, status: 401, renewed: false });
    }
    const alice = await issuer.mintToken({}, { userId: ALICE.id });
    const bob = await issuer.mintToken({}, { userId: 'user_bob' });
    const ambiguous = `__session=${alice}; __session=${bob}; __client_uat=0; ${SESSION_COOKIE}=${studio}`;
    // The middleware answers these credentials 400 (ambiguous); Mastra's provider, which has no 400, 401.
    const api = await send(app, 'GET', '/api/agents', ambiguous);
    expect([api.status, api.renewed]).toEqual([mixed ? 400 : 401, false]);
    // Studio's refresh route is public (the middleware lets it through): Mastra's own 401.
    const refresh = await send(app, 'POST', '/api/auth/refresh', ambiguous);
    expect([refresh.status, refresh.renewed]).toEqual([401, false]);
  });

  it("another Clerk app's cookies on the same domain (its unsuffixed __client_uat=0) do not sign this instance's browser out", async () => {
    const { app, studio } = await staleStudioSession();
    const suffix = cookieSuffixOf(issuer.publishableKey);
    const signedIn = Math.floor(app.now() / 1000) - 300;
    const res = await send(app, 'GET', '/api/agents', `__client_uat=0; __client_uat_${suffix}=${signedIn}; ${SESSION_COOKIE}=${studio}`);
    expect([res.status, res.renewed]).toEqual([200, true]);
  });

  it('a browser still signed in to Clerk (no Clerk cookie, or an expired one) gets its Studio session re-checked and renewed', async () => {
    const { app, studio } = await staleStudioSession();
    const alone = await send(app, 'GET', '/api/agents', `${SESSION_COOKIE}=${studio}`);
    expect([alone.status, alone.renewed]).toEqual([200, true]);
    app.advance(61_000);
    const expired = await issuer.mintToken({}, { userId: ALICE.id, expired: true });
    expect((await send(app, 'GET', '/api/agents', `__session=${expired}; __client_uat=1; ${SESSION_COOKIE}=${studio}`)).status).toBe(200);
    app.advance(61_000);
    expect((await send(app, 'GET', '/api/auth/me', `__client_uat=1; ${SESSION_COOKIE}=${studio}`)).body).toContain(ALICE.id);
  });
});
