/**
 * The README's "Machine callers" example, as written (with the test issuer's options), in front of Mastra with the
 * two agents it names: each kind of caller gets what its comment says, and nothing else. A new user found the first
 * version letting an API key read every agent's configuration (the finance agent's too, which its owner's own session
 * could not) and the traces of all, because its rule allowed any GET.
 */
import { afterAll, expect, it } from '@jest/globals';
import express from 'express';
import request from 'supertest';
import { Agent } from '@mastra/core/agent';
import { Mastra } from '@mastra/core/mastra';
import { MastraServer } from '@mastra/express';
import { clerkMastraAuth, createClerkAuth, getClerkAuth, requireClerkAuth } from '../../src/index.js';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { createTestIssuer } from '../../src/testing/index.js';
import { offlineWeatherModel } from '../../examples/mastra/offline-model.js';
import { machineOptions } from './support.js';

const issuer = await createTestIssuer();
afterAll(() => issuer.close());

// The README's example, with the issuer's options in front.
const ACME = 'org_1'; // the README's organization id
const clerkAuth = createClerkAuth({
  ...machineOptions(issuer),
  acceptsToken: ['session_token', 'm2m_token', 'api_key'],
  authorizeUser: (user, ctx) => {
    // A cron job (M2M token) may post jobs and run the reporting agent, and nothing else.
    if (ctx.tokenType === 'm2m_token') {
      const postsJob = ctx.method === 'POST' && ctx.path.toLowerCase() === '/jobs'; // Express matches paths case-insensitively
      return postsJob || (ctx.resource?.params.agentId === 'reporter' && ctx.resource.permission === 'agents:execute');
    }
    // A customer's script (API key with the scope `read`) may read the reporting agent, and nothing else.
    if (ctx.tokenType === 'api_key') {
      return ctx.machine?.scopes.includes('read') === true && ctx.resource?.params.agentId === 'reporter' && ctx.resource.permission === 'agents:read';
    }
    // People: admins of your organization for the finance agent.
    return ctx.tokenType === 'session_token' && (ctx.resource?.params.agentId !== 'finance' || (user.o?.id === ACME && user.o?.rol === 'admin'));
  },
});
const app = express();
app.use(express.json()); // before the middleware, as soon as Mastra's routes are mounted (see Security model)
app.use(clerkMastraAuth({ clerkAuth }));
app.post('/jobs', requireClerkAuth(undefined, { acceptsToken: 'm2m_token' }), (req, res) => {
  const auth = getClerkAuth(req, { acceptsToken: 'm2m_token' });
  res.json({ machine: auth.isAuthenticated ? auth.machineId : null, scopes: auth.scopes });
});

// Mastra, mounted behind it, with the agents the policy names.
const agent = (id: string) => new Agent({ id, name: id, instructions: `${id} instructions`, model: offlineWeatherModel() as never });
const mastra = new Mastra({ agents: { reporter: agent('reporter'), finance: agent('finance') }, server: { auth: new MastraAuthClerk({ clerkAuth }) as never }, logger: false });
await new MastraServer({ app: app as never, mastra, prefix: '/api' }).init();

const cron = await issuer.mintM2MToken({ machineId: 'mch_cron' });
const script = issuer.createApiKey({ subject: 'user_member', name: 'script', scopes: ['read'] });
const unscoped = issuer.createApiKey({ subject: 'user_member', name: 'other', scopes: [] });
const member = await issuer.mintToken({}, { userId: 'user_member', org: { id: 'org_1', role: 'org:member' } });
const admin = await issuer.mintToken({}, { userId: 'user_admin', org: { id: 'org_1', role: 'org:admin' } });
// An admin of an organization of their own making (Clerk lets users create organizations).
const ownOrgAdmin = await issuer.mintToken({}, { userId: 'user_mallory', org: { id: 'org_mallory', role: 'org:admin' } });
const run = { messages: [{ role: 'user', content: 'Paris' }] };

it.each([
  ['cron', 'POST', '/jobs', 200],
  ['cron', 'POST', '/JOBS', 200], // the route Express serves, however cased
  ['cron', 'GET', '/jobs', 403], // posting jobs, not reading them
  ['cron', 'POST', '/api/agents/reporter/generate', 200],
  ['cron', 'GET', '/api/agents/reporter', 403],
  ['cron', 'POST', '/api/agents/finance/generate', 403],
  // A clone writes a stored agent (stored-agents:write), which is not running the agent.
  ['cron', 'POST', '/api/agents/reporter/clone', 403],
  ['cron', 'GET', '/api/agents', 403],
  ['script', 'GET', '/api/agents/reporter', 200],
  ['script', 'POST', '/api/agents/reporter/generate', 403],
  ['script', 'GET', '/api/agents/finance', 403],
  ['script', 'GET', '/api/agents', 403],
  ['script', 'GET', '/api/observability/traces', 403],
  ['unscoped', 'GET', '/api/agents/reporter', 403],
  ['member', 'GET', '/api/agents/reporter', 200],
  ['member', 'GET', '/api/agents/finance', 403],
  ['member', 'POST', '/jobs', 401],
  ['admin', 'GET', '/api/agents/finance', 200],
  ['ownOrgAdmin', 'GET', '/api/agents/finance', 403],
  ['ownOrgAdmin', 'POST', '/api/agents/finance/generate', 403],
] as const)('%s: %s %s → %i', async (caller, method, path, status) => {
  const token = { cron, script, unscoped, member, admin, ownOrgAdmin }[caller];
  const req = method === 'GET' ? request(app).get(path) : request(app).post(path).send(run);
  const res = await req.set('Authorization', `Bearer ${token}`);
  expect([res.status, res.status === 403 ? res.body.error : res.status === 401 ? res.body.error : 'ok']).toEqual([
    status,
    status === 403 ? 'access-denied' : status === 401 ? 'token-type-mismatch' : 'ok',
  ]);
});
