/**
 * Security seams over real HTTP: real Express 5 and Express 4, real `@mastra/express`, real tokens from the local
 * issuer, real sockets (raw targets, Host and cookies as a non-browser client can send them). Each hole is tried
 * against a mixed app (our Express middleware in front of Mastra, both sharing one `createClerkAuth()`) and, where it
 * applies, against Mastra alone with only the provider.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Express } from 'express';
import express5 from 'express';
import express4 from 'express4';
import { Agent } from '@mastra/core/agent';
import { Mastra } from '@mastra/core/mastra';
import { registerApiRoute } from '@mastra/core/server';
import { createTool } from '@mastra/core/tools';
import { createStep, createWorkflow } from '@mastra/core/workflows';
import { MastraServer } from '@mastra/express';
import { getCookieSuffix } from '@clerk/shared/keys';
import { z } from 'zod';
import { clerkMastraAuth, createClerkAuth, getClerkAuth, type ClerkAuth, type ClerkAuthOptions } from '../../src/index.js';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { listen } from '../support/http.js';
import { offlineWeatherModel } from '../../examples/mastra/offline-model.js';
import {
  ACCESS_DENIED_CHALLENGE,
  UNREAD_BODY_CHALLENGE,
  MULTIPART_CHALLENGE,
  DIFFERENT_USERS_CHALLENGE,
  FORWARDED_HOST_CHALLENGE,
  HOST_CHALLENGE,
  PROTOCOL_CHALLENGE,
  SIGNED_OUT_CHALLENGE,
  TYPE_MISMATCH_CHALLENGE,
  challenge,
  errorOf,
  expectMastra,
  expectNoStack,
  expectOurs,
  raw,
  type RawResponse,
} from './support.js';

type Framework = typeof express5;
const FRAMEWORKS: ReadonlyArray<readonly [string, Framework]> = [
  ['Express 5', express5],
  ['Express 4', express4 as unknown as Framework],
];

let issuer: TestIssuer;
/** Long-lived tokens shared by the suite (the default 60 s lifetime could run out in a slow run). */
let member: string;
let admin: string;
const LIFETIME = { expiresInSeconds: 1800 };

beforeAll(async () => {
  issuer = await createTestIssuer();
  member = await issuer.mintToken({}, { ...LIFETIME, userId: 'user_member', org: { id: 'org_1', role: 'org:member' } });
  admin = await issuer.mintToken({}, { ...LIFETIME, userId: 'user_admin', org: { id: 'org_1', role: 'org:admin' } });
});
afterAll(async () => {
  await issuer.close();
});

/** Servers opened by a test (closed in afterEach) or by a describe's beforeAll (closed in its afterAll). */
const perTest: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of perTest.splice(0)) await close();
});

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const isAdmin = (user: { o?: { rol?: string } }) => user.o?.rol === 'admin';

/** What the policy saw: one line per call. */
interface Seen {
  source: string;
  path: string;
  route?: string;
  params?: Record<string, string>;
}

/**
 * The policy of holes 1-3, written as the README documents: Express routes by `ctx.path` (lower-cased, Express
 * matches case-insensitively), Mastra resources by `ctx.resource.params`.
 */
function documentedPolicy(seen: Seen[]): NonNullable<ClerkAuthOptions['authorizeUser']> {
  return (user, ctx) => {
    seen.push({ source: ctx.source, path: ctx.path, route: ctx.resource?.route, params: ctx.resource ? { ...ctx.resource.params } : undefined });
    if (ctx.path.toLowerCase().startsWith('/admin')) return isAdmin(user);
    const params = ctx.resource?.params;
    return (
      (params?.agentId !== 'finance' || isAdmin(user)) &&
      (params?.toolId !== 'ledger' || isAdmin(user)) &&
      (params?.workflowId !== 'payroll' || isAdmin(user)) &&
      (params?.threadId !== 'secret-thread' || isAdmin(user))
    );
  };
}

/** A fresh Mastra (fresh agents: an agent belongs to one Mastra) behind `auth`. */
function buildMastra(auth: MastraAuthClerk): Mastra {
  const finance = new Agent({
    id: 'finance',
    name: 'Finance',
    instructions: 'You answer questions about the books.',
    // Offline, so an admin's A2A message/send completes without a network or an API key.
    model: offlineWeatherModel() as never,
  });
  const publicAgent = new Agent({ id: 'public', name: 'Public', instructions: 'You greet people.', model: 'openai/gpt-4o-mini' });
  const ledger = createTool({
    id: 'ledger',
    description: 'The books.',
    inputSchema: z.object({}),
    outputSchema: z.object({ balance: z.number() }),
    execute: async () => ({ balance: 42 }),
  });
  const step = createStep({
    id: 'pay',
    inputSchema: z.object({ amount: z.number() }),
    outputSchema: z.object({ paid: z.number() }),
    execute: async ({ inputData }) => ({ paid: inputData.amount }),
  });
  const payroll = createWorkflow({ id: 'payroll', inputSchema: z.object({ amount: z.number() }), outputSchema: z.object({ paid: z.number() }) })
    .then(step)
    .commit();
  return new Mastra({
    agents: { finance, public: publicAgent },
    tools: { ledger },
    workflows: { payroll },
    server: { auth: auth as never },
    logger: false,
  });
}

interface Served {
  port: number;
  close: () => Promise<void>;
}

async function serve(app: Express): Promise<Served> {
  const { port, close } = await listen(app);
  return { port, close };
}

interface MixedOptions {
  optional?: boolean;
  trustProxy?: boolean;
  /** Middleware that runs before ours (a rewrite of `req.url`, say). */
  before?: (app: Express) => void;
  prefix?: string;
}

/** Our middleware in front of everything, Mastra mounted behind it, one shared `clerkAuth`. */
async function mixedApp(framework: Framework, clerkAuth: ClerkAuth, options: MixedOptions = {}): Promise<Served> {
  const app = framework();
  if (options.trustProxy) app.set('trust proxy', true);
  app.use(framework.json());
  options.before?.(app);
  app.use(clerkMastraAuth({ clerkAuth, optional: options.optional }));
  app.get('/me', (req, res) => {
    const auth = getClerkAuth(req);
    res.json({ userId: auth.userId, isAuthenticated: auth.isAuthenticated });
  });
  app.get('/admin/report', (_req, res) => res.json({ report: 'secret' }));
  await new MastraServer({ app, mastra: buildMastra(new MastraAuthClerk({ clerkAuth })), prefix: options.prefix ?? '/api' }).init();
  return serve(app);
}

