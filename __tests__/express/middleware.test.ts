/**
 * The Express middleware over Supertest, on Express 5 and Express 4: token extraction, every status with its
 * header and body, optional mode, the shared policy, Clerk's own `getAuth(req)` and `has()`.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { getAuth } from '@clerk/express';
import express5 from 'express';
import express4 from 'express4';
import type { Express, NextFunction, Request, Response } from 'express';
import request from 'supertest';
import {
  ClerkAuthError,
  clerkMastraAuth,
  createClerkAuth,
  getClerkAuth,
  requireClerkAuth,
  type AuthorizeContext,
  type ClerkAuthErrorCode,
  type ClerkAuthOptions,
  type ExpressAuthOptions,
} from '../../src/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { expectRejected, invalidTokenChallenge } from '../support/errors.js';
import { withClerkEnv } from '../support/env.js';
import { listen, rawGet } from '../support/http.js';
import { withIssuer } from '../support/issuer.js';

let issuer: TestIssuer;
beforeAll(async () => {
  issuer = await createTestIssuer();
});
afterAll(async () => {
  await issuer.close();
});

const TARGET_MESSAGE =
  'The request target must be a plain path: no fragment, backslash, dot or empty segment, and valid percent-encoding.';

const frameworks = [
  ['Express 5', express5 as unknown as () => Express],
  ['Express 4', express4 as unknown as () => Express],
] as const;

describe.each(frameworks)('%s', (_name, express) => {
  /** An app with the middleware and a route that echoes who the request is. */
  function appWith(options: ClerkAuthOptions & ExpressAuthOptions = {}): Express {
    const app = express();
    app.use(clerkMastraAuth({ ...issuer.authOptions, env: {}, logger: false, ...options }));
    app.get('/me', (req, res) => {
      const auth = getClerkAuth(req);
      res.json({ userId: auth.userId, isAuthenticated: auth.isAuthenticated, sessionStatus: auth.sessionStatus });
    });
    return app;
  }

  describe('token extraction', () => {
    it('401 token-missing with a bare challenge when there is no token', async () => {
      await expectRejected(await request(appWith()).get('/me'), 401, 'token-missing', 'No token was sent.');
    });

    it.each(['Bearer', 'bearer', 'BEARER', 'BeArEr'])('reads "%s <token>" (scheme case-insensitive)', async (scheme) => {
      const token = await issuer.mintToken({}, { userId: 'user_alice' });
      const res = await request(appWith()).get('/me').set('Authorization', `${scheme} ${token}`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ userId: 'user_alice', isAuthenticated: true, sessionStatus: 'active' });
    });

    it('treats another scheme as no token', async () => {
      await expectRejected(await request(appWith()).get('/me').set('Authorization', 'Basic dXNlcjpwYXNz'), 401, 'token-missing');
    });

    it('treats a scheme that only begins with "Bearer" as another scheme, even with a valid token and cookie', async () => {
      const token = await issuer.mintToken({}, { userId: 'user_alice' });
      for (const value of [`Bearerx ${token}`, `Bearer${token}`, `Bearer-${token}`]) {
        const res = await request(appWith()).get('/me').set('Authorization', value).set('Cookie', `__session=${token}; __client_uat=1`);
        await expectRejected(res, 401, 'token-missing');
      }
    });

    it('reads the __session cookie when there is no Authorization header', async () => {
      const token = await issuer.mintToken({}, { userId: 'user_cookie' });
      const res = await request(appWith()).get('/me').set('Cookie', `theme=dark; __session=${token}; __client_uat=1; other=1`);
      expect(res.status).toBe(200);
      expect(res.body.userId).toBe('user_cookie');
    });

    it("counts the __session cookie only from the origin its token was issued to (azp), or with no Origin at all", async () => {
      // A page on another origin of the same site (a sibling subdomain, another port) sends the cookie too, and Mastra's
      // Hono server lets any origin read the answer (found by an attacker session).
      const token = await issuer.mintToken({}, { userId: 'user_cookie' });
      const cookie = `__session=${token}; __client_uat=1`;
      for (const origin of ['http://evil.localhost:3000', 'http://localhost:4111', 'null']) {
        await expectRejected(
          await request(appWith()).post('/me').set('Cookie', cookie).set('Origin', origin),
          401,
          'token-invalid-authorized-parties',
          'The session cookie was sent from another origin than the one its token was issued to: send the token as a Bearer header.',
        );
      }
      const app = appWith();
      app.post('/me', (req, res) => res.json({ userId: getClerkAuth(req).userId }));
      expect((await request(app).post('/me').set('Cookie', cookie).set('Origin', issuer.authorizedParty)).body.userId).toBe('user_cookie');
      expect((await request(app).post('/me').set('Cookie', cookie)).body.userId).toBe('user_cookie');
      // A cookie token without azp (Clerk's browser sessions always have one) counts only without Origin.
      const noAzp = await issuer.mintToken({ azp: undefined }, { userId: 'user_cookie' });
      const bare = express();
      bare.use(clerkMastraAuth({ ...issuer.authOptions, authorizedParties: [], env: {}, logger: false }));
      bare.post('/me', (req, res) => res.json({ userId: getClerkAuth(req).userId }));
      expect((await request(bare).post('/me').set('Cookie', `__session=${noAzp}; __client_uat=1`).set('Origin', issuer.authorizedParty)).status).toBe(401);
      expect((await request(bare).post('/me').set('Cookie', `__session=${noAzp}; __client_uat=1`)).body.userId).toBe('user_cookie');
      // A Bearer token from another origin is the page's own doing (CORS decides who may send one).
      expect((await request(app).post('/me').set('Authorization', `Bearer ${token}`).set('Origin', 'http://evil.localhost:3000')).status).toBe(200);
    });

    it('lets the Authorization header win over a different cookie, as Clerk does', async () => {
      const token = await issuer.mintToken({}, { userId: 'user_header' });
      const cookie = await issuer.mintToken({}, { userId: 'user_cookie' });
      const res = await request(appWith()).get('/me').set('Authorization', `Bearer ${token}`).set('Cookie', `__session=${cookie}; __client_uat=1`);
      expect([res.status, res.body.userId]).toEqual([200, 'user_header']);
    });

    it('accepts the same token in the header and the cookie', async () => {
      const token = await issuer.mintToken();
      const res = await request(appWith()).get('/me').set('Authorization', `Bearer ${token}`).set('Cookie', `__session=${token}`);
      expect([res.status, res.body.userId]).toEqual([200, 'user_test']);
    });

    it('never reads the token from the query string', async () => {
      const token = await issuer.mintToken();
      await expectRejected(await request(appWith()).get(`/me?token=${token}&__session=${token}&apiKey=${token}`), 401, 'token-missing');
    });

    const badRequests: Array<[string, (t: string) => Record<string, string | string[]>, string]> = [
      ['two Authorization headers', (t) => ({ Authorization: [`Bearer ${t}`, `Bearer ${t}`] }), 'The request has more than one Authorization header.'],
      ['Bearer with an empty token', () => ({ Authorization: 'Bearer' }), 'The Bearer authorization has an empty token.'],
      ['Bearer with only spaces', () => ({ Authorization: 'Bearer    ' }), 'The Bearer authorization has an empty token.'],
      ['extra words after the token', (t) => ({ Authorization: `Bearer ${t} extra` }), 'The Bearer authorization has more than one word.'],
    ];
    it('400 request-invalid for two __session cookies of different users (parent domain and subdomain)', async () => {
      const [a, b] = [await issuer.mintToken({}, { userId: 'user_a' }), await issuer.mintToken({}, { userId: 'user_b' })];
      const res = await request(appWith()).get('/me').set('Cookie', `__session=${a}; __session=${b}; __client_uat=1`);
      await expectRejected(res, 400, 'request-invalid', 'The request has session cookies of different users.');
    });

    it.each(badRequests)('400 request-invalid for %s', async (_case, headers, message) => {
      const token = await issuer.mintToken();
      let req = request(appWith()).get('/me');
      for (const [name, value] of Object.entries(headers(token))) req = req.set(name, value as string);
      await expectRejected(await req, 400, 'request-invalid', message);
    });

    const NOT_A_JWT = 'The token is not three canonical base64url parts.';
    it.each<[string, number, ClerkAuthErrorCode, string, string]>([
      ['empty', 401, 'token-missing', '', 'No token was sent.'],
      ['12 KB', 401, 'token-invalid', `Bearer ${'a'.repeat(12_000)}`, 'The token is too large.'],
      ['non-ASCII', 401, 'token-invalid', 'Bearer \u00e9\u00fc.\u00f1\u00e7.\u00e0\u00ff', NOT_A_JWT],
      ['two segments', 401, 'token-invalid', 'Bearer a.b', NOT_A_JWT],
      ['three junk segments', 401, 'token-invalid', 'Bearer a.b.c', NOT_A_JWT],
      ['extra words', 400, 'request-invalid', 'Bearer a b c', 'The Bearer authorization has more than one word.'],
      ['words split by a tab', 400, 'request-invalid', 'Bearer a.b.c\td.e.f', 'The Bearer authorization has more than one word.'],
      ['a lone scheme with tab', 400, 'request-invalid', 'Bearer\t', 'The Bearer authorization has an empty token.'],
      ['only a dot', 401, 'token-invalid', 'Bearer .', NOT_A_JWT],
      ['JSON', 401, 'token-invalid', 'Bearer {"alg":"none"}', NOT_A_JWT],
    ])('junk Authorization (%s) gets %i %s, never 5xx', async (_case, status, code, value, message) => {
      await expectRejected(await request(appWith()).get('/me').set('Authorization', value), status, code, message);
    });
  });

  describe('verification failures', () => {
    it('401 token-expired with an invalid_token challenge', async () => {
      const res = await request(appWith()).get('/me').set('Authorization', `Bearer ${await issuer.mintToken({}, { expired: true })}`);
      await expectRejected(res, 401, 'token-expired', 'The token has expired.');
      expect(res.headers['www-authenticate']).toBe(
        'Bearer realm="api", error="invalid_token", error_description="The token has expired."',
      );
    });

    it('401 token-invalid-authorized-parties for a token requested by another origin', async () => {
      const token = await issuer.mintToken({ azp: 'https://evil.example' });
      await expectRejected(await request(appWith()).get('/me').set('Authorization', `Bearer ${token}`), 401, 'token-invalid-authorized-parties');
    });

    it('503 with Retry-After, not 401, when the keys cannot be fetched', async () => {
      await withIssuer(async (down) => {
        down.setJwksFailure('down');
        const res = await request(appWith(down.authOptions)).get('/me').set('Authorization', `Bearer ${await down.mintToken()}`);
        await expectRejected(res, 503, 'jwk-remote-failed-to-load', 'The signing keys could not be loaded; try again later.');
        expect(res.headers['retry-after']).toBe('1');
      });
    });

    it('an outage is logged once per back-off, not once per request, and the next line counts the requests between', async () => {
      await withIssuer(async (down) => {
        down.setJwksFailure('down');
        let now = Date.now();
        const logged: string[] = [];
        const app = appWith({ ...down.authOptions, now: () => now, logger: (line) => logged.push(line), jwks: { failureBackoffInMs: 60_000 } });
        const token = await down.mintToken({}, { expiresInSeconds: 3600 });
        const answers = await Promise.all(Array.from({ length: 20 }, () => request(app).get('/me').set('Authorization', `Bearer ${token}`)));
        expect(answers.map((res) => res.status)).toEqual(Array(20).fill(503));
        const outage = () => logged.filter((line) => line.includes('keys unavailable'));
        expect(outage()).toEqual(['[clerk-mastra-auth] keys unavailable (jwk-remote-failed-to-load): the JWKS endpoint answered HTTP 503']);
        now += 60_000; // past the back-off: the next request fetches again, fails, and is logged
        expect((await request(app).get('/me').set('Authorization', `Bearer ${token}`)).status).toBe(503);
        expect(outage()).toEqual([
          '[clerk-mastra-auth] keys unavailable (jwk-remote-failed-to-load): the JWKS endpoint answered HTTP 503',
          '[clerk-mastra-auth] keys unavailable (jwk-remote-failed-to-load): the JWKS endpoint answered HTTP 503 (19 more since the last line)',
        ]);
      });
    });

    it('an outage of another cause, or another event, within the back-off is logged too', () => {
      const logged: string[] = [];
      const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: { warn: (line: string) => logged.push(line) } });
      const outage = (reason: string) => new ClerkAuthError('backend-api-failed-to-load', { cause: new Error(reason), retryAfterSeconds: 16 });
      clerkAuth.log('request refused', outage('the Backend API answered HTTP 503'));
      clerkAuth.log('request refused', outage('the Backend API answered HTTP 503'));
      clerkAuth.log('request refused', outage('the Backend API refused the secret key (HTTP 403)'));
      clerkAuth.log('user lookup failed', outage('the Backend API answered HTTP 503'));
      expect(logged).toEqual([
        "[clerk-mastra-auth] Clerk's Backend API unavailable (backend-api-failed-to-load): the Backend API answered HTTP 503",
        // A line of its own, which counts the one request not logged before it.
        "[clerk-mastra-auth] Clerk's Backend API unavailable (backend-api-failed-to-load): the Backend API refused the secret key (HTTP 403) (1 more since the last line)",
        "[clerk-mastra-auth] Clerk's Backend API unavailable (backend-api-failed-to-load): the Backend API answered HTTP 503",
      ]);
    });

    it('causes that alternate within a back-off are logged once each, not once per change', () => {
      const logged: string[] = [];
      const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: { warn: (line: string) => logged.push(line) } });
      const causes = ['the Backend API answered HTTP 503', 'no answer within 5000 ms'];
      for (let i = 0; i < 100; i += 1) {
        clerkAuth.log('request refused', new ClerkAuthError('backend-api-failed-to-load', { cause: new Error(causes[i % 2]), retryAfterSeconds: 16 }));
      }
      expect(logged).toEqual([
        "[clerk-mastra-auth] Clerk's Backend API unavailable (backend-api-failed-to-load): the Backend API answered HTTP 503",
        "[clerk-mastra-auth] Clerk's Backend API unavailable (backend-api-failed-to-load): no answer within 5000 ms",
      ]);
    });

    it('never echoes the token in the response', async () => {
      const token = await issuer.mintToken({}, { signWith: 'foreign' });
      const res = await request(appWith()).get('/me').set('Authorization', `Bearer ${token}`);
      await expectRejected(res, 401, 'token-invalid-signature');
      expect(JSON.stringify(res.headers) + res.text).not.toContain(token.split('.')[2]);
    });
  });

  describe('optional mode', () => {
    it('lets a request without a token through, signed out', async () => {
      const res = await request(appWith({ optional: true })).get('/me');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ userId: null, isAuthenticated: false, sessionStatus: null });
    });

    it('still rejects a bad token: it never becomes anonymous', async () => {
      const res = await request(appWith({ optional: true })).get('/me').set('Authorization', `Bearer ${await issuer.mintToken({}, { expired: true })}`);
      await expectRejected(res, 401, 'token-expired');
      const junk = await request(appWith({ optional: true })).get('/me').set('Authorization', 'Bearer a.b.c');
      await expectRejected(junk, 401, 'token-invalid', 'The token is not three canonical base64url parts.');
    });

    it('treats a pending session as signed out, as Clerk does', async () => {
      const token = await issuer.mintToken({}, { pending: true });
      const res = await request(appWith({ optional: true })).get('/me').set('Authorization', `Bearer ${token}`);
      expect(res.body).toEqual({ userId: null, isAuthenticated: false, sessionStatus: 'pending' });
      await expectRejected(await request(appWith()).get('/me').set('Authorization', `Bearer ${token}`), 401, 'session-pending');
    });

    it('requireClerkAuth() guards single routes: 401 signed out, 200 signed in, 403 when its policy says no', async () => {
      const app = express();
      app.use(clerkMastraAuth({ ...issuer.authOptions, env: {}, logger: false, optional: true }));
      app.get('/public', (_req, res) => res.json({ ok: true }));
      app.get('/private', requireClerkAuth(), (req, res) => res.json({ userId: getClerkAuth(req).userId }));
      app.get('/admins', requireClerkAuth((user) => user.o?.rol === 'admin'), (_req, res) => res.json({ ok: true }));
      const member = await issuer.mintToken({}, { userId: 'user_m', org: { id: 'org_1', role: 'org:member' } });
      const admin = await issuer.mintToken({}, { userId: 'user_a', org: { id: 'org_1', role: 'org:admin' } });

      expect((await request(app).get('/public')).status).toBe(200);
      await expectRejected(await request(app).get('/private'), 401, 'token-missing');
      const pending = await request(app).get('/private').set('Authorization', `Bearer ${await issuer.mintToken({}, { pending: true })}`);
      await expectRejected(pending, 401, 'session-pending');
      expect((await request(app).get('/private').set('Authorization', `Bearer ${member}`)).body).toEqual({ userId: 'user_m' });
      const denied = await request(app).get('/admins').set('Authorization', `Bearer ${member}`);
      await expectRejected(denied, 403, 'access-denied');
      expect(denied.headers['www-authenticate']).toBe(
        'Bearer realm="api", error="insufficient_scope", error_description="The signed-in user is not allowed to access this resource."',
      );
      expect((await request(app).get('/admins').set('Authorization', `Bearer ${admin}`)).status).toBe(200);
      // A policy's answer is yes or no: anything but true, an error object included, is the guard's own 403.
      app.get('/odd', requireClerkAuth((() => new ClerkAuthError('jwk-remote-failed-to-load')) as never), (_req, res) => res.json({ ok: true }));
      await expectRejected(await request(app).get('/odd').set('Authorization', `Bearer ${admin}`), 403, 'access-denied');
    });

    it('requireClerkAuth() without the middleware is a configuration error, not an open door', async () => {
      const app = express();
      app.get('/private', requireClerkAuth(), (_req, res) => res.json({ ok: true }));
      const res = await request(app).get('/private');
      expect(res.status).toBe(500);
    });
  });

  describe('the shared authorizeUser policy', () => {
    it('decides by full path and organization role, and sees the Express request', async () => {
      const seen: AuthorizeContext[] = [];
      const app = express();
      app.use(
        clerkMastraAuth({
          ...issuer.authOptions,
          env: {},
          logger: false,
          authorizeUser: async (user, ctx) => {
            seen.push(ctx);
            if (ctx.path.startsWith('/admin')) return user.o?.rol === 'admin';
            return true;
          },
        }),
      );
      const router = express5.Router();
      router.get('/reports', (_req, res) => res.json({ ok: true }));
      app.use('/admin', router);
      app.get('/me', (_req, res) => res.json({ ok: true }));
      const member = await issuer.mintToken({}, { org: { id: 'org_1', role: 'org:member' } });
      const admin = await issuer.mintToken({}, { org: { id: 'org_1', role: 'org:admin' } });

      expect((await request(app).get('/me').set('Authorization', `Bearer ${member}`)).status).toBe(200);
      const denied = await request(app).get('/admin/reports?x=1').set('Authorization', `Bearer ${member}`).set('X-Trace', 't1');
      await expectRejected(denied, 403, 'access-denied', 'The signed-in user is not allowed to access this resource.');
      expect((await request(app).get('/admin/reports').set('Authorization', `Bearer ${admin}`)).status).toBe(200);

      const ctx = seen[1]!;
      expect({ method: ctx.method, path: ctx.path, source: ctx.source }).toEqual({ method: 'GET', path: '/admin/reports', source: 'express' });
      expect(ctx.headers.get('X-TRACE')).toBe('t1');
      expect(ctx.headers.get('x-missing')).toBeNull();
      expect((ctx.request as Request).originalUrl).toBe('/admin/reports?x=1');
    });

    it.each<[string, string, Record<string, string>, string]>([
      ['an absolute-form target', 'http://x/admin/report', {}, TARGET_MESSAGE],
      ['a fragment', '/admin/report#', {}, TARGET_MESSAGE],
      ['a fragment before a query', '/admin/report#x?y', {}, TARGET_MESSAGE],
      ['a Host with a path', '/admin/report', { Host: 'x/zz' }, 'The Host header is not a host name.'],
      ['a Host with a space', '/admin/report', { Host: 'x y' }, 'The Host header is not a host name.'],
      ['a Host with an impossible port', '/admin/report', { Host: 'x:99999' }, 'The Host header is not a host name.'],
    ])('refuses %s with 400 before a path policy sees it', async (_case, target, headers, message) => {
      const seen: string[] = [];
      const app = appWith({
        authorizeUser: (user, ctx) => {
          seen.push(ctx.path);
          return ctx.path !== '/admin/report' || user.o?.rol === 'admin';
        },
      });
      app.get('/admin/report', (_req, res) => res.json({ report: 'secret' }));
      const member = await issuer.mintToken({}, { org: { id: 'org_1', role: 'org:member' } });
      const base = await listen(app);
      try {
        await expectRejected(await rawGet(base.port, target, { ...headers, Authorization: `Bearer ${member}` }), 400, 'request-invalid', message);
        expect(seen).toEqual([]);
        await expectRejected(await rawGet(base.port, '/admin/report', { Authorization: `Bearer ${member}` }), 403, 'access-denied');
        // A host name with an underscore (a docker-compose service) is a host name.
        expect((await rawGet(base.port, '/me', { Host: 'mastra_api:4111', Authorization: `Bearer ${member}` })).status).toBe(200);
      } finally {
        await base.close();
      }
    });

    it('refuses a dot segment that %2F makes, before a prefix policy sees /t/acme/../globex (found by a new-user session)', async () => {
      const seen: string[] = [];
      const app = appWith({
        // The README's advice for a tenant rule: match whole prefixes, lower-cased.
        authorizeUser: (user, ctx) => {
          seen.push(ctx.path);
          const path = ctx.path.toLowerCase();
          return !path.startsWith('/t/') || path.startsWith(`/t/${user.o?.slg}/`);
        },
      });
      app.get('/t/:tenant/data', (req, res) => res.json({ tenant: req.params.tenant }));
      const acme = await issuer.mintToken({}, { org: { id: 'org_1', slug: 'acme', role: 'org:member' } });
      const base = await listen(app);
      try {
        for (const target of ['/t/acme%2F..%2Fglobex/data', '/t/acme%2f..%2fglobex/data', '/t/acme%2F.%2F..%2F..%2Ft%2Fglobex/data', '/t/acme/x%2F..']) {
          await expectRejected(await rawGet(base.port, target, { Authorization: `Bearer ${acme}` }), 400, 'request-invalid', TARGET_MESSAGE);
        }
        expect(seen).toEqual([]);
        // Case: Express routes /T/globex as /t/globex, and the lower-cased rule refuses it.
        await expectRejected(await rawGet(base.port, '/T/globex/data', { Authorization: `Bearer ${acme}` }), 403, 'access-denied');
        // Control: dots inside a segment, and an encoded slash without a dot segment, are ids like any other.
        const own = await rawGet(base.port, '/t/acme/data', { Authorization: `Bearer ${acme}` });
        expect([own.status, JSON.parse(own.body)]).toEqual([200, { tenant: 'acme' }]);
        const dotted = await rawGet(base.port, '/t/acme%2F..x/data', { Authorization: `Bearer ${acme}` });
        expect(dotted.status).toBe(200);
      } finally {
        await base.close();
      }
    });

    it('a reused token behind 100 synchronous middlewares still reaches the route (Express defers deep next() calls)', async () => {
      const app = express();
      for (let i = 0; i < 100; i += 1) app.use((_req: Request, _res: Response, next: NextFunction) => next());
      app.use(clerkMastraAuth({ ...issuer.authOptions, env: {}, logger: false }));
      for (let i = 0; i < 100; i += 1) app.use((_req: Request, _res: Response, next: NextFunction) => next());
      app.get('/me', (req, res) => res.json({ userId: getClerkAuth(req).userId }));
      const token = await issuer.mintToken({}, { userId: 'user_deep' });
      for (let i = 0; i < 3; i += 1) {
        const res = await request(app).get('/me').set('Authorization', `Bearer ${token}`);
        expect([res.status, res.body]).toEqual([200, { userId: 'user_deep' }]);
      }
    });

    it('refuses, at start-up, a clerkAuth that createClerkAuth() did not make, and options next to clerkAuth', () => {
      const real = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false });
      expect(() => clerkMastraAuth({ clerkAuth: { ...real } as never })).toThrow(
        'clerkMastraAuth: "clerkAuth" must be an object made by createClerkAuth()',
      );
      expect(() => clerkMastraAuth({ clerkAuth: real, issuer: 'https://x' } as never)).toThrow(
        'clerkMastraAuth: pass "issuer" to createClerkAuth(), not next to "clerkAuth"',
      );
    });

    it('a policy that throws is a 500 authorization-error, logged with what it threw, never a crash', async () => {
      const logged: string[] = [];
      const app = appWith({
        logger: (m) => logged.push(m),
        authorizeUser: () => {
          throw new Error('database down');
        },
      });
      const token = await issuer.mintToken();
      const res = await request(app).get('/me').set('Authorization', `Bearer ${token}`);
      expect(res.status).toBe(500);
      expect(res.body).toEqual({ error: 'authorization-error', message: 'The authorization policy failed.' });
      // The policy is the app's own code: the line says what it threw, with where (a new user found only the code).
      expect(logged).toEqual([expect.stringMatching(/^\[clerk-mastra-auth\] authorizeUser threw \(authorization-error\): Error: database down\n\s+at /)]);
      expect(logged.join()).not.toContain(token);
    });

    it.each([
      ['an object without a prototype', () => Object.assign(Object.create(null) as object, { reason: 'no prototype' })],
      ['an Error whose stack is such an object', () => Object.assign(new Error('boom'), { stack: Object.create(null) as unknown })],
    ])('a policy that throws %s is still the 500 authorization-error, logged', async (_name, thrown) => {
      const logged: string[] = [];
      const app = appWith({
        logger: (m) => logged.push(m),
        authorizeUser: () => {
          throw thrown();
        },
      });
      const res = await request(app).get('/me').set('Authorization', `Bearer ${await issuer.mintToken()}`);
      expect([res.status, res.body]).toEqual([500, { error: 'authorization-error', message: 'The authorization policy failed.' }]);
      expect(logged).toEqual(['[clerk-mastra-auth] authorizeUser threw (authorization-error): a value that cannot be printed']);
    });

    it('shares one verifier and policy between middlewares of one createClerkAuth()', async () => {
      await withIssuer(async (own) => {
        const auth = createClerkAuth({ ...own.authOptions, env: {}, logger: false, authorizeUser: (_u, ctx) => ctx.path !== '/blocked' });
        const app = express();
        app.use('/a', clerkMastraAuth({ clerkAuth: auth }));
        app.use('/b', clerkMastraAuth({ clerkAuth: auth }));
        app.get(['/a/blocked', '/a/ok', '/b/ok'], (_req, res) => res.json({ ok: true }));
        const token = await own.mintToken();
        expect((await request(app).get('/a/ok').set('Authorization', `Bearer ${token}`)).status).toBe(200);
        expect((await request(app).get('/b/ok').set('Authorization', `Bearer ${await own.mintToken()}`)).status).toBe(200);
        expect(own.jwksFetchCount).toBe(1);
        // The policy sees the full path, whatever the mount point.
        expect((await request(app).get('/a/blocked').set('Authorization', `Bearer ${token}`)).status).toBe(200);
      });
    });
  });

  describe('Clerk compatibility', () => {
    it('getAuth(req) from @clerk/express reads our req.auth unchanged', async () => {
      const app = appWith();
      app.get('/clerk', (req, res) => {
        const auth = getAuth(req);
        res.json({ userId: auth.userId, sessionId: auth.sessionId, isAuthenticated: auth.isAuthenticated });
      });
      const token = await issuer.mintToken({ sid: 'sess_42' }, { userId: 'user_clerk' });
      const res = await request(app).get('/clerk').set('Authorization', `Bearer ${token}`);
      expect(res.body).toEqual({ userId: 'user_clerk', sessionId: 'sess_42', isAuthenticated: true });
    });

    it.each([1, 2] as const)('has({ role }) and has({ permission }) behave as Clerk on v%i tokens', async (version) => {
      const app = appWith();
      app.get('/org', (req, res) => {
        const auth = getClerkAuth(req);
        res.json({
          orgId: auth.orgId,
          orgRole: auth.orgRole,
          orgSlug: auth.orgSlug,
          orgPermissions: auth.orgPermissions,
          admin: auth.has({ role: 'org:admin' }),
          member: auth.has({ role: 'org:member' }),
          read: auth.has({ permission: 'org:posts:read' }),
          remove: auth.has({ permission: 'org:posts:delete' }),
        });
      });
      const token = await issuer.mintToken(
        {},
        { version, org: { id: 'org_7', slug: 'acme', role: 'org:admin', permissions: ['org:posts:read', 'org:posts:manage'] } },
      );
      const res = await request(app).get('/org').set('Authorization', `Bearer ${token}`);
      expect(res.body).toEqual({
        orgId: 'org_7',
        orgRole: 'org:admin',
        orgSlug: 'acme',
        orgPermissions: ['org:posts:read', 'org:posts:manage'],
        admin: true,
        member: false,
        read: true,
        remove: false,
      });
    });

    it('has({ feature }) and has({ plan }) read the v2 fea and pla claims as Clerk does', async () => {
      const app = appWith();
      app.get('/billing', (req, res) => {
        const auth = getClerkAuth(req);
        res.json({
          agents: auth.has({ feature: 'ai_agents' }),
          orgAgents: auth.has({ feature: 'org:ai_agents' }),
          userAgents: auth.has({ feature: 'user:ai_agents' }),
          export: auth.has({ feature: 'export' }),
          pro: auth.has({ plan: 'pro' }),
        });
      });
      const token = await issuer.mintToken({ fea: 'o:ai_agents,u:beta', pla: 'o:pro' }, { org: { id: 'org_1', role: 'org:member' } });
      const res = await request(app).get('/billing').set('Authorization', `Bearer ${token}`);
      expect(res.body).toEqual({ agents: true, orgAgents: true, userAgents: false, export: false, pro: true });
    });

    it('gives each request its own AuthObject: decorating one does not change the next', async () => {
      const app = appWith();
      app.get('/decorate', (req, res) => {
        const auth = getAuth(req) as unknown as Record<string, unknown>;
        const before = { tag: auth.requestTag, canManage: getClerkAuth(req).has({ permission: 'org:admin:manage' }) };
        auth.requestTag = 'set by an earlier request';
        expect(() => (getClerkAuth(req).orgPermissions as string[]).push('org:admin:manage')).toThrow(/not extensible/);
        res.json(before);
      });
      const token = await issuer.mintToken({}, { org: { id: 'org_1', role: 'org:member', permissions: ['org:posts:read'] } });
      for (let i = 0; i < 2; i += 1) {
        const res = await request(app).get('/decorate').set('Authorization', `Bearer ${token}`);
        expect([res.status, res.body]).toEqual([200, { canManage: false }]);
      }
    });

    it('refuses a spread createClerkAuth() object instead of silently dropping its policy', () => {
      const auth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false, authorizeUser: () => false });
      expect(() => clerkMastraAuth({ ...auth, optional: true } as never)).toThrow(
        'to share a createClerkAuth() object, pass it as { clerkAuth }',
      );
      expect(() => clerkMastraAuth({ clerkAuth: auth, optional: true })).not.toThrow();
    });

    it('names the option a misspelt one was likely meant to be, and no spread object where there is none', () => {
      const options = { ...issuer.authOptions, env: {}, logger: false as const };
      expect(() => clerkMastraAuth({ ...options, authorisedParties: ['https://app.example'] } as never)).toThrow(
        'clerkMastraAuth: unknown option "authorisedParties"; did you mean "authorizedParties"?',
      );
      expect(() => clerkMastraAuth({ ...options, publicPaths: ['/health'] } as never)).toThrow(/^clerkMastraAuth: unknown option "publicPaths"$/);
    });

    it('createClerkAuth() refuses a misspelt option too, which it used to drop: no azp check, no policy', async () => {
      const options = { ...issuer.authOptions, env: {}, logger: false as const };
      expect(() => createClerkAuth({ ...options, authorisedParties: ['https://app.example'] } as never)).toThrow(
        'createClerkAuth: unknown option "authorisedParties"; did you mean "authorizedParties"?',
      );
      expect(() => createClerkAuth({ ...options, autorizeUser: () => false } as never)).toThrow(
        'createClerkAuth: unknown option "autorizeUser"; did you mean "authorizeUser"?',
      );
      // A singular for a plural (three edits in a long name), as a new user wrote it.
      expect(() => createClerkAuth({ ...options, authorizedParty: 'https://app.example' } as never)).toThrow(
        'createClerkAuth: unknown option "authorizedParty"; did you mean "authorizedParties"?',
      );
      // Next to a shared object, a misspelling is named as such, not sent to createClerkAuth() where it would fail again.
      const clerkAuth = createClerkAuth(options);
      expect(() => clerkMastraAuth({ clerkAuth, optinal: true } as never)).toThrow(
        'clerkMastraAuth: unknown option "optinal"; did you mean "optional"?',
      );
      expect(() => clerkMastraAuth({ clerkAuth, jwksUri: options.jwksUri } as never)).toThrow('clerkMastraAuth: pass "jwksUri" to createClerkAuth(), not next to "clerkAuth"');
    });

    it('ignores a req.auth that another middleware put there', async () => {
      const app = express();
      app.use((req: Request, _res: Response, next: NextFunction) => {
        // Another library's req.auth, even one carrying Clerk's brand.
        const forged = Object.assign(() => ({ userId: 'user_forged', isAuthenticated: true }), {
          [Symbol.for('@clerk/express.auth')]: true,
        });
        (req as unknown as { auth: unknown }).auth = forged;
        next();
      });
      app.use(clerkMastraAuth({ ...issuer.authOptions, env: {}, logger: false, optional: true }));
      app.get('/me', (req, res) => res.json({ ours: getClerkAuth(req).userId, clerk: getAuth(req).userId }));
      const res = await request(app).get('/me');
      expect(res.body).toEqual({ ours: null, clerk: null });
    });

    it('req.auth reaches the routes of a sub-app mounted after the middleware', async () => {
      const app = appWith();
      const sub = express();
      sub.get('/who', (req, res) => res.json({ clerk: getAuth(req).userId, ours: getClerkAuth(req).userId, type: typeof req.auth }));
      app.use('/sub', sub);
      const token = await issuer.mintToken({}, { userId: 'user_sub' });
      const res = await request(app).get('/sub/who').set('Authorization', `Bearer ${token}`);
      expect([res.status, res.body]).toEqual([200, { clerk: 'user_sub', ours: 'user_sub', type: 'function' }]);
    });

    it('serves req.auth without a property per request, and not to the routes before the middleware', async () => {
      const app = express();
      app.get('/before', (req, res) => res.json({ auth: typeof req.auth, in: 'auth' in req }));
      app.use(clerkMastraAuth({ ...issuer.authOptions, env: {}, logger: false }));
      app.get('/me', (req, res) => res.json({ clerk: getAuth(req).userId, own: Object.hasOwn(req, 'auth'), keys: Object.keys(req).includes('auth') }));
      const token = await issuer.mintToken({}, { userId: 'user_proto' });
      for (let i = 0; i < 2; i++) {
        const res = await request(app).get('/me').set('Authorization', `Bearer ${token}`);
        expect([res.status, res.body]).toEqual([200, { clerk: 'user_proto', own: false, keys: false }]);
        expect((await request(app).get('/before').set('Authorization', `Bearer ${token}`)).body.auth).toBe('undefined');
      }
      // A request the middleware refused never reaches a route, and nothing of it is kept.
      expect((await request(app).get('/me')).status).toBe(401);
    });

    it('req.auth reaches the routes of the parent app after a sub-app that runs the middleware', async () => {
      const app = express();
      const sub = express();
      sub.use(clerkMastraAuth({ ...issuer.authOptions, env: {}, logger: false }));
      sub.get('/who', (req, res) => res.json({ clerk: getAuth(req).userId }));
      sub.use((_req: Request, _res: Response, next: NextFunction) => next());
      app.use('/sub', sub);
      app.get('/sub/after', (req, res) => res.json({ clerk: getAuth(req).userId, ours: getClerkAuth(req).userId }));
      app.get('/outside', (req, res) => res.json({ auth: typeof req.auth }));
      const token = await issuer.mintToken({}, { userId: 'user_parent' });
      expect((await request(app).get('/sub/who').set('Authorization', `Bearer ${token}`)).body).toEqual({ clerk: 'user_parent' });
      const res = await request(app).get('/sub/after').set('Authorization', `Bearer ${token}`);
      expect([res.status, res.body]).toEqual([200, { clerk: 'user_parent', ours: 'user_parent' }]);
      expect((await request(app).get('/outside').set('Authorization', `Bearer ${token}`)).body).toEqual({ auth: 'undefined' });
    });

    /** A route that answers who `getAuth(req)` from @clerk/express says the request is, or that it threw. */
    const who = (req: Request, res: Response): void => {
      let clerk: string | null | 'threw';
      try {
        clerk = getAuth(req).userId;
      } catch {
        clerk = 'threw';
      }
      res.json({ clerk, auth: typeof req.auth });
    };

    it('a sub-app mounted in two apps: the first app runs the middleware, the sub-app route reads req.auth', async () => {
      const shared = express();
      shared.get('/who', who);
      const app = express();
      app.use(clerkMastraAuth({ ...issuer.authOptions, env: {}, logger: false }));
      app.use('/shared', shared);
      const other = express();
      other.use('/shared', shared); // mounting points shared.request's prototype at other.request
      const token = await issuer.mintToken({}, { userId: 'user_shared' });
      const res = await request(app).get('/shared/who').set('Authorization', `Bearer ${token}`);
      expect(res.body).toEqual({ clerk: 'user_shared', auth: 'function' });
    });

    it("a sub-app with the middleware, mounted in two apps: the first app's route after it reads req.auth", async () => {
      const guarded = express();
      guarded.use(clerkMastraAuth({ ...issuer.authOptions, env: {}, logger: false }));
      guarded.get('/in', who);
      guarded.use((_req: Request, _res: Response, next: NextFunction) => next());
      const app = express();
      app.use('/g', guarded);
      app.get('/g/after', who);
      const second = express();
      second.use('/g', guarded);
      const token = await issuer.mintToken({}, { userId: 'user_two' });
      expect((await request(app).get('/g/in').set('Authorization', `Bearer ${token}`)).body).toEqual({ clerk: 'user_two', auth: 'function' });
      const res = await request(app).get('/g/after').set('Authorization', `Bearer ${token}`);
      expect(res.body).toEqual({ clerk: 'user_two', auth: 'function' });
    });

    it('an app handed the request by a function (lazy-loaded or per-tenant apps), not mounted: reads req.auth', async () => {
      const api = express();
      api.get('/who', who);
      const app = express();
      app.use(clerkMastraAuth({ ...issuer.authOptions, env: {}, logger: false }));
      app.use('/api', (req: Request, res: Response, next: NextFunction) => (api as unknown as (a: Request, b: Response, c: NextFunction) => void)(req, res, next));
      const token = await issuer.mintToken({}, { userId: 'user_lazy' });
      const res = await request(app).get('/api/who').set('Authorization', `Bearer ${token}`);
      expect(res.body).toEqual({ clerk: 'user_lazy', auth: 'function' });
    });

    it('a sub-app mounted again after the first request was served (its prototype now has another chain)', async () => {
      const sub = express();
      sub.get('/who', who);
      const app = express();
      app.use(clerkMastraAuth({ ...issuer.authOptions, env: {}, logger: false }));
      app.use('/s', sub);
      const token = await issuer.mintToken({}, { userId: 'user_moved' });
      expect((await request(app).get('/s/who').set('Authorization', `Bearer ${token}`)).body).toEqual({ clerk: 'user_moved', auth: 'function' });
      express().use('/s', sub); // e.g. a test harness or a second server mounting the same router app later
      expect((await request(app).get('/s/who').set('Authorization', `Bearer ${token}`)).body).toEqual({ clerk: 'user_moved', auth: 'function' });
    });

    it("leaves another app's requests alone: no req.auth, and that app's own req.auth works (as express-jwt sets it)", async () => {
      const token = await issuer.mintToken({}, { userId: 'user_other' });
      // Our middleware has served a request of this Express before the other app runs.
      expect((await request(appWith()).get('/me').set('Authorization', `Bearer ${token}`)).body.userId).toBe('user_other');
      const other = express();
      // Express's request prototype carries the accessor now (`'auth' in req`), which reads nothing for this request.
      other.get('/before', (req, res) => res.json({ auth: req.auth === undefined && !Object.hasOwn(req, 'auth') ? 'none' : typeof req.auth }));
      other.use((req: Request, _res: Response, next: NextFunction) => {
        (req as unknown as { auth: unknown }).auth = { payload: { sub: 'jwt_user' } };
        next();
      });
      other.get('/after', (req, res) => res.json({ auth: req.auth, keys: Object.keys(req).includes('auth') }));
      other.get('/clerk', (req, res) => res.json({ throws: (() => { try { getClerkAuth(req); return false; } catch { return true; } })() }));
      expect((await request(other).get('/before')).body).toEqual({ auth: 'none' });
      expect((await request(other).get('/after')).body).toEqual({ auth: { payload: { sub: 'jwt_user' } }, keys: true });
      expect((await request(other).get('/clerk')).body).toEqual({ throws: true });
    });

    it('a middleware after ours may replace req.auth for its readers; getClerkAuth(req) still answers ours', async () => {
      const app = express();
      app.use(clerkMastraAuth({ ...issuer.authOptions, env: {}, logger: false }));
      app.use((req: Request, _res: Response, next: NextFunction) => {
        (req as unknown as { auth: unknown }).auth = 'replaced';
        next();
      });
      app.get('/me', (req, res) => res.json({ auth: req.auth, ours: getClerkAuth(req).userId }));
      const token = await issuer.mintToken({}, { userId: 'user_after' });
      const res = await request(app).get('/me').set('Authorization', `Bearer ${token}`);
      expect([res.status, res.body]).toEqual([200, { auth: 'replaced', ours: 'user_after' }]);
    });

    it('getClerkAuth(req) without the middleware throws instead of trusting req.auth', () => {
      const req = { auth: () => ({ userId: 'user_forged' }) } as unknown as Request;
      expect(() => getClerkAuth(req)).toThrow('getClerkAuth(req) needs app.use(clerkMastraAuth()) to run before it');
    });
  });

  describe('errors for apps that render their own', () => {
    it('onError receives the ClerkAuthError', async () => {
      const app = appWith({
        onError: (error, _req, res) => {
          res.status(error.status).set(error.headers).send(`custom ${error.code}`);
        },
      });
      const res = await request(app).get('/me');
      expect(res.status).toBe(401);
      expect(res.text).toBe('custom token-missing');
      expect(res.headers['www-authenticate']).toBe('Bearer realm="api"');
    });

    it("next(error) works with Express's default error handler (status and WWW-Authenticate)", async () => {
      const app = appWith({ onError: (error, _req, _res, next) => next(error) });
      const res = await request(app).get('/me').set('Authorization', `Bearer ${await issuer.mintToken({}, { expired: true })}`);
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe(invalidTokenChallenge('The token has expired.'));
    });
  });

  it('refuses every request (503 server-unsafe, said once at error) while Object.prototype has a property', async () => {
    const errors: string[] = [];
    const app = appWith({ logger: { error: (line) => errors.push(line) } });
    const token = await issuer.mintToken({}, { userId: 'user_1' });
    expect((await request(app).get('/me').set('Authorization', `Bearer ${token}`)).status).toBe(200);
    try {
      // What Mastra's query normalizer does for `?__proto__[rol]=admin` on a route that never asks the provider.
      (Object.prototype as Record<string, unknown>).rol = 'admin';
      for (let i = 0; i < 2; i += 1) {
        await expectRejected(await request(app).get('/me').set('Authorization', `Bearer ${token}`), 503, 'server-unsafe');
      }
      expect(errors.filter((line) => line.includes('Object.prototype or Object has changed (properties "rol")'))).toHaveLength(1);
    } finally {
      delete (Object.prototype as Record<string, unknown>).rol;
    }
    expect((await request(app).get('/me').set('Authorization', `Bearer ${token}`)).status).toBe(200);
  });

  describe('after what Mastra\'s query normalizer writes for other names than __proto__', () => {
    const { freeze } = Object;
    const hasOwnProperty = Object.prototype.hasOwnProperty as unknown as Record<string, unknown>;
    const { toString } = Object.prototype;
    it.each([
      ['?constructor[freeze]=x', (): void => void Object.assign(Object, { freeze: 'x' }), (): void => void Object.assign(Object, { freeze })],
      ['?constructor[rol]=admin', (): void => void Object.assign(Object, { rol: 'admin' }), (): void => void delete (Object as unknown as Record<string, unknown>).rol],
      ['?hasOwnProperty[call]=x', (): void => void (hasOwnProperty.call = 'x'), (): void => void delete hasOwnProperty.call],
      // Nothing can then be made a string: jose's checks throw for every token, which read as bad tokens.
      ['?__proto__[toString]=x', (): void => void Object.assign(Object.prototype, { toString: 'x' }), (): void => void Object.assign(Object.prototype, { toString })],
      // No query of Mastra's is known to write there (its normalizer reads one bracket): checked as cheaply as the rest.
      ['Function.rol = admin', (): void => void Object.assign(Function, { rol: 'admin' }), (): void => void delete (Function as unknown as Record<string, unknown>).rol],
    ] as const)('%s: every request is refused (server-unsafe)', async (_label, write, restore) => {
      // Asked of the core directly: with these written, the test's own HTTP client breaks too.
      const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false });
      const headers = { authorization: [`Bearer ${await issuer.mintToken({}, { userId: 'user_1' })}`] };
      await clerkAuth.authenticate(headers);
      let refused: unknown;
      try {
        write();
        try {
          clerkAuth.authenticate(headers);
        } catch (error) {
          refused = error;
        }
      } finally {
        restore();
      }
      expect(refused).toBeInstanceOf(ClerkAuthError);
      expect([(refused as ClerkAuthError).code, (refused as ClerkAuthError).status]).toEqual(['server-unsafe', 503]);
      expect(clerkAuth.authenticate(headers)).toMatchObject({ status: 'signed-in' });
    });
  });

  it('refuses a request whose policy ran while Object.prototype was written into (found by an attacker session: a race)', async () => {
    const errors: string[] = [];
    const app = appWith({
      logger: { error: (line) => errors.push(line) },
      // The write lands while the policy is awaited (as it may while a token is verified): the policy then reads it.
      authorizeUser: async (user) => {
        Object.assign(Object.prototype, { o: 'x', rol: 'admin' });
        await new Promise((resolve) => setImmediate(resolve));
        return (user as { o?: { rol?: string } }).o?.rol === 'admin';
      },
    });
    const token = await issuer.mintToken({}, { userId: 'user_1' });
    try {
      await expectRejected(await request(app).get('/me').set('Authorization', `Bearer ${token}`), 403, 'access-denied');
      expect(errors.filter((line) => line.includes('Object.prototype or Object has changed (properties "o", "rol")'))).toHaveLength(1);
    } finally {
      delete (Object.prototype as Record<string, unknown>).o;
      delete (Object.prototype as Record<string, unknown>).rol;
    }
  });
});

