/**
 * Mastra's AgentController routes (`/agent-controller/:controllerId/sessions/:resourceId/...`, new in @mastra/server
 * 1.68) take the memory resource from the request, never from the signed-in user: a controller on the app's Mastra
 * reads and writes the app's own memory, so user B listed user A's threads, read their messages and renamed them by
 * naming A's user id in the path (found by an attacker session). Both adapters now let through only the caller's own
 * resource, wherever the request names it, and refuse the routes that list every user's. Real issuer, Express, Mastra,
 * LibSQL with `protectMemory`, over HTTP; the mixed app and the provider alone.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Agent } from '@mastra/core/agent';
import { AgentController } from '@mastra/core/agent-controller';
import { Mastra } from '@mastra/core/mastra';
import { Memory } from '@mastra/memory';
import { createClerkAuth } from '../../src/index.js';
import { MastraAuthClerk, protectMemory } from '../../src/mastra/index.js';
import { offlineWeatherModel } from '../../examples/mastra/offline-model.js';
import { callJson, errorOf, raw, serveMastra } from './support.js';
import { libsqlMemoryFixture } from '../support/memory-app.js';

const USER_A = 'user_a';
const USER_B = 'user_b';
const AGENT_ID = 'weatherAgent';
const SESSIONS = '/api/agent-controller/code/sessions';

const libsql = libsqlMemoryFixture('controller');
let tokenA: string;
let tokenB: string;
beforeAll(async () => {
  [tokenA, tokenB] = (await libsql.tokens(USER_A, USER_B)) as [string, string];
});

describe.each([
  ['mixed', 5],
  ['standalone', 5],
  ['hono', 5],
  ['mixed', 4],
] as const)('%s app, Express %s', (mode, framework) => {
  let base: string;
  let close: () => Promise<void>;
  let aThread: string;

  const call = (token: string, method: string, path: string, body?: unknown) => callJson(base, token, method, path, body);

  /** The middleware's 403 with its code in the mixed app; Mastra's own 403 with the provider alone. */
  const denied = mode === 'mixed' ? [403, 'access-denied'] : [403, 'Access denied'];

  beforeAll(async () => {
    const store = protectMemory(libsql.store(`${mode}-${framework}`));
    const clerkAuth = createClerkAuth({ ...libsql.issuer().authOptions, env: {}, logger: false });
    const memory = new Memory({ storage: store });
    const weatherAgent = new Agent({ id: AGENT_ID, name: 'Weather Agent', instructions: 'Weather.', model: offlineWeatherModel() as never, memory });
    const code = new AgentController({ id: 'code', agent: weatherAgent, modes: [{ id: 'default' }] } as never);
    const mastra = new Mastra({
      agents: { weatherAgent },
      agentControllers: { code },
      storage: store,
      server: { auth: new MastraAuthClerk({ clerkAuth }) },
      logger: false,
    });
    ({ base, close } = await serveMastra(mastra, { mode, framework, clerkAuth }));

    // A's memory thread with a secret, made through Mastra's memory routes (which scope it to A).
    aThread = `a-thread-${mode}-${framework}`;
    const created = await call(tokenA, 'POST', `/api/memory/threads?agentId=${AGENT_ID}`, { resourceId: USER_A, threadId: aThread, title: 'A secret' });
    expect(created.status).toBe(200);
    const saved = await call(tokenA, 'POST', `/api/memory/save-messages?agentId=${AGENT_ID}`, {
      messages: [
        {
          id: `${aThread}-m1`,
          threadId: aThread,
          resourceId: USER_A,
          role: 'user',
          type: 'text',
          createdAt: new Date().toISOString(),
          content: { format: 2, parts: [{ type: 'text', text: 'my password is hunter2' }] },
        },
      ],
    });
    expect(saved.status).toBe(200);
  });
  afterAll(async () => close());

  it("B cannot list, read or rename A's threads by naming A's resource in the path", async () => {
    const list = await call(tokenB, 'GET', `${SESSIONS}/${USER_A}/threads`);
    expect([list.status, list.error, list.text.includes(aThread)]).toEqual([...denied, false]);
    const messages = await call(tokenB, 'GET', `${SESSIONS}/${USER_A}/threads/${aThread}/messages`);
    expect([messages.status, messages.error, messages.text.includes('hunter2')]).toEqual([...denied, false]);
    const renamed = await call(tokenB, 'PUT', `${SESSIONS}/${USER_A}/threads/${aThread}`, { title: 'B was here' });
    expect([renamed.status, renamed.error]).toEqual(denied);
    // The same resource spelled another way is the same refusal.
    const encoded = await call(tokenB, 'GET', `${SESSIONS}/user%5Fa/threads`);
    expect([encoded.status, encoded.text.includes(aThread)]).toEqual([403, false]);
    // A query resource that does not decode as UTF-8 (each Express parser reads it otherwise) is refused too.
    const undecodable = await call(tokenB, 'POST', `${SESSIONS}?resourceId=${USER_B}%FF`, { resourceId: USER_B });
    expect(undecodable.status).toBe(403);
    const after = await call(tokenA, 'GET', `/api/memory/threads/${aThread}?agentId=${AGENT_ID}`);
    expect(after.json?.title).toBe('A secret');
  });

  it("B cannot open A's session by naming A in the body or the query, nor move a session to A", async () => {
    const inBody = await call(tokenB, 'POST', SESSIONS, { resourceId: USER_A });
    const inQuery = await call(tokenB, 'POST', `${SESSIONS}?resourceId=${USER_A}`, {});
    const moved = await call(tokenB, 'POST', `${SESSIONS}/${USER_B}/resource`, { newResourceId: USER_A });
    // Mastra hands the handler the body over the path: a body naming A on B's own session.
    const overBody = await call(tokenB, 'POST', `${SESSIONS}/${USER_B}/abort`, { resourceId: USER_A });
    for (const res of [inBody, inQuery, moved, overBody]) expect([res.status, res.error]).toEqual(denied);
    expect(inBody.text.includes(USER_A) && inBody.status === 200).toBe(false);
  });

  if (mode === 'mixed') {
    it('a `%2e` segment in the path is 400 (Mastra would read `.` as the resource, and a body key over it)', async () => {
      // Sent raw: fetch() would resolve the dot segment itself. With the provider alone this is README's Limits item.
      const port = Number(new URL(base).port);
      const res = await raw(port, 'POST', `${SESSIONS}/%2e/abort`, { Authorization: `Bearer ${tokenB}` }, JSON.stringify({ resourceId: USER_A }));
      expect([res.status, errorOf(res)]).toEqual([400, 'request-invalid']);
    });
  }

  it("the routes that list every user's resources or runs are refused", async () => {
    for (const path of [`${SESSIONS}/${USER_B}/resources`, '/api/agent-controller/code/active-runs']) {
      const res = await call(tokenB, 'GET', path);
      expect([path, res.status, res.error, res.text.includes(USER_A)]).toEqual([path, ...denied, false]);
    }
  });

  it("B's own session works: a session of B's resource, its threads", async () => {
    // A session is made from a body: the middleware and Mastra's Hono server show the provider one, Express alone does not.
    if (mode !== 'standalone') {
      const opened = await call(tokenB, 'POST', SESSIONS, { resourceId: USER_B });
      expect([opened.status, opened.json?.resourceId]).toEqual([200, USER_B]);
    }
    // A route without a body schema, called without a body: the provider alone lets it through too.
    expect((await call(tokenB, 'POST', `${SESSIONS}/${USER_B}/abort`)).status).toBe(200);
    const created = await call(tokenB, 'POST', `${SESSIONS}/${USER_B}/threads`, { title: "B's own" });
    expect(created.status).toBe(200);
    const list = await call(tokenB, 'GET', `${SESSIONS}/${USER_B}/threads`);
    expect([list.status, list.text.includes("B's own"), list.text.includes(aThread)]).toEqual([200, true, false]);
    // Within B's own session, A's thread is not B's (Mastra scopes threads to the session's resource).
    const aThreadThere = await call(tokenB, 'GET', `${SESSIONS}/${USER_B}/threads/${aThread}/messages`);
    expect([aThreadThere.status, aThreadThere.text.includes('hunter2')]).toEqual([404, false]);
  });
});

