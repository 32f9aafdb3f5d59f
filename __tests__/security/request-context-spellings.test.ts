/**
 * Other ways a client's request context carried the server's keys into a run, past the refusal of
 * request-context-keys.test.ts (found by an attacker session on that fix):
 * - a base64 query value with an escape that is no UTF-8 (`...%FF`): Express's parsers decode it otherwise than the
 *   check did (Node's `querystring`: U+FFFD; `qs`: no escape at all), and base64 skips what is not in its alphabet;
 * - `?[requestContext]=` (and `%5BrequestContext%5D`), which `qs` reads as `requestContext`;
 * - a JSON body `express.json()` parses after the middleware, and a body over the provider's `bodySizeLimit` on
 *   Mastra's Hono server: not read when the check ran;
 * - a custom route (`registerApiRoute`), which runs with the same request context and is not in Mastra's route table.
 * And, found by the next attack round, on Mastra's Hono server with the provider alone and no policy:
 * - a request whose URL the provider cannot place (an absolute-form target, two `Host` headers, HTTP/1.0 without
 *   one), whose body it then never judged, while Mastra routed it by its path (B read A's thread);
 * - a custom route's JSON body over the provider's `bodySizeLimit` (the default 4.5 MB), and a body typed
 *   `multipart/form-data; boundary=application/json`, which Mastra reads as JSON for the request context.
 * Each is now refused (403). Real issuer, real tokens, Express 4 and 5, Mastra's Hono server.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Agent } from '@mastra/core/agent';
import { Mastra } from '@mastra/core/mastra';
import { registerApiRoute } from '@mastra/core/server';
import { MastraServer } from '@mastra/express';
import express from 'express';
import express4 from 'express4';
import { clerkMastraAuth, createClerkAuth } from '../../src/index.js';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { listen } from '../support/http.js';
import { libsqlMemoryFixture } from '../support/memory-app.js';
import { callJson, errorOf, raw, serveMastra } from './support.js';
import { echoAgent, scriptedModel } from './scripted-model.js';

const libsql = libsqlMemoryFixture('ctx-spellings');
let tokenB: string;
beforeAll(async () => {
  tokenB = await libsql.issuer().mintToken({}, { userId: 'user_b', expiresInSeconds: 3600 });
});

function echoMastra(clerkAuth: ReturnType<typeof createClerkAuth>, extra: Record<string, unknown> = {}) {
  return new Mastra({
    agents: { echoAgent: echoAgent() },
    server: { auth: new MastraAuthClerk({ clerkAuth }), ...extra } as never,
    logger: false,
  });
}

/**
 * Alice's thread on `chatAgent` (with memory), and `quickAgent`, which recalls history through `MessageHistory` with
 * no `memory`: the thread and resource it reads come from the request context's `MastraMemory`.
 */
async function historyApp(name: string, mode: 'mixed' | 'hono'): Promise<{ base: string; close: () => Promise<void>; tokenA: string }> {
  const tokenA = await libsql.issuer().mintToken({}, { userId: 'user_a', expiresInSeconds: 3600 });
  const { protectMemory } = await import('../../src/mastra/index.js');
  const { Memory } = await import('@mastra/memory');
  const { MessageHistory } = (await import('@mastra/core/processors')) as any;
  const store = protectMemory(libsql.store(name));
  const memoryStore = await (store as any).getStore('memory');
  const clerkAuth = createClerkAuth({ ...libsql.issuer().authOptions, env: {}, logger: false });
  const model = scriptedModel();
  const chat = new Agent({ id: 'chatAgent', name: 'Chat', instructions: 'Chat.', model: model as never, memory: new Memory({ storage: store }) });
  const quick = new Agent({ id: 'quickAgent', name: 'Quick', instructions: 'Quick.', model: model as never, inputProcessors: [new MessageHistory({ storage: memoryStore, lastMessages: 20 })] });
  const mastra = new Mastra({ agents: { chatAgent: chat, quickAgent: quick }, storage: store, server: { auth: new MastraAuthClerk({ clerkAuth }) }, logger: false });
  return { ...(await serveMastra(mastra, { mode, clerkAuth })), tokenA };
}

const TOOL = '/api/agents/echoAgent/tools/echoContext/execute';
const FORGED = { knowledgeResourceId: 'user_a', MastraMemory: { thread: { id: 'a-thread' }, resourceId: 'user_a' } };

