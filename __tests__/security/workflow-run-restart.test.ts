/**
 * Another user's run id after a restart. The adapters tie a run id to the user who first starts or streams it, in the
 * process (workflow-run-owners.test.ts); a run stored before the process started is not tied, and Mastra's
 * `start-async`, `start`, `stream` and `create-run` check no owner: Bob, knowing Alice's run id, started a run of that
 * id and Mastra persisted his snapshot over her stored record (her output, suspended state and resource replaced by
 * his). `protectMemory(storage)` guards the workflows domain too: a stored run never changes resource by being
 * persisted again. Alice's own run still resumes, restarts and time-travels after the restart.
 *
 * Real issuer, Mastra's servers (Hono, and Express with the middleware), LibSQL files and PostgreSQL (when it can run).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Mastra } from '@mastra/core/mastra';
import type { MastraCompositeStore } from '@mastra/core/storage';
import { PostgresStore } from '@mastra/pg';
import { createClerkAuth } from '../../src/index.js';
import { MastraAuthClerk, protectMemory } from '../../src/mastra/index.js';
import { libsqlMemoryFixture } from '../support/memory-app.js';
import { failOrSkip, startPostgres, type Postgres } from '../support/postgres.js';
import { serveMastra, sharedWorkflow } from './support.js';

const libsql = libsqlMemoryFixture('wf-restart');
const pg = await startPostgres();
const pgSkip = failOrSkip(pg);
const postgres = pgSkip ? undefined : (pg as Postgres);
const RUN = randomUUID().slice(0, 8); // DATABASE_URL may be a database that outlives the run
const pgStores: PostgresStore[] = [];
afterAll(async () => {
  for (const store of pgStores) await store.close().catch(() => {});
  await postgres?.stop();
}, 60_000);

/**
 * Step `two` of `sharedWorkflow` holds on the first server only (a run left running when it goes), until the
 * describe's end lets it go (a held step keeps the process alive).
 */
const held: Array<() => void> = [];

const storages: Array<[string, (name: string) => MastraCompositeStore]> = [['libsql', (name) => libsql.store(name)]];
if (postgres) {
  storages.push([
    'pg',
    (name) => {
      const store = new PostgresStore({ id: `pg-${name}`, connectionString: postgres.url, schemaName: `cma_wf_${name}_${RUN}` });
      pgStores.push(store);
      return store;
    },
  ]);
} else {
  it.skip(`PostgreSQL: ${pgSkip}`, () => {});
}

let alice: string;
let bob: string;
beforeAll(async () => {
  [alice = '', bob = ''] = await libsql.tokens('user_alice', 'user_bob');
});

