/**
 * The README's "Clerk roles to Mastra permissions" example, as written (with the test issuer's options): its guards
 * let in whom its text says, a role-granted permission and a Clerk permission under its Clerk name (a new user found
 * the example guarding with a name no member could hold), and Mastra's routes behind it as its prose says: an admin
 * runs an agent, which the first version, without express.json(), refused as an unread body.
 */
import { afterAll, expect, it } from '@jest/globals';
import express from 'express';
import request from 'supertest';
import { Agent } from '@mastra/core/agent';
import { Mastra } from '@mastra/core/mastra';
import { MastraServer } from '@mastra/express';
import { clerkMastraAuth, createClerkAuth, requireClerkAuth, rolePermissions } from '../../src/index.js';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { createTestIssuer } from '../../src/testing/index.js';
import { offlineWeatherModel } from '../../examples/mastra/offline-model.js';

const issuer = await createTestIssuer();
afterAll(() => issuer.close());

const ACME = 'org_1'; // the README's organization id
const permissions = rolePermissions({
  organizations: [ACME],
  roles: { 'org:admin': ['*'], 'org:member': ['agents:read', 'agents:execute', 'reports:read'] },
});
const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false, authorizeUser: permissions.authorizeUser });
const app = express();
app.use(express.json()); // before the middleware, as soon as Mastra's routes are mounted (see Security model)
app.use(clerkMastraAuth({ clerkAuth }));
app.get('/reports', requireClerkAuth(permissions.require('reports:read')), (_req, res) => res.json({ ok: true }));
app.get('/billing', requireClerkAuth(permissions.require('org:billing:read')), (_req, res) => res.json({ ok: true }));

it.each([
  ['org:member', [], 200, 403],
  ['org:member', ['org:billing:read'], 200, 200],
  ['org:viewer', ['org:billing:read'], 403, 200],
  ['org:viewer', [], 403, 403],
  ['org:admin', [], 200, 200],
])('%s with Clerk permissions %j: /reports %i, /billing %i', async (role, clerkPermissions, reports, billing) => {
  const token = await issuer.mintToken({}, { userId: 'user_roles', org: { id: 'org_1', role, permissions: clerkPermissions } });
  const got = async (path: string) => {
    const res = await request(app).get(path).set('Authorization', `Bearer ${token}`);
    return [path, res.status, res.status === 403 ? res.body.error : res.body.ok];
  };
  expect(await got('/reports')).toEqual(['/reports', reports, reports === 200 ? true : 'access-denied']);
  expect(await got('/billing')).toEqual(['/billing', billing, billing === 200 ? true : 'access-denied']);
});

it("Mastra's routes behind it, by role: an admin runs the agent, a member reads it, a viewer neither", async () => {
  const finance = new Agent({ id: 'finance', name: 'finance', instructions: 'x', model: offlineWeatherModel() as never });
  const mastra = new Mastra({ agents: { finance }, server: { auth: new MastraAuthClerk({ clerkAuth }) as never }, logger: false });
  await new MastraServer({ app: app as never, mastra, prefix: '/api' }).init();
  for (const [role, read, run] of [
    ['org:admin', 200, 200],
    ['org:member', 200, 200],
    ['org:viewer', 403, 403],
  ] as const) {
    const token = await issuer.mintToken({}, { userId: 'user_roles', org: { id: 'org_1', role } });
    const got = await request(app).get('/api/agents/finance').set('Authorization', `Bearer ${token}`);
    const ran = await request(app).post('/api/agents/finance/generate').set('Authorization', `Bearer ${token}`).send({ messages: [{ role: 'user', content: 'Paris' }] });
    expect([role, got.status, ran.status, ran.body.message ?? null]).toEqual([role, read, run, run === 403 ? expect.not.stringMatching(/body could not be checked/) : null]);
  }
});