/** Mastra in Express with ONLY the provider: no middleware of ours in front. */
async function standaloneApp(framework: Framework, clerkAuth: ClerkAuth, prefix = '/api'): Promise<Served> {
  const app = framework();
  app.use(framework.json());
  await new MastraServer({ app, mastra: buildMastra(new MastraAuthClerk({ clerkAuth })), prefix }).init();
  return serve(app);
}

const hex = (c: string) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0');
const hexUpper = (c: string) => hex(c).toUpperCase();

/**
 * The spellings of one resource path `${head}${id}${tail}` that Express routes to the same handler with the same
 * decoded id: plain, first character encoded (upper-case hex), a middle character encoded (lower-case hex), every
 * character encoded, the literal segments upper-cased, and a trailing slash.
 */
function spellings(head: string, id: string, tail = '', query = ''): string[] {
  const mid = Math.floor(id.length / 2);
  return [
    `${head}${id}${tail}`,
    `${head}${hexUpper(id[0]!)}${id.slice(1)}${tail}`,
    `${head}${id.slice(0, mid)}${hex(id[mid]!)}${id.slice(mid + 1)}${tail}`,
    `${head}${[...id].map(hex).join('')}${tail}`,
    `${head.toUpperCase()}${id}${tail.toUpperCase()}`,
    `${head}${id}${tail}/`,
  ].map((path) => path + query);
}

const SETUPS = [
  ['mixed app (our middleware + provider, one clerkAuth)', 'mixed'],
  ['standalone Mastra (provider only)', 'standalone'],
] as const;

/** The 403 of each setup: ours (access-denied + challenge) in the mixed app, Mastra's own standalone. */
function expectDenied(setup: 'mixed' | 'standalone', res: RawResponse, label: string): void {
  if (setup === 'mixed') expectOurs(res, 403, 'access-denied', ACCESS_DENIED_CHALLENGE, label);
  else expectMastra(res, 403, label);
}

const ROUTE_PARAMETER_CHALLENGE = challenge('invalid_request', 'An id in the request target or body is not a name that can be served.');
const QUERY_KEY_CHALLENGE = challenge('invalid_request', 'A bracketed query key names a built-in of every object (__proto__[x]=) or does not decode as UTF-8.');

const A2A_BODY = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'message/send',
  params: { message: { role: 'user', parts: [{ kind: 'text', text: 'hi' }], kind: 'message', messageId: 'm1' } },
});

