/**
 * Memory isolation between two signed-in users through Mastra's own memory, thread and agent routes, with our
 * provider (`mapUserToResourceId` = the Clerk user id), over real servers and real storage (LibSQL files and a
 * PostgreSQL database), driven by the real `@mastra/client-js` MastraClient for user A and by plain HTTP for B.
 *
 * For every attack, A first writes a thread of its own with messages (through MastraClient: createMemoryThread, then
 * the agent with `memory: { thread, resource }`); then B, who knows A's thread id and resource id, attacks it; A's
 * thread, messages and thread list are read back through A's own client before and after. Every attack must be
 * refused (4xx) or land in B's own resource, and leave A's data unchanged and unread.
 *
 * A failing row here is a route on which Mastra does not enforce ownership: it is not hidden, the expectation
 * stays "refused". Set MEMORY_MATRIX_OUT=<file> to write the full outcome matrix as JSON.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MastraClient } from '@mastra/client-js';
import type { MastraCompositeStore } from '@mastra/core/storage';
import { LibSQLStore } from '@mastra/libsql';
import { PostgresStore } from '@mastra/pg';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { protectMemory } from '../../src/mastra/index.js';
import { AGENT_ID, createMemoryApp, type MemoryApp, type MemoryAppMode } from '../support/memory-app.js';
import { startPostgres, type Postgres } from '../support/postgres.js';

const USER_A = 'user_a';
const USER_B = 'user_b';
const RUN = randomUUID().slice(0, 8); // DATABASE_URL may be a database that outlives the run

// ---------------------------------------------------------------------------------------------------------------
// Infrastructure: the issuer, the PostgreSQL server (started once for the file), the temp dir for LibSQL files.
// ---------------------------------------------------------------------------------------------------------------

const issuer: TestIssuer = await createTestIssuer();
const pgStarted = Date.now();
const pg = await startPostgres();
const pgSetupMs = Date.now() - pgStarted;
const pgSkip = 'skip' in pg ? pg.skip : undefined;
const postgres = 'skip' in pg ? undefined : (pg as Postgres);
const dir = await mkdtemp(join(tmpdir(), 'cma-memory-'));

const tokenA = await issuer.mintToken({}, { userId: USER_A, org: { id: 'org_1', role: 'org:member' }, expiresInSeconds: 3600 });
const tokenB = await issuer.mintToken({}, { userId: USER_B, org: { id: 'org_1', role: 'org:member' }, expiresInSeconds: 3600 });

const rows: Row[] = [];
const toClose: Array<() => Promise<void>> = [];

afterAll(async () => {
  for (const close of toClose.reverse()) await close().catch(() => {});
  await postgres?.stop();
  await issuer.close();
  await rm(dir, { recursive: true, force: true });
  if (process.env.MEMORY_MATRIX_OUT) {
    await writeFile(process.env.MEMORY_MATRIX_OUT, JSON.stringify({ pgSetupMs, pgTimings: postgres?.timings, pgSkip, rows }, null, 2));
  }
}, 60_000);

// Storage as the README sets it up: `protectMemory` keeps the ownership invariants Mastra's handlers do not.
function libsqlStore(name: string): LibSQLStore {
  return protectMemory(new LibSQLStore({ id: `libsql-${name}`, url: `file:${join(dir, `${name}.db`)}` }));
}

function pgStore(name: string): PostgresStore {
  // One schema per cell: the cells of one database do not see each other's threads.
  return protectMemory(new PostgresStore({ id: `pg-${name}`, connectionString: postgres!.url, schemaName: `cma_${name}_${RUN}` }));
}

async function closeStore(store: MastraCompositeStore): Promise<void> {
  await (store as unknown as { close?: () => Promise<void> }).close?.();
}

async function app(storage: MastraCompositeStore, mode: MemoryAppMode): Promise<MemoryApp> {
  const created = await createMemoryApp(
    mode === 'mixed'
      ? { storage, mode, authOptions: issuer.authOptions }
      : { storage, mode, provider: new MastraAuthClerk({ ...issuer.authOptions, env: {}, logger: false }) },
  );
  toClose.push(() => created.close());
  return created;
}

// ---------------------------------------------------------------------------------------------------------------
// Clients, snapshots and probes.
// ---------------------------------------------------------------------------------------------------------------

function clientOf(base: string, token: string): MastraClient {
  return new MastraClient({ baseUrl: base, retries: 0, headers: { Authorization: `Bearer ${token}` } });
}

type Json = Record<string, unknown>;

/** A's view of one of its threads: the thread, its messages, and A's thread list (by id), or the status refused. */
async function snapshotA(base: string, threadId: string): Promise<unknown> {
  const client = clientOf(base, tokenA);
  const attempt = async <T>(call: () => Promise<T>): Promise<T | { status: number }> => {
    try {
      return await call();
    } catch (error) {
      return { status: (error as { status?: number }).status ?? -1 };
    }
  };
  const thread = await attempt(async () => {
    const t = (await client.getMemoryThread({ threadId, agentId: AGENT_ID }).get()) as Json;
    return { id: t.id, resourceId: t.resourceId, title: t.title, metadata: t.metadata ?? null };
  });
  const messages = await attempt(async () => {
    const { messages: list } = await client.getMemoryThread({ threadId, agentId: AGENT_ID }).listMessages({ perPage: 100 } as never);
    return (list as Json[]).map((m) => ({ id: m.id, role: m.role, threadId: m.threadId, resourceId: m.resourceId, content: m.content }));
  });
  const threads = await attempt(async () => {
    const list = await client.listMemoryThreads({ resourceId: USER_A, agentId: AGENT_ID, perPage: 100 } as never);
    return (list.threads as Json[]).map((t) => String(t.id)).sort();
  });
  return { thread, messages, threads };
}

