import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express5 from 'express';
import express4 from 'express4';
import request from 'supertest';
import { Agent } from '@mastra/core/agent';
import { Mastra } from '@mastra/core/mastra';
import { MastraServer } from '@mastra/express';
import { InMemoryTaskStore } from '@mastra/server/a2a/store';
import { clerkMastraAuth, createClerkAuth, getClerkAuth } from '../../src/index.js';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { createTestOAuthServer, type TestOAuthServer } from '../../src/testing/oauth-server.js';
import { offlineWeatherModel } from '../../examples/mastra/offline-model.js';
import { SESSION_COOKIE, signedInBrowser, type StudioApp } from './support.js';

let issuer: TestIssuer;
const ALICE = { id: 'user_alice', firstName: 'Alice', lastName: 'L', email: 'alice@example.com' };
beforeAll(async () => {
  issuer = await createTestIssuer();
  issuer.addUser(ALICE);
});
afterAll(async () => issuer.close());
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

async function start(framework: typeof express5, optional: boolean): Promise<StudioApp> {
  const oauth: TestOAuthServer = await createTestOAuthServer({ issuer });
  const clerkAuth = createClerkAuth({ ...issuer.authOptions, secretKey: issuer.secretKey, apiUrl: issuer.apiUrl, env: {}, logger: false });
  const app = framework();
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  app.use(express5.json());
  app.use(clerkMastraAuth({ clerkAuth, optional }));
  app.get('/me', (req, res) => res.json({ userId: getClerkAuth(req).userId }));
  const provider = new MastraAuthClerk({
    clerkAuth,
    oauthClientId: oauth.clientId,
    oauthClientSecret: oauth.clientSecret,
    frontendApiUrl: oauth.url,
    session: { cookiePassword: 'a-test-cookie-password-of-at-least-32-characters' },
  });
  const weatherAgent = new Agent({ id: 'weatherAgent', name: 'W', instructions: 'x', model: offlineWeatherModel() as never });
  const mastra = new Mastra({ agents: { weatherAgent }, server: { auth: provider as never }, logger: false });
  await new MastraServer({ app: app as never, mastra, prefix: '/api', taskStore: new InMemoryTaskStore() }).init();
  oauth.allowRedirectUri(`${base}/api/auth/sso/callback`);
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await oauth.close();
  });
  return { base, prefix: '/api', provider, oauth, advance: () => {}, freeze: () => {}, now: Date.now, close: async () => {} };
}

/**
 * Empty headers are read as Mastra's Express adapter passes them on (it drops them): an empty `Origin` or
 * `Sec-Fetch-Site` next to a Studio session cookie made the middleware refuse the cookie (signed out: with
 * `optional: true`, let through), while the provider, which never saw the empty header, signed the Studio user in past
 * the middleware's checks (the A2A refusal) (found by an attacker session of our own).
 */
describe.each([
  ['express5', express5],
  ['express4', express4 as unknown as typeof express5],
])('%s, optional: true, a Studio session cookie', (_n, framework) => {
  it('with an empty Origin is judged by the middleware as by the provider: the A2A task call is refused', async () => {
    const app = await start(framework, true);
    app.oauth.addUser(ALICE);
    const browser = await signedInBrowser(app, ALICE.id);
    const cookie = `${SESSION_COOKIE}=${browser.cookie(app.base, SESSION_COOKIE)!.value}`;
    const bob = await issuer.mintToken({}, { userId: 'user_bob', expiresInSeconds: 3600 });
    const sent = await request(app.base)
      .post('/api/a2a/weatherAgent')
      .set('Authorization', `Bearer ${bob}`)
      .send({ jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { role: 'user', kind: 'message', messageId: 'm1', parts: [{ kind: 'text', text: 'BOB-SECRET' }] } } });
    expect(sent.status).toBe(200);
    const call = { jsonrpc: '2.0', id: 1, method: 'tasks/get', params: { id: sent.body.result.id as string } };
    for (const origin of [app.base, '']) {
      const res = await request(app.base).post('/api/a2a/weatherAgent').set('Cookie', cookie).set('Origin', origin).set('Sec-Fetch-Site', 'same-origin').send(call);
      expect([origin, res.status, res.text.includes('BOB-SECRET')]).toEqual([origin, 403, false]);
    }
  });

  it('with an empty Sec-Fetch-Site signs in the same user for the app\'s routes as for Mastra\'s', async () => {
    const app = await start(framework, true);
    app.oauth.addUser(ALICE);
    const browser = await signedInBrowser(app, ALICE.id);
    const cookie = `${SESSION_COOKIE}=${browser.cookie(app.base, SESSION_COOKIE)!.value}`;
    const me = await request(app.base).get('/me').set('Cookie', cookie).set('Sec-Fetch-Site', '');
    const agents = await request(app.base).get('/api/agents').set('Cookie', cookie).set('Sec-Fetch-Site', '');
    expect([me.body, agents.status]).toEqual([{ userId: ALICE.id }, 200]);
  });
});
