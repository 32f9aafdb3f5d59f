// app.test.ts: an Express route and a Mastra agent route behind one Clerk policy, tested offline.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import request from 'supertest';
import { Agent } from '@mastra/core/agent';
import { Mastra } from '@mastra/core/mastra';
import { MastraServer } from '@mastra/express';
import { clerkMastraAuth, createClerkAuth, getClerkAuth, type ClerkAuthOptions } from 'clerk-mastra-auth';
import { MastraAuthClerk } from 'clerk-mastra-auth/mastra';
import { createTestIssuer, type TestIssuer } from 'clerk-mastra-auth/testing';

const ACME = 'org_1'; // your organization's id (Clerk Dashboard)

// Your app, built from its Clerk options so that tests can point it at a local issuer.
async function buildApp(clerk: ClerkAuthOptions = {}) {
  const clerkAuth = createClerkAuth({
    ...clerk,
    // One policy for both frameworks: the support agent is for admins of your organization only. `ctx.resource`
    // names what Mastra serves: REST, A2A and the agent card, under any prefix, in any encoding of the id.
    authorizeUser: (user, ctx) => ctx.resource?.params.agentId !== 'support' || (user.o?.id === ACME && user.o?.rol === 'admin'),
  });
  const app = express();
  app.use(express.json()); // first: the policy judges what a JSON body names (a body it cannot see is refused)
  app.use(clerkMastraAuth({ clerkAuth }));
  app.get('/profile', (req, res) => res.json({ userId: getClerkAuth(req).userId }));

  const support = new Agent({ id: 'support', name: 'Support', instructions: 'Help users.', model: 'openai/gpt-4o-mini' });
  const mastra = new Mastra({ agents: { support }, server: { auth: new MastraAuthClerk({ clerkAuth }) } });
  await new MastraServer({ app, mastra, prefix: '/api' }).init();
  return app;
}

describe('protected routes', () => {
  let issuer: TestIssuer;
  let app: express.Express;

  beforeAll(async () => {
    issuer = await createTestIssuer(); // a local "Clerk": RSA keys, a JWKS on 127.0.0.1, token minting
    app = await buildApp({ ...issuer.authOptions, logger: false });
  });
  afterAll(() => issuer.close());

  it('lets a permitted user in on both routes', async () => {
    const token = await issuer.mintToken({}, { userId: 'user_admin', org: { id: 'org_1', role: 'org:admin' } });
    const profile = await request(app).get('/profile').set('Authorization', `Bearer ${token}`);
    expect(profile.status).toBe(200);
    expect(profile.body).toEqual({ userId: 'user_admin' });
    const agent = await request(app).get('/api/agents/support').set('Authorization', `Bearer ${token}`);
    expect(agent.status).toBe(200);
    expect(agent.body.name).toBe('Support');
    // A POST with a JSON body: past the policy, Mastra's own validation answers (400; the policy's refusal is 403).
    const a2a = await request(app).post('/api/a2a/support').set('Authorization', `Bearer ${token}`).send({ jsonrpc: '2.0', id: 1 });
    expect(a2a.status).toBe(400);
  });

  it('denies a user the policy rejects', async () => {
    const token = await issuer.mintToken({}, { userId: 'user_member', org: { id: 'org_1', role: 'org:member' } });
    expect((await request(app).get('/profile').set('Authorization', `Bearer ${token}`)).status).toBe(200);
    const agent = await request(app).get('/api/agents/support').set('Authorization', `Bearer ${token}`);
    expect(agent.status).toBe(403);
    expect(agent.body.error).toBe('access-denied');
    expect((await request(app).get('/API/Agents/%73upport').set('Authorization', `Bearer ${token}`)).status).toBe(403);
    const a2a = await request(app).post('/api/a2a/support').set('Authorization', `Bearer ${token}`).send({});
    expect(a2a.status).toBe(403);
    // An admin of an organization of their own making is no admin here.
    const own = await issuer.mintToken({}, { userId: 'user_mallory', org: { id: 'org_mallory', role: 'org:admin' } });
    expect((await request(app).get('/api/agents/support').set('Authorization', `Bearer ${own}`)).status).toBe(403);
  });

  it('rejects an expired token', async () => {
    const token = await issuer.mintToken({}, { expired: true });
    const res = await request(app).get('/api/agents/support').set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('token-expired');
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
  });
});
