/**
 * Machine tokens attacked from the HTTP side: a token of one type presented where another is accepted, by every way
 * the shared caches could be confused (the verified-token cache, single flight, the Backend API answers), machine
 * tokens in cookies, and a flood of random opaque tokens that would spend the app's Backend API rate limit.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import request from 'supertest';
import { clerkMastraAuth, createClerkAuth, type AcceptsToken } from '../../src/index.js';
import { MAX_CALLS_IN_FLIGHT } from '../../src/core/backend-api.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { addEchoRoute, expectRefused, machineOptions, tokenOf, until, type TokenForm } from './support.js';

let issuer: TestIssuer;
beforeAll(async () => {
  issuer = await createTestIssuer();
});
afterAll(async () => {
  await issuer.close();
});

/** One shared `createClerkAuth()` (one cache) behind two middlewares: one taking `wide`, one taking `narrow`. */
function twoDoors(wide: AcceptsToken, narrow: AcceptsToken) {
  const clerkAuth = createClerkAuth(machineOptions(issuer, { acceptsToken: wide }));
  const app = express();
  app.use('/narrow', clerkMastraAuth({ clerkAuth, acceptsToken: narrow }));
  app.use('/wide', clerkMastraAuth({ clerkAuth }));
  app.get(['/narrow/who', '/wide/who'], (_req, res) => res.json({ ok: true }));
  return app;
}

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

describe('one token, two lists of accepted types, one cache', () => {
  it.each<[TokenForm, AcceptsToken]>([
    ['m2m-jwt', 'session_token'],
    ['oauth-jwt', 'session_token'],
    ['session', 'm2m_token'],
    ['m2m-opaque', ['session_token', 'oauth_token']],
    ['api-key', 'm2m_token'],
  ])('a %s verified where it is accepted is still refused where only %j is', async (form, narrow) => {
    const app = twoDoors('any', narrow);
    const token = await tokenOf(issuer, form);
    expect((await request(app).get('/wide/who').set(bearer(token))).status).toBe(200);
    await expectRefused(await request(app).get('/narrow/who').set(bearer(token)), 401, 'token-type-mismatch');
    // And the other way round: refused first, accepted after.
    const fresh = await tokenOf(issuer, form);
    await expectRefused(await request(app).get('/narrow/who').set(bearer(fresh)), 401, 'token-type-mismatch');
    expect((await request(app).get('/wide/who').set(bearer(fresh))).status).toBe(200);
  });

  it('requests sent at once with one new M2M token to both doors: single flight does not carry one answer to the other', async () => {
    const app = twoDoors('any', 'session_token');
    const token = await tokenOf(issuer, 'm2m-jwt');
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => request(app).get(i % 2 === 0 ? '/wide/who' : '/narrow/who').set(bearer(token))),
    );
    expect(answers.map((a) => a.status)).toEqual([200, 401, 200, 401, 200, 401, 200, 401, 200, 401]);
  });
});

describe('machine tokens never come from a cookie', () => {
  it.each<TokenForm>(['m2m-jwt', 'oauth-jwt', 'm2m-opaque', 'api-key'])('a %s in __session is no machine credential', async (form) => {
    const app2 = express();
    app2.use(clerkMastraAuth(machineOptions(issuer, { acceptsToken: 'any' })));
    addEchoRoute(app2);
    const token = await tokenOf(issuer, form);
    const res = await request(app2).get('/who').set('Cookie', `__session=${token}; __client_uat=${Math.floor(Date.now() / 1000) - 60}`);
    expect(res.status).toBe(401);
    expect(['token-type-mismatch', 'token-invalid', 'session-signed-out']).toContain(res.body.error);
    // Where sessions are not accepted, a cookie is no credential at all.
    const machinesOnly = express();
    machinesOnly.use(clerkMastraAuth(machineOptions(issuer, { acceptsToken: ['m2m_token', 'oauth_token', 'api_key'] })));
    addEchoRoute(machinesOnly);
    const cookie = `__session=${token}; __client_uat=${Math.floor(Date.now() / 1000) - 60}`;
    await expectRefused(await request(machinesOnly).get('/who').set('Cookie', cookie), 401, 'token-missing');
  });
});

describe('a flood of random opaque tokens', () => {
  it(`makes at most ${MAX_CALLS_IN_FLIGHT} Backend API calls at once; the rest get 503 with Retry-After, and a known token still works`, async () => {
    const known = issuer.createApiKey({ subject: 'user_owner' });
    const app = express();
    app.use(clerkMastraAuth(machineOptions(issuer, { acceptsToken: 'api_key' })));
    addEchoRoute(app);
    expect((await request(app).get('/who').set(bearer(known))).status).toBe(200);
    issuer.setBackendApiFailure('slow');
    const before = issuer.backendApiCalls();
    const server = app.listen(0, '127.0.0.1');
    const answered: request.Response[] = [];
    const flood = Array.from({ length: 60 }, (_, i) =>
      request(server)
        .get('/who')
        .set(bearer(`ak_random${i}xxxxxxxxxxxxxxxx`))
        .then((res) => {
          answered.push(res);
          return res;
        }),
    );
    try {
      // The calls over the bound are answered at once (503), while the first ones still hang.
      await until(() => answered.length, 60 - MAX_CALLS_IN_FLIGHT);
      expect(issuer.backendApiCalls() - before).toBe(MAX_CALLS_IN_FLIGHT);
      for (const res of answered) await expectRefused(res, 503, 'backend-api-failed-to-load');
      expect(answered.every((res) => res.headers['retry-after'] === '1')).toBe(true);
      // A token answered before is served from the cache meanwhile.
      expect((await request(server).get('/who').set(bearer(known))).status).toBe(200);
    } finally {
      issuer.setBackendApiFailure(null);
      await Promise.all(flood);
      await new Promise((resolve) => server.close(resolve));
    }
  }, 20_000);
});
