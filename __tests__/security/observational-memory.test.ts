/**
 * Mastra's observational-memory routes (`GET /memory/observational-memory`, `GET /memory/status`,
 * `POST /memory/observational-memory/buffer-status`) take the memory resource from the request, never from the
 * signed-in user, and a thread's record is stored under the thread id alone: user B read user A's observations (the
 * model's running summary of A's conversations) by naming A's user id, or B's own with A's thread id (found by an
 * attacker session). Both adapters now let through only the caller's own resource there (or none), and
 * `protectMemory` serves a thread's record only to the thread's owner. Real issuer, Express, Mastra, LibSQL, over HTTP;
 * the mixed app and the provider alone.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Agent } from '@mastra/core/agent';
import { Mastra } from '@mastra/core/mastra';
import { Memory } from '@mastra/memory';
import { createClerkAuth } from '../../src/index.js';
import { MastraAuthClerk, protectMemory } from '../../src/mastra/index.js';
import { offlineWeatherModel } from '../../examples/mastra/offline-model.js';
import { callJson, challenge, serveMastra } from './support.js';
import { libsqlMemoryFixture } from '../support/memory-app.js';

const USER_A = 'user_a';
const USER_B = 'user_b';
const AGENT_ID = 'weatherAgent';
const OM = `/api/memory/observational-memory?agentId=${AGENT_ID}`;
const STATUS = `/api/memory/status?agentId=${AGENT_ID}`;
const BUFFER = '/api/memory/observational-memory/buffer-status';

const libsql = libsqlMemoryFixture('observational');
let tokenA: string;
let tokenB: string;
beforeAll(async () => {
  [tokenA, tokenB] = (await libsql.tokens(USER_A, USER_B)) as [string, string];
});

describe.each([
  ['mixed', 5, 'thread'],
  ['mixed', 4, 'thread'],
  ['standalone', 5, 'thread'],
  ['hono', 5, 'thread'],
  ['mixed', 5, 'resource'],
  ['standalone', 5, 'resource'],
] as const)('%s app, Express %s, observational memory of %s scope', (mode, framework, scope) => {
  let base: string;
  let close: () => Promise<void>;
  const aThread = `a-thread-${mode}-${framework}-${scope}`;
  const bThread = `b-thread-${mode}-${framework}-${scope}`;
  const call = (token: string, method: string, path: string, body?: unknown) => callJson(base, token, method, path, body);

  let memoryStore: any;
  beforeAll(async () => {
    const store = protectMemory(libsql.store(`${mode}-${framework}-${scope}`));
    const clerkAuth = createClerkAuth({ ...libsql.issuer().authOptions, env: {}, logger: false });
    const observationalMemory = { model: offlineWeatherModel(), scope } as never;
    const memory = new Memory({ storage: store, options: { observationalMemory } });
    const weatherAgent = new Agent({ id: AGENT_ID, name: 'Weather Agent', instructions: 'Weather.', model: offlineWeatherModel() as never, memory });
    const mastra = new Mastra({ agents: { weatherAgent }, storage: store, server: { auth: new MastraAuthClerk({ clerkAuth }) }, logger: false });
    ({ base, close } = await serveMastra(mastra, { mode, framework, clerkAuth }));

    // Each user's thread, made through Mastra's memory routes; then each one's records, as Mastra's observer writes them.
    memoryStore = (await (store as unknown as { getStore(name: string): Promise<any> }).getStore('memory'))!;
    for (const [token, user, thread] of [[tokenA, USER_A, aThread], [tokenB, USER_B, bThread]] as const) {
      const created = await call(token, 'POST', `/api/memory/threads?agentId=${AGENT_ID}`, { resourceId: user, threadId: thread, title: 'mine' });
      expect(created.status).toBe(200);
      const record = await memoryStore.initializeObservationalMemory({ threadId: scope === 'thread' ? thread : null, resourceId: user, scope, config: {} });
      await memoryStore.updateActiveObservations({ id: record.id, observations: `${user} said the password is hunter2`, tokenCount: 10, lastObservedAt: new Date() });
    }
  });
  afterAll(async () => close());

  /** The middleware's 403 with its code and challenge in the mixed app; Mastra's own 403 with the provider alone. */
  const expectDenied = (res: Awaited<ReturnType<typeof call>>, label: string): void => {
    expect({ label, status: res.status, error: res.error, leaked: res.text.includes('hunter2') }).toEqual({
      label,
      status: 403,
      error: mode === 'mixed' ? 'access-denied' : 'Access denied',
      leaked: false,
    });
  };

  it("B cannot read A's observations by naming A's resource, however it is spelled", async () => {
    for (const path of [
      `${OM}&resourceId=${USER_A}`,
      `${OM}&resourceId=${USER_A}&threadId=${aThread}`,
      `${OM}&resourceId=user%5Fa`,
      `${OM}&resourceId=${USER_B}&resourceId=${USER_A}`,
      `${OM}&resourceId[]=${USER_A}`,
      `${STATUS}&resourceId=${USER_A}&threadId=${aThread}`,
      `${STATUS}&resourceId=${USER_A}`,
    ]) {
      expectDenied(await call(tokenB, 'GET', path), path);
    }
    // Mastra's client sends the resource in the body here: the provider alone on Express never sees it, and refuses it.
    expectDenied(await call(tokenB, 'POST', BUFFER, { agentId: AGENT_ID, resourceId: USER_A, threadId: aThread }), 'buffer-status');
  });

  if (mode === 'mixed') {
    it('the refusal is the middleware\'s: 403 access-denied with its challenge', async () => {
      const res = await fetch(`${base}${OM}&resourceId=${USER_A}`, { headers: { Authorization: `Bearer ${tokenB}` } });
      expect([res.status, res.headers.get('www-authenticate')]).toEqual([
        403,
        challenge('insufficient_scope', 'This route serves the memory resource the request names, unchecked by Mastra: only your own is let through.'),
      ]);
    });
  }

  it("B naming B's own resource and A's thread gets no record of A's (protectMemory)", async () => {
    // In resource scope Mastra reads B's own record whatever thread is named; in thread scope, none.
    const own = scope === 'resource' ? USER_B : null;
    const om = await call(tokenB, 'GET', `${OM}&resourceId=${USER_B}&threadId=${aThread}`);
    expect([om.status, om.json?.record?.resourceId ?? null, om.text.includes(USER_A)]).toEqual([200, own, false]);
    const status = await call(tokenB, 'GET', `${STATUS}&resourceId=${USER_B}&threadId=${aThread}`);
    expect([status.status, status.json?.observationalMemory?.hasRecord]).toEqual([200, own !== null]);
  });

  it('each user reads their own observations, and the memory status without a resource still answers', async () => {
    for (const [token, user, thread] of [[tokenA, USER_A, aThread], [tokenB, USER_B, bThread]] as const) {
      const om = await call(token, 'GET', `${OM}&resourceId=${user}&threadId=${thread}`);
      expect([om.status, om.json?.record?.resourceId, om.json?.record?.activeObservations]).toEqual([200, user, `${user} said the password is hunter2`]);
      const status = await call(token, 'GET', `${STATUS}&resourceId=${user}&threadId=${thread}`);
      expect([status.status, status.json?.observationalMemory?.hasRecord]).toEqual([200, true]);
    }
    // An agent run reads the thread's record through the same storage (the guard's other side): still served.
    const run = await call(tokenA, 'POST', `/api/agents/${AGENT_ID}/generate`, { messages: 'Weather in Oslo?', memory: { thread: aThread, resource: USER_A } });
    expect(run.status).toBe(200);
    const plain = await call(tokenB, 'GET', STATUS);
    expect([plain.status, plain.json?.result]).toEqual([200, true]);
    if (mode !== 'standalone') {
      // With a body: the middleware, or Mastra's Hono server, shows it to the provider (Express alone does not).
      const buffered = await call(tokenB, 'POST', BUFFER, { agentId: AGENT_ID, resourceId: USER_B, threadId: bThread });
      expect([buffered.status, buffered.json?.record?.activeObservations]).toEqual([200, `${USER_B} said the password is hunter2`]);
    }
  });

  // Last: it deletes A's thread.
  if (scope === 'thread') {
    it("a thread deleted without its record and made again by B under its id does not give B A's record", async () => {
      // Mastra's AgentController deletes a thread without its observational memory (its memory route clears it).
      await memoryStore.deleteThread({ threadId: aThread });
      expect((await memoryStore.getObservationalMemory(aThread, USER_A))?.resourceId).toBe(USER_A);
      const made = await call(tokenB, 'POST', `/api/memory/threads?agentId=${AGENT_ID}`, { resourceId: USER_B, threadId: aThread, title: 'mine now' });
      expect(made.status).toBe(200);
      const om = await call(tokenB, 'GET', `${OM}&resourceId=${USER_B}&threadId=${aThread}`);
      expect([om.status, om.json?.record ?? null, om.text.includes('hunter2')]).toEqual([200, null, false]);
    });
  }
});
