/**
 * Attacks on machine tokens, MCP protected-resource metadata and Mastra Studio sign-in, from the HTTP side, with the
 * real parts: the testing kit's issuer (session tokens, M2M and OAuth JWTs, opaque tokens and its fake Backend API),
 * real Express 5 over supertest or a socket, the real Mastra through `@mastra/express`, a real MCP server.
 *
 * Every test asserts the SAFE behaviour: a failing test is a hole.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express, type Request } from 'express';
import request from 'supertest';
import { Mastra } from '@mastra/core/mastra';
import { createTool } from '@mastra/core/tools';
import { MastraServer } from '@mastra/express';
import { MCPServer } from '@mastra/mcp';
import { z } from 'zod';
import {
  clerkMastraAuth,
  createClerkAuth,
  getClerkAuth,
  getClerkClaims,
  requireClerkAuth,
  rolePermissions,
  type AcceptsToken,
  type AuthorizeContext,
  type ClerkAuthOptions,
  type ClerkClaims,
} from '../../src/index.js';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { MAX_CALLS_IN_FLIGHT } from '../../src/core/backend-api.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { expectRefused, machineOptions, tokenOf, until, type TokenForm } from '../machine/support.js';
import { mcpClient, mcpTransport } from '../mcp/support.js';
import {
  Browser,
  SESSION_COOKIE,
  signInError,
  signInToClerk,
  startMixedStudioApp,
  startStudioApp,
  studioSignIn,
  type StudioApp,
} from '../studio/support.js';
import {
  apiKeyJson,
  captureLogs,
  expectRefusedWith,
  fakeBackendApi,
  randomOpaque,
  rawHttp,
  type FakeBackendApi,
} from './machine-support.js';

let issuer: TestIssuer;
const closers: Array<() => Promise<void> | void> = [];
beforeAll(async () => {
  issuer = await createTestIssuer();
});
afterAll(async () => {
  await issuer.close();
});
afterEach(async () => {
  issuer.setBackendApiFailure(null);
  issuer.setInactiveTokenAnswer('not-found');
  for (const close of closers.splice(0).reverse()) await close();
});

const SESSION_CAT = 'cl_B7d4PD111AAA';
const TEMPLATE_CAT = 'cl_B7d4PD222AAA';
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** What a session token's payload looks like (sid, azp, sts, v), for machine tokens dressed as sessions. */
function sessionDress(): Record<string, unknown> {
  return { sid: 'sess_forged', azp: issuer.authorizedParty, sts: 'active', v: 2 };
}

/** An Express 5 app behind `clerkMastraAuth(options)` with `GET /who` echoing what the app sees. */
function echoApp(options: Parameters<typeof clerkMastraAuth>[0]): Express {
  const app = express();
  app.use(clerkMastraAuth(options));
  app.get('/who', (req: Request, res) => {
    const any = getClerkAuth(req, { acceptsToken: 'any' }) as { tokenType?: string; isAuthenticated?: boolean };
    res.json({ session: getClerkAuth(req).userId ?? null, tokenType: any.tokenType ?? null, claims: getClerkClaims(req) ?? null });
  });
  return app;
}

async function listen(app: Express): Promise<{ port: number; base: string; server: Server }> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { port, base: `http://127.0.0.1:${port}`, server };
}

// ---------------------------------------------------------------------------------------------------------------------
// 1. Type confusion: a machine token (or a token dressed as one) where only sessions are accepted
// ---------------------------------------------------------------------------------------------------------------------

