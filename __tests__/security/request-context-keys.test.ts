/**
 * Request-context keys a client sends (`requestContext` in a JSON body, or `?requestContext=` as JSON or base64 in the
 * query) that Mastra reads to decide WHOSE data a run reads or writes. Mastra's server drops only its reserved keys
 * (`isReservedRequestContextKey` of `@mastra/server`: nine `mastra__` keys and `organizationId`); every other key
 * reached the agent, its tools and its processors (found by an attacker session):
 * - `knowledgeResourceId`: Bob's run read Alice's knowledge (observational memory's Subconscious knowledge tools);
 * - `mastra__response_cache_context`: Bob planted the answer Alice's question was served from (`ResponseCache`);
 * - `MastraMemory`: Bob's run read Alice's thread, on an agent that uses memory processors without `memory`;
 * - `runId`: Bob's call of an MCP server's workflow tool overwrote Alice's run of that workflow (and ended her
 *   suspended one), where the workflow routes refuse him her run id;
 * - `channel`: Bob's call made the app's chat bot react in Alice's chat thread (AgentChannels' tools).
 * Both adapters now refuse (403) a client's request context that sets a key the server sets itself, on every Mastra
 * route, from the body and from the query; keys of the app's own pass. Real issuer, real tokens, Mastra over HTTP
 * (its Hono server with the provider alone, Express with the middleware in front), LibSQL files.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Agent } from '@mastra/core/agent';
import { AgentChannels } from '@mastra/core/channels';
import { createScorer } from '@mastra/core/evals';
import { Mastra } from '@mastra/core/mastra';
import { MastraClient } from '@mastra/client-js';
import { createStep, createWorkflow } from '@mastra/core/workflows';
import { MCPServer } from '@mastra/mcp';
import { Memory, Subconscious } from '@mastra/memory';
import { LibSQLVector } from '@mastra/libsql';
import { z } from 'zod';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClerkAuth } from '../../src/index.js';
import { MastraAuthClerk, protectMemory } from '../../src/mastra/index.js';
import { callJson, errorOf, raw, serveMastra } from './support.js';
import { echoAgent, scriptedModel } from './scripted-model.js';
import { libsqlMemoryFixture } from '../support/memory-app.js';

const USER_A = 'user_a';
const USER_B = 'user_b';
const ORG = { id: 'org_acme', role: 'org:member' };

const libsql = libsqlMemoryFixture('ctxkeys');

/** An offline embedding model (AI SDK EmbeddingModelV2): a tiny bag-of-letters vector. */
function fakeEmbedder() {
  const embed = (text: string): number[] => {
    const v = new Array(8).fill(0.01);
    for (const ch of text.toLowerCase()) v[ch.charCodeAt(0) % 8] += 1;
    return v;
  };
  return {
    specificationVersion: 'v2' as const,
    provider: 'offline',
    modelId: 'offline-embed',
    maxEmbeddingsPerCall: 100,
    supportsParallelCalls: true,
    async doEmbed({ values }: { values: string[] }) {
      return { embeddings: values.map(embed) };
    },
  };
}
let tokenA: string;
let tokenB: string;
beforeAll(async () => {
  const issuer = libsql.issuer();
  [tokenA, tokenB] = (await Promise.all([USER_A, USER_B].map((userId) => issuer.mintToken({}, { userId, org: ORG, expiresInSeconds: 3600 })))) as [string, string];
});

const denied = (mode: 'hono' | 'mixed' | 'standalone'): string => (mode === 'mixed' ? 'access-denied' : 'Access denied');
const base64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64');

/** The keys the server sets itself, each as a client would forge it. */
const FORGED: Record<string, unknown> = {
  knowledgeResourceId: USER_A,
  MastraMemory: { thread: { id: 'a-thread' }, resourceId: USER_A },
  mastra__response_cache_context: { scope: USER_A, bust: true },
  mastra__messageAuthor: { id: USER_A, name: 'Alice' },
  mastra__resourceId: USER_A,
  __mastra_requireToolApproval: false,
  organizationId: 'org_other',
  user: { sub: USER_A },
  userPermissions: ['*'],
  userRoles: ['admin'],
  runId: 'a-run',
  channel: { platform: 'slack', threadId: 'slack:D0ALICE:1700000000.000100' },
};