describe('a mapUserToResourceId that throws (found by an attacker session: Express answered its HTML 500, stack and all)', () => {
  let base: string;
  let close: () => Promise<void>;
  const errors: string[] = [];
  beforeAll(async () => {
    const store = protectMemory(libsql.store('throws'));
    const clerkAuth = createClerkAuth({ ...libsql.issuer().authOptions, env: {}, logger: { error: (line) => errors.push(line) } });
    const weatherAgent = new Agent({ id: AGENT_ID, name: 'Weather', instructions: 'Weather.', model: offlineWeatherModel() as never, memory: new Memory({ storage: store }) });
    const code = new AgentController({ id: 'code', agent: weatherAgent, modes: [{ id: 'default' }] } as never);
    const mapUserToResourceId = (): string => {
      throw new Error('mapper boom');
    };
    const mastra = new Mastra({
      agents: { weatherAgent },
      agentControllers: { code },
      storage: store,
      server: { auth: new MastraAuthClerk({ clerkAuth, mapUserToResourceId }) },
      logger: false,
    });
    ({ base, close } = await serveMastra(mastra, { mode: 'mixed', clerkAuth }));
  });
  afterAll(async () => close());

  it('refuses the session routes with a JSON 403 and logs what the mapper threw', async () => {
    const res = await fetch(`${base}${SESSIONS}/${USER_A}/threads`, { headers: { Authorization: `Bearer ${tokenA}` } });
    const text = await res.text();
    expect([res.status, res.headers.get('content-type')?.includes('json'), (JSON.parse(text) as { error?: unknown }).error, text.includes('mapper boom')]).toEqual([
      403,
      true,
      'access-denied',
      false,
    ]);
    expect(errors.some((line) => line.startsWith('[clerk-mastra-auth] mapUserToResourceId threw (access-denied): Error: mapper boom'))).toBe(true);
  });
});
