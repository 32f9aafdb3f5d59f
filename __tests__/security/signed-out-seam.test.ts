/**
 * Behind `clerkMastraAuth({ optional: true })`, a request the middleware lets through signed out stays signed out in
 * Mastra's provider, whatever the provider would have read in it. Three attack rounds found three ways in which the
 * two read one request differently (a token in `?[apiKey]=`, an empty `Authorization` header, an empty `Origin`): each
 * time the provider signed in a request the middleware had let through signed out, past the middleware's checks (the
 * A2A refusal, the policy's body checks). Each was fixed where it was; this is the rule that makes the next one
 * harmless. Here the two differ by configuration: a middleware for machine tokens only, a provider for sessions, and a
 * session cookie. Real issuer, real Express 4 and 5, real Mastra and its task store, over HTTP.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import express5 from 'express';
import express4 from 'express4';
import request from 'supertest';
import { Agent } from '@mastra/core/agent';
import { Mastra } from '@mastra/core/mastra';
import { MastraServer } from '@mastra/express';
import { InMemoryTaskStore } from '@mastra/server/a2a/store';
import { clerkMastraAuth, createClerkAuth, getClerkAuth, type ClerkMastraAuthOptions } from '../../src/index.js';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { offlineWeatherModel } from '../../examples/mastra/offline-model.js';
import { SESSION_COOKIE, signedInBrowser, startMixedStudioApp } from '../studio/support.js';

const issuer: TestIssuer = await createTestIssuer();
const CAROL = { id: 'user_carol', firstName: 'Carol', lastName: 'C', email: 'carol@example.com' };
issuer.addUser(CAROL);
const alice = await issuer.mintToken({}, { userId: 'user_alice', expiresInSeconds: 3600 });
const bob = await issuer.mintToken({}, { userId: 'user_bob', expiresInSeconds: 3600 });
afterAll(async () => {
  await issuer.close();
});

const MASTRA_401 = { error: 'Invalid or expired token' };
const MARK = 'x-clerk-mastra-auth-verdict';

type Framework = typeof express5;
type App = ReturnType<Framework>;

/**
 * Two apps over one Mastra and one task store: Alice's, behind the default middleware, and the one under test,
 * behind `middleware` (its options) with the provider sharing its `createClerkAuth()`.
 */
async function apps(framework: Framework, middleware: Omit<ClerkMastraAuthOptions, 'clerkAuth'>) {
  const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false });
  const weatherAgent = new Agent({ id: 'weatherAgent', name: 'Weather', instructions: 'x', model: offlineWeatherModel() as never });
  const mastra = new Mastra({ agents: { weatherAgent }, server: { auth: new MastraAuthClerk({ clerkAuth }) as never }, logger: false });
  const taskStore = new InMemoryTaskStore();
  const make = async (options: Omit<ClerkMastraAuthOptions, 'clerkAuth'>): Promise<App> => {
    const app = framework();
    app.use(framework.json());
    app.use(clerkMastraAuth({ clerkAuth, ...options } as ClerkMastraAuthOptions));
    app.get('/me', (req, res) => res.json({ userId: getClerkAuth(req).userId, mark: req.headers[MARK] ?? null }));
    await new MastraServer({ app: app as never, mastra, prefix: '/api', taskStore }).init();
    return app;
  };
  return { own: await make({}), tested: await make(middleware) };
}

const rpc = (method: string, params: unknown) => ({ jsonrpc: '2.0', id: 1, method, params });
const message = (text: string) => ({ message: { role: 'user', kind: 'message', messageId: `m-${text}`, parts: [{ kind: 'text', text }] } });

