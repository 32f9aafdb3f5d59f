/**
 * A response to a request signed in by a cookie (Clerk's `__session`, or the Studio session cookie) says it is that
 * user's: `Cache-Control: private` and `Vary: Cookie`. A request with `Authorization` is kept out of shared caches by
 * HTTP itself (RFC 9111 section 3.5); one signed in by a cookie only by the response's headers, and without them a
 * shared cache keyed on the URL could serve the signed-in answer to the next caller (found by an attack session).
 * Real parts: the testing kit's issuer and OAuth server, Express 4 and 5, @mastra/express behind clerkMastraAuth.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import express5 from 'express';
import express4 from 'express4';
import express from 'express';
import request from 'supertest';
import { clerkMastraAuth, getClerkAuth } from '../../src/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { signedInBrowser, startMixedStudioApp, type Framework, type StudioApp } from './support.js';

let issuer: TestIssuer;
const ALICE = { id: 'user_alice', firstName: 'Alice', email: 'alice@example.com' };
const apps: StudioApp[] = [];
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

async function clerkCookie(): Promise<string> {
  const token = await issuer.mintToken({}, { userId: ALICE.id });
  return `__session=${token}; __client_uat=${Math.floor(Date.now() / 1000) - 5}`;
}

const cacheHeaders = (headers: Headers): { cc: string | null; vary: string | null } => ({ cc: headers.get('cache-control'), vary: headers.get('vary') });

describe.each([
  ['Express 5', express5],
  ['Express 4', express4],
] as const)('%s, clerkMastraAuth in front of @mastra/express', (_name, framework) => {
  it("a Mastra route answered on Clerk's __session cookie: private, Vary: Cookie; on a Bearer token: left alone", async () => {
    const app = await startMixedStudioApp(issuer, framework as unknown as Framework, {});
    apps.push(app);
    const signedIn = await fetch(`${app.base}/api/agents`, { headers: { cookie: await clerkCookie() } });
    expect([signedIn.status, cacheHeaders(signedIn.headers)]).toEqual([200, { cc: 'private', vary: 'Cookie' }]);
    // The same URL without credentials is a 401: a shared copy of the answer above would skip authentication.
    expect((await fetch(`${app.base}/api/agents`)).status).toBe(401);
    const bearer = await fetch(`${app.base}/api/agents`, { headers: { authorization: `Bearer ${await issuer.mintToken({}, { userId: ALICE.id })}` } });
    expect([bearer.status, cacheHeaders(bearer.headers)]).toEqual([200, { cc: null, vary: null }]);
  });

  it('a Mastra route answered on the Studio session cookie: private, Vary: Cookie', async () => {
    const app = await startMixedStudioApp(issuer, framework as unknown as Framework, {});
    apps.push(app);
    app.oauth.addUser(ALICE);
    const browser = await signedInBrowser(app, ALICE.id);
    const res = await browser.fetch(`${app.base}/api/agents`, { fromPage: app.base });
    expect([res.status, res.headers.get('cache-control'), res.headers.get('vary')]).toEqual([200, 'private', 'Cookie']);
  });
});

it("an Express route that sets its own Cache-Control keeps it; one that varies on more keeps both", async () => {
  const app = express();
  app.use(clerkMastraAuth({ ...issuer.authOptions, env: {}, logger: false }));
  app.get('/logo', (_req, res) => res.set('Cache-Control', 'public, max-age=60').send('logo'));
  app.get('/me', (_req, res) => res.vary('Accept-Language').json({ ok: true }));
  const cookie = await clerkCookie();
  const logo = await request(app).get('/logo').set('Cookie', cookie);
  expect([logo.status, logo.headers['cache-control'], logo.headers.vary]).toEqual([200, 'public, max-age=60', 'Cookie']);
  const me = await request(app).get('/me').set('Cookie', cookie);
  expect([me.status, me.headers['cache-control'], me.headers.vary]).toEqual([200, 'private', 'Cookie, Accept-Language']);
});

it("with optional: true, a signed-out answer varies on Cookie and Authorization: a shared cache keeps it from signed-in callers", async () => {
  // The route answers by who is signed in; a copy stored for a signed-out caller, keyed on the URL alone, would be
  // served to the next caller, signed in or not (the wrong answer for them, and the signed-in one is never stored).
  const app = express();
  app.use(clerkMastraAuth({ ...issuer.authOptions, env: {}, logger: false, optional: true }));
  app.get('/page', (req, res) => res.json({ userId: getClerkAuth(req).userId }));
  app.get('/logo', (_req, res) => res.set('Cache-Control', 'public, max-age=60').vary('Accept-Encoding').send('logo'));
  const anonymous = await request(app).get('/page');
  expect([anonymous.status, anonymous.body, anonymous.headers['cache-control'], anonymous.headers.vary]).toEqual([200, { userId: null }, undefined, 'Cookie, Authorization']);
  // Clerk's signed-out cookie (`__client_uat=0`, no session): the same answer, the same headers.
  const signedOut = await request(app).get('/page').set('Cookie', '__client_uat=0');
  expect([signedOut.status, signedOut.body, signedOut.headers.vary]).toEqual([200, { userId: null }, 'Cookie, Authorization']);
  // A route's own caching stays its own; the Vary adds to it.
  const logo = await request(app).get('/logo');
  expect([logo.status, logo.headers['cache-control'], logo.headers.vary]).toEqual([200, 'public, max-age=60', 'Cookie, Authorization, Accept-Encoding']);
  // Signed in: unchanged (a Bearer answer is kept out of shared caches by HTTP; a cookie's is private).
  const bearer = await request(app).get('/page').set('Authorization', `Bearer ${await issuer.mintToken({}, { userId: ALICE.id })}`);
  expect([bearer.status, bearer.body, bearer.headers['cache-control'], bearer.headers.vary]).toEqual([200, { userId: ALICE.id }, undefined, undefined]);
  const cookie = await request(app).get('/page').set('Cookie', await clerkCookie());
  expect([cookie.status, cookie.body, cookie.headers['cache-control'], cookie.headers.vary]).toEqual([200, { userId: ALICE.id }, 'private', 'Cookie']);
});