describe.each([4, 5] as const)('Express %s: express.json() mounted after clerkMastraAuth() (no policy)', (framework) => {
  let base: string;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const clerkAuth = createClerkAuth({ ...libsql.issuer().authOptions, env: {}, logger: false });
    const f = framework === 4 ? express4 : express;
    const app = f();
    app.use(clerkMastraAuth({ clerkAuth }));
    app.use(f.json());
    await new MastraServer({ app: app as never, mastra: echoMastra(clerkAuth), prefix: '/api' }).init();
    ({ base, close } = await listen(app));
  });
  afterAll(async () => close());

  it('a JSON body is refused, as it may set the server keys (it did: 200, and the run saw knowledgeResourceId)', async () => {
    const res = await callJson(base, tokenB, 'POST', TOOL, { data: {}, requestContext: FORGED });
    expect({ status: res.status, error: res.error, reached: res.json?.knowledgeResourceId }).toEqual({ status: 403, error: 'access-denied', reached: undefined });
  });

  it("a body of another type is no request context to Mastra: it reaches Mastra (whose schema wants a JSON body: 400)", async () => {
    const res = await fetch(`${base}${TOOL}`, { method: 'POST', headers: { Authorization: `Bearer ${tokenB}`, 'Content-Type': 'text/plain' }, body: 'hello' });
    const text = await res.text();
    expect([res.status, /access-denied|request-invalid/.test(text), res.headers.get('www-authenticate')]).toEqual([400, false, null]);
  });
});

describe.each(['hono', 'mixed'] as const)('%s: a custom route (registerApiRoute) that runs with the request context', (mode) => {
  let base: string;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const clerkAuth = createClerkAuth({ ...libsql.issuer().authOptions, env: {}, logger: false });
    const mastra = echoMastra(clerkAuth, {
      apiRoutes: [
        // The documented pattern: a custom route hands Mastra's request context on to a run.
        registerApiRoute('/whoami-context', {
          method: 'POST',
          handler: async (c: any) => c.json((c.get('requestContext') as any).toJSON()),
        }),
      ],
    });
    ({ base, close } = await serveMastra(mastra, { mode, clerkAuth }));
  });
  afterAll(async () => close());

  const denied = mode === 'hono' ? 'Access denied' : 'access-denied';

  it('a body requestContext with server keys does not reach a custom route (403)', async () => {
    const res = await callJson(base, tokenB, 'POST', '/whoami-context', { requestContext: FORGED });
    expect({ status: res.status, error: res.error, reached: res.json?.knowledgeResourceId }).toEqual({ status: 403, error: denied, reached: undefined });
  });

  it('a query requestContext with server keys does not reach a custom route (403)', async () => {
    const q = encodeURIComponent(JSON.stringify(FORGED));
    const res = await callJson(base, tokenB, 'POST', `/whoami-context?requestContext=${q}`, {});
    expect({ status: res.status, error: res.error, reached: res.json?.knowledgeResourceId }).toEqual({ status: 403, error: denied, reached: undefined });
  });

  it("the app's own keys reach it", async () => {
    const res = await callJson(base, tokenB, 'POST', '/whoami-context', { requestContext: { locale: 'fr' } });
    expect([res.status, res.json?.locale]).toEqual([200, 'fr']);
  });
});

describe('hono: server.bodySizeLimit raised, provider left at its default', () => {
  let base: string;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const clerkAuth = createClerkAuth({ ...libsql.issuer().authOptions, env: {}, logger: false });
    ({ base, close } = await serveMastra(echoMastra(clerkAuth, { bodySizeLimit: 20 * 1024 * 1024 }), { mode: 'hono', clerkAuth }));
  });
  afterAll(async () => close());

  it('a 5 MB body with a forged requestContext is refused', async () => {
    const res = await callJson(base, tokenB, 'POST', TOOL, { data: {}, requestContext: { ...FORGED, pad: 'x'.repeat(5 * 1024 * 1024) } });
    expect({ status: res.status, error: res.error, reached: res.json?.knowledgeResourceId }).toEqual({ status: 403, error: 'Access denied', reached: undefined });
  });
});

/**
 * The query's request context as base64, spelled so that the parser Express uses decodes it to the forged JSON while
 * `setsContextKey`'s lenient decoding (valid escapes decoded, invalid kept) reads garbage: Node's base64 decoder skips
 * characters outside the alphabet (U+FFFD, '%') and stops at '=' padding.
 */