describe('configuration', () => {
  it('clerkMastraAuth() with no argument reads the CLERK_* environment', async () => {
    await withClerkEnv({ CLERK_JWT_KEY: issuer.jwtKey }, async () => {
      const app = express5();
      app.use(clerkMastraAuth());
      app.get('/me', (req, res) => res.json({ userId: getClerkAuth(req).userId }));
      const res = await request(app).get('/me').set('Authorization', `Bearer ${await issuer.mintToken({}, { userId: 'user_env' })}`);
      expect(res.body).toEqual({ userId: 'user_env' });
    });
  });

  it('fails at start-up, not on the first request, without key configuration', () => {
    expect(() => clerkMastraAuth({ env: {} })).toThrow(/CLERK_PUBLISHABLE_KEY/);
  });
});

describe('over a real listening server', () => {
  it('answers 200, 401 and 403 over HTTP', async () => {
    const app = express5();
    app.use(clerkMastraAuth({ ...issuer.authOptions, env: {}, logger: false, authorizeUser: (user) => user.sub !== 'user_banned' }));
    app.get('/me', (req, res) => res.json({ userId: getClerkAuth(req).userId }));
    const { base, close } = await listen(app);
    try {
      const ok = await fetch(`${base}/me`, { headers: { Authorization: `Bearer ${await issuer.mintToken({}, { userId: 'user_ok' })}` } });
      expect([ok.status, await ok.json()]).toEqual([200, { userId: 'user_ok' }]);
      await expectRejected(await fetch(`${base}/me`), 401, 'token-missing');
      const banned = await fetch(`${base}/me`, { headers: { Authorization: `Bearer ${await issuer.mintToken({}, { userId: 'user_banned' })}` } });
      await expectRejected(banned, 403, 'access-denied');
    } finally {
      await close();
    }
  });
});
