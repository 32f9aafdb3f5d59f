/**
 * The middleware judges the raw query string, with the reading of Express's two built-in parsers (`simple`:
 * querystring, `extended`: qs), while Mastra's Express adapter reads the object Express built with the app's `query
 * parser` (`req.query`). An app that set its own parser handed Mastra a query no check saw (found by an attacker
 * session, Express configurations):
 * - `app.set('query parser', (s) => qs.parse(s, { allowDots: true }))`: `?.toolId=ledger` (or `?%2EtoolId=ledger`)
 *   is `{ toolId: 'ledger' }` to Mastra, and a key `.toolId` to the middleware;
 * - `app.set('query parser', (s) => qs.parse(s, { delimiter: /[;&]/ }))`: `?x=1;toolId=ledger` likewise;
 * - Express 4, a middleware before ours that renames `req.query`'s keys (`tool_id` to `toolId`).
 * Mastra's adapter hands the handler `{ ...pathParams, ...query }`: a member read the `ledger` tool the policy keeps to
 * admins, and user B read user A's observations. The middleware now refuses (400) a request to a Mastra route whose
 * `req.query` names what its query text does not; Express's own parsers, and a custom one on plain queries, pass.
 *
 * Real issuer, real tokens, Express 4 and 5, real `@mastra/express`, over HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Express } from 'express';
import express5 from 'express';
import express4 from 'express4';
import qs from 'qs';
import { Agent } from '@mastra/core/agent';
import { Mastra } from '@mastra/core/mastra';
import { createTool } from '@mastra/core/tools';
import { MastraServer } from '@mastra/express';
import { Memory } from '@mastra/memory';
import { z } from 'zod';
import { clerkMastraAuth, createClerkAuth, type ClerkAuth } from '../../src/index.js';
import { MastraAuthClerk, protectMemory } from '../../src/mastra/index.js';
import { listen } from '../support/http.js';
import { libsqlMemoryFixture } from '../support/memory-app.js';
import { offlineWeatherModel } from '../../examples/mastra/offline-model.js';
import { callJson, errorOf, raw } from './support.js';

type Framework = typeof express5;
const FRAMEWORKS: ReadonlyArray<readonly [string, Framework]> = [
  ['Express 5', express5],
  ['Express 4', express4 as unknown as Framework],
];

/** Custom query parsers real apps set, and a query each reads as `toolId=ledger` (`resourceId=<id>` below). */
const PARSERS = [
  ['qs allowDots', (str: string) => qs.parse(str, { allowDots: true }), (key: string, value: string) => `.${key}=${value}`],
  ['qs allowDots, encoded dot', (str: string) => qs.parse(str, { allowDots: true }), (key: string, value: string) => `%2E${key}=${value}`],
  ['qs ; delimiter', (str: string) => qs.parse(str, { delimiter: /[;&]/ }), (key: string, value: string) => `x=1;${key}=${value}`],
] as const;

const libsql = libsqlMemoryFixture('query-parser');
let member = '';
let tokenA = '';
let tokenB = '';
beforeAll(async () => {
  member = await libsql.issuer().mintToken({}, { expiresInSeconds: 1800, userId: 'user_member', org: { id: 'org_1', role: 'org:member' } });
  [tokenA = '', tokenB = ''] = await libsql.tokens('user_a', 'user_b');
});

/** The policy under attack: the `ledger` tool is for organization admins. */
const ledgerAdminsOnly = (): ClerkAuth =>
  createClerkAuth({
    ...libsql.issuer().authOptions,
    env: {},
    logger: false,
    authorizeUser: (user, ctx) => ctx.resource?.params.toolId !== 'ledger' || user.o?.rol === 'admin',
  });

async function mixedApp(framework: Framework, parser: unknown, clerkAuth: ClerkAuth, mastra: (auth: MastraAuthClerk) => Mastra) {
  const app: Express = framework();
  app.set('query parser', parser);
  app.use(framework.json());
  app.use(clerkMastraAuth({ clerkAuth }));
  await new MastraServer({ app, mastra: mastra(new MastraAuthClerk({ clerkAuth })), prefix: '/api' }).init();
  return listen(app);
}

