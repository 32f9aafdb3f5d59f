/**
 * A NUL character in what a Mastra route reads (found by an attacker session of our own): PostgreSQL refuses it in a
 * text value (`invalid byte sequence for encoding "UTF8": 0x00`) and Node's `fs` in a path (`... without null bytes.
 * Received '/srv/files/\x00'`, the server's directory), and Mastra answered a signed-in user 500 with that message.
 * Both adapters refuse it before the route: the middleware 400 `request-invalid` wherever it is (path, query, JSON
 * body), the provider alone 403 in the path or query (it never sees the body on `@mastra/express`).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import express from 'express';
import { Mastra } from '@mastra/core/mastra';
import { LocalFilesystem, Workspace } from '@mastra/core/workspace';
import { MastraServer } from '@mastra/express';
import { PostgresStore } from '@mastra/pg';
import type { MastraCompositeStore } from '@mastra/core/storage';
import { clerkMastraAuth, createClerkAuth } from '../../src/index.js';
import { MastraAuthClerk, protectMemory } from '../../src/mastra/index.js';
import { libsqlMemoryFixture, type MemoryApp } from '../support/memory-app.js';
import { failOrSkip, startPostgres, type Postgres } from '../support/postgres.js';
import { listen } from '../support/http.js';

// Its own message: a NUL pasted into a chat message is refused too, and was told "An id ... is not a name" (found by a
// new user's session).
const NUL_CHARACTER = 'A NUL character (U+0000) in the request target or JSON body is not accepted: databases and file systems refuse it.';
const CHALLENGE = `Bearer realm="api", error="invalid_request", error_description="${NUL_CHARACTER}"`;

const libsql = libsqlMemoryFixture('nul');
const pg = await startPostgres();
const pgSkip = failOrSkip(pg);
const postgres = pgSkip ? undefined : (pg as Postgres);
const pgStores: PostgresStore[] = [];
afterAll(async () => {
  for (const store of pgStores) await store.close().catch(() => {});
  await postgres?.stop();
}, 60_000);

let bob = '';
beforeAll(async () => {
  [bob = ''] = await libsql.tokens('user_bob');
});

/** A JSON body sent as this text. */
class RawJson {
  constructor(readonly text: string) {}
}

async function call(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; text: string; challenge: string | null }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${bob}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : body instanceof RawJson ? body.text : JSON.stringify(body),
  });
  return { status: res.status, text: await res.text(), challenge: res.headers.get('www-authenticate') };
}

/** Each request, and what it got: the middleware's 400, with its code and challenge. */
async function expectRefused(base: string, requests: ReadonlyArray<readonly [string, string, unknown?]>): Promise<void> {
  for (const [method, path, body] of requests) {
    const res = await call(base, method, path, body);
    const code = res.status === 400 ? (JSON.parse(res.text) as { error?: string }).error : res.text.slice(0, 160);
    expect({ request: `${method} ${path}`, status: res.status, code, challenge: res.challenge }).toEqual({
      request: `${method} ${path}`,
      status: 400,
      code: 'request-invalid',
      challenge: CHALLENGE,
    });
  }
}

const MEMORY_REQUESTS = [
  ['GET', '/api/memory/threads/a%00b?agentId=weatherAgent'],
  ['GET', '/api/memory/threads/a%00b/messages?agentId=weatherAgent'],
  ['GET', '/api/memory/threads?agentId=weatherAgent&resourceId=a%00b'],
  ['POST', '/api/memory/threads?agentId=weatherAgent', { threadId: 'a\u0000b', title: 't' }],
  ['POST', '/api/agents/weatherAgent/generate', { messages: 'Oslo', memory: { thread: 'a\u0000b', resource: 'user_bob' } }],
  ['POST', '/api/agents/weatherAgent/generate', { messages: [{ role: 'user', content: 'Oslo\u0000' }], memory: { thread: 't1', resource: 'user_bob' } }],
] as const;

