/**
 * Mastra keeps a streamed workflow run's events in its server cache under the run id alone (`@mastra/server`
 * `server/handlers/workflows.js`: `cacheRunStream` pushes to `serverCache.listPush(runId, ...)`; `POST
 * /workflows/:workflowId/observe` replays `serverCache.listFromTo(runId, offset)`), while it looks the run up, and checks
 * whose it is, per workflow. So a user allowed one workflow (`notes`) who creates a run of it under the run id of another
 * user's run of another workflow (`payroll`; `create-run?runId=` takes any id) read that run's events, and streaming
 * `notes` under that id added to the history the other user's observe replays. The adapters now tie a run id streamed
 * through them to its workflow, and refuse it on every other workflow's routes. Real issuer, Express, Mastra, LibSQL and
 * `@mastra/client-js`, over HTTP; the mixed app (middleware and provider sharing one object) and the provider alone.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Mastra } from '@mastra/core/mastra';
import { CachingPubSub, EventEmitterPubSub } from '@mastra/core/events';
import { InMemoryServerCache } from '@mastra/core/cache';
import { createStep, createWorkflow } from '@mastra/core/workflows';
import { MastraClient } from '@mastra/client-js';
import { z } from 'zod';
import { createClerkAuth, type ClerkAuth } from '../../src/index.js';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { RESERVED_RUN_ID_PREFIXES } from '../../src/mastra/routes.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { libsqlMemoryFixture } from '../support/memory-app.js';
import { serveMastra, streamUntil } from './support.js';

let issuer: TestIssuer;
let alice: string;
let bob: string;
beforeAll(async () => {
  issuer = await createTestIssuer();
  alice = await issuer.mintToken({}, { userId: 'user_alice', expiresInSeconds: 3600 });
  bob = await issuer.mintToken({}, { userId: 'user_bob', expiresInSeconds: 3600 });
});
afterAll(async () => {
  await issuer.close();
});
const libsql = libsqlMemoryFixture('runs');

/** Holds payroll's second step while a test looks at a run in progress. */
let release: () => void = () => {};

function workflows() {
  const held = z.object({ secret: z.string(), hold: z.boolean().optional() });
  const payroll = createWorkflow({ id: 'payroll', inputSchema: z.object({ hold: z.boolean().optional() }), outputSchema: held })
    .then(
      createStep({
        id: 'pay',
        inputSchema: z.object({ hold: z.boolean().optional() }),
        outputSchema: held,
        execute: async ({ inputData }) => ({ secret: 'alice-secret', hold: inputData.hold }),
      }),
    )
    .then(
      createStep({
        id: 'wait',
        inputSchema: held,
        outputSchema: held,
        execute: async ({ inputData }) => {
          if (inputData.hold) await new Promise<void>((resolve) => (release = resolve));
          return inputData;
        },
      }),
    )
    .commit();
  const notes = createWorkflow({ id: 'notes', inputSchema: z.object({}), outputSchema: z.object({ note: z.string() }) })
    .then(
      createStep({ id: 'write', inputSchema: z.object({}), outputSchema: z.object({ note: z.string() }), execute: async () => ({ note: 'bob-injected' }) }),
    )
    .commit();
  // Registered under a key that is not its id, as Mastra's templates do (`weatherWorkflow`, id 'weather-workflow'):
  // Mastra serves it under both names.
  const approvals = createWorkflow({ id: 'approval-flow', inputSchema: z.object({}), outputSchema: z.object({ ok: z.boolean() }) })
    .then(
      createStep({
        id: 'ask',
        inputSchema: z.object({}),
        outputSchema: z.object({ ok: z.boolean() }),
        resumeSchema: z.object({ ok: z.boolean() }),
        execute: async ({ resumeData, suspend }) => (resumeData ? { ok: resumeData.ok } : ((await suspend({})) as never)),
      }),
    )
    .commit();
  return { payroll, notes, approvals };
}

