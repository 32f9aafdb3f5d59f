/**
 * Another user's run of the same workflow (both users may run it), on Mastra's Hono server with the provider alone and
 * on Express with the middleware in front. Mastra checks whose a run is on observe, resume, restart and time-travel,
 * but not on `stream`, `stream-legacy`, `start`, `start-async` or `create-run`, which hand the caller the in-memory run
 * of that id (Alice's, her input and her steps' output) or overwrite its stored record (found by an attacker session:
 * the run ties compared the workflow only). Real issuer, LibSQL, Mastra's servers.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Mastra } from '@mastra/core/mastra';
import { createClerkAuth } from '../../src/index.js';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { libsqlMemoryFixture } from '../support/memory-app.js';
import { serveMastra, sharedWorkflow, streamUntil } from './support.js';

let issuer: TestIssuer;
let alice: string;
let bob: string;
let release: () => void = () => {};
const libsql = libsqlMemoryFixture('same-wf');

beforeAll(async () => {
  issuer = await createTestIssuer();
  alice = await issuer.mintToken({}, { userId: 'user_alice', expiresInSeconds: 3600 });
  bob = await issuer.mintToken({}, { userId: 'user_bob', expiresInSeconds: 3600 });
});
afterAll(async () => issuer.close());

describe.each(['hono', 'mixed'] as const)('%s: same workflow, another user\'s run id', (mode) => {
  let base: string;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false });
    const mastra = new Mastra({ workflows: { shared: sharedWorkflow((resolve) => (release = resolve)) }, storage: libsql.store(mode), server: { auth: new MastraAuthClerk({ clerkAuth }) as never }, logger: false });
    ({ base, close } = await serveMastra(mastra, { mode, clerkAuth }));
  });
  afterAll(async () => close());

  const post = async (token: string, path: string, body?: unknown, ms = 3000) => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), ms);
    const res = await fetch(`${base}/api${path}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: controller.signal,
    });
    let text = '';
    try {
      const decoder = new TextDecoder();
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) text += decoder.decode(chunk, { stream: true });
    } catch {
      // aborted: still open
    } finally {
      clearTimeout(timer);
    }
    return { status: res.status, text };
  };

  const aliceHolds = (runId: string) =>
    streamUntil(`${base}/api/workflows/shared/stream?runId=${runId}`, alice, { inputData: { hold: true, who: 'alice', secret: 'alice-input-secret' } }, 'alice-input-secret');

  it.each(['stream', 'stream-legacy'])("Bob's %s of shared under Alice's in-progress run id is refused (not served her events)", async (route) => {
    const runId = `held-${route}-${mode}`;
    const reader = await aliceHolds(runId);
    const bobs = post(bob, `/workflows/shared/${route}?runId=${runId}`, { inputData: { who: 'bob' } }, 2500);
    setTimeout(() => release(), 800);
    const res = await bobs;
    while (!(await reader.read()).done);
    const leaked = ['alice-input-secret', 'alice-step-two-secret'].filter((s) => res.text.includes(s));
    expect({ status: res.status, leaked }).toEqual({ status: 403, leaked: [] });
  });

  it("Bob's start-async under Alice's finished run id does not take her run over", async () => {
    const runId = `done-${mode}`;
    expect((await post(alice, `/workflows/shared/start-async?runId=${runId}`, { inputData: { who: 'alice' } })).text).toContain('alice-step-two-secret');
    const bobs = await post(bob, `/workflows/shared/start-async?runId=${runId}`, { inputData: { who: 'bob' } });
    const aliceReads = await fetch(`${base}/api/workflows/shared/runs/${runId}`, { headers: { Authorization: `Bearer ${alice}` } });
    const aliceText = await aliceReads.text();
    expect({ bob: bobs.status, alice: aliceReads.status, aliceStill: aliceText.includes('alice-step-two-secret') }).toEqual({ bob: 403, alice: 200, aliceStill: true });
  });

  it("refuses restarting every user's active runs of a workflow (Mastra checks no owner there; found by an attacker session)", async () => {
    for (const route of ['restart-all-active-workflow-runs', 'restart-all-active-workflow-runs-async']) {
      const res = await post(bob, `/workflows/shared/${route}`);
      expect({ route, status: res.status, error: JSON.parse(res.text || '{}').error }).toEqual({ route, status: 403, error: mode === 'hono' ? 'Access denied' : 'access-denied' });
    }
  });

  it("refuses Mastra's push-broker entry (POST /workflows/events), which acts on the run its body names, whoever's (found by an attacker session)", async () => {
    const runId = `events-${mode}`;
    expect((await post(alice, `/workflows/shared/start-async?runId=${runId}`, { inputData: { who: 'alice' } })).text).toContain('alice-step-two-secret');
    const data = { workflowId: 'shared', runId, executionPath: [0], stepResults: {}, activeStepsPath: {}, requestContext: {} };
    const events = [
      { type: 'workflow.fail', data: { ...data, prevResult: { status: 'failed', error: { message: 'bob-was-here' } } } },
      { type: 'workflow.start', data: { ...data, stepResults: { input: { who: 'bob' } }, prevResult: { status: 'success', output: { who: 'bob' } } } },
      { type: 'workflow.start', data: { ...data, runId: `planted-${mode}`, resourceId: 'user_alice', prevResult: { status: 'success', output: { who: 'bob' } } } },
    ];
    for (const [i, event] of events.entries()) {
      const res = await post(bob, '/workflows/events', { event: { id: `evt-${i}-${mode}`, runId: event.data.runId, createdAt: new Date().toISOString(), ...event } });
      expect({ i, status: res.status, error: JSON.parse(res.text || '{}').error }).toEqual({ i, status: 403, error: mode === 'hono' ? 'Access denied' : 'access-denied' });
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const aliceReads = await fetch(`${base}/api/workflows/shared/runs/${runId}`, { headers: { Authorization: `Bearer ${alice}` } });
    const run = (await aliceReads.json()) as { status?: string; resourceId?: string };
    expect({ status: run.status, resourceId: run.resourceId }).toEqual({ status: 'success', resourceId: 'user_alice' });
    const list = (await (await fetch(`${base}/api/workflows/shared/runs`, { headers: { Authorization: `Bearer ${alice}` } })).json()) as { runs: Array<{ runId: string }> };
    expect(list.runs.map((r) => r.runId)).not.toContain(`planted-${mode}`);
  });

  it("a run id tied by another user to another workflow (a run started without ?runId=) keeps its owner out of no route Mastra judges by workflow (found by an attacker session)", async () => {
    // Mastra picks the id: nothing ties it. Bob names it first on a workflow that does not exist (404) or one he may
    // run: Mastra looks a run up by workflow and id on these routes, and its run-id cache is not involved.
    const paused = await post(alice, '/workflows/shared/start-async', { inputData: { who: 'alice', pause: true } });
    expect([paused.status, (JSON.parse(paused.text) as { status?: string }).status]).toEqual([200, 'suspended']);
    const list = (await (await fetch(`${base}/api/workflows/shared/runs`, { headers: { Authorization: `Bearer ${alice}` } })).json()) as { runs: Array<{ runId: string }> };
    const id = list.runs.find((r) => !r.runId.endsWith(`-${mode}`))!.runId; // the one Mastra named (the others end in -mode)
    expect((await post(bob, `/workflows/no-such-workflow/create-run?runId=${id}`)).status).toBe(404);
    const get = (path: string) => fetch(`${base}/api/workflows/shared${path}`, { headers: { Authorization: `Bearer ${alice}` } });
    expect((await get(`/runs/${id}`)).status).toBe(200);
    const resumed = await post(alice, `/workflows/shared/resume-async?runId=${id}`, { step: 'two', resumeData: { ok: true } });
    expect([resumed.status, resumed.text.includes('alice-step-two-secret')]).toEqual([200, true]);
    // The run-id cache is still kept to the tie's workflow: Bob's and Alice's observe of the id are refused alike.
    for (const token of [alice, bob]) {
      const observed = await post(token, `/workflows/shared/observe?runId=${id}`, undefined, 1500);
      expect(observed.status).toBe(403);
    }
  });

  it("keeps a run made with create-run to its user on the routes where Mastra checks no owner; the user's own pass", async () => {
    const runId = `made-${mode}`;
    expect((await post(alice, `/workflows/shared/create-run?runId=${runId}`)).status).toBe(200);
    for (const path of [`create-run?runId=${runId}`, `start?runId=${runId}`, `start-async?runId=${runId}`, `stream?runId=${runId}`]) {
      const res = await post(bob, `/workflows/shared/${path}`, { inputData: { who: 'bob' } });
      expect({ path, status: res.status, error: JSON.parse(res.text || '{}').error }).toEqual({ path, status: 403, error: mode === 'hono' ? 'Access denied' : 'access-denied' });
    }
    const own = await post(alice, `/workflows/shared/start-async?runId=${runId}`, { inputData: { who: 'alice' } });
    expect([own.status, own.text.includes('alice-step-two-secret')]).toEqual([200, true]);
  });
});