describe.each(storages.flatMap(([storage, open]) => (['hono', 'mixed'] as const).map((mode) => [storage, mode, open] as const)))(
  '%s, %s: a run stored before the server (re)started',
  (storage, mode, open) => {
    let server: { base: string; close: () => Promise<void> } | undefined;
    let generation = 0;
    const name = `${storage === 'pg' ? '' : 'db_'}${mode}`;
    const ids = { done: `done-${mode}`, paused: `paused-${mode}`, held: `held-${mode}` };

    /** A new Mastra and createClerkAuth on a new store object over the same database: the server restarted. */
    async function start(): Promise<string> {
      await server?.close();
      const clerkAuth = createClerkAuth({ ...libsql.issuer().authOptions, env: {}, logger: false });
      const mastra = new Mastra({
        workflows: { shared: sharedWorkflow(++generation === 1 ? (resolve) => held.push(resolve) : undefined) },
        storage: protectMemory(open(name)),
        server: { auth: new MastraAuthClerk({ clerkAuth }) as never },
        logger: false,
      });
      server = await serveMastra(mastra, { mode, clerkAuth });
      return server.base;
    }
    afterAll(async () => {
      for (const release of held.splice(0)) release();
      await new Promise((resolve) => setTimeout(resolve, 200)); // the first server's run ends (its storage is still open)
      await server?.close();
    });

    const call = async (token: string, method: string, path: string, body?: unknown) => {
      const res = await fetch(`${server!.base}/api/workflows/shared${path}`, {
        method,
        headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        // not JSON
      }
      return { status: res.status, text, json };
    };
    const run = (token: string, runId: string) => call(token, 'GET', `/runs/${runId}`);

    beforeAll(async () => {
      await start();
      const done = await call(alice, 'POST', `/start-async?runId=${ids.done}`, { inputData: { who: 'alice' } });
      expect([done.status, done.json.status, done.text.includes('alice-step-two-secret')]).toEqual([200, 'success', true]);
      const paused = await call(alice, 'POST', `/start-async?runId=${ids.paused}`, { inputData: { who: 'alice', pause: true } });
      expect([paused.status, paused.json.status]).toEqual([200, 'suspended']);
      // Left running when the server goes (the first Mastra's step holds until the end).
      void call(alice, 'POST', `/start-async?runId=${ids.held}`, { inputData: { who: 'alice', hold: true } }).catch(() => {});
      for (let i = 0; i < 100 && (await run(alice, ids.held)).json.status !== 'running'; i++) await new Promise((resolve) => setTimeout(resolve, 50));
      expect((await run(alice, ids.held)).json.status).toBe('running');
      await start();
    }, 30_000);

    /** The stored record, read from the database by a store of its own (not through any server). */
    async function stored(runId: string) {
      const store = open(name);
      await store.init();
      const workflows = await store.getStore('workflows');
      const record = await workflows!.getWorkflowRunById({ runId, workflowName: 'shared' });
      return { resourceId: record?.resourceId, status: (record?.snapshot as { status?: string } | undefined)?.status, text: JSON.stringify(record?.snapshot ?? null) };
    }

    it("Bob's start-async, start and stream of Alice's stored runs are refused; her records stay hers", async () => {
      const before = { done: await stored(ids.done), paused: await stored(ids.paused), held: await stored(ids.held) };
      expect([before.done.resourceId, before.done.status, before.paused.status, before.held.status]).toEqual(['user_alice', 'success', 'suspended', 'running']);
      for (const runId of Object.values(ids)) {
        for (const route of ['start-async', 'start', 'stream']) {
          const res = await call(bob, 'POST', `/${route}?runId=${runId}`, { inputData: { who: 'bob' } });
          const leaked = ['alice-step-two-secret', 'bob-value'].filter((s) => res.text.includes(s));
          // Mastra's stream route answers 409 for a finished run before it starts anything; for another, its 200 has
          // started, and the refused persist ends the stream as a failed run (MemoryOwnershipError).
          const failed = res.status === 200 && res.text.includes('"workflowStatus":"failed"') && res.text.includes('MemoryOwnershipError');
          const outcome = failed ? 'stream failed: MemoryOwnershipError' : res.status;
          const expected = route !== 'stream' ? 403 : runId === ids.done ? 409 : 'stream failed: MemoryOwnershipError';
          expect({ runId, route, outcome, leaked }).toEqual({ runId, route, outcome: expected, leaked: [] });
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 200)); // `start` runs in the background
      // Bob's refused requests tied the ids to him in this process: only on the routes where Mastra checks no owner.
      // Alice still reads her runs here (she was refused them until the next restart).
      const done = await run(alice, ids.done);
      const paused = await run(alice, ids.paused);
      expect([done.status, done.json.resourceId, paused.status, paused.json.status]).toEqual([200, 'user_alice', 200, 'suspended']);
      for (const [key, runId] of Object.entries(ids)) {
        const after = await stored(runId);
        expect({ runId, ...after, bob: after.text.includes('bob') }).toEqual({ runId, ...before[key as keyof typeof before], bob: false });
      }
    });

    it('after another restart, Alice reads, resumes, restarts, time-travels and starts her own runs again', async () => {
      await start();
      const done = await run(alice, ids.done);
      expect([done.status, done.json.status, done.json.resourceId, done.text.includes('alice-step-two-secret')]).toEqual([200, 'success', 'user_alice', true]);
      expect((await run(bob, ids.done)).status).toBe(403);

      const paused = await run(alice, ids.paused);
      expect([paused.status, paused.json.status, paused.json.resourceId]).toEqual([200, 'suspended', 'user_alice']);
      const resumed = await call(alice, 'POST', `/resume-async?runId=${ids.paused}`, { step: 'two', resumeData: { ok: true } });
      expect([resumed.status, resumed.json.status, resumed.text.includes('alice-step-two-secret')]).toEqual([200, 'success', true]);

      const restarted = await call(alice, 'POST', `/restart-async?runId=${ids.held}`, {});
      expect([restarted.status, restarted.json.status, restarted.text.includes('alice-step-two-secret')]).toEqual([200, 'success', true]);
      const travelled = await call(alice, 'POST', `/time-travel-async?runId=${ids.held}`, { step: 'two', inputData: { who: 'alice' } });
      expect([travelled.status, travelled.json.status]).toEqual([200, 'success']);

      const again = await call(alice, 'POST', `/start-async?runId=${ids.done}`, { inputData: { who: 'alice' } });
      expect([again.status, again.json.status]).toEqual([200, 'success']);
      const pausedAgain = await call(alice, 'POST', `/start-async?runId=pause2-${mode}`, { inputData: { who: 'alice', pause: true } });
      expect(pausedAgain.json.status).toBe('suspended');
      expect((await call(alice, 'POST', `/runs/pause2-${mode}/cancel`)).status).toBe(200);
      const own = await call(bob, 'POST', `/start-async?runId=bob-${mode}`, { inputData: { who: 'bob' } });
      expect([own.status, own.json.status]).toEqual([200, 'success']);

      for (const runId of [...Object.values(ids), `pause2-${mode}`]) expect({ runId, resourceId: (await stored(runId)).resourceId }).toEqual({ runId, resourceId: 'user_alice' });
      expect(await stored(`pause2-${mode}`)).toMatchObject({ status: 'canceled' });
    });
  },
);

describe('protectMemory on the workflows domain, directly', () => {
  const snapshot = (who: string) => ({ runId: 'r', status: 'success', value: {}, context: { who }, activePaths: [], activeStepsPath: {}, serializedStepGraph: [], suspendedPaths: {}, resumeLabels: {}, waitingPaths: {}, timestamp: 0 }) as never;

  it('refuses another resource, keeps a persist without one, lets a run stored without one and a deleted one be made again', async () => {
    const store = protectMemory(libsql.store('direct'));
    await store.init();
    const workflows = (await store.getStore('workflows'))!;
    const persist = (runId: string, resourceId: string | undefined, who: string) => workflows.persistWorkflowSnapshot({ workflowName: 'w', runId, resourceId, snapshot: snapshot(who) });
    const owner = async (runId: string) => (await workflows.getWorkflowRunById({ runId, workflowName: 'w' }))?.resourceId;

    await persist('r', 'user_alice', 'alice');
    await expect(persist('r', 'user_bob', 'bob')).rejects.toMatchObject({ name: 'MemoryOwnershipError', status: 403 });
    await persist('r', undefined, 'server'); // Mastra's storage keeps the stored resource (COALESCE)
    await persist('r', 'user_alice', 'alice');
    expect(await owner('r')).toBe('user_alice');

    await persist('unowned', undefined, 'server'); // anyone's to Mastra's checks: not refused
    await persist('unowned', 'user_bob', 'bob');
    expect(await owner('unowned')).toBe('user_bob');

    await workflows.deleteWorkflowRunById({ runId: 'r', workflowName: 'w' });
    await persist('r', 'user_bob', 'bob');
    expect(await owner('r')).toBe('user_bob');
    await expect(persist('r', 'user_alice', 'alice')).rejects.toMatchObject({ name: 'MemoryOwnershipError' });
  });

  it('accepts a storage without a workflows domain (the memory domain stays required)', () => {
    const memory = { getThreadById: async () => null, saveThread: async () => {}, listMessagesById: async () => [], saveMessages: async () => {} };
    expect(() => protectMemory({ stores: { memory } })).not.toThrow();
    expect(() => protectMemory({ stores: { workflows: {} } })).toThrow(TypeError);
  });
});