describe.each(FRAMEWORKS)('%s', (_frameworkName, framework) => {
  describe.each(SETUPS)('%s', (_setupName, setup) => {
    let server: Served;
    const seen: Seen[] = [];
    beforeAll(async () => {
      const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false, authorizeUser: documentedPolicy(seen) });
      server = setup === 'mixed' ? await mixedApp(framework, clerkAuth) : await standaloneApp(framework, clerkAuth);
    });
    afterAll(async () => {
      await server.close();
    });
    const get = (target: string, token: string) => raw(server.port, 'GET', target, bearer(token));

    // Hole 1: an encoded, upper-cased or slash-ended spelling of a guarded id must not slip past a rule on that id.
    describe('hole 1: encoded identifiers', () => {
      it.each(spellings('/api/agents/', 'finance'))('agent finance: member 403, admin 200 for %s', async (target) => {
        expectDenied(setup, await get(target, member), `member ${target}`);
        expect({ target, status: (await get(target, admin)).status }).toEqual({ target, status: 200 });
      });

      it.each(spellings('/api/agents/', 'public'))('agent public: member 200 for %s', async (target) => {
        expect({ target, status: (await get(target, member)).status }).toEqual({ target, status: 200 });
      });

      it.each(spellings('/api/tools/', 'ledger'))('tool ledger: member 403, admin 200 for %s', async (target) => {
        expectDenied(setup, await get(target, member), `member ${target}`);
        expect({ target, status: (await get(target, admin)).status }).toEqual({ target, status: 200 });
      });

      it.each(spellings('/api/workflows/', 'payroll'))('workflow payroll: member 403, admin 200 for %s', async (target) => {
        expectDenied(setup, await get(target, member), `member ${target}`);
        expect({ target, status: (await get(target, admin)).status }).toEqual({ target, status: 200 });
      });

      it.each(spellings('/api/memory/threads/', 'secret-thread', '', '?agentId=public'))(
        'memory thread secret-thread: member 403, admin not 403 for %s',
        async (target) => {
          expectDenied(setup, await get(target, member), `member ${target}`);
          // No memory is configured: the route may answer 4xx for the admin, but never the policy's 403.
          const res = await get(target, admin);
          expect({ target, status: res.status, error: errorOf(res) }).not.toEqual(expect.objectContaining({ status: 403 }));
        },
      );

      it('the policy saw the decoded id as a resource param (not only as a path)', async () => {
        seen.length = 0;
        await get('/api/agents/%66%69%6e%61%6e%63%65', member);
        expect(seen.length).toBeGreaterThan(0);
        for (const s of seen) expect(s).toMatchObject({ route: '/agents/:agentId', params: { agentId: 'finance' } });
        expect(seen.map((s) => s.source)).toEqual(setup === 'mixed' ? ['express'] : ['mastra']);
      });
    });

    // Hole 2: the same agent reached through an alias route (A2A, the agent card) must meet the same per-agent rule.
    describe('hole 2: aliases of an agent', () => {
      const a2a = (target: string, token: string) => raw(server.port, 'POST', target, bearer(token), A2A_BODY);

      it.each(spellings('/api/a2a/', 'finance'))('POST %s (A2A message/send): member 403, admin not 403', async (target) => {
        expectDenied(setup, await a2a(target, member), `member ${target}`);
        const res = await a2a(target, admin);
        expect({ target, status: res.status }).not.toEqual({ target, status: 403 });
        expect({ target, status: res.status }).not.toEqual({ target, status: 401 });
      });

      it.each(spellings('/api/.well-known/', 'finance', '/agent-card.json'))('GET %s (agent card): member 403, admin not 403', async (target) => {
        expectDenied(setup, await get(target, member), `member ${target}`);
        const res = await get(target, admin);
        expect({ target, status: res.status }).toEqual({ target, status: 200 });
      });

      it('the public agent stays reachable through its aliases', async () => {
        expect((await get('/api/.well-known/public/agent-card.json', member)).status).toBe(200);
      });
    });
    // Hole 4: Mastra's adapter hands a handler `{ ...pathParams, ...query, ...body }`, so a query or body value of
    // the same name replaces the id the policy judged (`/agents/public/generate?agentId=finance` ran finance).
    describe('hole 8: an agent or workflow named in the query or body of a route whose path names none', () => {
      // Mastra reads these routes' agent from the query: memory of an agent, its background tasks. A rule about agent
      // finance must hold there as on /agents/finance. (Schedules are refused outright: schedules.test.ts.)
      const QUERY_ADDRESSED = [
        '/api/memory/config?agentId=finance',
        '/api/memory/status?agentId=finance',
        '/api/memory/threads?agentId=finance&resourceId=user_member',
        '/api/memory/threads/t1/messages?agentId=finance&resourceId=user_member',
        '/api/memory/search?agentId=finance&resourceId=user_member&searchQuery=books',
        '/api/background-tasks?agentId=finance',
      ];

      it.each(QUERY_ADDRESSED)('member 403 for %s; the policy saw the id in ctx.resource.params', async (target) => {
        seen.length = 0;
        expectDenied(setup, await get(target, member), `member ${target}`);
        const id = /(agentId|workflowId)=([^&]*)/.exec(target)!;
        expect(seen.some((call) => call.params?.[id[1]!] === id[2])).toBe(true);
      });

      it.each([
        '/api/memory/config?agentId=fin%61nce',
        '/api/memory/config?%61gentId=finance',
        '/api/memory/config?agentId[]=finance',
        '/api/memory/config?agentId[0]=finance',
        '/api/memory/config?[agentId]=finance',
        '/api/memory/config?agentId=public&agentId=finance',
        '/api/memory/config?agentId=fin%FFance',
      ])('member 403 for another spelling: %s', async (target) => {
        expectDenied(setup, await get(target, member), `member ${target}`);
      });

      it('the admin is served them, and a member the same routes for another agent, or none', async () => {
        for (const target of QUERY_ADDRESSED) {
          const res = await get(target, admin);
          expect({ target, status: res.status === 403 ? 403 : 'not 403' }).toEqual({ target, status: 'not 403' });
        }
        for (const target of ['/api/memory/config?agentId=public', '/api/background-tasks', '/api/memory/config?agentid=finance']) {
          const res = await get(target, member);
          expect({ target, status: res.status === 403 ? 403 : 'not 403' }).toEqual({ target, status: 'not 403' });
        }
      });

      it.each([
        // An experiment runs its target (an agent or workflow) over a dataset.
        ['/api/datasets/d1/experiments', { targetType: 'agent', targetId: 'public' }],
      ])('POST %s naming the target in the body: refused (403) under a policy, whatever it names', async (target, body) => {
        expectDenied(setup, await raw(server.port, 'POST', target, bearer(admin), JSON.stringify(body)), `admin POST ${target}`);
      });

      if (setup === 'mixed') {
        it('a body on a route that takes its agent in the query: Mastra drops a body agentId, so nothing is refused for it', async () => {
          // The memory routes' body schemas have no agentId (routes.test.ts checks it): only the query names the agent.
          const body = JSON.stringify({ agentId: 'finance', resourceId: 'user_member', title: 't' });
          for (const target of ['/api/memory/threads?agentId=public', '/api/memory/threads']) {
            const res = await raw(server.port, 'POST', target, bearer(member), body);
            expect({ target, status: res.status === 403 ? 403 : 'not 403' }).toEqual({ target, status: 'not 403' });
          }
          expectDenied(setup, await raw(server.port, 'POST', '/api/memory/threads?agentId=finance', bearer(member), body), 'query agentId');
        });
      }
    });

    describe('hole 4: a query or body value that replaces the id in the path', () => {
      it.each([
        '/api/agents/public?agentId=finance',
        '/api/agents/public?agent%49d=finance',
        '/api/agents/public?agentId[x]=finance',
        '/api/agents/public?agentId=public&agentId=finance',
        '/api/agents/public?agentId=public&agentId=public',
        '/api/agents/public?agentId=%ZZ',
        '/api/.well-known/public/agent-card.json?agentId=finance',
        '/api/tools/other?toolId=ledger',
        '/api/workflows/other?workflowId=payroll',
        // Express 4's qs reads a leading bracket as the top-level name.
        '/api/agents/public?[agentId]=finance',
        '/api/agents/public?%5BagentId%5D=finance',
        '/api/agents/public?[agentId][]=finance',
        '/api/agents/public?[agentId][0]=finance',
        '/api/agents/public?=x&[agentId]=finance',
        '/api/tools/other?[toolId]=ledger',
      ])('member 403 for %s', async (target) => {
        expectDenied(setup, await get(target, member), `member ${target}`);
      });

      it('the same id in the query, or other query keys, change nothing', async () => {
        for (const target of ['/api/agents/public?agentId=public', '/api/agents/public?agentid=finance&x=finance', '/api/agents/finance?agentId=finance']) {
          const res = await get(target, target.includes('finance?') ? admin : member);
          expect({ target, status: res.status }).toEqual({ target, status: 200 });
        }
      });

      it('POST with the query naming another agent: member 403 (the admin is served the agent it named)', async () => {
        const target = '/api/a2a/public?agentId=finance';
        expectDenied(setup, await raw(server.port, 'POST', target, bearer(member), A2A_BODY), `member ${target}`);
      });

      if (setup === 'mixed') {
        it('a JSON body naming another agent, tool or workflow than the path: member 403; the same id passes', async () => {
          const generate = JSON.stringify({ agentId: 'finance', messages: [{ role: 'user', content: 'hi' }] });
          expectDenied(setup, await raw(server.port, 'POST', '/api/agents/public/generate', bearer(member), generate), 'body agentId');
          const execute = JSON.stringify({ toolId: 'ledger', data: {} });
          expectDenied(setup, await raw(server.port, 'POST', '/api/tools/other/execute', bearer(member), execute), 'body toolId');
          // A workflow-run route's body schema drops a workflowId: Mastra acts on the path's workflow (here none), which
          // the policy judged, so the body is not refused for it (routes.test.ts checks the schemas).
          const run = JSON.stringify({ workflowId: 'payroll', inputData: { amount: 1 } });
          const started = await raw(server.port, 'POST', '/api/workflows/other/start-async', bearer(member), run);
          expect([started.status, errorOf(started)]).toEqual([404, 'Workflow not found']);
          const same = JSON.stringify({ toolId: 'ledger', data: {} });
          expect((await raw(server.port, 'POST', '/api/tools/ledger/execute', bearer(admin), same)).status).toBe(200);
        });

        it.each([
          ['application/x-www-form-urlencoded', 'agentId=finance'],
          ['application/x-www-form-urlencoded; x=multipart/form-data', 'agentId=finance'],
          ['"multipart/form-data"; boundary=xb', '--xb\r\nContent-Disposition: form-data; name="agentId"\r\n\r\nfinance\r\n--xb--\r\n'],
          ['text/plain', '{"agentId":"finance"}'],
        ])('a body express.json() leaves unread (%s): member refused on a route with an id', async (type, body) => {
          const res = await raw(server.port, 'POST', '/api/agents/public/generate', { ...bearer(member), 'Content-Type': type }, body);
          // A type Mastra reads as multipart (it looks for "multipart/form-data" anywhere in it) is refused before the
          // policy on a route that takes JSON (see crash-requests.test.ts); any other unread body by the policy.
          if (setup === 'mixed' && type.includes('multipart/form-data')) expectOurs(res, 400, 'request-invalid', MULTIPART_CHALLENGE, type);
          else if (setup === 'mixed') expectOurs(res, 403, 'access-denied', UNREAD_BODY_CHALLENGE, type);
          else expectDenied(setup, res, type);
        });

        it('a multipart body (which Mastra parses itself, after the policy): member refused on a route with an id', async () => {
          const boundary = 'x-boundary';
          const body = `--${boundary}\r\nContent-Disposition: form-data; name="agentId"\r\n\r\nfinance\r\n--${boundary}--\r\n`;
          const headers = { ...bearer(member), 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': String(body.length) };
          const res = await raw(server.port, 'POST', '/api/agents/public/generate', headers, body);
          if (setup === 'mixed') expectOurs(res, 400, 'request-invalid', MULTIPART_CHALLENGE, 'multipart');
          else expectDenied(setup, res, 'multipart');
          if (setup !== 'mixed') return;
          // Voice transcription takes one, and its body schema drops an agentId: the policy judges the path's agent,
          // which is the one Mastra runs (`ghost` in the body would be Mastra's 404; `public` has no voice provider, and
          // Mastra answers that with its 500).
          const ghost = `--${boundary}\r\nContent-Disposition: form-data; name="audio"; filename="a.wav"\r\n\r\nRIFF\r\n${body.replace('finance', 'ghost')}`;
          const voiceHeaders = { ...headers, 'Content-Length': String(ghost.length) };
          const voice = await raw(server.port, 'POST', '/api/agents/public/voice/listen', voiceHeaders, ghost);
          expect([voice.status, voice.body]).toEqual([500, JSON.stringify({ error: 'No voice provider configured' })]);
          const refused = await raw(server.port, 'POST', '/api/agents/finance/voice/listen', voiceHeaders, ghost);
          expectOurs(refused, 403, 'access-denied', ACCESS_DENIED_CHALLENGE, 'multipart, voice, finance');
        });
      }
    });
  });

  describe.each(SETUPS)('hole 5 (%s): a route parameter named like a built-in of every object', (_setupName, setup) => {
    let server: Served;
    beforeAll(async () => {
      // No policy: these must be refused for what they are, not by a rule.
      const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false });
      server = setup === 'mixed' ? await mixedApp(framework, clerkAuth) : await standaloneApp(framework, clerkAuth);
    });
    afterAll(async () => {
      await server.close();
    });

    it.each([
      ['GET', '/api/agents/__proto__'],
      ['GET', '/api/agents/constructor'],
      ['GET', '/api/agents/toString'],
      ['GET', '/api/agents/%5F%5Fproto%5F%5F'],
      ['GET', '/api/workflows/__proto__'],
      ['GET', '/api/tools/hasOwnProperty'],
      ['POST', '/api/agents/valueOf/generate'],
      ['GET', '/api/.well-known/__proto__/agent-card.json'],
      // In the query: an id Mastra reads from it, or one that would replace the path's (without a policy nothing
      // compares the two), or an entity of the scores routes.
      ['GET', '/api/memory/threads?agentId=constructor'],
      ['GET', '/api/memory/config?agentId=toString'],
      ['GET', '/api/memory/threads/t1/messages?agentId=hasOwnProperty'],
      ['GET', '/api/memory/threads?agentId=__proto__'],
      ['GET', '/api/memory/threads?agentId=%5F%5Fproto%5F%5F'],
      ['GET', '/api/memory/threads?agent%49d=valueOf'],
      ['POST', '/api/memory/threads?agentId=constructor'],
      ['GET', '/api/workflows/payroll?workflowId=constructor'],
      ['GET', '/api/scores/scorer/s1?entityId=constructor&entityType=AGENT'],
      // A query key that replaces a path parameter of a route without a query schema (Mastra passes the query on raw).
      ['GET', '/api/vector/p1/indexes?vectorName=constructor'],
      ['GET', '/api/agent-controller/p1/modes?controllerId=constructor'],
      ['GET', '/api/agent-builder/p1?actionId=constructor'],
    ])('%s %s: an id named like a built-in is never a 500 (400 in front of Mastra, 403 from the provider alone)', async (method, target) => {
      const res = await raw(server.port, method, target, bearer(admin), method === 'POST' ? '{}' : undefined);
      if (setup === 'mixed') expectOurs(res, 400, 'request-invalid', ROUTE_PARAMETER_CHALLENGE, target);
      else expectMastra(res, 403, target);
    });

    it.each([
      '/api/agents?__proto__[o]=1&__proto__[rol]=admin',
      '/api/agents?__proto__[agentId]=finance',
      '/api/agents?%5F%5Fproto%5F%5F%5Bx%5D=1',
      '/api/agents?[__proto__][x]=1',
      '/api/agents?constructor[prototype][x]=1',
      '/api/agents?toString[x]=1',
      '/api/agents/public?a[__proto__]=1',
      // Undecodable bracketed keys: querystring decodes byte by byte, qs turns %5B/%5D into brackets first.
      '/api/agents?__proto__%5B%FFx%5D=1',
      '/api/agents?constructor%5B%FF%5D=1',
      '/api/agents/public?agentId%5B%5D%FF=finance',
      '/api/tools/other?toolId%5b%5d%C0=ledger',
    ])('GET %s: a query key through a built-in is refused, and nothing reaches Object.prototype', async (target) => {
      const res = await raw(server.port, 'GET', target, bearer(member));
      if (setup === 'mixed') expectOurs(res, 400, 'request-invalid', QUERY_KEY_CHALLENGE, target);
      else expectMastra(res, 403, target);
      const polluted = ['o', 'rol', 'agentId', 'x'].filter((name) => name in {} || name in Object || name in Object.prototype.toString);
      expect({ target, polluted }).toEqual({ target, polluted: [] });
    });

    it.each([
      '/api/memory/threads?agentId=public&resourceId=valueOf',
      '/api/memory/threads?agentId=public&resourceId=constructor',
      '/api/memory/config?agentId=prototype',
    ])('GET %s: a storage id, or a name no plain object has, is no built-in lookup: not refused', async (target) => {
      const res = await raw(server.port, 'GET', target, bearer(admin));
      expect({ target, status: res.status === 400 || res.status === 403 ? res.status : 'served' }).toEqual({ target, status: 'served' });
    });

    if (setup === 'mixed') {
      it.each([
        ['/api/agents/public/generate', { agentId: 'constructor', messages: 'hi' }],
        ['/api/v1/responses', { agent_id: 'constructor', input: 'hi', model: 'x' }],
        ['/api/tools/ledger/execute', { toolId: 'toString', data: {} }],
        ['/api/workflows/payroll/start-async', { workflowId: '__proto__', inputData: { amount: 1 } }],
        ['/api/agent-builder/p1/create-run', { actionId: 'constructor' }],
        ['/api/agent-controller/p1/sessions/r1/abort', { controllerId: 'constructor' }],
      ])('POST %s with a built-in name as an id in the JSON body: 400, never a 500', async (target, body) => {
        const res = await raw(server.port, 'POST', target, bearer(admin), JSON.stringify(body));
        expectOurs(res, 400, 'request-invalid', ROUTE_PARAMETER_CHALLENGE, target);
      });

      it('without a token, on a route Mastra serves publicly: the same 400 (Mastra would write it into Object.prototype)', async () => {
        const res = await raw(server.port, 'GET', '/api/auth/capabilities?__proto__[zzPolluted]=1');
        expectOurs(res, 400, 'request-invalid', QUERY_KEY_CHALLENGE, 'anonymous');
        expect('zzPolluted' in {}).toBe(false);
      });
    }

    it('agents with ordinary names are still served', async () => {
      expect((await raw(server.port, 'GET', '/api/agents/public', bearer(member))).status).toBe(200);
      expect((await raw(server.port, 'GET', '/api/agents', bearer(member))).status).toBe(200);
    });
  });

  describe('hole 4, continued: a body the middleware cannot see', () => {
    it('express.json() after the middleware: a POST with a body to a route with an id is refused (403), logged once at error', async () => {
      const lines: string[] = [];
      const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: (line: string) => void lines.push(line) };
      const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger, authorizeUser: documentedPolicy([]) });
      const app = framework();
      app.use(clerkMastraAuth({ clerkAuth }));
      app.use(framework.json());
      await new MastraServer({ app, mastra: buildMastra(new MastraAuthClerk({ clerkAuth })), prefix: '/api' }).init();
      const server = await serve(app);
      perTest.push(server.close);
      const execute = JSON.stringify({ toolId: 'ledger', data: {} });
      for (let i = 0; i < 2; i += 1) {
        expectOurs(await raw(server.port, 'POST', '/api/tools/ledger/execute', bearer(admin), execute), 403, 'access-denied', UNREAD_BODY_CHALLENGE, 'unread body');
      }
      expect(lines.filter((line) => line.includes('express.json()'))).toHaveLength(1);
      // Without a body, and on routes without an id, nothing changes.
      expect((await raw(server.port, 'GET', '/api/tools/ledger', bearer(admin))).status).toBe(200);
      expect((await raw(server.port, 'GET', '/api/agents', bearer(member))).status).toBe(200);
    });
  });

  // Hole 3: a target rewritten before our middleware, or a sub-app mount, must not show the policy a path other than
  // the one that is routed.
  describe('hole 3: rewritten targets', () => {
    it('a /v1 prefix stripped from req.url BEFORE our middleware: the policy judges the rewritten (routed) path', async () => {
      const seen: Seen[] = [];
      const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false, authorizeUser: documentedPolicy(seen) });
      const server = await mixedApp(framework, clerkAuth, {
        before: (app) =>
          app.use((req, _res, next) => {
            if (req.url.toLowerCase().startsWith('/v1/')) req.url = req.url.slice(3);
            next();
          }),
      });
      perTest.push(server.close);
      const get = (target: string, token: string) => raw(server.port, 'GET', target, bearer(token));

      expectOurs(await get('/v1/admin/report', member), 403, 'access-denied', ACCESS_DENIED_CHALLENGE, '/v1/admin/report');
      expect(seen.at(-1)).toMatchObject({ source: 'express', path: '/admin/report' });
      expectOurs(await get('/V1/ADMIN/report', member), 403, 'access-denied', ACCESS_DENIED_CHALLENGE, '/V1/ADMIN/report');
      expectOurs(await get('/v1/%61dmin/report', member), 403, 'access-denied', ACCESS_DENIED_CHALLENGE, '/v1/%61dmin/report');
      expect((await get('/v1/admin/report', admin)).status).toBe(200);

      for (const target of ['/v1/api/agents/finance', '/v1/api/agents/%66inance', '/v1/api/a2a/finance']) {
        const res = target.includes('a2a') ? await raw(server.port, 'POST', target, bearer(member), A2A_BODY) : await get(target, member);
        expectOurs(res, 403, 'access-denied', ACCESS_DENIED_CHALLENGE, target);
      }
      expect((await get('/v1/api/agents/public', member)).status).toBe(200);
    });

    it('a query added to req.url by a rewrite BEFORE our middleware is checked too (Express parses req.query from req.url)', async () => {
      const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false, authorizeUser: documentedPolicy([]) });
      const server = await mixedApp(framework, clerkAuth, {
        before: (app) =>
          app.use((req, _res, next) => {
            // An app's own shortcut that copies a client's choice into the query.
            if (req.url.startsWith('/api/agents/public?as=')) req.url = `/api/agents/public?agentId=${req.url.slice('/api/agents/public?as='.length)}`;
            next();
          }),
      });
      perTest.push(server.close);
      expectOurs(await raw(server.port, 'GET', '/api/agents/public?as=finance', bearer(member)), 403, 'access-denied', ACCESS_DENIED_CHALLENGE, 'rewritten query');
      expect((await raw(server.port, 'GET', '/api/agents/public?as=public', bearer(member))).status).toBe(200);
    });

    /** A sub-app at /v1 with the middleware inside it and a report route, listening. */
    async function subAppAtV1(clerkAuth: ClerkAuth) {
      const app = framework();
      const sub = framework();
      sub.use(clerkMastraAuth({ clerkAuth }));
      sub.get('/admin/report', (_req, res) => res.json({ report: 'secret' }));
      app.use('/v1', sub);
      const server = await serve(app);
      perTest.push(server.close);
      return server;
    }

    it('a sub-app mounted at /v1: ctx.path is the FULL routed path, mount included (/v1/admin/report)', async () => {
      const seen: Seen[] = [];
      // Written as documented: for Express, ctx.path includes the mount path, so the sub-app's report is /v1/admin.
      const clerkAuth = createClerkAuth({
        ...issuer.authOptions,
        env: {},
        logger: false,
        authorizeUser: (user, ctx) => {
          seen.push({ source: ctx.source, path: ctx.path });
          return !ctx.path.toLowerCase().startsWith('/v1/admin') || isAdmin(user);
        },
      });
      const server = await subAppAtV1(clerkAuth);
      const get = (target: string, token: string) => raw(server.port, 'GET', target, bearer(token));

      for (const target of ['/v1/admin/report', '/V1/Admin/REPORT', '/v1/%61dmin/report', '/v1/admin/report/']) {
        expectOurs(await get(target, member), 403, 'access-denied', ACCESS_DENIED_CHALLENGE, target);
      }
      // What the policy saw: the full path, decoded, as sent (case kept), never the sub-app's own '/admin/report'.
      expect(seen.map((s) => s.path)).toEqual(['/v1/admin/report', '/V1/Admin/REPORT', '/v1/admin/report', '/v1/admin/report/']);
      expect(seen.every((s) => s.source === 'express')).toBe(true);
      expect((await get('/v1/admin/report', admin)).status).toBe(200);
    });

    it('a sub-app at /v1: a policy written against the sub-app-relative path (/admin) does not match, as documented', async () => {
      // Documents the contract: the policy must name the mount. '/admin' never appears in ctx.path here.
      const seen: Seen[] = [];
      const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false, authorizeUser: documentedPolicy(seen) });
      const server = await subAppAtV1(clerkAuth);
      await raw(server.port, 'GET', '/v1/admin/report', bearer(member));
      expect(seen.map((s) => s.path)).toEqual(['/v1/admin/report']);
    });
  });

  // Hole 4: the provider alone must protect every Mastra route under any prefix, not only Mastra's default '/api'.
  describe('hole 4: default protection of the standalone provider', () => {
    it.each(['/mastra', '/v1/api', ''])('prefix %j: no token 401, garbage 401, valid 200; /auth/capabilities stays public', async (prefix) => {
      const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false });
      const server = await standaloneApp(framework, clerkAuth, prefix);
      perTest.push(server.close);
      const target = `${prefix}/agents`;
      expectMastra(await raw(server.port, 'GET', target), 401, `${target} no token`);
      expectMastra(await raw(server.port, 'GET', target, { Authorization: 'Bearer garbage.garbage.garbage' }), 401, `${target} garbage`);
      expectMastra(await raw(server.port, 'GET', target, { Cookie: '__session=garbage; __client_uat=1' }), 401, `${target} garbage cookie`);
      const ok = await raw(server.port, 'GET', target, bearer(member));
      expect({ target, status: ok.status }).toEqual({ target, status: 200 });
      expect(Object.keys(JSON.parse(ok.body)).sort()).toEqual(['finance', 'public']);
      // Other spellings of the same route are protected too.
      for (const other of [`${prefix.toUpperCase()}/AGENTS`, `${prefix}/agents/`, `${prefix}/agents/finance`, `${prefix}/tools/ledger`]) {
        expectMastra(await raw(server.port, 'GET', other), 401, `${other} no token`);
      }
      // Mastra's authenticated routes under /auth (not its public sign-in routes) need a session too.
      for (const other of [`${prefix}/auth/permission-patterns`, `${prefix}/auth/roles/admin/permissions`, `${prefix}/AUTH/permission-patterns`]) {
        expectMastra(await raw(server.port, 'GET', other), 401, `${other} no token`);
      }
      const capabilities = await raw(server.port, 'GET', `${prefix}/auth/capabilities`);
      expect({ status: capabilities.status }).not.toEqual({ status: 401 });
      expect(capabilities.status).toBeLessThan(500);
    });
  });

  // Hole 4b: a Mastra custom API route (server.apiRoutes) reached by a percent-encoded spelling of its path must not
  // skip authentication (@mastra/express checks auth on the raw path, then routes the decoded one).
  describe('hole 4b: custom API routes (server.apiRoutes) of a protected Mastra', () => {
    /** A Mastra with two custom routes: '/admin/report' (for admins by the policy) and '/custom/hello'. */
    function customMastra(clerkAuth: ClerkAuth): Mastra {
      return new Mastra({
        server: {
          auth: new MastraAuthClerk({ clerkAuth }) as never,
          apiRoutes: [
            registerApiRoute('/admin/report', { method: 'GET', handler: async (c) => c.json({ secret: true }) }),
            registerApiRoute('/custom/hello', { method: 'GET', handler: async (c) => c.json({ hello: true }) }),
          ],
        },
        logger: false,
      });
    }
    /** Encoded spellings of the two routes, and whether each is the admin report. */
    const ENCODED: ReadonlyArray<readonly [string, boolean]> = [
      ['/%61dmin/report', true],
      ['/admin/repor%74', true],
      ['/%61%64%6d%69%6e/report', true],
      ['/custom/%68ello', false],
    ];

    it('standalone provider: the plain paths need a session and pass the policy', async () => {
      const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false, authorizeUser: documentedPolicy([]) });
      const app = framework();
      await new MastraServer({ app, mastra: customMastra(clerkAuth), prefix: '/api' }).init();
      const server = await serve(app);
      perTest.push(server.close);
      expectMastra(await raw(server.port, 'GET', '/admin/report'), 401, 'no token');
      expectMastra(await raw(server.port, 'GET', '/admin/report', bearer(member)), 403, 'member');
      expect((await raw(server.port, 'GET', '/admin/report', bearer(admin))).status).toBe(200);
      expectMastra(await raw(server.port, 'GET', '/custom/hello'), 401, 'no token');
      expect((await raw(server.port, 'GET', '/custom/hello', bearer(member))).status).toBe(200);
    });

    // UPSTREAM, not this library: @mastra/express decides whether a custom route needs auth on the raw path, then
    // routes the decoded one, so an encoded spelling never reaches the provider. This documents the gap (README,
    // Security model: mount clerkMastraAuth in front when you use server.apiRoutes); it fails the day it is fixed.
    it.each(ENCODED)('standalone @mastra/express (upstream gap): GET %s without a token skips Mastra\'s auth', async (target) => {
      const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false, authorizeUser: documentedPolicy([]) });
      const app = framework();
      await new MastraServer({ app, mastra: customMastra(clerkAuth), prefix: '/api' }).init();
      const server = await serve(app);
      perTest.push(server.close);
      expect({ target, status: (await raw(server.port, 'GET', target)).status }).toEqual({ target, status: 200 });
    });

    it.each(ENCODED)('mixed app (our middleware in front): GET %s is 401 without a token, 403 for a member on the report', async (target, isReport) => {
      const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false, authorizeUser: documentedPolicy([]) });
      const app = framework();
      app.use(clerkMastraAuth({ clerkAuth }));
      await new MastraServer({ app, mastra: customMastra(clerkAuth), prefix: '/api' }).init();
      const server = await serve(app);
      perTest.push(server.close);
      expectOurs(await raw(server.port, 'GET', target), 401, 'token-missing', 'Bearer realm="api"', `${target} no token`);
      const res = await raw(server.port, 'GET', target, bearer(member));
      if (!isReport) expect({ target, status: res.status }).toEqual({ target, status: 200 });
      else expectOurs(res, 403, 'access-denied', ACCESS_DENIED_CHALLENGE, `${target} member`);
    });
  });

  // Hole 5: a Host or X-Forwarded-Proto no URL can be built from must be a clean 400, not a 500 from Mastra's adapter.
  // Mastra reads the forwarded headers whatever Express's `trust proxy` says (its `getPublicOrigin`), so they are
  // checked with it off too.
  describe('hole 5: Host and protocol values', () => {
    const HOSTS = ['1.2.3.4.5', '999.1.1.1', 'xn--a', 'a%2fb', '[1::2::3]', 'a%00'];
    const PROTOS = ['a b', '1', 'http:/'];

    describe.each([
      [false, true],
      [true, true],
      [false, false],
    ])('optional: %s, trust proxy: %s', (optional, trustProxy) => {
      let server: Served;
      beforeAll(async () => {
        const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false, authorizeUser: documentedPolicy([]) });
        server = await mixedApp(framework, clerkAuth, { optional, trustProxy });
      });
      afterAll(async () => {
        await server.close();
      });

      it.each(HOSTS.flatMap((host) => ['/api/agents', '/me'].map((target) => [host, target] as const)))(
        'Host %j on %s: 400 request-invalid, with or without a token, no stack',
        async (host, target) => {
          for (const headers of [{ Host: host, ...bearer(member) }, { Host: host }]) {
            const res = await raw(server.port, 'GET', target, headers);
            expectOurs(res, 400, 'request-invalid', HOST_CHALLENGE, `${host} ${target} token:${'Authorization' in headers}`);
            expectNoStack(res, host);
          }
        },
      );

      it.each(HOSTS.flatMap((host) => ['X-Forwarded-Host', 'X-Mastra-Public-Host'].map((name) => [name, host] as const)))(
        '%s %j (alone, or after a good one): 400 request-invalid on Mastra and Express routes, with or without a token',
        async (name, host) => {
          for (const value of [host, `proxy.example, ${host}`]) {
            for (const target of ['/api/agents', '/me']) {
              for (const headers of [{ [name]: value, ...bearer(member) }, { [name]: value }]) {
                const res = await raw(server.port, 'GET', target, headers);
                expectOurs(res, 400, 'request-invalid', FORWARDED_HOST_CHALLENGE, `${name}: ${value} ${target}`);
                expectNoStack(res, host);
              }
            }
          }
        },
      );

      it.each(PROTOS.flatMap((proto) => ['/api/agents', '/me'].map((target) => [proto, target] as const)))(
        'X-Forwarded-Proto %j on %s: 400 request-invalid, no stack',
        async (proto, target) => {
          for (const headers of [{ 'X-Forwarded-Proto': proto, ...bearer(member) }, { 'X-Forwarded-Proto': proto }]) {
            const res = await raw(server.port, 'GET', target, headers);
            expectOurs(res, 400, 'request-invalid', PROTOCOL_CHALLENGE, `${proto} ${target}`);
            expectNoStack(res, proto);
          }
        },
      );

      it.each(['javascript', 'ws', 'ftp', 'data', 'file'])(
        'X-Forwarded-Proto %j (a URL scheme, not http or https): 400 request-invalid on Mastra and Express routes',
        async (proto) => {
          for (const extra of [{}, { Host: 'example.com' }] as Record<string, string>[]) {
            for (const target of ['/api/agents/finance', '/me']) {
              const res = await raw(server.port, 'GET', target, { ...extra, 'X-Forwarded-Proto': proto, ...bearer(admin) });
              expect({ proto, extra, target, status: res.status, code: JSON.parse(res.body).error }).toEqual({
                proto,
                extra,
                target,
                status: 400,
                code: 'request-invalid',
              });
              expectNoStack(res, proto);
            }
          }
        },
      );

      it("a normal Host (127.0.0.1:<port>) and a proxy's own forwarded values still pass", async () => {
        const proxied = [
          { 'X-Forwarded-Proto': 'https' },
          { 'X-Forwarded-Proto': 'https, http' },
          { 'X-Forwarded-Host': 'api.example.com:8443, 10.0.0.1' },
          { 'X-Mastra-Public-Host': '[::1]:4111', 'X-Forwarded-Proto': 'http' },
          { 'X-Forwarded-Proto': 'HTTPS' },
        ];
        for (const extra of [{ Host: `127.0.0.1:${server.port}` }, ...proxied] as Record<string, string>[]) {
          for (const target of ['/api/agents', '/me']) {
            const res = await raw(server.port, 'GET', target, { ...extra, ...bearer(member) });
            expect({ extra, target, status: res.status }).toEqual({ extra, target, status: 200 });
          }
        }
      });
    });
  });

  // Hole 6: Clerk JWTs that are not session tokens (JWT templates, M2M) must never sign a user in, by header or cookie.
  describe('hole 6: token types through HTTP', () => {
    const kinds: Array<[string, () => Promise<string>]> = [
      ['JWT template (own cat, no sid)', () => issuer.mintToken({ sid: undefined }, { ...LIFETIME, header: { cat: 'cl_B7d4PDtemplateX' } })],
      ['JWT template (no cat, no sid)', () => issuer.mintToken({ sid: undefined }, LIFETIME)],
      ['M2M (cat cl_B7d4PD333AAA, sub mch_)', () => issuer.mintToken({ sub: 'mch_123', sid: undefined }, { ...LIFETIME, header: { cat: 'cl_B7d4PD333AAA' } })],
      ['M2M (session-like, sub mch_)', () => issuer.mintToken({ sub: 'mch_123' }, LIFETIME)],
      ['OAuth access token (typ at+jwt)', () => issuer.mintToken({}, { ...LIFETIME, header: { typ: 'at+jwt' } })],
      // What any OAuth client of the instance gets for a user (found by an attacker session): sid, no cat, no azp.
      ['OIDC ID token (aud the client, nonce, sid)', () => issuer.mintToken({ aud: 'oauth_client_1', nonce: 'n-1', azp: undefined }, LIFETIME)],
      ['OIDC ID token without a nonce (aud the client, sid)', () => issuer.mintToken({ aud: 'oauth_client_1', azp: undefined }, LIFETIME)],
    ];

    describe.each([false, true])('mixed app, optional: %s', (optional) => {
      let server: Served;
      beforeAll(async () => {
        const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false });
        server = await mixedApp(framework, clerkAuth, { optional });
      });
      afterAll(async () => {
        await server.close();
      });

      it.each(kinds)('%s: 401 token-type-mismatch by Authorization and by cookie, on Express and Mastra routes', async (_kind, mint) => {
        const token = await mint();
        for (const target of ['/me', '/api/agents']) {
          expectOurs(await raw(server.port, 'GET', target, bearer(token)), 401, 'token-type-mismatch', TYPE_MISMATCH_CHALLENGE, `${target} header`);
          expectOurs(
            await raw(server.port, 'GET', target, { Cookie: `__session=${token}; __client_uat=1` }),
            401,
            'token-type-mismatch',
            TYPE_MISMATCH_CHALLENGE,
            `${target} cookie`,
          );
        }
      });
    });

    it.each(kinds)('%s: standalone Mastra answers its 401, by header and by cookie', async (_kind, mint) => {
      const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false });
      const server = await standaloneApp(framework, clerkAuth);
      perTest.push(server.close);
      const token = await mint();
      expectMastra(await raw(server.port, 'GET', '/api/agents', bearer(token)), 401, 'header');
      expectMastra(await raw(server.port, 'GET', '/api/agents', { Cookie: `__session=${token}; __client_uat=1` }), 401, 'cookie');
      // The same instance accepts a real session token: the 401 is about the token's type.
      expect((await raw(server.port, 'GET', '/api/agents', bearer(member))).status).toBe(200);
    });
  });

  // Hole 7: cookies must be read as Clerk reads them: this instance's suffixed cookie, __client_uat, encoding, duplicates.
  describe('hole 7: cookies as Clerk reads them', () => {
    let other: TestIssuer;
    let suffix: string;
    let server: Served;
    let optionalServer: Served;
    let standalone: Served;
    beforeAll(async () => {
      other = await createTestIssuer();
      expect(issuer.authOptions.publishableKey).toBe(`pk_test_${Buffer.from(`${issuer.frontendApi}$`).toString('base64')}`);
      suffix = await getCookieSuffix(issuer.authOptions.publishableKey);
      const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false });
      server = await mixedApp(framework, clerkAuth);
      optionalServer = await mixedApp(framework, clerkAuth, { optional: true });
      standalone = await standaloneApp(framework, clerkAuth);
    });
    afterAll(async () => {
      await server.close();
      await optionalServer.close();
      await standalone.close();
      await other.close();
    });
    const me = (port: number, cookie: string) => raw(port, 'GET', '/me', { Cookie: cookie });
    const userOf = (res: RawResponse) => (JSON.parse(res.body) as { userId: string | null }).userId;

    it("another instance's __session plus ours suffixed: 200 as our user (suffix from Clerk's getCookieSuffix)", async () => {
      const theirs = await other.mintToken({}, { userId: 'user_other_app' });
      const ours = await issuer.mintToken({}, { userId: 'user_ours' });
      const cookie = `__session=${theirs}; __client_uat=1; __session_${suffix}=${ours}; __client_uat_${suffix}=1`;
      const res = await me(server.port, cookie);
      expect({ status: res.status, user: res.status === 200 ? userOf(res) : res.body }).toEqual({ status: 200, user: 'user_ours' });
      // Mastra routes, through the middleware and through the provider alone, read it the same way.
      expect((await raw(server.port, 'GET', '/api/agents', { Cookie: cookie })).status).toBe(200);
      expect((await raw(standalone.port, 'GET', '/api/agents', { Cookie: cookie })).status).toBe(200);
    });

    it('__client_uat=0 with a valid __session: 401 session-signed-out; optional lets it through signed out', async () => {
      const token = await issuer.mintToken({}, { userId: 'user_ours' });
      const cookie = `__session=${token}; __client_uat=0`;
      expectOurs(await me(server.port, cookie), 401, 'session-signed-out', SIGNED_OUT_CHALLENGE, 'required');
      const res = await me(optionalServer.port, cookie);
      expect({ status: res.status, body: JSON.parse(res.body) }).toEqual({ status: 200, body: { userId: null, isAuthenticated: false } });
      // No __client_uat at all: also signed out.
      expectOurs(await me(server.port, `__session=${token}`), 401, 'session-signed-out', SIGNED_OUT_CHALLENGE, 'no uat');
      expectMastra(await raw(standalone.port, 'GET', '/api/agents', { Cookie: cookie }), 401, 'standalone');
    });

    it('a __client_uat newer than the token iat: 401 session-signed-out', async () => {
      const token = await issuer.mintToken({}, { userId: 'user_ours' });
      const iat = (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { iat: number }).iat;
      expectOurs(await me(server.port, `__session=${token}; __client_uat=${iat + 30}`), 401, 'session-signed-out', SIGNED_OUT_CHALLENGE, 'newer');
      // Equal or older is fine.
      expect((await me(server.port, `__session=${token}; __client_uat=${iat}`)).status).toBe(200);
      // The same for our suffixed cookie.
      const theirs = await other.mintToken();
      expectOurs(
        await me(server.port, `__session=${theirs}; __client_uat=1; __session_${suffix}=${token}; __client_uat_${suffix}=${iat + 30}`),
        401,
        'session-signed-out',
        SIGNED_OUT_CHALLENGE,
        'suffixed newer',
      );
    });

    it('a percent-encoded cookie value (dots as %2E) is decoded: 200', async () => {
      const token = await issuer.mintToken({}, { userId: 'user_ours' });
      const encoded = encodeURIComponent(token).replace(/\./g, '%2E');
      expect(encoded).toContain('%2E');
      const res = await me(server.port, `__session=${encoded}; __client_uat=1`);
      expect({ status: res.status, user: res.status === 200 ? userOf(res) : res.body }).toEqual({ status: 200, user: 'user_ours' });
    });

    it("two __session cookies (parent domain and subdomain), another instance's and ours: 200 as ours, either order", async () => {
      const theirs = await other.mintToken({}, { userId: 'user_other_app' });
      const ours = await issuer.mintToken({}, { userId: 'user_ours' });
      for (const cookie of [`__session=${theirs}; __session=${ours}; __client_uat=1`, `__session=${ours}; __session=${theirs}; __client_uat=1`]) {
        const res = await me(server.port, cookie);
        expect({ status: res.status, user: res.status === 200 ? userOf(res) : res.body }).toEqual({ status: 200, user: 'user_ours' });
      }
    });

    it('two __session cookies of ours for different users: 400 request-invalid', async () => {
      const alice = await issuer.mintToken({}, { userId: 'user_alice' });
      const bob = await issuer.mintToken({}, { userId: 'user_bob' });
      for (const port of [server.port, optionalServer.port]) {
        expectOurs(await me(port, `__session=${alice}; __session=${bob}; __client_uat=1`), 400, 'request-invalid', DIFFERENT_USERS_CHALLENGE, `port ${port}`);
      }
      expectMastra(await raw(standalone.port, 'GET', '/api/agents', { Cookie: `__session=${alice}; __session=${bob}; __client_uat=1` }), 401, 'standalone');
    });
  });
});