const storages: Array<[string, () => MastraCompositeStore]> = [['libsql', () => libsql.store(`s-${randomUUID().slice(0, 8)}`)]];
if (postgres) {
  storages.push([
    'pg',
    () => {
      const store = new PostgresStore({ id: 'nul-pg', connectionString: postgres.url, schemaName: `cma_nul_${randomUUID().slice(0, 8)}` });
      pgStores.push(store);
      return store;
    },
  ]);
} else {
  it.skip(`PostgreSQL: ${pgSkip}`, () => {});
}

describe.each(storages)('%s, the README app (middleware, provider, protectMemory): a NUL in a memory id', (_name, open) => {
  let app: MemoryApp;
  beforeAll(async () => {
    app = await libsql.app({ storage: protectMemory(open()) as never, mode: 'mixed', authOptions: libsql.issuer().authOptions });
  }, 60_000);

  it('is 400 request-invalid in the path, the query and the JSON body, never the database error', async () => {
    await expectRefused(app.base, MEMORY_REQUESTS);
  });

  it('a thread without one is served as before (control)', async () => {
    const res = await call(app.base, 'POST', '/api/memory/threads?agentId=weatherAgent', { threadId: 'plain', resourceId: 'user_bob', title: 't' });
    expect(res.status).toBe(200);
  });
});

describe("a workspace's files: a NUL in a path", () => {
  let dir = '';
  let mixed = '';
  let standalone = '';
  const closers: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cma-nul-ws-'));
    await writeFile(join(dir, 'notes.txt'), 'hello');
    const serve = async (withMiddleware: boolean): Promise<string> => {
      const clerkAuth = createClerkAuth({ ...libsql.issuer().authOptions, env: {}, logger: false });
      const workspace = new Workspace({ id: 'files', name: 'Files', filesystem: new LocalFilesystem({ basePath: dir }) });
      const app = express();
      app.use(express.json({ limit: '5mb' }));
      if (withMiddleware) app.use(clerkMastraAuth({ clerkAuth }));
      const mastra = new Mastra({ workspace, server: { auth: new MastraAuthClerk({ clerkAuth }) as never }, logger: false });
      await new MastraServer({ app: app as never, mastra, prefix: '/api' }).init();
      const { base, close } = await listen(app);
      closers.push(close);
      return base;
    };
    [mixed, standalone] = [await serve(true), await serve(false)];
  });
  afterAll(async () => {
    for (const close of closers) await close();
    await rm(dir, { recursive: true, force: true });
  });

  it('the middleware: 400 request-invalid, in the query and in the body', async () => {
    await expectRefused(mixed, [
      ['GET', '/api/workspaces/files/fs/stat?path=%00'],
      ['GET', '/api/workspaces/files/fs/read?path=notes.txt%00'],
      ['POST', '/api/workspaces/files/fs/write', { path: 'a\u0000b', content: 'x' }],
    ]);
  });

  it('the provider alone: 403 in the query, not a 500 with the directory', async () => {
    const res = await call(standalone, 'GET', '/api/workspaces/files/fs/stat?path=%00');
    expect({ status: res.status, showsDirectory: res.text.includes(dir) }).toEqual({ status: 403, showsDirectory: false });
  });

  it('a NUL deep in a nested body is found without recursion (10,000 levels)', async () => {
    const body = `{"path":"deep.txt","content":${'['.repeat(10_000)}"\\u0000"${']'.repeat(10_000)}}`; // JSON text: stringify recurses
    await expectRefused(mixed, [['POST', '/api/workspaces/files/fs/write', new RawJson(body)]]);
  });

  it('a NUL behind 150,000 values of padding is found: the whole body is read (found by an attacker session)', async () => {
    const body = `{"path":"pad.txt","content":{"text":"a\\u0000b"},"pad":[${new Array(150_000).fill(0).join(',')}]}`;
    await expectRefused(mixed, [['POST', '/api/workspaces/files/fs/write', new RawJson(body)]]);
  });

  it('a plain path is served as before (control)', async () => {
    const res = await call(mixed, 'GET', '/api/workspaces/files/fs/read?path=notes.txt');
    expect({ status: res.status, hello: res.text.includes('hello') }).toEqual({ status: 200, hello: true });
  });
});
