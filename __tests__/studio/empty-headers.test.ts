/**
 * Empty headers are read as Mastra's Express adapter passes them on (it drops them): an empty `Origin` or
 * `Sec-Fetch-Site` next to a Studio session cookie made the middleware refuse the cookie (signed out: with
 * `optional: true`, let through), while the provider, which never saw the empty header, signed the Studio user in past
 * the middleware's checks (the A2A refusal) (found by an attacker session of our own).
 */
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import express5 from 'express';
import express4 from 'express4';
import request from 'supertest';
import { createTestIssuer } from '../../src/testing/index.js';
import { SESSION_COOKIE, signedInBrowser, startMixedStudioApp, type Framework, type StudioApp } from './support.js';

const issuer = await createTestIssuer();
const ALICE = { id: 'user_alice', firstName: 'Alice', lastName: 'L', email: 'alice@example.com' };
issuer.addUser(ALICE);
const apps: StudioApp[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});
afterAll(() => issuer.close());

async function studioCookie(framework: Framework): Promise<{ app: StudioApp; cookie: string }> {
  const app = await startMixedStudioApp(issuer, framework, { optional: true, a2a: true });
  apps.push(app);
  app.oauth.addUser(ALICE);
  const browser = await signedInBrowser(app, ALICE.id);
  return { app, cookie: `${SESSION_COOKIE}=${browser.cookie(app.base, SESSION_COOKIE)!.value}` };
}

describe.each<[string, Framework]>([
  ['express5', express5],
  ['express4', express4 as unknown as Framework],
])('%s, optional: true, a Studio session cookie', (_name, framework) => {
  it('with an empty Origin is judged by the middleware as by the provider: the A2A task call is refused', async () => {
    const { app, cookie } = await studioCookie(framework);
    const bob = await issuer.mintToken({}, { userId: 'user_bob', expiresInSeconds: 3600 });
    const sent = await request(app.base)
      .post('/api/a2a/public')
      .set('Authorization', `Bearer ${bob}`)
      .send({ jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { role: 'user', kind: 'message', messageId: 'm1', parts: [{ kind: 'text', text: 'BOB-SECRET' }] } } });
    expect(sent.status).toBe(200);
    const call = { jsonrpc: '2.0', id: 1, method: 'tasks/get', params: { id: sent.body.result.id as string } };
    for (const origin of [app.base, '']) {
      const res = await request(app.base).post('/api/a2a/public').set('Cookie', cookie).set('Origin', origin).set('Sec-Fetch-Site', 'same-origin').send(call);
      expect([origin, res.status, res.text.includes('BOB-SECRET')]).toEqual([origin, 403, false]);
    }
  });

  it("with an empty Sec-Fetch-Site signs in the same user for the app's routes as for Mastra's", async () => {
    const { app, cookie } = await studioCookie(framework);
    const me = await request(app.base).get('/me').set('Cookie', cookie).set('Sec-Fetch-Site', '');
    const agents = await request(app.base).get('/api/agents').set('Cookie', cookie).set('Sec-Fetch-Site', '');
    expect([me.body.userId, agents.status]).toEqual([ALICE.id, 200]);
  });
});