describe.each(FRAMEWORKS)('%s', (_name, framework) => {
  describe.each(PARSERS)("app.set('query parser', %s)", (_parserName, parser, spell) => {
    it('a policy that keeps the ledger tool to admins holds against a query the app parser reads as toolId', async () => {
      const clerkAuth = ledgerAdminsOnly();
      const server = await mixedApp(framework, parser, clerkAuth, (auth) => {
        const ledger = createTool({ id: 'ledger', description: 'The books.', inputSchema: z.object({}), execute: async () => ({ balance: 42 }) });
        const hello = createTool({ id: 'hello', description: 'Says hello.', inputSchema: z.object({}), execute: async () => ({ hello: 1 }) });
        return new Mastra({ tools: { ledger, hello }, server: { auth: auth as never }, logger: false });
      });
      try {
        // Control: the plain spelling is refused.
        expect((await raw(server.port, 'GET', '/api/tools/hello?toolId=ledger', { Authorization: `Bearer ${member}` })).status).toBe(403);
        const target = `/api/tools/hello?${spell('toolId', 'ledger')}`;
        const res = await raw(server.port, 'GET', target, { Authorization: `Bearer ${member}` });
        // It was 200 {"id":"ledger","description":"The books.",...}: Mastra served the ledger tool to a member.
        expect({ target, status: res.status, error: errorOf(res), challenge: res.headers['www-authenticate'], servedLedger: res.body.includes('"id":"ledger"') }).toEqual({
          target,
          status: 400,
          error: 'request-invalid',
          challenge: `Bearer realm="api", error="invalid_request", error_description="The app's query parser reads this query otherwise than its text, which the checks read."`,
          servedLedger: false,
        });
        // The app's parser on a query it reads as its text: served.
        const plain = await raw(server.port, 'GET', '/api/tools/hello?x=1&tag=a&tag=b', { Authorization: `Bearer ${member}` });
        expect([plain.status, plain.body.includes('"id":"hello"')]).toEqual([200, true]);
      } finally {
        await server.close();
      }
    });
  });
});

describe('Express 4, a middleware before clerkMastraAuth() that rewrites req.query (snake_case keys to camelCase)', () => {
  it('a policy that keeps the ledger tool to admins holds against ?tool_id=ledger', async () => {
    const clerkAuth = ledgerAdminsOnly();
    const framework = express4 as unknown as Framework;
    const app: Express = framework();
    app.use(framework.json());
    // Express 4 keeps req.query as a plain property: apps normalize it in place (Express 5 makes it a getter).
    app.use((req, _res, next) => {
      const query = req.query as Record<string, unknown>;
      req.query = Object.fromEntries(Object.entries(query).map(([key, value]) => [key.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()), value])) as never;
      next();
    });
    app.use(clerkMastraAuth({ clerkAuth }));
    const ledger = createTool({ id: 'ledger', description: 'The books.', inputSchema: z.object({}), execute: async () => ({ balance: 42 }) });
    const hello = createTool({ id: 'hello', description: 'Says hello.', inputSchema: z.object({}), execute: async () => ({ hello: 1 }) });
    const mastra = new Mastra({ tools: { ledger, hello }, server: { auth: new MastraAuthClerk({ clerkAuth }) as never }, logger: false });
    await new MastraServer({ app, mastra, prefix: '/api' }).init();
    const server = await listen(app);
    try {
      const res = await raw(server.port, 'GET', '/api/tools/hello?tool_id=ledger', { Authorization: `Bearer ${member}` });
      // It was 200 {"id":"ledger",...}.
      expect({ status: res.status, error: errorOf(res), servedLedger: res.body.includes('"id":"ledger"') }).toEqual({ status: 400, error: 'request-invalid', servedLedger: false });
    } finally {
      await server.close();
    }
  });
});