interface Target {
  /** A's thread, its secret (in the title and every message), A's message ids; B's own thread. */
  aThread: string;
  secret: string;
  aMessageIds: string[];
  bThread: string;
  /** Unique id prefix for things B creates. */
  p: string;
}

/** A writes a thread with messages (through MastraClient); B writes one of its own. */
async function seed(base: string, p: string): Promise<Target> {
  const a = clientOf(base, tokenA);
  const b = clientOf(base, tokenB);
  const aThread = `${p}-a`;
  const bThread = `${p}-b`;
  const secret = `secret-${p}`;
  await a.createMemoryThread({ agentId: AGENT_ID, resourceId: USER_A, threadId: aThread, title: `A ${secret}` } as never);
  await a.getAgent(AGENT_ID).generate(`Paris ${secret}`, { memory: { thread: aThread, resource: USER_A } } as never);
  await b.createMemoryThread({ agentId: AGENT_ID, resourceId: USER_B, threadId: bThread, title: 'B own' } as never);
  await b.getAgent(AGENT_ID).generate('Berlin', { memory: { thread: bThread, resource: USER_B } } as never);
  const { messages } = await a.getMemoryThread({ threadId: aThread, agentId: AGENT_ID }).listMessages({ perPage: 100 } as never);
  const aMessageIds = (messages as Json[]).map((m) => String(m.id));
  if (aMessageIds.length !== 2) throw new Error(`seed: expected 2 messages in A's thread, got ${aMessageIds.length}`);
  return { aThread, secret, aMessageIds, bThread, p };
}