describe('type confusion: only Clerk session tokens sign a user in by default', () => {
  const sessionsOnly = () => echoApp(machineOptions(issuer));
  const allMachines = () => echoApp(machineOptions(issuer, { acceptsToken: ['session_token', 'm2m_token', 'oauth_token', 'api_key'] }));

  it.each<TokenForm>(['m2m-jwt', 'm2m-opaque', 'oauth-jwt', 'oauth-opaque', 'api-key'])(
    'a valid %s in the header of a session-only app: 401 token-type-mismatch, no Backend API call',
    async (form) => {
      const token = await tokenOf(issuer, form);
      const before = issuer.backendApiCalls();
      await expectRefused(await request(sessionsOnly()).get('/who').set(bearer(token)), 401, 'token-type-mismatch');
      expect(issuer.backendApiCalls()).toBe(before);
    },
  );

  it.each(['BEARER', 'bearer', 'bEaReR', 'Bearer\t', 'Bearer   '])('scheme spelled %j: a machine token is still refused (token-type-mismatch)', async (scheme) => {
    const token = await tokenOf(issuer, 'm2m-jwt');
    const res = await request(sessionsOnly()).get('/who').set('Authorization', `${scheme} ${token}`);
    await expectRefused(res, 401, 'token-type-mismatch');
  });

  it('an OAuth JWT carrying sid, azp and the session cat header: refused where only sessions are accepted', async () => {
    const token = await issuer.mintOAuthToken({ userId: 'user_victim', claims: sessionDress(), header: { cat: SESSION_CAT } });
    await expectRefused(await request(sessionsOnly()).get('/who').set(bearer(token)), 401, 'token-type-mismatch');
  });

  it.each(['AT+JWT', 'At+Jwt', 'application/AT+JWT', 'at+jwt ', 'jwt', 'JOSE', 'at+JWT'])(
    'a session-shaped token signed by the instance with typ %j is never a session (401, never 200)',
    async (typ) => {
      const now = nowSeconds();
      const token = await issuer.signJwt(
        { iss: issuer.issuer, sub: 'user_victim', iat: now, nbf: now, exp: now + 60, ...sessionDress(), client_id: 'client_x' },
        { header: { typ } },
      );
      for (const app of [sessionsOnly(), allMachines()]) {
        const res = await request(app).get('/who').set(bearer(token));
        expectRefusedWith(res, 401, ['token-type-mismatch', 'token-invalid']);
      }
    },
  );

  it('an M2M JWT with sid, azp and the session cat: never a session, and not an M2M token either', async () => {
    const token = await issuer.mintM2MToken({ machineId: 'mch_evil', claims: sessionDress(), header: { cat: SESSION_CAT } });
    await expectRefused(await request(sessionsOnly()).get('/who').set(bearer(token)), 401, 'token-type-mismatch');
    await expectRefused(await request(allMachines()).get('/who').set(bearer(token)), 401, 'token-invalid');
  });

  it('an M2M JWT whose subject is a user (sub user_…, M2M cat): 401 token-invalid as JSON with a valid challenge, not an Express error page', async () => {
    const token = await issuer.mintM2MToken({ claims: { sub: 'user_victim', ...sessionDress() } });
    await expectRefused(await request(sessionsOnly()).get('/who').set(bearer(token)), 401, 'token-type-mismatch');
    // Where M2M tokens are accepted the verifier refuses it with a message containing "…" (U+2026), which Node refuses
    // in a header: `setHeader('WWW-Authenticate')` throws and Express answers its HTML error page (a stack trace
    // outside production) instead of our JSON.
    const res = await request(allMachines()).get('/who').set(bearer(token));
    expect({ status: res.status, type: res.headers['content-type'] }).toEqual({ status: 401, type: expect.stringMatching(/^application\/json/) });
    expectRefusedWith(res, 401, ['token-invalid', 'token-type-mismatch']);
    expect(res.text).not.toMatch(/TypeError|at .*middleware\.ts/);
  });

  it('a JWT template token (its own cat) with a sid: refused whatever the app accepts', async () => {
    const token = await issuer.mintToken({}, { userId: 'user_victim', header: { cat: TEMPLATE_CAT } });
    for (const app of [sessionsOnly(), allMachines(), echoApp(machineOptions(issuer, { acceptsToken: 'any' }))]) {
      await expectRefused(await request(app).get('/who').set(bearer(token)), 401, 'token-type-mismatch');
    }
  });

  it('a session JWT whose subject is a machine (mch_…): not a session', async () => {
    const token = await issuer.mintToken({}, { userId: 'mch_looks_like_a_machine' });
    await expectRefused(await request(sessionsOnly()).get('/who').set(bearer(token)), 401, 'token-type-mismatch');
  });

  it('a JWT behind an opaque prefix (mt_eyJ…, ak_eyJ…, oat_eyJ…): never a session, no Backend API call, never a 500', async () => {
    const session = await issuer.mintToken({}, { userId: 'user_victim' });
    for (const prefix of ['mt_', 'ak_', 'oat_']) {
      const before = issuer.backendApiCalls();
      await expectRefused(await request(sessionsOnly()).get('/who').set(bearer(`${prefix}${session}`)), 401, 'token-type-mismatch');
      await expectRefused(await request(allMachines()).get('/who').set(bearer(`${prefix}${session}`)), 401, 'token-invalid');
      expect(issuer.backendApiCalls()).toBe(before);
    }
  });

  it('optional: true never turns a machine token of a type not accepted into an anonymous request (401, not signed out)', async () => {
    const app = echoApp({ ...machineOptions(issuer), optional: true });
    for (const form of ['m2m-jwt', 'oauth-jwt', 'api-key', 'm2m-opaque'] as const) {
      await expectRefused(await request(app).get('/who').set(bearer(await tokenOf(issuer, form))), 401, 'token-type-mismatch');
    }
    expect((await request(app).get('/who')).body).toMatchObject({ session: null, tokenType: 'session_token' });
  });

  it('two Authorization headers (a session and a machine token): 400 request-invalid, whichever comes first', async () => {
    const { port } = await listen(allMachines());
    const session = await issuer.mintToken({}, { userId: 'user_victim' });
    const m2m = await tokenOf(issuer, 'm2m-jwt');
    for (const [a, b] of [[session, m2m], [m2m, session]]) {
      for (const [n1, n2] of [['Authorization', 'Authorization'], ['authorization', 'AUTHORIZATION']]) {
        const res = await rawHttp(port, `GET /who HTTP/1.1\r\nHost: 127.0.0.1\r\n${n1}: Bearer ${a}\r\n${n2}: Bearer ${b}\r\nConnection: close`);
        expectRefusedWith({ ...res, body: res.body }, 400, ['request-invalid']);
      }
    }
  });

  it('machine tokens in the __session cookie (a valid __client_uat) of a session-only app: 401, no Backend API call', async () => {
    const uat = nowSeconds() - 60;
    for (const form of ['m2m-jwt', 'oauth-jwt', 'm2m-opaque', 'api-key', 'oauth-opaque'] as const) {
      const token = await tokenOf(issuer, form);
      const before = issuer.backendApiCalls();
      const res = await request(sessionsOnly()).get('/who').set('Cookie', `__session=${token}; __client_uat=${uat}`);
      await expectRefused(res, 401, 'token-type-mismatch');
      expect(issuer.backendApiCalls()).toBe(before);
    }
  });

  it('a machine token in a second __session cookie next to a real session: never the credential', async () => {
    const uat = nowSeconds() - 60;
    const session = await issuer.mintToken({}, { userId: 'user_person' });
    const m2m = await tokenOf(issuer, 'm2m-jwt');
    for (const cookie of [`__session=${m2m}; __session=${session}`, `__session=${session}; __session=${m2m}`]) {
      const res = await request(allMachines()).get('/who').set('Cookie', `${cookie}; __client_uat=${uat}`);
      if (res.status === 200) expect(res.body).toMatchObject({ session: 'user_person', tokenType: 'session_token' });
      else expectRefusedWith(res, res.status, ['request-invalid', 'token-type-mismatch']);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// 2. Standalone Mastra: `?apiKey=` and the provider's own list
// ---------------------------------------------------------------------------------------------------------------------

async function serveMastra(provider: MastraAuthClerk, front?: express.RequestHandler, extra: Record<string, unknown> = {}) {
  const app = express();
  app.use(express.json());
  if (front) app.use(front);
  app.get('/express/who', (_req, res) => res.json({ ok: true }));
  const mastra = new Mastra({ server: { auth: provider as never }, logger: false, ...extra });
  await new MastraServer({ app, mastra, prefix: '/api' }).init();
  return listen(app);
}

describe('standalone Mastra: a token in the query string is never a credential', () => {
  it.each(['apiKey', '%61piKey', 'api%4Bey'])('?%s=<valid API key / M2M JWT / session>: 401, and no Backend API call', async (name) => {
    const provider = new MastraAuthClerk(machineOptions(issuer, { acceptsToken: 'any' }));
    const { base } = await serveMastra(provider);
    for (const token of [issuer.createApiKey(), await tokenOf(issuer, 'm2m-jwt'), await issuer.mintToken({}, { userId: 'user_q' })]) {
      const before = issuer.backendApiCalls();
      const res = await fetch(`${base}/api/agents?${name}=${encodeURIComponent(token)}`);
      expect({ name, status: res.status, body: await res.json() }).toEqual({ name, status: 401, body: { error: 'Invalid or expired token' } });
      expect(issuer.backendApiCalls()).toBe(before);
    }
  });

  it('a machine token where the provider takes sessions only: 401 by the header, the cookie, or ?apiKey=', async () => {
    const provider = new MastraAuthClerk(machineOptions(issuer));
    const { base } = await serveMastra(provider);
    const m2m = await tokenOf(issuer, 'm2m-jwt');
    const key = issuer.createApiKey();
    for (const init of [
      { headers: bearer(m2m) },
      { headers: bearer(key) },
      { headers: { Cookie: `__session=${m2m}; __client_uat=${nowSeconds() - 60}` } },
    ]) {
      const res = await fetch(`${base}/api/agents`, init);
      expect(res.status).toBe(401);
    }
    expect((await fetch(`${base}/api/agents?apiKey=${key}`)).status).toBe(401);
  });

  it('a provider narrower than the middleware sharing its clerkAuth: the narrower list holds on Mastra routes', async () => {
    const clerkAuth = createClerkAuth(machineOptions(issuer, { acceptsToken: 'any' }));
    // The README documents `new MastraAuthClerk({ clerkAuth, acceptsToken })`; its type does not list `acceptsToken`.
    const provider = new MastraAuthClerk({ clerkAuth, acceptsToken: 'session_token' } as ConstructorParameters<typeof MastraAuthClerk>[0]);
    const { base } = await serveMastra(provider, clerkMastraAuth({ clerkAuth }));
    for (const form of ['m2m-jwt', 'api-key', 'oauth-opaque'] as const) {
      const token = await tokenOf(issuer, form);
      expect((await fetch(`${base}/express/who`, { headers: bearer(token) })).status).toBe(200);
      const res = await fetch(`${base}/api/agents`, { headers: bearer(token) });
      expect({ form, status: res.status }).toEqual({ form, status: 401 });
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// 3. Cache confusion: one shared verifier, several lists of accepted types
// ---------------------------------------------------------------------------------------------------------------------

describe('cache confusion across accepted types', () => {
  function doors(wide: AcceptsToken, narrow: AcceptsToken, extra: ClerkAuthOptions = {}) {
    const clerkAuth = createClerkAuth(machineOptions(issuer, { acceptsToken: wide, ...extra }));
    const app = express();
    app.use('/narrow', clerkMastraAuth({ clerkAuth, acceptsToken: narrow }));
    app.use('/wide', clerkMastraAuth({ clerkAuth }));
    app.get(['/narrow/who', '/wide/who'], (_req, res) => res.json({ ok: true }));
    return { app, clerkAuth };
  }

  it('a session token verified by verifyClerkToken-style clerkAuth.verify() is refused at an M2M-only door', async () => {
    const { app, clerkAuth } = doors('any', 'm2m_token');
    const session = await issuer.mintToken({}, { userId: 'user_person' });
    await clerkAuth.verify(session);
    await expectRefused(await request(app).get('/narrow/who').set(bearer(session)), 401, 'token-type-mismatch');
  });

  it('clerkAuth.verify() (sessions only) refuses a machine token the shared cache already holds', async () => {
    const { app, clerkAuth } = doors('any', 'session_token');
    const m2m = await tokenOf(issuer, 'm2m-jwt');
    expect((await request(app).get('/wide/who').set(bearer(m2m))).status).toBe(200);
    await expect(clerkAuth.verify(m2m)).rejects.toMatchObject({ code: 'token-type-mismatch', status: 401 });
  });

  it('an OAuth token verified at an OAuth door is refused at an M2M-only door; an M2M token at an OAuth-only door', async () => {
    const { app } = doors('any', 'm2m_token');
    const oauth = await tokenOf(issuer, 'oauth-jwt');
    expect((await request(app).get('/wide/who').set(bearer(oauth))).status).toBe(200);
    await expectRefused(await request(app).get('/narrow/who').set(bearer(oauth)), 401, 'token-type-mismatch');
    const second = doors('any', 'oauth_token');
    for (const form of ['m2m-jwt', 'm2m-opaque', 'api-key'] as const) {
      const token = await tokenOf(issuer, form);
      expect((await request(second.app).get('/wide/who').set(bearer(token))).status).toBe(200);
      await expectRefused(await request(second.app).get('/narrow/who').set(bearer(token)), 401, 'token-type-mismatch');
    }
  });

  it('a new opaque API key sent at once to a wide and a session-only door: single flight carries no answer across, one call', async () => {
    const { app } = doors('any', 'session_token');
    const { server } = await listen(app);
    const key = issuer.createApiKey({ subject: 'user_owner' });
    const before = issuer.backendApiCalls();
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => request(server).get(i % 2 === 0 ? '/wide/who' : '/narrow/who').set(bearer(key))),
    );
    expect(answers.map((a) => a.status)).toEqual([200, 401, 200, 401, 200, 401, 200, 401, 200, 401]);
    for (const a of answers.filter((x) => x.status === 401)) await expectRefused(a, 401, 'token-type-mismatch');
    expect(issuer.backendApiCalls() - before).toBeLessThanOrEqual(1);
  });

  it('a requireClerkAuth guard narrows what the middleware let through (a machine token never reaches a session route)', async () => {
    const clerkAuth = createClerkAuth(machineOptions(issuer, { acceptsToken: 'any' }));
    const app = express();
    app.use(clerkMastraAuth({ clerkAuth }));
    app.get('/people', requireClerkAuth(), (req, res) => res.json({ userId: getClerkAuth(req).userId }));
    app.get('/jobs', requireClerkAuth(undefined, { acceptsToken: 'm2m_token' }), (_req, res) => res.json({ ok: true }));
    for (const form of ['m2m-jwt', 'oauth-jwt', 'oauth-opaque', 'api-key'] as const) {
      const token = await tokenOf(issuer, form);
      await expectRefused(await request(app).get('/people').set(bearer(token)), 401, 'token-type-mismatch');
    }
    const session = await issuer.mintToken({}, { userId: 'user_person' });
    await expectRefused(await request(app).get('/jobs').set(bearer(session)), 401, 'token-type-mismatch');
    expect((await request(app).get('/people').set(bearer(session))).body).toEqual({ userId: 'user_person' });
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// 4. What the Backend API answers, revocation, outages, floods
// ---------------------------------------------------------------------------------------------------------------------

/** An app taking `acceptsToken` machine tokens, verified by `apiUrl` (the issuer's fake, or one of ours). */
function backendApp(acceptsToken: AcceptsToken, extra: ClerkAuthOptions = {}): Express {
  return echoApp(machineOptions(issuer, { acceptsToken, ...extra }));
}

async function ourBackendApi(handler: Parameters<typeof fakeBackendApi>[0]): Promise<FakeBackendApi> {
  const fake = await fakeBackendApi(handler);
  closers.push(fake.close);
  return fake;
}

describe('Backend API answers are not trusted blindly', () => {
  it('a 200 that says revoked: 401 token-revoked (API key, opaque M2M, opaque OAuth)', async () => {
    issuer.setInactiveTokenAnswer('flags');
    const app = backendApp('any');
    for (const form of ['api-key', 'm2m-opaque', 'oauth-opaque'] as const) {
      const token = await tokenOf(issuer, form);
      issuer.revokeToken(token);
      await expectRefused(await request(app).get('/who').set(bearer(token)), 401, 'token-revoked');
    }
  });

  it('a 200 that says expired: 401 token-expired', async () => {
    issuer.setInactiveTokenAnswer('flags');
    const key = issuer.createApiKey({ expiresInSeconds: -10 });
    await expectRefused(await request(backendApp('api_key')).get('/who').set(bearer(key)), 401, 'token-expired');
  });

  it('a 200 without a subject (missing, empty, not a string): 401 token-invalid, never a signed-in request', async () => {
    for (const subject of [undefined, '', 42, null]) {
      const fake = await ourBackendApi(() => ({ status: 200, json: apiKeyJson({ subject }) }));
      const res = await request(backendApp('api_key', { apiUrl: fake.url })).get('/who').set(bearer(randomOpaque('ak_', 1)));
      expectRefusedWith(res, res.status === 503 ? 503 : 401, ['token-invalid', 'backend-api-failed-to-load']);
      expect(res.status).not.toBe(200);
    }
  });

  // @clerk/backend's parsed answer keeps no `object` field: an M2M answer and an API key answer look alike, and
  // guessing by id prefix could refuse real tokens. The endpoint is chosen by the token's own prefix.
  it.todo('a 200 for an mt_ token that is another type (an API key object): not an M2M token (Clerk keeps no object field)');

  it('a 408 (a proxy timing out in front of the Backend API) is an outage: 503, never a 401 that is then cached', async () => {
    const fake = await ourBackendApi(() => ({ status: 408, text: '<html>Request Timeout</html>', contentType: 'text/html' }));
    const res = await request(backendApp('api_key', { apiUrl: fake.url })).get('/who').set(bearer(randomOpaque('ak_', 2)));
    expectRefusedWith(res, 503, ['backend-api-failed-to-load']);
  });

  it('a 200 whose body is not a token (no id): 503, not the token’s fault', async () => {
    const fake = await ourBackendApi(() => ({ status: 200, json: { object: 'api_key', subject: 'user_owner' } }));
    const res = await request(backendApp('api_key', { apiUrl: fake.url })).get('/who').set(bearer(randomOpaque('ak_', 3)));
    expectRefusedWith(res, 503, ['backend-api-failed-to-load']);
  });
});

describe('a revoked opaque token stops working within backendApi.cacheInMs', () => {
  it.each<TokenForm>(['api-key', 'm2m-opaque', 'oauth-opaque'])('%s: accepted, revoked, still cached just before 10 s, refused at 10 s', async (form) => {
    let offset = 0;
    // A clock only the test moves: a run more than 1 s slow between the first request and the second would end the cache.
    const start = Date.now();
    const app = backendApp('any', { now: () => start + offset });
    const token = await tokenOf(issuer, form);
    expect((await request(app).get('/who').set(bearer(token))).status).toBe(200);
    issuer.revokeToken(token);
    offset = 9_000;
    expect((await request(app).get('/who').set(bearer(token))).status).toBe(200);
    offset = 10_000;
    const res = await request(app).get('/who').set(bearer(token));
    expectRefusedWith(res, 401, ['token-invalid', 'token-revoked']);
    // And it stays refused (the refusal is what is cached now).
    offset = 15_000;
    expect((await request(app).get('/who').set(bearer(token))).status).toBe(401);
  });
});

describe('an outage of the Backend API: 503, never a 401, never a call per request', () => {
  it.each(['500', '429', 'down', 'garbage', 'invalid-json'] as const)('mode %s: new tokens get 503 with Retry-After; one call for many requests', async (mode) => {
    // A clock only the test moves: eight requests taking over a second would end the 1 s backoff (a second call).
    const start = Date.now();
    const app = backendApp('api_key', { now: () => start });
    const known = issuer.createApiKey();
    expect((await request(app).get('/who').set(bearer(known))).status).toBe(200);
    issuer.setBackendApiFailure(mode);
    const before = issuer.backendApiCalls();
    for (let i = 0; i < 8; i += 1) {
      const res = await request(app).get('/who').set(bearer(issuer.createApiKey()));
      expectRefusedWith(res, 503, ['backend-api-failed-to-load']);
    }
    expect(issuer.backendApiCalls() - before).toBe(1);
    // A key answered before the outage is served from the cache meanwhile.
    expect((await request(app).get('/who').set(bearer(known))).status).toBe(200);
  });
});

describe('a flood of random opaque tokens', () => {
  it(`hung Backend API calls that time out are not counted any more, yet stay open: never more than ${MAX_CALLS_IN_FLIGHT} real calls at once`, async () => {
    const fake = await ourBackendApi(() => 'hold');
    let offset = 0;
    const app = backendApp('api_key', { apiUrl: fake.url, backendApi: { timeoutInMs: 150, failureBackoffInMs: 1_000 }, now: () => Date.now() + offset });
    const { server } = await listen(app);
    for (let wave = 0; wave < 3; wave += 1) {
      const answers = await Promise.all(
        Array.from({ length: MAX_CALLS_IN_FLIGHT + 4 }, (_, i) => request(server).get('/who').set(bearer(randomOpaque('ak_', wave * 100 + i)))),
      );
      for (const res of answers) expectRefusedWith(res, 503, ['backend-api-failed-to-load']);
      // The attacker waits out the backoff (here: the clock moves past it).
      offset += 60_000;
    }
    await until(() => fake.total, fake.total);
    // Every call the library gave up on (timeout) is still an open request to the Backend API.
    expect({ open: fake.open, total: fake.total }).toEqual({ open: expect.any(Number), total: expect.any(Number) });
    expect(fake.open).toBeLessThanOrEqual(MAX_CALLS_IN_FLIGHT);
  }, 20_000);

  // Known limit (README, Machine callers): the bound on calls in flight is shared by every client, so an anonymous
  // client keeping it full makes a customer's new key wait (503, Retry-After 1); and random keys sent under the bound
  // each cost a Backend API call. A per-client rate limit belongs in front (the core has no client identity).
  it.todo('an attacker keeping 16 random API keys in flight does not lock a customer with a valid API key out (needs a per-client limit)');

  it.todo('random API keys sent 16 at a time do not each spend a Backend API call (needs a per-client limit)');
});

// ---------------------------------------------------------------------------------------------------------------------
// 5. Policy: what a machine is to the policy and to the app
// ---------------------------------------------------------------------------------------------------------------------

describe('a machine never carries claims it chose into the policy', () => {
  const forged = { o: { id: 'org_1', rol: 'admin', per: 'manage' }, org_id: 'org_1', org_role: 'org:admin', sid: 'sess_x', sts: 'active', azp: 'http://localhost:3000', email: 'ceo@example.com' };

  it.each<[string, () => Promise<string> | string]>([
    ['an M2M JWT with custom claims', () => issuer.mintM2MToken({ machineId: 'mch_worker', claims: forged })],
    ['an OAuth JWT with extra claims', () => issuer.mintOAuthToken({ userId: 'user_granter', claims: forged })],
    ['an opaque M2M token with claims', () => issuer.createOpaqueM2MToken({ machineId: 'mch_worker', claims: forged })],
    ['an API key with claims', () => issuer.createApiKey({ subject: 'user_owner', claims: forged })],
  ])('%s: the user is { sub, exp, jti } and a rule for admins says no (403)', async (_name, mint) => {
    const users: ClerkClaims[] = [];
    const app = echoApp(
      machineOptions(issuer, {
        acceptsToken: 'any',
        authorizeUser: (user) => {
          users.push(user);
          return user.o?.rol === 'admin' || user.org_role === 'org:admin';
        },
      }),
    );
    const token = await mint();
    await expectRefused(await request(app).get('/who').set(bearer(token)), 403, 'access-denied');
    expect(Object.keys(users[0]!).sort()).toEqual(['exp', 'jti', 'sub']);
  });

  it.each<TokenForm>(['api-key', 'm2m-opaque', 'oauth-opaque', 'm2m-jwt', 'oauth-jwt'])(
    '%s: ctx.machine and the AuthObject are frozen all the way down, a change in one request never reaches the next',
    async (form) => {
      const seen: Array<{ frozen: boolean; scopes: unknown }> = [];
      const app = express();
      app.use(
        clerkMastraAuth(
          machineOptions(issuer, {
            acceptsToken: 'any',
            authorizeUser: (_user, ctx: AuthorizeContext) => {
              const scopes = ctx.machine?.scopes as string[];
              seen.push({ frozen: Object.isFrozen(scopes), scopes: [...scopes] });
              try {
                scopes.push('admin');
              } catch {
                // frozen: good
              }
              return true;
            },
          }),
        ),
      );
      app.get('/who', (req, res) => {
        const auth = getClerkAuth(req, { acceptsToken: 'any' }) as { scopes?: string[]; claims?: Record<string, unknown> | null };
        try {
          auth.scopes?.push('root');
        } catch {
          // frozen: good
        }
        res.json({ scopes: auth.scopes });
      });
      const token = await tokenOf(issuer, form);
      await request(app).get('/who').set(bearer(token));
      const second = await request(app).get('/who').set(bearer(token));
      expect({ form, frozen: seen[1]!.frozen, scopesSeenSecond: seen[1]!.scopes, handlerSecond: second.body.scopes }).toEqual({
        form,
        frozen: true,
        scopesSeenSecond: seen[0]!.scopes,
        handlerSecond: seen[0]!.scopes,
      });
    },
  );

  it("getClerkAuth(req) is signed out for every machine token (Clerk's getAuth rule), and getClerkClaims is only { sub, exp, jti }", async () => {
    const app = echoApp(machineOptions(issuer, { acceptsToken: 'any' }));
    for (const form of ['m2m-jwt', 'm2m-opaque', 'oauth-jwt', 'oauth-opaque', 'api-key'] as const) {
      const res = await request(app).get('/who').set(bearer(await tokenOf(issuer, form)));
      expect(res.status).toBe(200);
      expect({ form, session: res.body.session, keys: Object.keys(res.body.claims).sort() }).toEqual({ form, session: null, keys: ['exp', 'jti', 'sub'] });
    }
  });

  it("rolePermissions(): a grant written for people without an organization (withoutOrganization) is not a machine's", async () => {
    const permissions = rolePermissions({ organizations: 'any', roles: { 'org:admin': ['*'] }, withoutOrganization: ['agents:read', 'agents:execute'] });
    const clerkAuth = createClerkAuth(machineOptions(issuer, { acceptsToken: 'any' }));
    const app = express();
    app.use(clerkMastraAuth({ clerkAuth }));
    app.get('/agents', requireClerkAuth(permissions.require('agents:read'), { acceptsToken: 'any' }), (_req, res) => res.json({ ok: true }));
    const person = await issuer.mintToken({}, { userId: 'user_personal' });
    expect((await request(app).get('/agents').set(bearer(person))).status).toBe(200);
    for (const form of ['m2m-jwt', 'm2m-opaque', 'api-key'] as const) {
      const res = await request(app).get('/agents').set(bearer(await tokenOf(issuer, form)));
      expect({ form, status: res.status }).toEqual({ form, status: 403 });
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// 6. MCP: protected-resource metadata, the challenge, and who may call the MCP endpoint
// ---------------------------------------------------------------------------------------------------------------------

const MCP_SERVER = 'notes';
const MCP_PATH = `/api/mcp/${MCP_SERVER}/mcp`;
const WELL_KNOWN = '/.well-known/oauth-protected-resource';
const DISCOVER = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'server/discover', params: {} });

const whoamiTool = createTool({
  id: 'whoami',
  description: 'Says whom the request is for.',
  inputSchema: z.object({}),
  outputSchema: z.object({ userId: z.string().nullable() }),
  execute: async (_input, context) => ({
    userId: (context as { mcp?: { extra?: { authInfo?: { extra?: { userId?: string } } } } }).mcp?.extra?.authInfo?.extra?.userId ?? null,
  }),
});

/**
 * The README's MCP app, as written there: sessions and OAuth tokens, `protectedResource` with this server's origin,
 * OAuth tokens restricted to MCP routes by the policy, no `audience` (the README: set it only if session tokens carry
 * it too).
 */
async function readmeMcpApp(options: { trustProxy?: boolean } = {}) {
  const app = express();
  if (options.trustProxy) app.set('trust proxy', true);
  const { base, port } = await listen(app);
  const clerkAuth = createClerkAuth(
    machineOptions(issuer, {
      acceptsToken: ['session_token', 'oauth_token'],
      protectedResource: { origin: base, scopes: ['profile', 'email'] },
      authorizeUser: (_user, ctx) => ctx.tokenType !== 'oauth_token' || ctx.resource?.route.startsWith('/mcp/') === true,
    }),
  );
  app.use(express.json());
  app.use(clerkMastraAuth({ clerkAuth }));
  app.get('/me', (req, res) => res.json({ userId: getClerkAuth(req).userId }));
  const mastra = new Mastra({
    mcpServers: { [MCP_SERVER]: new MCPServer({ id: MCP_SERVER, name: 'Notes', version: '1.0.0', tools: { whoami: whoamiTool } }) },
    server: { auth: new MastraAuthClerk({ clerkAuth }) as never },
    logger: false,
  });
  await new MastraServer({ app, mastra, prefix: '/api' }).init();
  return { base, port, mcpUrl: `${base}${MCP_PATH}`, metadataUrl: `${base}${WELL_KNOWN}${MCP_PATH}` };
}

/** A fetch `Headers` as a plain object (lower-case names). */
function headersOf(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}

async function mcpPost(url: string, token?: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body: DISCOVER,
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // an event stream: kept as text
  }
  return { status: res.status, headers: headersOf(res.headers), body };
}

/** Connects a real MCP client with `token` and calls `whoami`: whom the tool saw, or that it could not connect. */
async function callAs(mcpUrl: string, token: string): Promise<{ connected: boolean; userId?: unknown }> {
  const client = mcpClient();
  try {
    await client.connect(mcpTransport(mcpUrl, { token }));
  } catch {
    return { connected: false };
  }
  closers.push(() => client.close());
  const result = await client.callTool({ name: 'whoami', arguments: {} });
  return { connected: true, userId: (result.structuredContent as { userId?: unknown } | undefined)?.userId };
}

function oauthJwt(aud: string | string[] | undefined, extra: Record<string, unknown> = {}): Promise<string> {
  const now = nowSeconds();
  return issuer.signJwt(
    { iss: issuer.issuer, sub: 'user_victim', aud, client_id: 'client_other_app', scp: ['profile', 'email'], jti: 'oat_0123456789', iat: now, nbf: now, exp: now + 600, ...extra },
    { header: { typ: 'at+jwt' } },
  );
}

describe('MCP: the protected resource accepts tokens issued for it, and points clients at the right metadata', () => {
  it('an OAuth token for this MCP endpoint (aud = its URL) is accepted: the baseline, with a real MCP client', async () => {
    const { mcpUrl } = await readmeMcpApp();
    expect(await callAs(mcpUrl, await oauthJwt(mcpUrl))).toEqual({ connected: true, userId: 'user_victim' });
  });

  it.each<[string, (mcpUrl: string) => Promise<string> | string]>([
    ['an OAuth JWT for another resource (aud https://evil.example/mcp)', () => oauthJwt('https://evil.example/mcp')],
    ['an OAuth JWT for another MCP server of this app (aud …/api/mcp/other/mcp)', (mcpUrl) => oauthJwt(mcpUrl.replace(`/${MCP_SERVER}/`, '/other/'))],
    ['an OAuth JWT without any aud (issued to another OAuth app)', () => oauthJwt(undefined)],
    ['an opaque OAuth token for another resource', () => issuer.createOpaqueOAuthToken({ userId: 'user_victim', audience: 'https://evil.example/mcp' })],
  ])('%s on the MCP endpoint: 401 token-invalid-audience with the resource_metadata challenge', async (_name, mint) => {
    const { mcpUrl, metadataUrl } = await readmeMcpApp();
    const token = await mint(mcpUrl);
    // A real MCP client with that token: it must not get in, let alone call a tool as the token's user.
    expect(await callAs(mcpUrl, token)).toEqual({ connected: false });
    const res = await mcpPost(mcpUrl, token);
    expectRefusedWith(res, 401, ['token-invalid-audience'], `resource_metadata="${metadataUrl}"`);
  });

  it('a forged Host or X-Forwarded-Host (trust proxy) never moves the resource in the challenge or the document', async () => {
    const { port, mcpUrl, metadataUrl } = await readmeMcpApp({ trustProxy: true });
    for (const headers of [
      'Host: evil.example',
      `Host: 127.0.0.1:${port}\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https`,
      `Host: 127.0.0.1:${port}\r\nForwarded: host=evil.example;proto=https`,
    ]) {
      const challenge = await rawHttp(port, `POST ${MCP_PATH} HTTP/1.1\r\n${headers}\r\nContent-Type: application/json\r\nContent-Length: ${DISCOVER.length}\r\nConnection: close\r\n\r\n${DISCOVER}`);
      expect({ headers, status: challenge.status, www: challenge.headers['www-authenticate'] }).toEqual({
        headers,
        status: 401,
        www: `Bearer realm="api", resource_metadata="${metadataUrl}"`,
      });
      const doc = await rawHttp(port, `GET ${WELL_KNOWN}${MCP_PATH} HTTP/1.1\r\n${headers}\r\nConnection: close`);
      expect({ headers, status: doc.status, resource: (JSON.parse(doc.body) as { resource?: string }).resource }).toEqual({ headers, status: 200, resource: mcpUrl });
    }
  });

  it('the MCP endpoint reached through an alias (case, trailing slash, the SSE transport) still answers with the challenge', async () => {
    const { base, metadataUrl } = await readmeMcpApp();
    for (const path of ['/API/MCP/notes/MCP', `${MCP_PATH}/`, `/api/mcp/${MCP_SERVER}/sse`, `/api/mcp/${MCP_SERVER}/messages`]) {
      const res = await fetch(`${base}${path}`, { method: path.endsWith('sse') ? 'GET' : 'POST', headers: { 'content-type': 'application/json' }, body: path.endsWith('sse') ? undefined : DISCOVER });
      const www = res.headers.get('www-authenticate') ?? '';
      expect({ path, status: res.status, pointsAtMetadata: www.includes('resource_metadata="') }).toEqual({ path, status: 401, pointsAtMetadata: true });
      await res.body?.cancel();
    }
    // The canonical spelling points at the canonical document.
    const canonical = await fetch(`${base}${MCP_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: DISCOVER });
    expect(canonical.headers.get('www-authenticate')).toBe(`Bearer realm="api", resource_metadata="${metadataUrl}"`);
  });

  it('an OAuth token for the MCP endpoint is refused on every other route by the README policy (403), on Mastra and Express routes', async () => {
    const { base, mcpUrl } = await readmeMcpApp();
    const token = await oauthJwt(mcpUrl);
    for (const path of ['/api/agents', '/me', '/API/Agents']) {
      const res = await fetch(`${base}${path}`, { headers: bearer(token) });
      expectRefusedWith({ status: res.status, headers: headersOf(res.headers), body: await res.json() }, 403, ['access-denied']);
    }
  });

  it('the metadata endpoint is only served for MCP endpoints, never for an encoded or dotted path, and never with a 500', async () => {
    const { port, base } = await readmeMcpApp();
    for (const target of [`${WELL_KNOWN}/api/agents`, `${WELL_KNOWN}/api/mcp/notes/%2e%2e/x`, `${WELL_KNOWN}/%2e%2e/api/mcp/notes/mcp`, `${WELL_KNOWN}//api/mcp/notes/mcp`]) {
      const res = await rawHttp(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close`);
      expect({ target, ok: res.status !== 200 && res.status < 500 }).toEqual({ target, ok: true });
    }
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:/);
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// 7. Mastra Studio sign-in: the Studio cookie, the callback, and the logs
// ---------------------------------------------------------------------------------------------------------------------

const ALICE = { id: 'user_alice', firstName: 'Alice', email: 'alice@example.com' };
const BOB = { id: 'user_bob', firstName: 'Bob', email: 'bob@example.com' };

async function studio(options: Parameters<typeof startStudioApp>[1] = {}, on: TestIssuer = issuer): Promise<StudioApp> {
  const app = await startStudioApp(on, options);
  closers.push(() => app.close());
  app.oauth.addUser(ALICE);
  app.oauth.addUser(BOB);
  return app;
}

async function mixedStudio(options: Parameters<typeof startMixedStudioApp>[2] = {}): Promise<StudioApp> {
  const app = await startMixedStudioApp(issuer, express as unknown as () => Express, options);
  closers.push(() => app.close());
  app.oauth.addUser(ALICE);
  app.oauth.addUser(BOB);
  return app;
}

/** A browser signed in to Clerk as `userId`, then to Studio on `app`; returns it and its Studio cookie. */
async function studioUser(app: StudioApp, userId: string, browser = new Browser()): Promise<{ browser: Browser; cookie: string }> {
  await signInToClerk(browser, app, userId);
  const { final } = await studioSignIn(browser, app);
  expect(signInError(final)).toBeNull();
  return { browser, cookie: browser.cookie(app.base, SESSION_COOKIE)!.value };
}

/** What Studio's own page sends (same origin). */
const fromStudio = (browser: Browser, app: StudioApp, path: string, init: Parameters<Browser['fetch']>[1] = {}) =>
  browser.fetch(`${app.base}${path}`, { fromPage: app.base, ...init });

describe('Studio: the session cookie signs in only where the rules say so, standalone as in a mixed app', () => {
  it("standalone: Clerk's cookies say the browser signed out (__client_uat=0): the Studio cookie does not overrule Clerk", async () => {
    const app = await studio();
    const { browser } = await studioUser(app, ALICE.id);
    expect((await fromStudio(browser, app, '/api/agents')).status).toBe(200);
    browser.setCookie(app.base, '__session', await issuer.mintToken({}, { userId: ALICE.id }));
    browser.setCookie(app.base, '__client_uat', '0');
    // The mixed app answers 401 session-signed-out here (mixed-app.test.ts); standalone Mastra must not sign it in.
    expect((await fromStudio(browser, app, '/api/agents')).status).toBe(401);
    expect((await fromStudio(browser, app, '/api/auth/me')).body).toBe('null');
  });

  it('standalone: Studio cookies of two users in one request (one planted from a sibling subdomain): refused, not the last one', async () => {
    const app = await studio();
    const alice = await studioUser(app, ALICE.id);
    const bob = await studioUser(app, BOB.id);
    for (const cookie of [`${SESSION_COOKIE}=${alice.cookie}; ${SESSION_COOKIE}=${bob.cookie}`, `${SESSION_COOKIE}=${bob.cookie}; ${SESSION_COOKIE}=${alice.cookie}`]) {
      const res = await fetch(`${app.base}/api/agents`, { headers: { cookie, 'sec-fetch-site': 'same-origin' } });
      expect({ status: res.status, setCookie: res.headers.getSetCookie().length }).toEqual({ status: 401, setCookie: 0 });
      const me = await fetch(`${app.base}/api/auth/me`, { headers: { cookie, 'sec-fetch-site': 'same-origin' } });
      expect(await me.text()).toBe('null');
    }
  });

  it('a Studio cookie of another Clerk instance (same CLERK_COOKIE_PASSWORD, another OAuth client, another origin): refused', async () => {
    const other = await createTestIssuer();
    closers.push(() => other.close());
    other.addUser(ALICE);
    const appA = await studio({}, other);
    const appB = await studio();
    const { browser } = await studioUser(appA, ALICE.id);
    // Browsers share cookies across ports of one host: this one now sends A's Studio cookie to B.
    const res = await fromStudio(browser, appB, '/api/agents');
    expect({ status: res.status }).toEqual({ status: 401 });
    expect((await fromStudio(browser, appB, '/api/auth/me')).body).toBe('null');
  });

  it('an Authorization header of another user (or a machine token) always wins over the Studio cookie', async () => {
    const app = await mixedStudio();
    const { browser } = await studioUser(app, ALICE.id);
    const bob = await issuer.mintToken({}, { userId: BOB.id });
    const asBob = await fromStudio(browser, app, '/me', { headers: { authorization: `Bearer ${bob}` } });
    expect(asBob.json()).toMatchObject({ userId: BOB.id, studio: false });
    const m2m = await tokenOf(issuer, 'm2m-jwt');
    for (const path of ['/me', '/api/agents']) {
      const res = await fromStudio(browser, app, path, { headers: { authorization: `Bearer ${m2m}` } });
      expect({ path, status: res.status, error: res.json<{ error?: string }>().error }).toEqual({ path, status: 401, error: 'token-type-mismatch' });
    }
  });

  it('CSRF: a state-changing request with the cookie from Origin null, from a same-site page, or without Origin is refused', async () => {
    const app = await studio();
    const { browser } = await studioUser(app, ALICE.id);
    const body = JSON.stringify({ messages: 'hi' });
    const variants: Array<Record<string, string>> = [{ origin: 'null' }, { 'sec-fetch-site': 'same-site' }, {}, { origin: 'http://127.0.0.1:1', 'sec-fetch-site': 'same-site' }];
    for (const headers of variants) {
      const res = await browser.fetch(`${app.base}/api/agents/public/generate`, { method: 'POST', body, headers });
      expect({ headers, status: res.status }).toEqual({ headers, status: 401 });
    }
  });

  it('sign-out, then a replayed copy of the cookie: refused, on Mastra routes and in the mixed app', async () => {
    for (const app of [await studio(), await mixedStudio()]) {
      const { browser, cookie } = await studioUser(app, ALICE.id);
      expect((await fromStudio(browser, app, '/api/auth/logout', { method: 'POST', body: '{}' })).status).toBe(200);
      const thief = new Browser();
      thief.setCookie(app.base, SESSION_COOKIE, cookie);
      expect((await fromStudio(thief, app, '/api/agents')).status).toBe(401);
    }
  });
});

describe("Studio: the callback's redirect stays on this server", () => {
  // Mastra's callback appends the part of `state` after `|` to the origin unchecked (an open redirect in
  // @mastra/server, and a 500 for some Hosts). The middleware in front refuses such a state; standalone Mastra cannot
  // be fixed from the provider, which never sees it (README, Studio).
  it.each(['@evil.example/', '@evil.example', '.evil.example/', ':1@evil.example/', '//evil.example/', '/\\evil.example/'])(
    'state=<id>|%s in a mixed app: 400 request-invalid before Mastra redirects anywhere',
    async (tail) => {
      const app = await mixedStudio();
      const state = `${crypto.randomUUID()}|${encodeURIComponent(tail)}`;
      const target = `/api/auth/sso/callback?code=anything&state=${encodeURIComponent(state)}`;
      const port = Number(new URL(app.base).port);
      for (const host of [`127.0.0.1:${port}`, 'mastra.example.com']) {
        const res = await rawHttp(port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close`);
        expect({ host, status: res.status, location: res.headers.location }).toEqual({ host, status: 400, location: undefined });
      }
    },
  );

  it('a plain return path still works: the callback answers with a redirect on this server', async () => {
    const app = await mixedStudio();
    const port = Number(new URL(app.base).port);
    const state = `${crypto.randomUUID()}|${encodeURIComponent('/agents')}`;
    const res = await rawHttp(port, `GET /api/auth/sso/callback?code=anything&state=${encodeURIComponent(state)} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close`);
    expect(res.status).toBe(302);
    expect(new URL(res.headers.location ?? '/', `http://127.0.0.1:${port}`).host).toBe(`127.0.0.1:${port}`);
  });
});

describe('no token, code, cookie or key in any log line', () => {
  it('machine-token refusals, Backend API outages, Studio sign-in failures and forged cookies', async () => {
    const { lines, logger } = captureLogs();
    const app = backendApp('any', { logger });
    const tokens = [
      await tokenOf(issuer, 'm2m-jwt'),
      issuer.createApiKey(),
      randomOpaque('ak_', 99),
      `${(await issuer.mintToken({})).slice(0, -4)}AAAA`,
      await issuer.mintM2MToken({ claims: { sub: 'user_victim' } }),
    ];
    for (const token of tokens) await request(app).get('/who').set(bearer(token));
    issuer.setBackendApiFailure('500');
    const outage = randomOpaque('ak_', 100);
    await request(app).get('/who').set(bearer(outage));
    issuer.setBackendApiFailure(null);

    const studioApp = await studio({ logger } as never);
    const { browser, cookie } = await studioUser(studioApp, ALICE.id);
    await fromStudio(browser, studioApp, '/api/auth/sso/callback?code=SECRET-CODE-123456&state=forged-state-abcdef');
    const forged = new Browser();
    forged.setCookie(studioApp.base, SESSION_COOKIE, `${cookie.slice(0, -4)}AAAA`);
    await fromStudio(forged, studioApp, '/api/agents');
    await fromStudio(browser, studioApp, '/api/agents', { headers: { origin: 'http://evil.example' } });

    expect(lines.length).toBeGreaterThan(0);
    const secrets = [...tokens, outage, cookie, 'SECRET-CODE-123456', 'forged-state-abcdef', issuer.secretKey, issuer.kid];
    const leaks = lines.filter((line) => secrets.some((secret) => line.includes(secret) || line.includes(secret.slice(-24))));
    expect(leaks).toEqual([]);
  });
});