describe.each(FRAMEWORKS)('%s, observational memory (resource scope), no policy', (name, framework) => {
  const AGENT_ID = 'weatherAgent';
  let server: { base: string; close: () => Promise<void> };
  beforeAll(async () => {
    const store = protectMemory(libsql.store(`om-${name.replace(/\s/g, '')}`));
    const clerkAuth = createClerkAuth({ ...libsql.issuer().authOptions, env: {}, logger: false });
    server = await mixedApp(framework, PARSERS[0][1], clerkAuth, (auth) => {
      const memory = new Memory({ storage: store, options: { observationalMemory: { model: offlineWeatherModel(), scope: 'resource' } as never } });
      const weatherAgent = new Agent({ id: AGENT_ID, name: 'Weather Agent', instructions: 'Weather.', model: offlineWeatherModel() as never, memory });
      return new Mastra({ agents: { weatherAgent }, storage: store, server: { auth: auth as never }, logger: false });
    });
    // A's thread, made through Mastra's memory route (which also sets up the storage's tables), then A's record.
    const created = await callJson(server.base, tokenA, 'POST', `/api/memory/threads?agentId=${AGENT_ID}`, { resourceId: 'user_a', threadId: 'a-thread', title: 'mine' });
    expect(created.status).toBe(200);
    const memoryStore = await (store as unknown as { getStore(name: string): Promise<any> }).getStore('memory');
    const record = await memoryStore.initializeObservationalMemory({ threadId: null, resourceId: 'user_a', scope: 'resource', config: {} });
    await memoryStore.updateActiveObservations({ id: record.id, observations: 'user_a said the password is hunter2', tokenCount: 10, lastObservedAt: new Date() });
  });
  afterAll(async () => server.close());

  it("user B cannot read user A's observations through ?.resourceId=", async () => {
    const om = `/api/memory/observational-memory?agentId=${AGENT_ID}`;
    // Control: A reads A's own; B naming A plainly is refused.
    expect((await callJson(server.base, tokenA, 'GET', `${om}&resourceId=user_a`)).text).toContain('hunter2');
    expect((await callJson(server.base, tokenB, 'GET', `${om}&resourceId=user_a`)).status).toBe(403);
    const res = await callJson(server.base, tokenB, 'GET', `${om}&.resourceId=user_a`);
    // It was 200 with user_a's record ("user_a said the password is hunter2").
    expect({ status: res.status, error: res.error, leaked: res.text.includes('hunter2') }).toEqual({ status: 400, error: 'request-invalid', leaked: false });
  });
});

/**
 * Express's own parsers read every query as its text: none of these is refused, on either framework, whatever it
 * holds (brackets, repeats, escapes that do not decode, `+`, empty values, keys without a value).
 */
describe.each(FRAMEWORKS)("%s, Express's own query parsers", (_name, framework) => {
  const QUERIES = [
    'a=1&b=two+words&b=3',
    'filter[name]=x&filter[tags][]=a&filter[tags][]=b&list[]=1&list[]=2',
    'x=%41%ZZ&y=%E0%A4&z=%2B&empty=&flag',
    'a[0]=x&a[1]=y&a[25]=z&deep[a][b][c][d][e][f][g]=1',
    '%61=encoded-key&q=%F0%9F%98%80&requestContext=' + encodeURIComponent(JSON.stringify({ locale: 'fr' })),
  ];
  it.each([['simple'], ['extended']])("app.set('query parser', '%s'): served", async (parser) => {
    const clerkAuth = createClerkAuth({ ...libsql.issuer().authOptions, env: {}, logger: false });
    const server = await mixedApp(framework, parser, clerkAuth, (auth) => {
      const hello = createTool({ id: 'hello', description: 'Says hello.', inputSchema: z.object({}), execute: async () => ({ hello: 1 }) });
      return new Mastra({ tools: { hello }, server: { auth: auth as never }, logger: false });
    });
    try {
      for (const query of QUERIES) {
        const res = await raw(server.port, 'GET', `/api/tools/hello?${query}`, { Authorization: `Bearer ${member}` });
        expect({ query, status: res.status }).toEqual({ query, status: 200 });
      }
    } finally {
      await server.close();
    }
  });
});
