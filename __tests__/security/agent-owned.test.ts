/**
 * An agent's own tools, workflows and workspace (found by an attacker session of our own): Mastra serves them on
 * routes of their own ids too (`/tools/:toolId`, `/workflows/:workflowId/...`, `/workspaces/:workspaceId/...`), for an
 * id it does not find among its own looking in every agent's. The README's rule about one agent (`agentId ===
 * 'finance'`) holds on the agent's routes only; its "An agent's own tools" rule, which names them, holds on all.
 * Also (found by the attacker session on the README's policies): an agent held as a sub-agent under another key is
 * served under that key (README, Limits: name every key), and an admin of an organization of the user's own making is
 * no admin (the README's rules name the organization).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { Agent } from '@mastra/core/agent';
import { Mastra } from '@mastra/core/mastra';
import { createTool } from '@mastra/core/tools';
import { createStep, createWorkflow } from '@mastra/core/workflows';
import { LocalFilesystem, Workspace } from '@mastra/core/workspace';
import { MastraServer } from '@mastra/express';
import { z } from 'zod';
import { clerkMastraAuth, createClerkAuth, type AuthorizeUser } from '../../src/index.js';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { offlineWeatherModel } from '../../examples/mastra/offline-model.js';
import { listen } from '../support/http.js';

// The README's admins: of its organization (the one the admin below is in).
const ACME = 'org_1';
const isAdmin = (user: { o?: { id?: string; rol?: string } }) => user.o?.id === ACME && user.o?.rol === 'admin';
/** The README's "One policy" rule: /admin, and the agent by its id. */
const agentOnly: AuthorizeUser = (user, ctx) => {
  if (ctx.path.toLowerCase().startsWith('/admin')) return isAdmin(user);
  if (ctx.resource?.params.agentId === 'finance') return isAdmin(user);
  return true;
};
// The README's Limits: name every key Mastra serves the agent under (the sub-agent key `accounting` below).
const FINANCE_NAMES = ['finance', 'accounting'];
const namingEveryKey: AuthorizeUser = (user, ctx) => (FINANCE_NAMES.includes(ctx.resource?.params.agentId ?? '') ? isAdmin(user) : true);
// The README's "An agent's own tools" rule, as written there.
const FINANCE: Record<string, string> = { agentId: 'finance', toolId: 'ledgerTool', workflowId: 'closeBooks', workspaceId: 'finance-ws' };
const isFinance = (params: Record<string, string> = {}) => Object.keys(FINANCE).some((key) => params[key] === FINANCE[key]);
const withOwnIds: AuthorizeUser = (user, ctx) => (isFinance(ctx.resource?.params) ? isAdmin(user) : true);

let issuer: TestIssuer;
let dir = '';
let member = '';
let admin = '';
let ledgerRuns = 0;
let closeRuns = 0;
const closers: Array<() => Promise<void>> = [];

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
  const io = z.object({ period: z.string() });
  // Held by the agent under a key other than its id (`workflows: { closeBooks }`): Mastra finds it by the key.
  const closeBooks = createWorkflow({ id: 'close-books', inputSchema: io, outputSchema: z.object({ closed: z.string() }) })
    .then(createStep({ id: 'close', inputSchema: io, outputSchema: z.object({ closed: z.string() }), execute: async ({ inputData }) => {
      closeRuns += 1;
      return { closed: `SECRET-CLOSED-${inputData.period}` };
    } }))
    .commit();
  const workspace = new Workspace({ id: 'finance-ws', name: 'Finance files', filesystem: new LocalFilesystem({ basePath: dir }) });
  const finance = new Agent({ id: 'finance', name: 'Finance', instructions: 'SECRET-INSTRUCTIONS about the books.', model: offlineWeatherModel() as never, tools: { ledgerTool }, workflows: { closeBooks }, workspace } as never);
  // A supervisor holding the finance agent as a sub-agent under another key.
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
  dir = await mkdtemp(join(tmpdir(), 'cma-owned-'));
  await writeFile(join(dir, 'books.txt'), 'SECRET-BOOKS');
  member = await issuer.mintToken({}, { userId: 'user_bob', org: { id: 'org_1', role: 'org:member' }, expiresInSeconds: 600 });
  admin = await issuer.mintToken({}, { userId: 'user_alice', org: { id: 'org_1', role: 'org:admin' }, expiresInSeconds: 600 });
});
afterAll(async () => {
  for (const close of closers) await close();
  await issuer?.close();
  await rm(dir, { recursive: true, force: true });
});

async function call(base: string, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; code?: string; text: string }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, code: res.status === 403 ? (JSON.parse(text) as { error?: string }).error : undefined, text };
}

