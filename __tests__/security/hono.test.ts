/**
 * The provider alone on Mastra's own Hono server, as `mastra dev` and `mastra start` run it (`createNodeServer` of
 * `@mastra/deployer/server`). Hono routes the path after `decodeURI`, so a percent-escape in a literal segment
 * (`/api/%61gents/finance`, `/api/schedul%65s`) reaches the route, where Express answers 404. The provider matched
 * literal segments as sent and found no route there: the policy saw no `ctx.resource`, and the schedule refusal, the
 * AgentController and observational-memory checks and the run ties were all skipped (found by a helper session).
 * Real issuer, LibSQL, Mastra's server, raw requests over a socket.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { request as httpRequest } from 'node:http';
import { Agent } from '@mastra/core/agent';
import { AgentController } from '@mastra/core/agent-controller';
import { Mastra } from '@mastra/core/mastra';
import { registerApiRoute } from '@mastra/core/server';
import { createStep, createWorkflow } from '@mastra/core/workflows';
import { Memory } from '@mastra/memory';
import { z } from 'zod';
import { createClerkAuth } from '../../src/index.js';
import { MastraAuthClerk, protectMemory } from '../../src/mastra/index.js';
import { offlineWeatherModel } from '../../examples/mastra/offline-model.js';
import { expectMastra, raw, serveMastra } from './support.js';
import { libsqlMemoryFixture } from '../support/memory-app.js';

const ALICE = 'user_alice';
const libsql = libsqlMemoryFixture('hono');
let alice: string;
let bob: string;
let port: number;
let close: () => Promise<void>;
const info: string[] = [];
/** Extra sinks for `error` lines (a test adds one). */
const errorsOf: Array<(line: string) => void> = [];

beforeAll(async () => {
  alice = await libsql.issuer().mintToken({}, { userId: ALICE, expiresInSeconds: 3600 });
  bob = await libsql.issuer().mintToken({}, { userId: 'user_bob', expiresInSeconds: 3600 });
  const store = protectMemory(libsql.store('hono'));
  const clerkAuth = createClerkAuth({
    ...libsql.issuer().authOptions,
    env: {},
    logger: { info: (line) => info.push(line), error: (line) => errorsOf.forEach((sink) => sink(line)) },
    // The README's kind of policy: one agent and one workflow for Alice only.
    authorizeUser: (user, ctx) =>
      (ctx.resource?.params.agentId !== 'finance' && ctx.resource?.params.workflowId !== 'payroll') || user.sub === ALICE,
  });
  const memory = new Memory({ storage: store, options: { observationalMemory: { model: offlineWeatherModel(), scope: 'resource' } as never } });
  const weatherAgent = new Agent({ id: 'weatherAgent', name: 'Weather', instructions: 'Weather.', model: offlineWeatherModel() as never, memory });
  const finance = new Agent({ id: 'finance', name: 'Finance', instructions: 'FINANCE-INSTRUCTIONS', model: offlineWeatherModel() as never });
  const secret = z.object({ secret: z.string() });
  const payroll = createWorkflow({ id: 'payroll', inputSchema: z.object({}), outputSchema: secret })
    .then(createStep({ id: 'pay', inputSchema: z.object({}), outputSchema: secret, execute: async () => ({ secret: 'alice-secret' }) }))
    .commit();
  const note = z.object({ note: z.string() });
  const notes = createWorkflow({ id: 'notes', inputSchema: z.object({}), outputSchema: note })
    .then(createStep({ id: 'write', inputSchema: z.object({}), outputSchema: note, execute: async () => ({ note: 'bob-note' }) }))
    .commit();
  const code = new AgentController({ id: 'code', agent: weatherAgent, modes: [{ id: 'default' }] } as never);
  const mastra = new Mastra({
    agents: { weatherAgent, finance },
    agentControllers: { code },
    workflows: { payroll, notes },
    storage: store,
    // A body limit above Mastra's default (4.5 MB), given to the provider too (it cannot see Mastra's), and a custom
    // route whose path reads as one of Mastra's body routes under a prefix (`PATCH /datasets/:datasetId`).
    server: {
      auth: new MastraAuthClerk({ clerkAuth, bodySizeLimit: 8 * 1024 * 1024 }),
      bodySizeLimit: 8 * 1024 * 1024,
      apiRoutes: [registerApiRoute('/admin/datasets/:id', { method: 'PATCH', handler: async (c) => c.json({ ok: true }) })],
    },
    logger: false,
  });
  const served = await serveMastra(mastra, { mode: 'hono', clerkAuth });
  close = served.close;
  port = Number(new URL(served.base).port);
});
afterAll(async () => close?.());