function spelledFor(framework: 4 | 5, forged: Record<string, unknown>): string {
  for (let n = 0; n < 500; n += 1) {
    const s = Buffer.from(JSON.stringify({ ...forged, p: 'x'.repeat(n % 50) + '?>~'.repeat(Math.floor(n / 50)) })).toString('base64');
    if (framework === 5) {
      // Express 5's `querystring`: %FF is U+FFFD, skipped; ours keeps "%FF", whose "FF" is one more byte: no JSON.
      if (!s.endsWith('=')) return `${s}%FF`;
    } else {
      // Express 4's `qs`: one escape that is no UTF-8 (%FF, after the padding) and it decodes none: "%4A" stays, its
      // '%' skipped, "4A" read; ours decodes it to "J" and reads other bytes.
      const at = s.search(/[0-7][0-9A-Fa-f]/);
      if (s.endsWith('=') && at !== -1) return `${s.slice(0, at)}%${s.slice(at)}%FF`;
    }
  }
  throw new Error('no spelling');
}

describe.each([
  [4, 'mixed'],
  [5, 'mixed'],
  [4, 'standalone'],
  [5, 'standalone'],
] as const)('Express %s, %s (express.json() first, as documented): base64 query context', (framework, mode) => {
  let base: string;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const clerkAuth = createClerkAuth({ ...libsql.issuer().authOptions, env: {}, logger: false });
    ({ base, close } = await serveMastra(echoMastra(clerkAuth), { mode, framework, clerkAuth }));
  });
  afterAll(async () => close());

  it('a base64 requestContext with a non-UTF-8 escape does not carry server keys into the run', async () => {
    const value = spelledFor(framework, { knowledgeResourceId: 'user_a' });
    const res = await callJson(base, tokenB, 'POST', `${TOOL}?requestContext=${value}`, { data: {} });
    expect({ value, status: res.status, error: res.error, reached: res.json?.knowledgeResourceId }).toEqual({
      value,
      status: 403,
      error: mode === 'mixed' ? 'access-denied' : 'Access denied',
      reached: undefined,
    });
  });
});

describe.each(['mixed', 'standalone'] as const)('%s Express 4 (express.json() first, default `extended` query parser): a bracketed requestContext key', (mode) => {
  let base: string;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const clerkAuth = createClerkAuth({ ...libsql.issuer().authOptions, env: {}, logger: false });
    ({ base, close } = await serveMastra(echoMastra(clerkAuth), { mode, framework: 4, clerkAuth }));
  });
  afterAll(async () => close());

  // qs reads `[requestContext]=X` as `requestContext: 'X'` (a string, which Mastra's adapter parses); setsContextKey
  // judges a bracketed key by its parts' names only, not by its value.
  it.each(['[requestContext]', '%5BrequestContext%5D'])('?%s=<base64 of forged keys> is refused', async (key) => {
    const value = encodeURIComponent(Buffer.from(JSON.stringify({ knowledgeResourceId: 'user_a' })).toString('base64'));
    const res = await callJson(base, tokenB, 'POST', `${TOOL}?${key}=${value}`, { data: {} });
    expect({ status: res.status, error: res.error, reached: res.json?.knowledgeResourceId }).toEqual({
      status: 403,
      error: mode === 'mixed' ? 'access-denied' : 'Access denied',
      reached: undefined,
    });
  });
});

describe("mixed Express 5 with app.set('query parser', 'extended'): a bracketed requestContext key", () => {
  let base: string;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const clerkAuth = createClerkAuth({ ...libsql.issuer().authOptions, env: {}, logger: false });
    const app = express();
    app.set('query parser', 'extended');
    app.use(express.json());
    app.use(clerkMastraAuth({ clerkAuth }));
    await new MastraServer({ app: app as never, mastra: echoMastra(clerkAuth), prefix: '/api' }).init();
    ({ base, close } = await listen(app));
  });
  afterAll(async () => close());

  it('?[requestContext]=<base64 of forged keys> is refused', async () => {
    const value = encodeURIComponent(Buffer.from(JSON.stringify({ knowledgeResourceId: 'user_a' })).toString('base64'));
    const res = await callJson(base, tokenB, 'POST', `${TOOL}?[requestContext]=${value}`, { data: {} });
    expect({ status: res.status, error: res.error, reached: res.json?.knowledgeResourceId }).toEqual({ status: 403, error: 'access-denied', reached: undefined });
  });
});