/** POSTs to the Mastra routes at `base`, with a JSON body when one is given (as `@mastra/client-js` sends observe and create-run without one). */
const poster = (base: string) => async (token: string, path: string, body?: unknown) => {
  const res = await fetch(`${base}/api${path}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
};

/** Bob may use `notes`, not `payroll`; Alice may use both. */
async function app(mode: 'mixed' | 'standalone' | 'hono', storage: 'in-memory' | 'libsql', framework: 4 | 5 = 5) {
  const clerkAuth = createClerkAuth({
    ...issuer.authOptions,
    env: {},
    logger: false,
    authorizeUser: (user, ctx) => ctx.resource?.params.workflowId !== 'payroll' || user.sub === 'user_alice',
  });
  const mastra = new Mastra({
    workflows: workflows(),
    ...(storage === 'libsql' ? { storage: libsql.store(mode) } : {}),
    server: { auth: new MastraAuthClerk({ clerkAuth }) as never },
    logger: false,
  });
  const { base, close } = await serveMastra(mastra, { mode, framework, clerkAuth });
  const post = poster(base);
  /** A POST whose streamed answer is read for at most `ms` (`observe-stream-legacy` of a run not executing never ends). */
  const peek = async (token: string, path: string, ms = 1500) => {
    const controller = new AbortController();
    const res = await fetch(`${base}/api${path}`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, signal: controller.signal });
    let text = '';
    let ended = false;
    const timer = setTimeout(() => controller.abort(), ms);
    try {
      const decoder = new TextDecoder();
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) text += decoder.decode(chunk, { stream: true });
      ended = true;
    } catch {
      // aborted: the stream was still open
    } finally {
      clearTimeout(timer);
    }
    return { status: res.status, text, ended };
  };
  return { base, post, peek, close };
}

describe.each([
  ['mixed', 'in-memory', 5],
  ['mixed', 'libsql', 5],
  ['standalone', 'in-memory', 5],
  ['hono', 'in-memory', 5],
  // Express 4 parses the query with qs (`runId[]=`, `runId[0]=` are arrays there).
  ['mixed', 'in-memory', 4],
] as const)('%s app, %s storage, Express %s', (mode, storage, framework) => {
  let post: Awaited<ReturnType<typeof app>>['post'];
  let peek: Awaited<ReturnType<typeof app>>['peek'];
  let base: string;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ base, post, peek, close } = await app(mode, storage, framework));
  });
  afterAll(async () => close());

  /** Alice creates and streams a run of `payroll` (the id is Mastra's); returns the run id. */
  async function aliceStreams(): Promise<string> {
    const created = await post(alice, '/workflows/payroll/create-run');
    expect(created.status).toBe(200);
    const runId = (JSON.parse(created.text) as { runId: string }).runId;
    const streamed = await post(alice, `/workflows/payroll/stream?runId=${runId}`, { inputData: {} });
    expect([streamed.status, streamed.text.includes('alice-secret')]).toEqual([200, true]);
    return runId;
  }

  /** A refusal: the middleware's status and error code in the mixed app; Mastra's own 403 with the provider alone. */
  const refusal = (status: number, code: string) => (mode === 'mixed' ? [status, code] : [403, 'Access denied']);
  const codeOf = (text: string): unknown => {
    try {
      return (JSON.parse(text) as { error?: unknown }).error as string | undefined;
    } catch {
      return undefined;
    }
  };

  it("Bob cannot read Alice's payroll events through a run of notes under her run id, nor create one", async () => {
    const runId = await aliceStreams();
    // Where Mastra's own rules hold: the policy refuses payroll.
    expect((await post(bob, `/workflows/payroll/observe?runId=${runId}`)).status).toBe(403);
    for (const path of [`create-run?runId=${runId}`, `observe?runId=${runId}`, `observe-stream-legacy?runId=${runId}`, `start-async?runId=${runId}`]) {
      const res = await peek(bob, `/workflows/notes/${path}`);
      expect([path, res.status, codeOf(res.text), res.text.includes('alice-secret')]).toEqual([path, ...refusal(403, 'access-denied'), false]);
    }
  });

  it("Bob's stream of notes under Alice's run id is refused, and her observe replays only her run", async () => {
    const runId = await aliceStreams();
    const streamed = await post(bob, `/workflows/notes/stream?runId=${runId}`, { inputData: {} });
    expect([streamed.status, codeOf(streamed.text), streamed.text.includes('bob-injected')]).toEqual([...refusal(403, 'access-denied'), false]);
    const observed = await post(alice, `/workflows/payroll/observe?runId=${runId}`);
    expect([observed.status, observed.text.includes('alice-secret'), observed.text.includes('bob-injected')]).toEqual([200, true, false]);
  });

  it('a run still in progress is refused the same way', async () => {
    const runId = `held-${mode}-${storage}`;
    const reader = await streamUntil(`${base}/api/workflows/payroll/stream?runId=${runId}`, alice, { inputData: { hold: true } }, 'alice-secret');
    expect((await post(bob, `/workflows/notes/create-run?runId=${runId}`)).status).toBe(403);
    const observed = await peek(bob, `/workflows/notes/observe?runId=${runId}`);
    expect([observed.status, observed.text.includes('alice-secret')]).toEqual([403, false]);
    release();
    while (!(await reader.read()).done);
  });

  it('the run id is read where Mastra reads it: a body or a second query key naming another run is refused', async () => {
    const runId = await aliceStreams();
    const own = `own-${mode}-${storage}`;
    expect((await post(bob, `/workflows/notes/stream?runId=${own}`, { inputData: {} })).status).toBe(200);
    // Mastra hands the observe handler the body over the query (the route has no body schema).
    const viaBody = await post(bob, `/workflows/notes/observe?runId=${own}`, { runId });
    expect(viaBody.text.includes('alice-secret')).toBe(false);
    // The middleware reads both and refuses two different ids. The provider alone never sees the body: where the body
    // decides the run, it refuses a request that has one.
    expect([viaBody.status, codeOf(viaBody.text)]).toEqual(refusal(400, 'request-invalid'));
    // Found by an attacker session: an agent-builder action (one ships with Mastra) makes its runs with the body's id,
    // so with the provider alone Bob made a run under Alice's id and observed it, both by body.
    const made = await post(bob, '/agent-builder/merge-template/create-run', { runId });
    const observed = await post(bob, `/agent-builder/merge-template/observe?runId=${own}`, { runId });
    expect([made.status, codeOf(made.text), observed.status, observed.text.includes('alice-secret')]).toEqual([
      ...refusal(403, 'access-denied'),
      mode === 'mixed' ? 400 : 403,
      false,
    ]);
    // An id that does not decode as UTF-8 reads differently to Express 4's qs (kept) and Express 5's querystring
    // (bytes replaced): refused like a second spelling.
    for (const query of [`runId=${own}&runId=${runId}`, `runId[]=${runId}`, `runId=${own}%FF`]) {
      const res = await post(bob, `/workflows/notes/observe?${query}`);
      expect([query, res.status, codeOf(res.text), res.text.includes('alice-secret')]).toEqual([query, ...refusal(400, 'request-invalid'), false]);
    }
  });

  it("a run id that spells another kind of Mastra cache entry (a durable agent's stream) is refused", async () => {
    // The prefix is Mastra's: CachingPubSub keeps each topic's events under it in the same server cache.
    const pubsub = new CachingPubSub(new EventEmitterPubSub(), new InMemoryServerCache()) as unknown as { getCacheKey(topic: string): string };
    expect(RESERVED_RUN_ID_PREFIXES.some((prefix) => pubsub.getCacheKey('agent.stream.r1').startsWith(prefix))).toBe(true);
    const res = await post(bob, `/workflows/notes/stream?runId=${encodeURIComponent('pubsub:agent.stream.r1')}`, { inputData: {} });
    expect([res.status, codeOf(res.text)]).toEqual(refusal(400, 'request-invalid'));
  });

  it('what users do keeps working: @mastra/client-js streams a run, observes it again, and the same id serves the same workflow', async () => {
    const client = new MastraClient({ baseUrl: base, retries: 0, headers: { Authorization: `Bearer ${alice}` } });
    const run = await client.getWorkflow('payroll').createRun();
    const read = async (stream: ReadableStream<unknown>) => {
      const chunks: unknown[] = [];
      for await (const chunk of stream as unknown as AsyncIterable<unknown>) chunks.push(chunk);
      return JSON.stringify(chunks);
    };
    expect(await read(await run.stream({ inputData: {} }))).toContain('alice-secret');
    expect(await read(await run.observe())).toContain('alice-secret');
    // Bob's own runs, with ids of his choosing, work as before.
    const mine = `bob-${mode}-${storage}`;
    expect((await post(bob, `/workflows/notes/create-run?runId=${mine}`)).status).toBe(200);
    expect((await post(bob, `/workflows/notes/stream?runId=${mine}`, { inputData: {} })).text).toContain('bob-injected');
    const observed = await post(bob, `/workflows/notes/observe?runId=${mine}`);
    expect([observed.status, observed.text.includes('bob-injected')]).toEqual([200, true]);
  });

  // A new user's session found its own user refused (one order id for a run of each workflow; a run streamed through a
  // workflow's key and resumed through its id, the run's `workflowName`). Letting its own user through was tried and
  // undone: a teammate sharing the memory resource (organization scope), or the user's own API key that the policy
  // keeps to one workflow, then read the other workflow's events through the shared cache (an attacker session).
  it("a run id stays its first workflow's name's, for its own user too; the run is served through that name", async () => {
    const client = new MastraClient({ baseUrl: base, retries: 0, headers: { Authorization: `Bearer ${alice}` } });
    const runId = `order-${mode}-${storage}-${framework}`;
    expect((await (await client.getWorkflow('payroll').createRun({ runId })).startAsync({ inputData: {} })).status).toBe('success');
    for (const path of [`notes/create-run?runId=${runId}`, `notes/stream?runId=${runId}`, `notes/observe?runId=${runId}`]) {
      const res = await peek(alice, `/workflows/${path}`);
      expect([path, res.status, codeOf(res.text)]).toEqual([path, ...refusal(403, 'access-denied')]);
    }
    const run = await client.getWorkflow('approvals').createRun();
    for await (const chunk of (await run.stream({ inputData: {} })) as unknown as AsyncIterable<unknown>) void chunk;
    const stored = (await client.getWorkflow('approvals').runById(run.runId)) as { workflowName: string; status: string };
    expect([stored.workflowName, stored.status]).toEqual(['approval-flow', 'suspended']);
    expect((await post(alice, `/workflows/${stored.workflowName}/create-run?runId=${run.runId}`)).status).toBe(403);
    const byKey = await client.getWorkflow('approvals').createRun({ runId: run.runId });
    expect((await byKey.resumeAsync({ step: 'ask', resumeData: { ok: true } })).status).toBe('success');
  });

  it("Mastra's orchestration worker's step call is served with its body: the route's body schema drops the run id it repeats", async () => {
    // What @mastra/core's HttpRemoteStrategy sends for each step (found refused, 403, with the provider alone).
    const runId = `worker-${mode}-${storage}-${framework}`;
    const body = { workflowId: 'notes', runId, stepId: 'write', executionPath: [0], stepResults: {}, state: {}, requestContext: {}, input: {} };
    const res = await post(alice, `/workflows/notes/runs/${runId}/steps/execute`, body);
    expect(res.status).not.toBe(403);
  });

  it('a run started without streaming (start-async) is tied too: its id is refused on another workflow', async () => {
    const runId = `async-${mode}-${storage}`;
    const started = await post(alice, `/workflows/payroll/start-async?runId=${runId}`, { inputData: {} });
    expect([started.status, started.text.includes('alice-secret')]).toEqual([200, true]);
    expect((await post(bob, `/workflows/notes/create-run?runId=${runId}`)).status).toBe(403);
    const observed = await post(bob, `/workflows/notes/observe?runId=${runId}`);
    expect([observed.status, observed.text.includes('alice-secret')]).toEqual([403, false]);
  });
});

describe.each(['mixed', 'standalone'] as const)('%s app: the ties are not pushed out by another user', (mode) => {
  let post: Awaited<ReturnType<typeof app>>['post'];
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ post, close } = await app(mode, 'in-memory'));
  });
  afterAll(async () => close());

  // Found by an attacker session: the ties were one map of 10,000, oldest out first, filled by any signed-in request
  // to a streaming route, refused ones included (which add nothing to Mastra's cache). 10,001 of Bob's pushed Alice's
  // run id out while Mastra still held her events. A user's requests now push out only that user's own ties.
  it("10,001 of Bob's streaming requests, refused or not, leave Alice's run tied to her workflow", async () => {
    const created = await post(alice, '/workflows/payroll/create-run');
    const runId = (JSON.parse(created.text) as { runId: string }).runId;
    expect((await post(alice, `/workflows/payroll/stream?runId=${runId}`, { inputData: {} })).text).toContain('alice-secret');
    const statuses = new Set<number>();
    for (let batch = 0; batch < 10_001; batch += 100) {
      const results = await Promise.all(
        Array.from({ length: Math.min(100, 10_001 - batch) }, (_, i) => post(bob, `/workflows/payroll/stream?runId=junk-${mode}-${batch + i}`)),
      );
      for (const result of results) statuses.add(result.status);
    }
    expect([...statuses]).toEqual([403]);
    expect((await post(bob, `/workflows/notes/create-run?runId=${runId}`)).status).toBe(403);
    const observed = await post(bob, `/workflows/notes/observe?runId=${runId}`);
    expect([observed.status, observed.text.includes('alice-secret')]).toEqual([403, false]);
    // Bob's own oldest ties went: an id of his first streams is free again (Mastra's cache holds 1,000 runs in all).
    expect((await post(bob, `/workflows/notes/create-run?runId=junk-${mode}-0`)).status).toBe(200);
  }, 120_000);
});

describe('what a tie keeps is bounded (found by an attacker session: 1,000 requests kept 95 MB of run ids)', () => {
  let base: string;
  let close: () => Promise<void>;
  let clerkAuth: ClerkAuth;
  beforeAll(async () => {
    clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false });
    const mastra = new Mastra({ workflows: workflows(), server: { auth: new MastraAuthClerk({ clerkAuth }) as never }, logger: false });
    ({ base, close } = await serveMastra(mastra, { mode: 'mixed', clerkAuth }));
  });
  afterAll(async () => close());

  /** The characters of every run id tied (white-box: what the object keeps in memory). */
  const tiedChars = (): number => [...(clerkAuth as unknown as { runOwners: Map<string, unknown> }).runOwners.keys()].reduce((n, id) => n + id.length, 0);
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${base}/api${path}`, { method: 'POST', headers: { Authorization: `Bearer ${bob}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const text = await res.text();
    if (res.status === 200) return { status: 200 }; // a stream of chunks
    return { status: res.status, error: (JSON.parse(text) as { error?: unknown }).error };
  };

  it('a run id longer than 256 characters is refused (400), in the query or in a body Mastra reads it from', async () => {
    expect(await post(`/workflows/notes/stream?runId=${'q'.repeat(257)}`, {})).toEqual({ status: 400, error: 'request-invalid' });
    expect(await post(`/workflows/notes/observe?runId=${'q'.repeat(257)}`, {})).toEqual({ status: 400, error: 'request-invalid' });
    expect(await post('/workflows/notes/observe?runId=short', { runId: 'r'.repeat(90_000) })).toEqual({ status: 400, error: 'request-invalid' });
    expect(tiedChars()).toBe(0);
  });

  it("a body's run id where Mastra's body schema drops it (a stream) is not read, nor kept: Mastra answers for the missing one", async () => {
    expect(await post('/workflows/notes/stream', { runId: 'r'.repeat(90_000), inputData: {} })).toEqual({ status: 400, error: 'Invalid query parameters' });
    expect(tiedChars()).toBe(0);
    const ok = await post(`/workflows/notes/stream?runId=${'s'.repeat(256)}`, { inputData: {} });
    expect(ok.status).toBe(200);
    expect(tiedChars()).toBe(256);
  });
});

describe('the ties in memory (white-box: the call both adapters make, many users)', () => {
  it('hold at most 100,000 run ids in all, each user at most 1,000; another user pushes yours out only past the whole bound', () => {
    const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false });
    new MastraAuthClerk({ clerkAuth }); // lends clerkAuth Mastra's route table
    const inside = clerkAuth as unknown as { runOwners: Map<string, unknown>; runsOf: Map<string, string[]> };
    const stream = (sub: string, runId: string) =>
      clerkAuth.servedError({ sub } as never, 'POST', '/api/workflows/notes/stream', `runId=${runId}`, undefined, () => undefined);
    const held = () => [...inside.runsOf.values()].reduce((n, runs) => n + runs.length, 0);
    stream('user_alice', 'alice-run');
    // One user's 5,000 streams: only the last 1,000 of theirs are held; Alice's tie stays.
    for (let i = 0; i < 5_000; i++) stream('user_bob', `bob-${i}`);
    expect([inside.runOwners.has('alice-run'), inside.runsOf.get('user_bob')!.length, inside.runOwners.has('bob-3999'), inside.runOwners.has('bob-4000')]).toEqual([true, 1_000, false, true]);
    // 100 more users with 1,000 each: the bound (100,000) is passed, the oldest ties go, from both maps alike.
    for (let u = 0; u < 100; u++) for (let i = 0; i < 1_000; i++) stream(`user_${u}`, `u${u}-${i}`);
    expect([inside.runOwners.size, held(), inside.runOwners.has('alice-run'), inside.runsOf.has('user_alice')]).toEqual([100_000, 100_000, false, false]);
  });
});

/**
 * Organization scope: teammates share the memory resource, so Mastra's own check lets each observe the other's runs of
 * a workflow both may use, and its cache keeps a run's events by run id alone. A run id stays its first workflow's for
 * its own user too: were Alice (admin) let to stream `payroll` (admins only) under the id of her `notes` run, Bob would
 * read payroll's events through `notes` (found by an attacker session, on a change that let her).
 */
describe.each(['mixed', 'standalone', 'hono'] as const)('%s app, organization scope: a teammate and a reused run id', (mode) => {
  let close: () => Promise<void>;
  let post: ReturnType<typeof poster>;
  let admin: string;
  let member: string;
  beforeAll(async () => {
    admin = await issuer.mintToken({}, { userId: 'user_alice', org: { id: 'org_acme', role: 'org:admin' }, expiresInSeconds: 3600 });
    member = await issuer.mintToken({}, { userId: 'user_bob', org: { id: 'org_acme', role: 'org:member' }, expiresInSeconds: 3600 });
    const clerkAuth = createClerkAuth({
      ...issuer.authOptions,
      env: {},
      logger: false,
      authorizeUser: (user, ctx) => ctx.resource?.params.workflowId !== 'payroll' || user.o?.rol === 'admin',
    });
    const mastra = new Mastra({
      workflows: workflows(),
      storage: libsql.store(`org-${mode}`),
      server: { auth: new MastraAuthClerk({ clerkAuth, resourceScope: 'organization' }) as never },
      logger: false,
    });
    const served = await serveMastra(mastra, { mode, clerkAuth });
    close = served.close;
    post = poster(served.base);
  });
  afterAll(async () => close());

  it("the admin's payroll stream under her notes run's id is refused, so the member's observe of notes replays no payroll", async () => {
    const runId = `order-org-${mode}`;
    expect((await post(member, `/workflows/payroll/observe?runId=${runId}`)).status).toBe(403);
    const notes = await post(admin, `/workflows/notes/stream?runId=${runId}`, { inputData: {} });
    expect([notes.status, notes.text.includes('bob-injected')]).toEqual([200, true]);
    const payroll = await post(admin, `/workflows/payroll/stream?runId=${runId}`, { inputData: {} });
    expect([payroll.status, payroll.text.includes('alice-secret')]).toEqual([403, false]);
    const observed = await post(member, `/workflows/notes/observe?runId=${runId}`);
    expect([observed.status, observed.text.includes('bob-injected'), observed.text.includes('alice-secret')]).toEqual([200, true, false]);
  });
});