const as = (token: string) => ({ Authorization: `Bearer ${token}` });
const post = (token: string, target: string, body?: unknown) => raw(port, 'POST', target, as(token), body === undefined ? undefined : JSON.stringify(body));

describe("Mastra's Hono server with the provider alone", () => {
  it('says what it protects on the first request (it reads nothing of the provider at start)', async () => {
    expect((await raw(port, 'GET', '/api/agents')).status).toBe(401);
    expect(info.filter((line) => line.includes('every API route needs a Clerk session'))).toHaveLength(1);
  });

  it('judges an agent by its id however a literal segment is spelled', async () => {
    expect((await raw(port, 'GET', '/api/agents/weatherAgent', as(bob))).status).toBe(200);
    for (const [method, target] of [
      ['GET', '/api/agents/finance'],
      ['GET', '/api/%61gents/finance'],
      ['GET', '/api/agent%73/finance'],
      ['GET', '/api/agents/%66inance'],
      ['POST', '/api/%61gents/finance/generate'],
      ['POST', '/api/agents/finance/gen%65rate'],
    ] as const) {
      const res = await raw(port, method, target, as(bob), method === 'POST' ? JSON.stringify({ messages: 'hi' }) : undefined);
      expectMastra(res, 403, `${method} ${target}`);
    }
    expect((await raw(port, 'GET', '/api/%61gents/finance', as(alice))).body).toContain('FINANCE-INSTRUCTIONS');
  });

  it("judges the body Mastra reads (Hono hands the provider the request's body; Mastra's Express adapter does not)", async () => {
    // Mastra takes a body's agentId over the path's: the policy must judge the agent the body names.
    const overBody = await post(bob, '/api/agents/weatherAgent/generate', { messages: 'hi', agentId: 'finance' });
    expect({ status: overBody.status, ran: overBody.body.includes('FINANCE') }).toEqual({ status: 403, ran: false });
    // A body naming the path's own agent, or the one the user may use, is served.
    expect((await post(alice, '/api/agents/finance/generate', { messages: 'hi', agentId: 'finance' })).status).toBe(200);
    expect((await post(bob, '/api/agents/weatherAgent/generate', { messages: 'hi', agentId: 'weatherAgent', memory: { thread: 'b-thread', resource: 'user_bob' } })).status).toBe(200);
    // A body naming another user's resource or a stored A2A task is judged as the middleware judges it.
    expectMastra(await post(bob, '/api/memory/observational-memory/buffer-status', { agentId: 'weatherAgent', resourceId: ALICE }), 403, 'buffer-status');
    const task = { jsonrpc: '2.0', id: 1, method: 'tasks/get', params: { id: 'any' } };
    expectMastra(await post(bob, '/api/a2a/weatherAgent', task), 403, 'a2a tasks/get');
    // A body Mastra does not read as JSON (another content type) decides nothing; one it cannot parse is Mastra's 400.
    const text = await raw(port, 'POST', '/api/agents/weatherAgent/generate', { ...as(bob), 'Content-Type': 'text/plain' }, JSON.stringify({ agentId: 'finance' }));
    expect(text.body.includes('FINANCE')).toBe(false);
    const broken = await raw(port, 'POST', '/api/agents/finance/generate', { ...as(alice), 'Content-Type': 'application/json' }, '{"messages": ');
    expect(broken.status).toBe(400);
  });

  it('refuses a multipart body where Mastra takes JSON, whatever the Content-Type spells (its fields go over the path)', async () => {
    const form = (fields: Record<string, string>, boundary = 'B') =>
      Object.entries(fields)
        .map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`)
        .join('') + `--${boundary}--\r\n`;
    const fields = { messages: 'hi', agentId: 'finance' };
    for (const [label, type, body] of [
      ['multipart', 'multipart/form-data; boundary=B', form(fields)],
      ['urlencoded naming multipart', 'application/x-www-form-urlencoded; x=multipart/form-data', 'messages=hi&agentId=finance'],
    ] as const) {
      const res = await raw(port, 'POST', '/api/agents/weatherAgent/generate', { ...as(bob), 'Content-Type': type }, body);
      expectMastra(res, 403, label);
    }
    // An A2A call in form fields (Mastra parses each as JSON): refused as the JSON one is, with or without a policy.
    const task = form({ jsonrpc: '"2.0"', id: '1', method: 'tasks/get', params: '{"id":"any"}' });
    expectMastra(await raw(port, 'POST', '/api/a2a/weatherAgent', { ...as(bob), 'Content-Type': 'multipart/form-data; boundary=B' }, task), 403, 'a2a form');
  });

  it('reads a body up to the bodySizeLimit it is given (here 8 MB, as Mastra\'s) and judges it (it refused past 4.5 MB)', async () => {
    const memory = { thread: 'b-big', resource: 'user_bob' };
    const big = (agentId: string, mb: number) => JSON.stringify({ messages: 'hi', agentId, memory, pad: 'x'.repeat(mb * 1024 * 1024) });
    expect((await raw(port, 'POST', '/api/agents/weatherAgent/generate', as(bob), big('weatherAgent', 5))).status).toBe(200);
    expectMastra(await raw(port, 'POST', '/api/agents/weatherAgent/generate', as(bob), big('finance', 5)), 403, 'big, another agent');
    // Past Mastra's limit, Mastra's own 413 before the provider is asked.
    expect((await raw(port, 'POST', '/api/agents/weatherAgent/generate', as(bob), big('weatherAgent', 9))).status).toBe(413);
  });

  it('stops reading at its limit where Mastra bounds no body (a custom route; found by an attacker session)', async () => {
    // Mastra registers custom routes without its body limit and asks the provider before their own middleware runs.
    // A chunked body that never ends: the provider read on (300 MB grew the server by 616 MB) when it trusted Mastra's
    // limit on a path that reads as Mastra's `PATCH /datasets/:datasetId` under `/admin`.
    const answered = await new Promise<number | 'no answer'>((resolve) => {
      const req = httpRequest({
        host: '127.0.0.1',
        port,
        path: '/admin/datasets/d1',
        method: 'PATCH',
        agent: false,
        headers: { ...as(bob), 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', Connection: 'close' },
      });
      const timer = setTimeout(() => (req.destroy(), resolve('no answer')), 5_000);
      req.on('response', (res) => (clearTimeout(timer), res.resume(), resolve(res.statusCode ?? 0)));
      req.on('error', () => undefined);
      req.write('{"pad":"');
      for (let mb = 0; mb < 10; mb += 1) req.write(Buffer.alloc(1024 * 1024, 'x'));
    });
    // Answered once 8 MB were read: 403, as the body a policy may judge there could not be read whole.
    expect(answered).toBe(403);
  });

  it("counts Clerk's session cookie only from the origin its token was issued to (Mastra's Hono server lets any origin read the answer)", async () => {
    const iat = Math.floor(Date.now() / 1000) - 5;
    const token = await libsql.issuer().mintToken({ iat }, { userId: ALICE, expiresInSeconds: 3600 });
    const cookie = { Cookie: `__session=${token}; __client_uat=${iat}` };
    const foreign = await raw(port, 'GET', '/api/agents/finance', { ...cookie, Origin: 'http://evil.localhost:5555' });
    expect({ status: foreign.status, leaked: foreign.body.includes('FINANCE-INSTRUCTIONS') }).toEqual({ status: 401, leaked: false });
    const own = await raw(port, 'GET', '/api/agents/finance', { ...cookie, Origin: libsql.issuer().authorizedParty });
    expect(own.status).toBe(200);
  });

  it('refuses an id every plain object has however the route is spelled (Mastra answered a 500)', async () => {
    for (const target of ['/api/agents/constructor', '/api/%61gents/constructor', '/api/agents/__proto__']) {
      expectMastra(await raw(port, 'GET', target, as(alice)), 403, target);
    }
    // In the JSON body too, which Mastra reads over the path's.
    expectMastra(await post(alice, '/api/agents/weatherAgent/generate', { messages: 'hi', agentId: 'constructor' }), 403, 'body');
  });

  it('refuses the schedules and the AgentController lists however they are spelled', async () => {
    for (const target of [
      '/api/schedules',
      '/api/schedul%65s',
      '/api/%73chedules',
      '/api/agent%2Dcontroller/code/active-runs',
      '/api/agent-controller/code/sessions/user_bob/resource%73',
      `/api/agent%2Dcontroller/code/sessions/${ALICE}/threads`,
      `/api/agent-controller/code/session%73/${ALICE}/threads`,
      `/api/memory/observational-m%65mory?agentId=weatherAgent&resourceId=${ALICE}`,
    ]) {
      expectMastra(await raw(port, 'GET', target, as(bob)), 403, target);
    }
  });

  it("keeps a workflow's run to its workflow however the route is spelled", async () => {
    const created = await post(alice, '/api/workflows/payroll/create-run');
    const { runId } = JSON.parse(created.body) as { runId: string };
    const streamed = await post(alice, `/api/workflows/payroll/stream?runId=${runId}`, { inputData: {} });
    expect([streamed.status, streamed.body.includes('alice-secret')]).toEqual([200, true]);
    for (const target of [
      `/api/workflows/notes/observe?runId=${runId}`,
      `/api/%77orkflows/notes/observe?runId=${runId}`,
      `/api/workflow%73/notes/create-run?runId=${runId}`,
      `/api/workflows/notes/%6Fbserve?runId=${runId}`,
    ]) {
      const res = await post(bob, target);
      expect({ target, status: res.status, leaked: res.body.includes('alice-secret') }).toEqual({ target, status: 403, leaked: false });
    }
  });

  // Last: it changes this process's Object.prototype (removed again at the end).
  it('refuses every signed-in request once a request wrote into Object.prototype (a bug of Mastra reachable anonymously)', async () => {
    const errors: string[] = [];
    const polluted = ['o', 'rol', 'id'];
    try {
      // Mastra's query normalizer writes `__proto__[...]` keys into Object.prototype on routes that never ask the
      // provider; nothing can sit in front of them on this server. A policy reading `user.o?.rol` then calls
      // everyone an admin, and `o?.id` gives everyone an organization.
      for (const key of polluted) {
        const res = await raw(port, 'GET', `/api/auth/capabilities?__proto__[${key}]=${key === 'rol' ? 'admin' : 'x'}`);
        expect(res.status).toBeLessThan(500);
      }
      expect(polluted.every((key) => key in {})).toBe(true);
      errorsOf.push((line) => errors.push(line));
      for (const token of [bob, alice]) {
        expectMastra(await raw(port, 'GET', '/api/agents/weatherAgent', as(token)), 401, 'polluted');
      }
      expect(errors.filter((line) => line.includes('Object.prototype'))).toHaveLength(1);
    } finally {
      for (const key of polluted) delete (Object.prototype as Record<string, unknown>)[key];
    }
    expect((await raw(port, 'GET', '/api/agents/weatherAgent', as(bob))).status).toBe(200);
  });
});
