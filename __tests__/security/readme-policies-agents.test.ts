/**
 * The README's "One policy for Express and Mastra routes" rules as written, attacked (an attacker session found both):
 * - an admin of an organization of the user's own making (Clerk lets users create organizations): the README's
 *   `isAdmin` now names the organization, and refuses them;
 * - an agent held by another as a sub-agent under another key is served directly under that key, on every agent route
 *   (Mastra's `getAgentFromSystem` looks a missing id up among the registered agents' sub-agents): README, Limits,
 *   says to name every key in the rule; a rule naming only the id lets the alias through, one naming both holds.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import { Agent } from '@mastra/core/agent';
import { Mastra } from '@mastra/core/mastra';
import { createTool } from '@mastra/core/tools';
import { MastraServer } from '@mastra/express';
import { z } from 'zod';
import { clerkMastraAuth, createClerkAuth, type AuthorizeUser } from '../../src/index.js';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { offlineWeatherModel } from '../../examples/mastra/offline-model.js';
import { listen } from '../support/http.js';

// The README's rules, verbatim (its organization id is the one the admin below is in).
const ACME = 'org_1';
const isAdmin = (user: { o?: { id?: string; rol?: string } }) => user.o?.id === ACME && user.o?.rol === 'admin';
const readmeMixed: AuthorizeUser = (user, ctx) => {
  if (ctx.path.toLowerCase().startsWith('/admin')) return isAdmin(user);
  if (ctx.resource?.params.agentId === 'finance') return isAdmin(user);
  return true;
};
const FINANCE: Record<string, string> = { agentId: 'finance', toolId: 'ledgerTool', workflowId: 'closeBooks', workspaceId: 'finance-ws' };
const isFinance = (params: Record<string, string> = {}) => Object.keys(FINANCE).some((key) => params[key] === FINANCE[key]);
const readmeFinance: AuthorizeUser = (user, ctx) => (isFinance(ctx.resource?.params) ? user.o?.id === ACME && user.o?.rol === 'admin' : true);
// The README's Limits: name every key Mastra serves the agent under.
const FINANCE_NAMES = ['finance', 'accounting'];
const namingBoth: AuthorizeUser = (user, ctx) => (FINANCE_NAMES.includes(ctx.resource?.params.agentId ?? '') ? isAdmin(user) : true);

let issuer: TestIssuer;
let member = '';
let admin = '';
let ledgerRuns = 0;
const closers: Array<() => Promise<void>> = [];

/** The README's mixed app, plus a `helper` agent that delegates to `finance` as the sub-agent `accounting`. */
async function serve(authorizeUser: AuthorizeUser): Promise<string> {
  const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false, authorizeUser });
  const ledgerTool = createTool({
    id: 'ledgerTool',
    description: 'Reads the books.',
    inputSchema: z.object({ account: z.string() }),
    execute: async () => {
      ledgerRuns += 1;
      return { balance: 'SECRET-BALANCE' };
    },
  });
  const finance = new Agent({ id: 'finance', name: 'Finance', instructions: 'SECRET-INSTRUCTIONS Answer about the books.', model: offlineWeatherModel() as never, tools: { ledgerTool } } as never);
  const helper = new Agent({ id: 'helper', name: 'Helper', instructions: 'Routes questions.', model: offlineWeatherModel() as never, agents: { accounting: finance } } as never);
  const app = express();
  app.use(express.json());
  app.use(clerkMastraAuth({ clerkAuth }));
  app.get('/admin/report', (_req, res) => res.json({ report: 'all good' }));
  const mastra = new Mastra({ agents: { finance, helper }, server: { auth: new MastraAuthClerk({ clerkAuth }) as never }, logger: false });
  await new MastraServer({ app: app as never, mastra, prefix: '/api' }).init();
  const { base, close } = await listen(app);
  closers.push(close);
  return base;
}

beforeAll(async () => {
  issuer = await createTestIssuer();
  member = await issuer.mintToken({}, { userId: 'user_bob', org: { id: 'org_1', role: 'org:member' }, expiresInSeconds: 600 });
  admin = await issuer.mintToken({}, { userId: 'user_alice', org: { id: 'org_1', role: 'org:admin' }, expiresInSeconds: 600 });
});
afterAll(async () => {
  for (const close of closers) await close();
  await issuer?.close();
});

async function call(base: string, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; code?: string; text: string }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { error?: string }).error;
  } catch {
    code = undefined;
  }
  return { status: res.status, code, text };
}

/** The finance agent, addressed by the sub-agent key its parent holds it under. */
const SUB_AGENT_ALIAS = [
  ['GET', '/api/agents/accounting'],
  ['POST', '/api/agents/accounting/generate', { messages: [{ role: 'user', content: 'hi' }] }],
  ['GET', '/api/.well-known/accounting/agent-card.json'],
  ['GET', '/api/agents/accounting/tools/ledgerTool'],
  ['POST', '/api/agents/accounting/tools/ledgerTool/execute', { data: { account: 'payroll' } }],
] as const;

describe('an agent held as a sub-agent under another key', () => {
  it('is served under that key: a rule naming only its id lets a member through (the Limit the README states)', async () => {
    const base = await serve(readmeMixed);
    expect((await call(base, member, 'GET', '/api/agents/finance')).status).toBe(403);
    const res = await call(base, member, 'GET', '/api/agents/accounting');
    expect({ status: res.status, leaked: res.text.includes('SECRET-INSTRUCTIONS') }).toEqual({ status: 200, leaked: true });
  });

  it('a rule naming every key refuses a member (403 access-denied) on every route, nothing leaks or runs; an admin passes', async () => {
    const base = await serve(namingBoth);
    const before = ledgerRuns;
    const results = [];
    for (const [method, path, body] of SUB_AGENT_ALIAS) {
      const res = await call(base, member, method, path, body);
      results.push({ path, status: res.status, code: res.code, leaked: /SECRET-(INSTRUCTIONS|BALANCE)/.test(res.text) });
    }
    expect(results).toEqual(SUB_AGENT_ALIAS.map(([, path]) => ({ path, status: 403, code: 'access-denied', leaked: false })));
    expect(ledgerRuns - before).toBe(0);
    expect((await call(base, admin, 'GET', '/api/agents/accounting')).status).toBe(200);
  });
});

describe('an admin of another organization (one the user created)', () => {
  let outsider = '';
  beforeAll(async () => {
    outsider = await issuer.mintToken({}, { userId: 'user_mallory', org: { id: 'org_mallory_own', role: 'org:admin' }, expiresInSeconds: 600 });
  });

  it.each([
    ['the one-policy rule', readmeMixed],
    ['the FINANCE rule', readmeFinance],
  ])('%s refuses them the finance agent (403 access-denied); the organization\'s admin passes', async (_name, policy) => {
    const base = await serve(policy);
    const res = await call(base, outsider, 'GET', '/api/agents/finance');
    expect({ status: res.status, code: res.code, leaked: res.text.includes('SECRET-INSTRUCTIONS') }).toEqual({ status: 403, code: 'access-denied', leaked: false });
    expect((await call(base, admin, 'GET', '/api/agents/finance')).status).toBe(200);
  });

  it('the one-policy rule refuses them /admin/report (403 access-denied)', async () => {
    const base = await serve(readmeMixed);
    const res = await call(base, outsider, 'GET', '/admin/report');
    expect({ status: res.status, code: res.code }).toEqual({ status: 403, code: 'access-denied' });
    expect((await call(base, admin, 'GET', '/admin/report')).status).toBe(200);
  });
});