/** End to end: request-context-keys.test.ts's MastraMemory read of another user's thread, through the %FF spelling. */
describe('mixed Express 5 (defaults): B reads A\'s thread through ?requestContext=<base64>%FF', () => {
  let base: string;
  let close: () => Promise<void>;
  let tokenA: string;
  const A_THREAD = 'spelled-a-history-thread';
  beforeAll(async () => {
    ({ base, close, tokenA } = await historyApp('history', 'mixed'));
  });
  afterAll(async () => close());

  it("B cannot read A's thread", async () => {
    const a = await callJson(base, tokenA, 'POST', '/api/agents/chatAgent/generate', { messages: 'My locker code is 7734', memory: { thread: A_THREAD, resource: 'user_a' } });
    expect(a.status).toBe(200);
    const value = spelledFor(5, { MastraMemory: { thread: { id: A_THREAD }, resourceId: 'user_a' } });
    const b = await callJson(base, tokenB, 'POST', `/api/agents/quickAgent/generate?requestContext=${value}`, { messages: 'DUMP' });
    expect({ status: b.status, error: b.error, read: b.text.includes('7734') }).toEqual({ status: 403, error: 'access-denied', read: false });
  });
});

/** One request written on a socket as it is (duplicate headers, HTTP/1.0): the whole answer as text. */
function rawSocket(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

describe('hono (defaults): requests the provider cannot place, and bodies it does not read', () => {
  let base: string;
  let port: number;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const clerkAuth = createClerkAuth({ ...libsql.issuer().authOptions, env: {}, logger: false });
    const mastra = echoMastra(clerkAuth, {
      apiRoutes: [registerApiRoute('/whoami-context', { method: 'POST', handler: async (c: any) => c.json((c.get('requestContext') as any).toJSON()) })],
    });
    ({ base, close } = await serveMastra(mastra, { mode: 'hono', clerkAuth }));
    port = Number(new URL(base).port);
  });
  afterAll(async () => close());

  const body = JSON.stringify({ data: {}, requestContext: FORGED });
  it.each([
    ['an absolute-form target naming another host', `http://other.example${TOOL}`],
    ['an absolute-form target, custom route', 'http://other.example/whoami-context'],
  ])('%s: refused (403); it was 200, the run seeing the keys', async (_label, target) => {
    const res = await raw(port, 'POST', target, { Authorization: `Bearer ${tokenB}` }, body);
    expect({ status: res.status, error: errorOf(res), leaked: res.body.includes('user_a') }).toEqual({ status: 403, error: 'Access denied', leaked: false });
  });

  it('a Host with an empty port never reaches a run (the server answers 400 before it)', async () => {
    const res = await raw(port, 'POST', TOOL, { Authorization: `Bearer ${tokenB}`, Host: '127.0.0.1:' }, body);
    expect({ status: res.status, leaked: res.body.includes('user_a') }).toEqual({ status: 400, leaked: false });
  });

  it.each([
    ['two Host headers', (length: number) => `POST ${TOOL} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nHost: other.example\r\nConnection: close\r\nContent-Length: ${length}\r\n`],
    ['HTTP/1.0 without a Host header', (length: number) => `POST ${TOOL} HTTP/1.0\r\nContent-Length: ${length}\r\n`],
  ])('%s: refused (403)', async (_label, head) => {
    const text = await rawSocket(port, `${head(Buffer.byteLength(body))}Authorization: Bearer ${tokenB}\r\nContent-Type: application/json\r\n\r\n${body}`);
    expect({ status: text.slice(0, 12), leaked: text.includes('user_a') }).toEqual({ status: text.startsWith('HTTP/1.0') ? 'HTTP/1.0 403' : 'HTTP/1.1 403', leaked: false });
  });

  it('a custom route: a JSON body over the provider limit (4.5 MB) is refused (403); it was 200', async () => {
    const res = await callJson(base, tokenB, 'POST', '/whoami-context', { requestContext: { ...FORGED, pad: 'x'.repeat(5 * 1024 * 1024) } });
    expect({ status: res.status, error: res.error, reached: res.json?.knowledgeResourceId }).toEqual({ status: 403, error: 'Access denied', reached: undefined });
  });

  it.each([['/whoami-context'], [TOOL]])('%s: a JSON body typed multipart/form-data; boundary=application/json is refused (403)', async (path) => {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${tokenB}`, 'Content-Type': 'multipart/form-data; boundary=application/json' },
      body: JSON.stringify({ data: {}, requestContext: FORGED }),
    });
    const text = await res.text();
    expect({ status: res.status, leaked: text.includes('user_a') }).toEqual({ status: 403, leaked: false });
  });

  it('a custom route: a signed-in JSON body of the app\'s own keys reaches it', async () => {
    const res = await callJson(base, tokenB, 'POST', '/whoami-context', { requestContext: { locale: 'fr' } });
    expect([res.status, res.json?.locale]).toEqual([200, 'fr']);
  });
});

describe("hono (defaults): B reads A's thread through an absolute-form target", () => {
  let base: string;
  let port: number;
  let close: () => Promise<void>;
  let tokenA: string;
  const A_THREAD = 'absolute-a-history-thread';
  beforeAll(async () => {
    ({ base, close, tokenA } = await historyApp('absolute-history', 'hono'));
    port = Number(new URL(base).port);
  });
  afterAll(async () => close());

  it("B cannot read A's thread (it was 200 with A's message)", async () => {
    const a = await callJson(base, tokenA, 'POST', '/api/agents/chatAgent/generate', { messages: 'My locker code is 7734', memory: { thread: A_THREAD, resource: 'user_a' } });
    expect(a.status).toBe(200);
    const forged = JSON.stringify({ messages: 'DUMP', requestContext: { MastraMemory: { thread: { id: A_THREAD }, resourceId: 'user_a' } } });
    const b = await raw(port, 'POST', 'http://attacker.example/api/agents/quickAgent/generate', { Authorization: `Bearer ${tokenB}` }, forged);
    expect({ status: b.status, read: b.body.includes('7734') }).toEqual({ status: 403, read: false });
  });
});

/**
 * What the provider must not refuse (the third attack round on these checks): a body on a custom route at a path it
 * cannot place (Hono serves `//`, a lone `%`, an escape that is no UTF-8) with no request context in it, and a JSON body
 * over its limit on methods Mastra reads no request context from (PATCH, DELETE).
 */
describe('hono (defaults): custom routes that must still be served', () => {
  let port: number;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const clerkAuth = createClerkAuth({ ...libsql.issuer().authOptions, env: {}, logger: false });
    const echoPath = async (c: any) => c.json({ path: c.req.path });
    const readJson = async (c: any) => c.json({ n: JSON.stringify(await c.req.json()).length });
    const mastra = new Mastra({
      server: {
        auth: new MastraAuthClerk({ clerkAuth }),
        apiRoutes: [
          registerApiRoute('/storage/*', { method: 'POST', handler: echoPath }),
          registerApiRoute('/notes/:name', { method: 'POST', handler: echoPath }),
          registerApiRoute('/docs', { method: 'PATCH', handler: readJson }),
          registerApiRoute('/docs', { method: 'DELETE', handler: readJson }),
        ],
      } as never,
      logger: false,
    });
    let base: string;
    ({ base, close } = await serveMastra(mastra, { mode: 'hono', clerkAuth }));
    port = Number(new URL(base).port);
  });
  afterAll(async () => close());

  it.each([
    ['/storage/a//b', 'text/plain', 'hello', 200],
    ['/notes/100%', 'text/plain', 'hello', 200],
    ['/notes/caf%E9', 'application/octet-stream', 'hello', 200],
    ['/storage/a//b', 'application/json', '{"x":1}', 200],
    ['/storage/a//b', 'application/json', JSON.stringify({ requestContext: FORGED }), 403],
  ])('POST %s (%s) with %s: %s', async (target, type, body, status) => {
    const res = await raw(port, 'POST', target, { Authorization: `Bearer ${tokenB}`, 'Content-Type': type }, body);
    expect({ target, body, status: res.status }).toEqual({ target, body, status });
  });

  it.each([['PATCH'], ['DELETE']])('%s with a 6 MB JSON body is served (Mastra reads a request context from POST and PUT only)', async (method) => {
    const res = await raw(port, method, '/docs', { Authorization: `Bearer ${tokenB}` }, JSON.stringify({ doc: 'x'.repeat(6 * 1024 * 1024) }));
    expect(res.status).toBe(200);
  });
});