async function http(base: string, token: string, req: Req): Promise<{ status: number; body: string }> {
  const res = await fetch(`${base}${req.path}`, {
    method: req.method,
    headers: { Authorization: `Bearer ${token}`, ...(req.body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: req.body === undefined ? undefined : JSON.stringify(req.body),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, body: await res.text() };
}

/** B's threads (resource from its token): ids. */
async function bThreads(base: string): Promise<string[]> {
  const res = await http(base, tokenB, { method: 'GET', path: `/api/memory/threads?agentId=${AGENT_ID}&perPage=100` });
  if (res.status !== 200) return [];
  return ((JSON.parse(res.body) as { threads: Json[] }).threads ?? []).map((t) => String(t.id));
}

/** Whether B can now read the secret anywhere: in A's thread, or in any thread B holds that is new or its own. */
async function bHoldsSecret(base: string, t: Target, before: string[]): Promise<string[]> {
  const found: string[] = [];
  const after = await bThreads(base);
  const candidates = new Set<string>([t.aThread, t.bThread, ...after.filter((id) => !before.includes(id))]);
  // And a clone of A's thread id into B's resource: copies every message of the thread if B may read it.
  const probe = `${t.p}-probe-${Math.random().toString(36).slice(2, 8)}`;
  const cloned = await http(base, tokenB, { method: 'POST', path: `/api/memory/threads/${t.aThread}/clone?${q}`, body: { newThreadId: probe } });
  if (cloned.status < 300) candidates.add(probe);
  for (const threadId of candidates) {
    for (const path of [`/api/memory/threads/${threadId}?agentId=${AGENT_ID}`, `/api/memory/threads/${threadId}/messages?agentId=${AGENT_ID}`]) {
      const res = await http(base, tokenB, { method: 'GET', path });
      if (res.status < 300 && res.body.includes(t.secret)) found.push(`GET ${path} -> ${res.status}`);
    }
  }
  return found;
}

// ---------------------------------------------------------------------------------------------------------------
// The attacks of B on A's thread.
// ---------------------------------------------------------------------------------------------------------------

interface Req {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  body?: unknown;
}

interface Attack {
  name: string;
  request(t: Target): Req;
  /** For a 2xx answer: whether it landed in B's own resource (default: a 2xx is not a refusal). */
  ownResource?(body: Json, t: Target): boolean;
  /**
   * A gap still open, stated so that the test fails the day it closes: B learns who owns the thread (A's user id) from
   * Mastra's 500 error, nothing more (no data read or changed). README, Security model, lists it.
   */
  revealsOwnerKnownGap?: string;
}

const q = `agentId=${AGENT_ID}`;
const message = (t: Target, over: Json) => ({
  id: `${t.p}-m-${Math.random().toString(36).slice(2, 8)}`,
  role: 'user',
  type: 'v2',
  createdAt: new Date().toISOString(),
  content: { format: 2, parts: [{ type: 'text', text: 'injected by B' }] },
  ...over,
});
const ask = (memory: Json, extra: Json = {}) => ({ messages: [{ role: 'user', content: 'Rome' }], memory, ...extra });
const threadOf = (body: Json) => (body.thread ?? body) as Json;

const ATTACKS: Attack[] = [
  {
    name: "create a thread with A's resourceId",
    request: (t) => ({ method: 'POST', path: `/api/memory/threads?${q}`, body: { resourceId: USER_A, threadId: `${t.p}-created`, title: 'B' } }),
    ownResource: (body) => body.resourceId === USER_B,
  },
  {
    name: "create a thread with A's threadId (B's resourceId)",
    request: (t) => ({ method: 'POST', path: `/api/memory/threads?${q}`, body: { resourceId: USER_B, threadId: t.aThread, title: 'hijacked' } }),
  },
  {
    name: "create a thread with A's threadId and A's resourceId",
    request: (t) => ({ method: 'POST', path: `/api/memory/threads?${q}`, body: { resourceId: USER_A, threadId: t.aThread, title: 'hijacked' } }),
  },
  {
    name: "network route: create a thread with A's threadId",
    request: (t) => ({ method: 'POST', path: `/api/memory/network/threads?${q}`, body: { resourceId: USER_B, threadId: t.aThread, title: 'hijacked' } }),
  },
  {
    name: "list threads with A's resourceId",
    request: () => ({ method: 'GET', path: `/api/memory/threads?${q}&resourceId=${USER_A}` }),
    ownResource: (body, t) => ((body.threads as Json[]) ?? []).every((th) => th.resourceId === USER_B && th.id !== t.aThread),
  },
  {
    name: "list threads with A's resourceId, no agentId (storage)",
    request: () => ({ method: 'GET', path: `/api/memory/threads?resourceId=${USER_A}` }),
    ownResource: (body, t) => ((body.threads as Json[]) ?? []).every((th) => th.resourceId === USER_B && th.id !== t.aThread),
  },
  {
    name: "list threads with a spoofed requestContext (mastra__resourceId = A)",
    request: () => ({
      method: 'GET',
      path: `/api/memory/threads?${q}&requestContext=${encodeURIComponent(Buffer.from(JSON.stringify({ mastra__resourceId: USER_A })).toString('base64'))}`,
    }),
    ownResource: (body, t) => ((body.threads as Json[]) ?? []).every((th) => th.resourceId === USER_B && th.id !== t.aThread),
  },
  { name: "read A's thread by id", request: (t) => ({ method: 'GET', path: `/api/memory/threads/${t.aThread}?${q}` }) },
  {
    name: "read A's thread by id with resourceId=A",
    request: (t) => ({ method: 'GET', path: `/api/memory/threads/${t.aThread}?${q}&resourceId=${USER_A}` }),
  },
  { name: "read A's thread by id, no agentId (storage)", request: (t) => ({ method: 'GET', path: `/api/memory/threads/${t.aThread}` }) },
  { name: "read A's messages", request: (t) => ({ method: 'GET', path: `/api/memory/threads/${t.aThread}/messages?${q}` }) },
  {
    name: "read A's messages with resourceId=A",
    request: (t) => ({ method: 'GET', path: `/api/memory/threads/${t.aThread}/messages?${q}&resourceId=${USER_A}` }),
  },
  { name: "network route: read A's messages", request: (t) => ({ method: 'GET', path: `/api/memory/network/threads/${t.aThread}/messages?${q}` }) },
  // The Responses API's conversations are threads, found by id in every agent's memory, with no agent named.
  { name: "read A's thread as a conversation", request: (t) => ({ method: 'GET', path: `/api/v1/conversations/${t.aThread}` }) },
  { name: "read A's messages as conversation items", request: (t) => ({ method: 'GET', path: `/api/v1/conversations/${t.aThread}/items` }) },
  { name: "delete A's thread as a conversation", request: (t) => ({ method: 'DELETE', path: `/api/v1/conversations/${t.aThread}` }) },
  {
    name: "read A's working memory",
    request: (t) => ({ method: 'GET', path: `/api/memory/threads/${t.aThread}/working-memory?${q}&resourceId=${USER_A}` }),
    ownResource: (body) => body.workingMemory === null || body.workingMemory === undefined,
  },
  {
    name: "search A's memory",
    request: (t) => ({ method: 'GET', path: `/api/memory/search?${q}&resourceId=${USER_A}&threadId=${t.aThread}&searchQuery=${t.secret}` }),
    ownResource: (body, t) => !JSON.stringify(body).includes(t.secret),
  },
  {
    name: "search with B's resourceId and A's threadId",
    request: (t) => ({ method: 'GET', path: `/api/memory/search?${q}&resourceId=${USER_B}&threadId=${t.aThread}&searchQuery=Paris` }),
    ownResource: (body, t) => !JSON.stringify(body).includes(t.secret),
    revealsOwnerKnownGap: "@mastra/memory's recall() throws 'Thread … is for resource with id user_a …', which Mastra answers as a 500",
  },
  {
    name: "update (PATCH) A's thread",
    request: (t) => ({ method: 'PATCH', path: `/api/memory/threads/${t.aThread}?${q}`, body: { title: 'B was here', resourceId: USER_A } }),
  },
  { name: "delete A's thread", request: (t) => ({ method: 'DELETE', path: `/api/memory/threads/${t.aThread}?${q}` }) },
  {
    name: "clone A's thread",
    request: (t) => ({ method: 'POST', path: `/api/memory/threads/${t.aThread}/clone?${q}`, body: { newThreadId: `${t.p}-clone` } }),
  },
  {
    name: "clone A's thread into A's resource",
    request: (t) => ({ method: 'POST', path: `/api/memory/threads/${t.aThread}/clone?${q}`, body: { newThreadId: `${t.p}-clone2`, resourceId: USER_A } }),
  },
  {
    name: "clone B's own thread onto A's threadId",
    request: (t) => ({ method: 'POST', path: `/api/memory/threads/${t.bThread}/clone?${q}`, body: { newThreadId: t.aThread } }),
  },
  {
    name: "transfer A's thread to B",
    request: (t) => ({ method: 'POST', path: `/api/memory/threads/${t.aThread}/transfer?${q}`, body: { resourceId: USER_B } }),
  },
  {
    name: "write A's working memory",
    request: (t) => ({
      method: 'POST',
      path: `/api/memory/threads/${t.aThread}/working-memory?${q}`,
      body: { workingMemory: 'B was here', resourceId: USER_A },
    }),
  },
  {
    name: "save a message into A's thread (A's resourceId)",
    request: (t) => ({ method: 'POST', path: `/api/memory/save-messages?${q}`, body: { messages: [message(t, { threadId: t.aThread, resourceId: USER_A })] } }),
  },
  {
    name: "save a message into A's thread (B's resourceId)",
    request: (t) => ({ method: 'POST', path: `/api/memory/save-messages?${q}`, body: { messages: [message(t, { threadId: t.aThread, resourceId: USER_B })] } }),
  },
  {
    name: "save a message reusing A's message id, into B's own thread",
    request: (t) => ({
      method: 'POST',
      path: `/api/memory/save-messages?${q}`,
      body: { messages: [message(t, { id: t.aMessageIds[0], threadId: t.bThread, resourceId: USER_B })] },
    }),
  },
  {
    name: "delete A's messages",
    request: (t) => ({ method: 'POST', path: `/api/memory/messages/delete?${q}`, body: { messageIds: t.aMessageIds } }),
  },
  {
    name: "run the agent with A's thread and resource (generate)",
    request: (t) => ({ method: 'POST', path: `/api/agents/${AGENT_ID}/generate`, body: ask({ thread: t.aThread, resource: USER_A }) }),
  },
  {
    name: "run the agent with A's thread, B's resource (generate)",
    request: (t) => ({ method: 'POST', path: `/api/agents/${AGENT_ID}/generate`, body: ask({ thread: t.aThread, resource: USER_B }) }),
  },
  {
    name: "run the agent with A's thread as an object { id } (generate)",
    request: (t) => ({ method: 'POST', path: `/api/agents/${AGENT_ID}/generate`, body: ask({ thread: { id: t.aThread }, resource: USER_A }) }),
  },
  {
    name: 'run the agent with a spoofed requestContext (mastra__resourceId/threadId = A)',
    request: (t) => ({
      method: 'POST',
      path: `/api/agents/${AGENT_ID}/generate`,
      body: ask({ thread: `${t.p}-spoof` }, { requestContext: { mastra__resourceId: USER_A, mastra__threadId: t.aThread } }),
    }),
    ownResource: (body, t) => !JSON.stringify(body).includes(t.secret),
  },
  {
    name: "run the agent on B's own thread with a message reusing A's message id",
    request: (t) => ({
      method: 'POST',
      path: `/api/agents/${AGENT_ID}/generate`,
      body: { messages: [{ id: t.aMessageIds[0], role: 'user', content: 'Rome' }], memory: { thread: t.bThread, resource: USER_B } },
    }),
    ownResource: (body, t) => !JSON.stringify(body).includes(t.secret),
  },
  {
    name: "run the agent with A's thread and resource (stream)",
    request: (t) => ({ method: 'POST', path: `/api/agents/${AGENT_ID}/stream`, body: ask({ thread: t.aThread, resource: USER_A }) }),
  },
];

// ---------------------------------------------------------------------------------------------------------------
// The runner: one row per (cell, attack).
// ---------------------------------------------------------------------------------------------------------------

interface Row {
  cell: string;
  attack: string;
  request: { method: string; path: string; body?: unknown };
  status: number;
  /** Refused (4xx/5xx) or landed in B's own resource. */
  refusedOrOwn: boolean;
  /** A's thread, messages or thread list differ after the attack. */
  aChanged: boolean;
  /** The secret of A's thread in B's response. */
  leakedInResponse: boolean;
  /** B's response names A's resource id (the Clerk user id of the thread's owner) where B did not send it. */
  revealsOwner: boolean;
  /** Where B can read A's secret after the attack. */
  bCanReadAfter: string[];
  response: string;
  before?: unknown;
  after?: unknown;
}

interface Cell {
  name: string;
  /** Where A writes, where B attacks, where A reads back. */
  aBase: string;
  bBase: string;
  readBase: string;
  targets: Map<string, Target>;
}

/** A writes one thread per attack (on `writeBase`). */
async function seedAll(cellName: string, writeBase: string): Promise<Map<string, Target>> {
  const targets = new Map<string, Target>();
  for (const [i, attack] of ATTACKS.entries()) {
    targets.set(attack.name, await seed(writeBase, `${cellName}-${RUN}-${i}`));
  }
  return targets;
}

async function attackRow(cell: Cell, attack: Attack): Promise<Row> {
  const t = cell.targets.get(attack.name)!;
  const before = await snapshotA(cell.readBase, t.aThread);
  const bBefore = await bThreads(cell.bBase);
  const req = attack.request(t);
  const res = await http(cell.bBase, tokenB, req);
  const after = await snapshotA(cell.readBase, t.aThread);
  let body: Json = {};
  try {
    body = JSON.parse(res.body) as Json;
  } catch {
    // a stream: text
  }
  const ok2xx = res.status >= 200 && res.status < 300;
  const row: Row = {
    cell: cell.name,
    attack: attack.name,
    request: req,
    status: res.status,
    refusedOrOwn: !ok2xx || (attack.ownResource?.(threadOf(body), t) ?? false),
    aChanged: JSON.stringify(before) !== JSON.stringify(after),
    leakedInResponse: res.body.includes(t.secret),
    revealsOwner: res.body.includes(USER_A) && !JSON.stringify(req).includes(USER_A),
    bCanReadAfter: await bHoldsSecret(cell.bBase, t, bBefore),
    response: res.body.slice(0, 300),
  };
  if (row.aChanged) Object.assign(row, { before, after });
  rows.push(row);
  return row;
}

const EXPECTED = { refusedOrOwn: true, aChanged: false, leakedInResponse: false, revealsOwner: false, bCanReadAfter: [] };

function attackTests(getCell: () => Cell) {
  it.each(ATTACKS.map((a) => [a.name, a] as const))('B: %s -> refused or in B\'s own resource; A\'s data unchanged and unread', async (_name, attack) => {
    const row = await attackRow(getCell(), attack);
    // A 401 would mean B's token failed: the attack was never tried.
    expect(row.status).not.toBe(401);
    expect({ status: row.status, request: row.request, response: row.response, ...pick(row) }).toEqual({
      status: row.status,
      request: row.request,
      response: row.response,
      ...EXPECTED,
      revealsOwner: attack.revealsOwnerKnownGap !== undefined,
    });
  });
}

function pick(row: Row) {
  const { refusedOrOwn, aChanged, leakedInResponse, revealsOwner, bCanReadAfter } = row;
  return { refusedOrOwn, aChanged, leakedInResponse, revealsOwner, bCanReadAfter };
}

// ---------------------------------------------------------------------------------------------------------------
// The cells.
// ---------------------------------------------------------------------------------------------------------------

describe.each<MemoryAppMode>(['mixed', 'standalone'])('LibSQL (file), %s', (mode) => {
  let cell: Cell;
  beforeAll(async () => {
    const storage = libsqlStore(`one-${mode}`);
    toClose.push(() => closeStore(storage));
    const server = await app(storage, mode);
    cell = { name: `libsql-${mode}`, aBase: server.base, bBase: server.base, readBase: server.base, targets: await seedAll(`libsql-${mode}`, server.base) };
  }, 120_000);
  attackTests(() => cell);
  it("A reads its own thread as conversation items (B's refusal above is not the route's)", async () => {
    const t = cell.targets.get("read A's messages as conversation items")!;
    const res = await http(cell.aBase, tokenA, { method: 'GET', path: `/api/v1/conversations/${t.aThread}/items` });
    expect([res.status, res.body.includes(t.secret)]).toEqual([200, true]);
  });
});

describe('LibSQL (file), restarted between A\'s writes and B\'s attacks', () => {
  let cell: Cell;
  let beforeRestart: unknown[];
  let targets: Map<string, Target>;
  beforeAll(async () => {
    const first = libsqlStore('restart');
    const server1 = await app(first, 'standalone');
    targets = await seedAll('libsql-restart', server1.base);
    beforeRestart = await Promise.all([...targets.values()].map((t) => snapshotA(server1.base, t.aThread)));
    await server1.close();
    await closeStore(first);
    const second = libsqlStore('restart');
    toClose.push(() => closeStore(second));
    const server2 = await app(second, 'standalone');
    cell = { name: 'libsql-restart', aBase: server1.base, bBase: server2.base, readBase: server2.base, targets };
  }, 120_000);

  it("A's threads and messages are all still there after the restart", async () => {
    const afterRestart = await Promise.all([...targets.values()].map((t) => snapshotA(cell.readBase, t.aThread)));
    expect(afterRestart).toEqual(beforeRestart);
    expect((afterRestart[0] as { messages: unknown[] }).messages).toHaveLength(2);
  });
  attackTests(() => cell);
});

describe('PostgreSQL', () => {
  if (pgSkip) {
    // CI must run these: there, a missing PostgreSQL is a failure, not a skip.
    (process.env.CI ? it : it.skip)(`PostgreSQL is available (${pgSkip})`, () => {
      throw new Error(`PostgreSQL tests cannot be skipped in CI: ${pgSkip}`);
    });
    return;
  }

  it('started (or DATABASE_URL) in bounded time', () => {
    expect(pgSetupMs).toBeLessThan(60_000);
  });

  describe.each<MemoryAppMode>(['mixed', 'standalone'])('%s', (mode) => {
    let cell: Cell;
    beforeAll(async () => {
      const storage = pgStore(mode);
      toClose.push(() => closeStore(storage));
      const server = await app(storage, mode);
      cell = { name: `pg-${mode}`, aBase: server.base, bBase: server.base, readBase: server.base, targets: await seedAll(`pg-${mode}`, server.base) };
    }, 120_000);
    attackTests(() => cell);
  });

  describe('two app instances on one database: A writes via #1, B attacks via #2, A reads back via #2', () => {
    let cell: Cell;
    beforeAll(async () => {
      const storage1 = pgStore('shared');
      const storage2 = pgStore('shared');
      toClose.push(() => closeStore(storage1), () => closeStore(storage2));
      const server1 = await app(storage1, 'mixed');
      const server2 = await app(storage2, 'standalone');
      expect(server1.base).not.toBe(server2.base);
      cell = { name: 'pg-two-instances', aBase: server1.base, bBase: server2.base, readBase: server2.base, targets: await seedAll('pg-two', server1.base) };
    }, 120_000);

    it("A reads through #2 exactly what it wrote through #1", async () => {
      const t = [...cell.targets.values()][0]!;
      expect(await snapshotA(cell.readBase, t.aThread)).toEqual(await snapshotA(cell.aBase, t.aThread));
      expect(((await snapshotA(cell.readBase, t.aThread)) as { messages: unknown[] }).messages).toHaveLength(2);
    });
    attackTests(() => cell);
  });
});