/** The agent's tool, workflow and workspace by their own ids: no route names the agent. */
const OWN_ROUTES = [
  ['POST', '/api/tools/ledgerTool/execute', { data: { account: 'payroll' } }],
  ['GET', '/api/tools/ledgerTool'],
  ['POST', '/api/workflows/closeBooks/start-async', { inputData: { period: 'Q1' } }],
  ['GET', '/api/workspaces/finance-ws/fs/read?path=books.txt'],
  ['POST', '/api/workspaces/finance-ws/fs/write', { path: 'notes.txt', content: 'cooked' }],
] as const;

describe("an agent's own tools, workflows and workspace, for a member", () => {
  it("tests the README's rule as the README writes it", () => {
    const source = readFileSync(new URL(import.meta.url), 'utf8');
    const lines = (text: string) => text.split('\n').filter((line) => /^const (FINANCE|isFinance)\b/.test(line));
    expect(lines(readFileSync('README.md', 'utf8'))).toEqual(lines(source));
    expect(lines(source)).toHaveLength(2);
  });


  it("a rule naming only the agent: Mastra serves them by their own ids (why the README's rule names them)", async () => {
    const base = await serve(agentOnly);
    const before = { ledgerRuns, closeRuns };
    const results = [];
    for (const [method, path, body] of OWN_ROUTES) results.push((await call(base, member, method, path, body)).status);
    expect(results).toEqual([200, 200, 200, 200, 200]);
    expect({ ledgerRuns: ledgerRuns - before.ledgerRuns, closeRuns: closeRuns - before.closeRuns }).toEqual({ ledgerRuns: 1, closeRuns: 1 });
    // The agent's own route is refused.
    expect((await call(base, member, 'POST', '/api/agents/finance/tools/ledgerTool/execute', { data: { account: 'payroll' } })).status).toBe(403);
  });

  it("the README's rule naming their ids: 403 access-denied on every route, nothing run, the admin served", async () => {
    const base = await serve(withOwnIds);
    const before = { ledgerRuns, closeRuns };
    const refused = [];
    for (const [method, path, body] of OWN_ROUTES) {
      const res = await call(base, member, method, path, body);
      refused.push({ path, status: res.status, code: res.code, leaked: res.text.includes('SECRET') });
    }
    expect(refused).toEqual(OWN_ROUTES.map(([, path]) => ({ path, status: 403, code: 'access-denied', leaked: false })));
    expect({ ledgerRuns: ledgerRuns - before.ledgerRuns, closeRuns: closeRuns - before.closeRuns }).toEqual({ ledgerRuns: 0, closeRuns: 0 });
    // The workflow's own id is no route of it: Mastra finds an agent's workflow by its key alone.
    expect((await call(base, member, 'POST', '/api/workflows/close-books/start-async', { inputData: { period: 'Q1' } })).status).toBe(404);
    const read = await call(base, admin, 'GET', '/api/workspaces/finance-ws/fs/read?path=books.txt');
    expect({ status: read.status, books: read.text.includes('SECRET-BOOKS') }).toEqual({ status: 200, books: true });
  });
});

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
    const base = await serve(agentOnly);
    expect((await call(base, member, 'GET', '/api/agents/finance')).status).toBe(403);
    const res = await call(base, member, 'GET', '/api/agents/accounting');
    expect({ status: res.status, leaked: res.text.includes('SECRET-INSTRUCTIONS') }).toEqual({ status: 200, leaked: true });
  });

  it('a rule naming every key refuses a member (403 access-denied) on every route, nothing leaks or runs; an admin passes', async () => {
    const base = await serve(namingEveryKey);
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
  it.each([
    ['the one-policy rule', agentOnly],
    ['the rule naming the own ids', withOwnIds],
  ])("%s refuses them the finance agent (403 access-denied); the organization's admin passes", async (_name, policy) => {
    const outsider = await issuer.mintToken({}, { userId: 'user_mallory', org: { id: 'org_mallory_own', role: 'org:admin' }, expiresInSeconds: 600 });
    const base = await serve(policy);
    const res = await call(base, outsider, 'GET', '/api/agents/finance');
    expect({ status: res.status, code: res.code, leaked: res.text.includes('SECRET-INSTRUCTIONS') }).toEqual({ status: 403, code: 'access-denied', leaked: false });
    expect((await call(base, admin, 'GET', '/api/agents/finance')).status).toBe(200);
    if (policy === agentOnly) {
      expect((await call(base, outsider, 'GET', '/admin/report')).status).toBe(403);
      expect((await call(base, admin, 'GET', '/admin/report')).status).toBe(200);
    }
  });
});