describe.each([
  ['Express 5', express5],
  ['Express 4', express4 as unknown as Framework],
] as const)('%s', (_name, framework) => {
  it('a session cookie the middleware does not take (machines only, optional) signs nobody in to Mastra', async () => {
    const { own, tested } = await apps(framework, { optional: true, acceptsToken: 'm2m_token' });
    const sent = await request(own).post('/api/a2a/weatherAgent').set('Authorization', `Bearer ${alice}`).send(rpc('message/send', message('ALICE-SEAM')));
    expect([sent.status, sent.body.result?.metadata?.resourceId]).toEqual([200, 'user_alice']);
    const taskId = sent.body.result.id as string;
    const cookie = `__session=${bob}; __client_uat=1`;

    // The Express route: signed out, as the middleware says (a cookie is a browser's session, not a machine's).
    const me = await request(tested).get('/me').set('Cookie', cookie);
    expect([me.status, me.body]).toEqual([200, { userId: null, mark: expect.stringMatching(/^token-missing; [0-9a-f-]{36}$/) }]);
    // Mastra's routes: signed out too, so Mastra answers its 401. Before, the provider signed Bob in by his cookie and
    // the A2A route, whose task calls the middleware refuses only to signed-in requests, served Alice's task.
    for (const body of [rpc('tasks/get', { id: taskId }), rpc('tasks/list', {})]) {
      const res = await request(tested).post('/api/a2a/weatherAgent').set('Cookie', cookie).set('A2A-Version', '1.0').send(body);
      expect([body.method, res.status, res.body]).toEqual([body.method, 401, MASTRA_401]);
      expect(res.text).not.toContain('ALICE-SEAM');
    }
    const agents = await request(tested).get('/api/agents').set('Cookie', cookie);
    expect([agents.status, agents.body]).toEqual([401, MASTRA_401]);
  });

  it('a request the middleware signs in reaches Mastra signed in, whatever it claims in the mark', async () => {
    const { tested } = await apps(framework, { optional: true });
    // The middleware's own mark, as an anonymous visitor sees it echoed (a debugging route that shows the headers).
    const own = (await request(tested).get('/me')).body.mark as string;
    for (const claimed of [undefined, 'token-missing', own]) {
      const req = request(tested).get('/api/agents').set('Authorization', `Bearer ${alice}`);
      if (claimed !== undefined) req.set(MARK, claimed);
      const res = await req;
      expect([claimed, res.status]).toEqual([claimed, 200]);
      const me = request(tested).get('/me').set('Authorization', `Bearer ${alice}`);
      if (claimed !== undefined) me.set(MARK, claimed);
      // The middleware's own verdict replaces whatever the client sent: signed in, with the object's tag.
      expect((await me).body).toEqual({ userId: 'user_alice', mark: own.replace(/^token-missing;/, 'signed-in;') });
    }
    // Signed out (no credential): the mark says so, and Mastra answers 401 as it would anyway.
    const anonymous = await request(tested).get('/api/agents');
    expect([anonymous.status, anonymous.body]).toEqual([401, MASTRA_401]);
  });
});

it("a mark the middleware did not make means nothing: a client's own, or one an app forwards to another Mastra", async () => {
  // A backend route that forwards an anonymous visitor's headers, mark included, to another Mastra server with a
  // service token of its own must not be refused there: the mark is tied to the createClerkAuth() that made it.
  const { tested } = await apps(express5, { optional: true });
  const marked = (await request(tested).get('/me')).body.mark as string;
  const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false });
  const mastra = new Mastra({ server: { auth: new MastraAuthClerk({ clerkAuth }) as never }, logger: false });
  const other = express5();
  await new MastraServer({ app: other as never, mastra, prefix: '/api' }).init();
  for (const mark of [marked, 'token-missing', `token-missing; ${marked.split('; ')[1]}x`]) {
    const res = await request(other).get('/api/agents').set('Authorization', `Bearer ${alice}`).set(MARK, mark);
    expect([mark, res.status]).toEqual([mark, 200]);
  }
});

it("a Studio session the middleware lets through signed out is neither signed in nor refreshed by Mastra's fallback", async () => {
  // A middleware for machine tokens only: the Studio session cookie is no credential there, so the request passes
  // signed out. Mastra, after the provider says no, asks it for the session to refresh (`getSessionIdFromRequest`):
  // a stale one would cost a call to Clerk and a renewed cookie for a request that is refused anyway.
  const app = await startMixedStudioApp(issuer, express5, { optional: true, acceptsToken: 'm2m_token' });
  try {
    app.oauth.addUser(CAROL);
    const browser = await signedInBrowser(app, CAROL.id);
    const cookie = `${SESSION_COOKIE}=${browser.cookie(app.base, SESSION_COOKIE)!.value}`;
    app.oauth.resetCounts();
    app.advance(61_000); // past the Studio session's re-check period (60 s)
    const agents = await request(app.base).get('/api/agents').set('Cookie', cookie).set('Sec-Fetch-Site', 'same-origin');
    expect([agents.status, agents.body, agents.headers['set-cookie'] ?? []]).toEqual([401, MASTRA_401, []]);
    expect(app.oauth.counts).toMatchObject({ token: 0, refresh: 0, userinfo: 0 });
  } finally {
    await app.close();
  }
});