describe.each(['mixed', 'hono', 'standalone'] as const)('%s: a client request context that sets a key of the server', (mode) => {
  let base: string;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const store = protectMemory(libsql.store(`channel-${mode}`));
    const clerkAuth = createClerkAuth({ ...libsql.issuer().authOptions, env: {}, logger: false });
    const mastra = new Mastra({ agents: { echoAgent: echoAgent() }, storage: store, server: { auth: new MastraAuthClerk({ clerkAuth }) }, logger: false });
    ({ base, close } = await serveMastra(mastra, { mode, clerkAuth }));
  });
  afterAll(async () => close());

  const TOOL = '/api/agents/echoAgent/tools/echoContext/execute';

  it.each(Object.keys(FORGED))('%s: refused in the query, as JSON and as base64 (403)', async (key) => {
    const context = { locale: 'fr', [key]: FORGED[key] };
    for (const query of [`requestContext=${encodeURIComponent(JSON.stringify(context))}`, `requestContext=${encodeURIComponent(base64(context))}`]) {
      const res = await callJson(base, tokenB, 'POST', `${TOOL}?${query}`, { data: {} });
      expect({ query, status: res.status, error: res.error }).toEqual({ query, status: 403, error: denied(mode) });
      // GET routes build the request context from the query too.
      const read = await callJson(base, tokenB, 'GET', `/api/agents/echoAgent?${query}`);
      expect({ query, status: read.status, error: read.error }).toEqual({ query, status: 403, error: denied(mode) });
    }
  });

  // The provider alone on Mastra's Express adapter never sees the body (README, Limits): only the query is judged there.
  if (mode !== 'standalone') {
    it.each(Object.keys(FORGED))('%s: refused in the JSON body (403)', async (key) => {
      const res = await callJson(base, tokenB, 'POST', TOOL, { data: {}, requestContext: { locale: 'fr', [key]: FORGED[key] } });
      expect({ status: res.status, error: res.error }).toEqual({ status: 403, error: denied(mode) });
    });
  }

  // A body, so not on the provider alone on @mastra/express (it never sees one).
  if (mode !== 'standalone') it('the refusal carries its challenge: insufficient_scope from the middleware, Mastra\'s bare 403 from the provider', async () => {
    const res = await fetch(`${base}${TOOL}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${tokenB}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ data: {}, requestContext: { knowledgeResourceId: USER_A } }),
    });
    const challenge = res.headers.get('www-authenticate');
    const body = (await res.json()) as { error?: unknown; message?: unknown };
    expect({ status: res.status, error: body.error, challenge: challenge?.split(', error_description')[0] ?? null }).toEqual({
      status: 403,
      error: denied(mode),
      challenge: mode === 'mixed' ? 'Bearer realm="api", error="insufficient_scope"' : null,
    });
    // The middleware names the key, so that an app whose own key has that name knows what to rename (a new user's
    // session sent back a run's stored request context and was told only "the server's own keys").
    if (mode === 'mixed') {
      expect(body.message).toMatch(/^A request context may not set knowledgeResourceId, a key of the server's own/);
      expect(challenge).toContain('error_description="A request context may not set knowledgeResourceId, a key');
      // A key of a prefix is the client's own text: named only when it is a plain name.
      for (const [key, named] of [['mastra__x_1', true], ['mastra__a"b', false], [`mastra__${'x'.repeat(80)}`, false]] as const) {
        const other = await callJson(base, tokenB, 'POST', TOOL, { data: {}, requestContext: { [key]: 1 } });
        expect([key, other.status, String(other.json?.message).startsWith(`A request context may not set ${named ? `${key}, ` : ''}a key`)]).toEqual([key, 403, true]);
      }
    }
  });

  it("the app's own keys pass, from the body and the query, and the run sees them", async () => {
    const body = await callJson(base, tokenB, 'POST', TOOL, { data: {}, requestContext: { locale: 'fr', userId: USER_B } });
    const query = await callJson(base, tokenB, 'POST', `${TOOL}?requestContext=${encodeURIComponent(base64({ tier: 'pro' }))}`, { data: {} });
    expect([body.status, body.json?.locale, query.status, query.json?.tier]).toEqual([200, 'fr', 200, 'pro']);
    // What the server set: the signed-in user's own resource.
    expect(body.json?.mastra__resourceId).toBe(USER_B);
  });

  it('a request context key in a form the parsers read otherwise is judged by its name (requestContext[user]=)', async () => {
    const res = await callJson(base, tokenB, 'GET', '/api/agents/echoAgent?requestContext%5Buser%5D=x');
    expect({ status: res.status, error: res.error }).toEqual({ status: 403, error: denied(mode) });
  });
});

/**
 * Observational memory's experimental Subconscious gives the agent knowledge tools (`knowledge_browse`,
 * `knowledge_read`, `knowledge_search`) scoped `[org:<organizationId>, resource:<resourceId>, thread:<threadId>]`.
 * `organizationId` is reserved (a client cannot set it), so an app that uses these tools over HTTP sets it on the server
 * (here a Mastra server middleware, from the user's Clerk organization). The resource rung comes from the run's
 * resource (the signed-in user) UNLESS the request context has `knowledgeResourceId`
 * (`resolveKnowledgeResourceId`, @mastra/memory dist/src-*.js), which is not reserved: user B names user A's resource
 * and the tools serve A's resource-scoped knowledge to B.
 */
describe.each(['hono'] as const)('%s app: knowledgeResourceId no longer re-scopes the Subconscious knowledge tools', (mode) => {
  let base: string;
  let close: () => Promise<void>;
  const aThread = `a-thread-${mode}`;
  const bThread = `b-thread-${mode}`;
  const AGENT = 'knowAgent';
  const call = (token: string, method: string, path: string, body?: unknown) => callJson(base, token, method, path, body);

  beforeAll(async () => {
    const store = protectMemory(libsql.store(`knowledge-${mode}`));
    const clerkAuth = createClerkAuth({ ...libsql.issuer().authOptions, env: {}, logger: false });
    const model = scriptedModel();
    const observationalMemory = {
      model: scriptedModel('observer'),
      scope: 'resource',
      experimental_subconscious: new Subconscious({ observation: [], tools: true }),
    } as never;
    const vector = new LibSQLVector({ id: `vec-${mode}`, url: `file:${join(mkdtempSync(join(tmpdir(), 'cma-ctxvec-')), 'v.db')}` });
    const memory = new Memory({ storage: store, vector, embedder: fakeEmbedder() as never, options: { observationalMemory } });
    const agent = new Agent({ id: AGENT, name: 'Knowledge', instructions: 'Use your knowledge tools.', model: model as never, memory });
    const mastra = new Mastra({
      agents: { [AGENT]: agent },
      storage: store,
      server: {
        auth: new MastraAuthClerk({ clerkAuth }),
        // The app's own tenant scoping, as the knowledge tools require: the signed-in user's Clerk organization.
        middleware: [
          async (c: any, next: () => Promise<void>) => {
            // Mastra's auth runs per route, after this middleware: the app verifies the session itself.
            const rc = c.get('requestContext');
            const token = (c.req.header('authorization') ?? '').replace(/^Bearer\s+/i, '');
            const user = token ? await clerkAuth.verify(token).catch(() => undefined) : undefined;
            const org = (user as any)?.o?.id ?? (user as any)?.org_id;
            if (typeof org === 'string') rc.set('organizationId', org);
            await next();
          },
        ],
      } as never,
      logger: false,
    });
    ({ base, close } = await serveMastra(mastra, { mode, clerkAuth }));

    // A's knowledge, as the curator writes it: a node in A's resource scope.
    const knowledge = await (store as any).getStore('knowledge');
    await knowledge.createNode({
      name: 'Alice private notes',
      kind: 'note',
      content: 'Alice bank PIN is 4921',
      scope: [`org:${ORG.id}`, `resource:${USER_A}`],
    });
  });
  afterAll(async () => close());

  const browse = (token: string, user: string, thread: string, requestContext?: Record<string, unknown>) =>
    call(token, 'POST', `/api/agents/${AGENT}/generate`, {
      messages: 'TOOL knowledge_browse {}',
      memory: { thread, resource: user },
      ...(requestContext ? { requestContext } : {}),
    });

  it('A sees A\'s own knowledge; B, without the key, sees none of it', async () => {
    const a = await browse(tokenA, USER_A, aThread);
    expect([a.status, a.text.includes('4921')]).toEqual([200, true]);
    const b = await browse(tokenB, USER_B, bThread);
    expect([b.status, b.text.includes('4921')]).toEqual([200, false]);
  });

  it("B cannot read A's resource-scoped knowledge by sending requestContext.knowledgeResourceId", async () => {
    const b = await browse(tokenB, USER_B, bThread, { knowledgeResourceId: USER_A });
    // It was 200, with Alice's node ("Alice bank PIN is 4921") in the tool result.
    expect({ status: b.status, error: b.error, leaked: b.text.includes('4921') }).toEqual({ status: 403, error: 'Access denied', leaked: false });
  });
});

/**
 * Mastra's `ResponseCache` processor keys each cached LLM response by prompt, model, step and a per-tenant scope that
 * defaults to the request's `mastra__resourceId` (the signed-in user). A per-call override sits in the request context
 * under `mastra__response_cache_context` (`{ key, scope, bust }`, `ResponseCache.mergeOptions`/`deriveKey`,
 * @mastra/core dist/agent-*.js), a key that is NOT reserved: a client picks the scope (another user's id) or the
 * raw cache key itself, and `bust: true` writes its own response there. User B plants an answer that user A is then
 * served for A's own question.
 */
describe('mixed Express app: mastra__response_cache_context re-scopes the ResponseCache processor', () => {
  let base: string;
  let close: () => Promise<void>;
  const AGENT = 'cachedAgent';
  const INSTRUCTIONS = 'Answer questions.';
  const cacheModel = scriptedModel();

  beforeAll(async () => {
    const { InMemoryServerCache } = await import('@mastra/core/cache');
    const { ResponseCache } = await import('@mastra/core/processors');
    const store = protectMemory(libsql.store('cache'));
    const clerkAuth = createClerkAuth({ ...libsql.issuer().authOptions, env: {}, logger: false });
    const agent = new Agent({
      id: AGENT,
      name: 'Cached',
      instructions: INSTRUCTIONS,
      model: cacheModel as never,
      // Per-tenant response caching as Mastra documents it: the scope defaults to the signed-in user's resource.
      inputProcessors: [new ResponseCache({ cache: new InMemoryServerCache() }) as never],
    });
    const mastra = new Mastra({ agents: { [AGENT]: agent }, storage: store, server: { auth: new MastraAuthClerk({ clerkAuth }) }, logger: false });
    ({ base, close } = await serveMastra(mastra, { mode: 'mixed', clerkAuth }));
  });
  afterAll(async () => close());

  const ask = (token: string, question: string, requestContext?: Record<string, unknown>) =>
    callJson(base, token, 'POST', `/api/agents/${AGENT}/generate`, { messages: question, ...(requestContext ? { requestContext } : {}) });

  it("B cannot plant the cached answer that A is served for A's own question", async () => {
    const QUESTION = 'Where do I wire the invoice payment?';
    // B computes A's cache key offline with Mastra's own exported function, from public inputs: A's user id, the
    // model id, the agent's instructions (GET /agents/:agentId serves them) and the question A will ask.
    const { buildResponseCacheKey } = (await import('@mastra/core/processors')) as any;
    const aKey: string = buildResponseCacheKey({
      agentId: 'mastra-response-cache',
      scope: USER_A,
      model: { provider: 'offline', modelId: 'scripted', specVersion: 'v2' },
      prompt: [{ role: 'system', content: INSTRUCTIONS }, { role: 'user', content: [{ type: 'text', text: QUESTION }] }],
      stepNumber: 0,
    });
    // B's request: its own prompt, its answer written under A's key.
    const planted = await ask(tokenB, 'Wire it to IBAN XX00 ATTACKER', { mastra__response_cache_context: { key: aKey, bust: true } });
    expect({ status: planted.status, error: planted.error }).toEqual({ status: 403, error: 'access-denied' });
    // A asks its own question, with no request context at all.
    const a = await ask(tokenA, QUESTION);
    expect(a.status).toBe(200);
    // It was B's planted answer ("ECHO Wire it to IBAN XX00 ATTACKER").
    expect({ a: a.json?.text }).toEqual({ a: `ECHO ${QUESTION}` });
  });

  it("B cannot write into A's cache scope by naming A as the scope", async () => {
    const QUESTION = 'What is my plan?';
    // B asks under A's scope and busts: B's run's answer is stored in A's namespace (here the same text; with a real
    // model, whatever B's run produced), and A's next identical question is answered from it, not by the model.
    const b = await ask(tokenB, QUESTION, { mastra__response_cache_context: { scope: USER_A, bust: true } });
    expect({ status: b.status, error: b.error }).toEqual({ status: 403, error: 'access-denied' });
    const calls = cacheModel.prompts.length;
    const a = await ask(tokenA, QUESTION);
    expect(a.status).toBe(200);
    // It was not: A's first-ever question was answered from the entry B's run wrote in A's namespace.
    expect({ modelCalledForA: cacheModel.prompts.length > calls }).toEqual({ modelCalledForA: true });
  });
});

/**
 * Mastra's memory processors (`MessageHistory` of `@mastra/core/processors`, also `SemanticRecall`, `WorkingMemory`)
 * take the thread and resource from the request context's `MastraMemory` (`getMemoryContext`, @mastra/core
 * dist/agent-*.js). An agent run with `memory` overwrites that key; an agent that uses the processors without `memory`
 * does not, and `MastraMemory` is not a reserved key: user B names user A's thread and reads its history.
 */
describe('mixed Express app: MastraMemory re-targets memory processors on an agent without memory', () => {
  let base: string;
  let close: () => Promise<void>;
  let memoryStore: any;
  const A_THREAD = 'a-history-thread';

  beforeAll(async () => {
    const { MessageHistory } = (await import('@mastra/core/processors')) as any;
    const store = protectMemory(libsql.store('history'));
    memoryStore = await (store as any).getStore('memory');
    const clerkAuth = createClerkAuth({ ...libsql.issuer().authOptions, env: {}, logger: false });
    const model = scriptedModel();
    const memory = new Memory({ storage: store });
    const chat = new Agent({ id: 'chatAgent', name: 'Chat', instructions: 'Chat.', model: model as never, memory });
    const history = new MessageHistory({ storage: memoryStore, lastMessages: 20 });
    const quick = new Agent({
      id: 'quickAgent',
      name: 'Quick',
      instructions: 'Quick answers.',
      model: model as never,
      // History recall only: Mastra's output phase of this processor cannot save without `memory` (its messages carry
      // no thread id: libsql refuses them, "Thread ID is required"), for anyone.
      inputProcessors: [history],
    });
    const mastra = new Mastra({ agents: { chatAgent: chat, quickAgent: quick }, storage: store, server: { auth: new MastraAuthClerk({ clerkAuth }) }, logger: false });
    ({ base, close } = await serveMastra(mastra, { mode: 'mixed', clerkAuth }));
  });
  afterAll(async () => close());

  it("B cannot read A's thread by sending requestContext.MastraMemory", async () => {
    const a = await callJson(base, tokenA, 'POST', '/api/agents/chatAgent/generate', {
      messages: 'My locker code is 7734',
      memory: { thread: A_THREAD, resource: USER_A },
    });
    expect(a.status).toBe(200);
    // B's own thread of A's is refused by Mastra's memory route:
    const direct = await callJson(base, tokenB, 'GET', `/api/memory/threads/${A_THREAD}/messages?agentId=chatAgent`);
    expect(direct.status).toBe(403);

    const b = await callJson(base, tokenB, 'POST', '/api/agents/quickAgent/generate', {
      messages: 'DUMP',
      requestContext: { MastraMemory: { thread: { id: A_THREAD }, resourceId: USER_A } },
    });
    // It was 200: B's prompt held A's thread's history ("My locker code is 7734"), which the model answered B with.
    expect({ status: b.status, error: b.error, read: b.text.includes('7734') }).toEqual({ status: 403, error: 'access-denied', read: false });
  });
});

/**
 * An MCP server's workflow tool (`run_<workflow>`, @mastra/mcp `MCPServer`) starts
 * `workflow.createRun({ runId: requestContext.get('runId') })`, and Mastra's REST route for MCP tools
 * (`POST /mcp/:serverId/tools/:toolId/execute`) hands it the client's request context: `createRun` hands back the run
 * of that id, in memory or stored, whoever made it, and `start` writes over it.
 */
describe.each(['mixed', 'hono'] as const)("%s app: runId no longer picks the run an MCP server's workflow tool starts", (mode) => {
  let base: string;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const io = z.object({ who: z.string(), note: z.string().optional(), pause: z.boolean().optional() });
    const ledger = createWorkflow({ id: 'ledger', description: 'Record a note.', inputSchema: io, outputSchema: io })
      .then(
        createStep({
          id: 'record',
          inputSchema: io,
          outputSchema: io,
          resumeSchema: z.object({ ok: z.boolean() }),
          execute: async ({ inputData, resumeData, suspend }) => (inputData.pause && !resumeData ? ((await suspend({})) as never) : { ...inputData }),
        }),
      )
      .commit();
    const clerkAuth = createClerkAuth({ ...libsql.issuer().authOptions, env: {}, logger: false });
    const mcp = new MCPServer({ id: 'srv', name: 'srv', version: '1.0.0', tools: {}, workflows: { ledger } });
    const mastra = new Mastra({
      workflows: { ledger },
      mcpServers: { srv: mcp },
      storage: protectMemory(libsql.store(`mcp-run-${mode}`)),
      server: { auth: new MastraAuthClerk({ clerkAuth }) },
      logger: false,
    });
    ({ base, close } = await serveMastra(mastra, { mode, clerkAuth }));
  });
  afterAll(async () => close());

  it.each([
    ['finished', false],
    ['suspended', true],
  ] as const)("B cannot write over A's %s run through the tool", async (state, pause) => {
    const runId = `a-${state}-${mode}`;
    const a = await callJson(base, tokenA, 'POST', `/api/workflows/ledger/start-async?runId=${runId}`, { inputData: { who: 'a', note: 'a-note', pause } });
    expect([a.status, a.json?.status]).toEqual([200, pause ? 'suspended' : 'success']);
    // The workflow routes refuse B A's run id:
    const direct = await callJson(base, tokenB, 'POST', `/api/workflows/ledger/start-async?runId=${runId}`, { inputData: { who: 'b' } });
    expect(direct.status).toBe(403);

    const b = await callJson(base, tokenB, 'POST', '/api/mcp/srv/tools/run_ledger/execute', { data: { who: 'b', note: 'b-note' }, requestContext: { runId } });
    // It was 200, and A's run then held B's input and result (a suspended one: 'success', and A's resume failed).
    expect({ status: b.status, error: b.error }).toEqual({ status: 403, error: denied(mode) });
    const read = await callJson(base, tokenA, 'GET', `/api/workflows/ledger/runs/${runId}`);
    expect([read.status, read.json?.status, read.text.includes('a-note'), read.text.includes('b-note')]).toEqual([200, pause ? 'suspended' : 'success', true, false]);
    if (pause) {
      const resumed = await callJson(base, tokenA, 'POST', `/api/workflows/ledger/resume-async?runId=${runId}`, { step: 'record', resumeData: { ok: true } });
      expect([resumed.status, resumed.json?.status]).toEqual([200, 'success']);
    }
    // The tool itself still serves B, with a run of its own.
    const own = await callJson(base, tokenB, 'POST', '/api/mcp/srv/tools/run_ledger/execute', { data: { who: 'b', note: 'b-own' } });
    expect([own.status, own.text.includes('b-own')]).toEqual([200, true]);
  });
});

/**
 * AgentChannels' tools (`add_reaction`, `remove_reaction`) act, as the app's bot, in the chat thread
 * `requestContext.get('channel')` names (`{ platform, threadId }`): Mastra sets it on runs of its chat webhooks; over
 * HTTP nothing does, and the client's reached them. A Slack adapter that records what the bot would do.
 */
describe.each(['mixed', 'hono'] as const)("%s app: channel no longer names the chat thread the bot acts in", (mode) => {
  let base: string;
  let close: () => Promise<void>;
  const calls: unknown[][] = [];
  beforeAll(async () => {
    const clerkAuth = createClerkAuth({ ...libsql.issuer().authOptions, env: {}, logger: false });
    const slack = {
      name: 'slack',
      userName: 'bot',
      addReaction: async (...args: unknown[]) => void calls.push(['addReaction', ...args]),
      removeReaction: async (...args: unknown[]) => void calls.push(['removeReaction', ...args]),
    };
    const channels = new AgentChannels({ adapters: { slack: slack as never } } as never);
    const store = protectMemory(libsql.store(`channel-bot-${mode}`));
    const chat = new Agent({ id: 'chatAgent', name: 'Chat', instructions: 'Chat.', model: scriptedModel() as never, channels, memory: new Memory({ storage: store }), tools: { ...channels.getTools() } } as never);
    const mastra = new Mastra({ agents: { chatAgent: chat }, storage: store, server: { auth: new MastraAuthClerk({ clerkAuth }) }, logger: false });
    ({ base, close } = await serveMastra(mastra, { mode, clerkAuth }));
  });
  afterAll(async () => close());

  it("B cannot make the bot react in A's thread, by the tool's route or through a run", async () => {
    const channel = { platform: 'slack', threadId: 'slack:D0ALICE:1700000000.000100' };
    const tool = await callJson(base, tokenB, 'POST', '/api/agents/chatAgent/tools/add_reaction/execute', {
      data: { messageId: '1700000000.000100', emoji: 'thumbsdown' },
      requestContext: { channel },
    });
    const run = await callJson(base, tokenB, 'POST', '/api/agents/chatAgent/generate', {
      messages: 'TOOL add_reaction {"messageId":"1700000000.000200","emoji":"skull"}',
      requestContext: { channel },
    });
    // Both were 200, and the bot reacted in A's direct-message thread.
    expect({ tool: [tool.status, tool.error], run: [run.status, run.error], calls }).toEqual({ tool: [403, denied(mode)], run: [403, denied(mode)], calls: [] });
  });

  // Found by an attacker session: Mastra's signal and message routes merge `ifIdle.streamOptions.requestContext` into
  // the run's request context too (`normalizePublicExecutionOptions`), as the tool-approval routes do
  // `streamOptions.requestContext`: both are judged, on any path.
  it.each([
    ['signals', { signal: { type: 'user-message', contents: 'TOOL add_reaction {"messageId":"1700000000.000200","emoji":"skull"}' } }],
    ['send-message', { message: 'TOOL add_reaction {"messageId":"1700000000.000300","emoji":"fire"}' }],
    ['queue-message', { message: 'TOOL add_reaction {"messageId":"1700000000.000400","emoji":"eyes"}' }],
  ] as const)("nor through /%s's ifIdle.streamOptions.requestContext; the app's own keys pass there", async (route, body) => {
    const channel = { platform: 'slack', threadId: 'slack:D0ALICE:1700000000.000100' };
    const at = { resourceId: USER_B, threadId: `b-${route}-${mode}` };
    const forged = await callJson(base, tokenB, 'POST', `/api/agents/chatAgent/${route}`, { ...at, ...body, ifIdle: { streamOptions: { requestContext: { channel } } } });
    for (let i = 0; i < 20 && calls.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    // It was 200, and the bot reacted in A's thread.
    expect({ status: forged.status, error: forged.error, calls }).toEqual({ status: 403, error: denied(mode), calls: [] });
    if (mode === 'mixed') expect(forged.json?.message).toMatch(/^A request context may not set channel, /);
    const own = await callJson(base, tokenB, 'POST', `/api/agents/chatAgent/${route}`, { ...at, ...body, ifIdle: { streamOptions: { requestContext: { locale: 'fr' } } } });
    expect(own.status).toBe(200);
  });

  it("nor through /send-tool-approval's streamOptions.requestContext (refused before Mastra looks for the run)", async () => {
    const res = await callJson(base, tokenB, 'POST', '/api/agents/chatAgent/send-tool-approval', {
      threadId: `b-approval-${mode}`,
      resourceId: USER_B,
      toolCallId: 'call-1',
      approved: true,
      streamOptions: { requestContext: { channel: { platform: 'slack', threadId: 'slack:D0ALICE:1700000000.000100' } } },
    });
    expect({ status: res.status, error: res.error }).toEqual({ status: 403, error: denied(mode) });
    // The request context's refusal, not another (without it, Mastra answered 500: no pending approval).
    if (mode === 'mixed') expect(res.json?.message).toMatch(/^A request context may not set channel, /);
  });

  // Found by the next attacker session: a request whose URL the provider cannot place (an absolute-form target naming
  // another host; also two `Host` headers, HTTP/1.0 without one) is judged by its body's request context alone, and that
  // read the top-level one only: Hono routed it by its path, and the bot reacted in A's thread.
  if (mode === 'hono') {
    it("nor through ifIdle.streamOptions.requestContext at a target the provider cannot place", async () => {
      const body = JSON.stringify({
        resourceId: USER_B,
        threadId: 'b-absolute-form',
        signal: { type: 'user-message', contents: 'TOOL add_reaction {"messageId":"1700000000.000500","emoji":"skull"}' },
        ifIdle: { streamOptions: { requestContext: { channel: { platform: 'slack', threadId: 'slack:D0ALICE:1700000000.000100' } } } },
      });
      const res = await raw(Number(new URL(base).port), 'POST', 'http://other.example/api/agents/chatAgent/signals', { Authorization: `Bearer ${tokenB}` }, body);
      for (let i = 0; i < 20 && calls.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
      expect({ status: res.status, error: errorOf(res), calls }).toEqual({ status: 403, error: 'Access denied', calls: [] });
    });
  }
});

/**
 * Mastra stores each score with a flattened copy of the scored run's request context (`mastra__resourceId`,
 * `mastra__authMode`, `mastra__user.sub`...). Saving a score read back (`client.saveScore`, `POST /scores`: a reviewer's
 * edit, a copy) sends it again, in the body but not where Mastra reads a request context: not refused (it was, 403,
 * while the check walked the whole body; found by an attacker session).
 */
describe.each(['mixed', 'hono'] as const)('%s app: a stored score saved again', (mode) => {
  let base: string;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const clerkAuth = createClerkAuth({ ...libsql.issuer().authOptions, env: {}, logger: false });
    const store = protectMemory(libsql.store(`score-${mode}`));
    const scorer = createScorer({ id: 'len', name: 'len', description: 'Length.' }).generateScore(() => 1);
    const agent = new Agent({ id: 'scored', name: 'Scored', instructions: 'Echo.', model: scriptedModel() as never, scorers: { len: { scorer, sampling: { type: 'ratio', rate: 1 } } } } as never);
    const mastra = new Mastra({ agents: { scored: agent }, scorers: { len: scorer }, storage: store, server: { auth: new MastraAuthClerk({ clerkAuth }) }, logger: false });
    ({ base, close } = await serveMastra(mastra, { mode, clerkAuth }));
  });
  afterAll(async () => close());

  it("is stored again: a score's request context reaches no run", async () => {
    const client = new MastraClient({ baseUrl: base, retries: 0, headers: { Authorization: `Bearer ${tokenA}` } });
    await client.getAgent('scored').generate('hello');
    let scores: Array<Record<string, unknown>> = [];
    for (let i = 0; i < 40 && scores.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      scores = ((await client.listScoresByScorerId({ scorerId: 'len' })) as { scores: Array<Record<string, unknown>> }).scores;
    }
    const { id: _id, createdAt: _created, updatedAt: _updated, ...copy } = scores[0] ?? {};
    expect(Object.keys((copy.requestContext as object | undefined) ?? {})).toContain('mastra__resourceId');
    await expect(client.saveScore({ score: { ...copy, reason: 'reviewed' } } as never)).resolves.toBeDefined();
  });
});
