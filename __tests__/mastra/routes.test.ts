/**
 * The table of Mastra's real routes (`SERVER_ROUTES`): lookups by hand, then every authenticated route registered in
 * real Express 5 and Express 4 apps (mounted at '/api' as Mastra's default prefix) and requested with several
 * encodings: Express's chosen route and decoded `req.params` must equal our first reading under '/api'.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Agent } from 'node:http';
import type { Express } from 'express';
import express from 'express';
import express4 from 'express4';
import { SERVER_ROUTES, getEffectivePermission } from '@mastra/server/server-adapter';
import type { RouteResource } from '../../src/core/routes.js';
import {
  BODY_ADDRESSED_ROUTES,
  MASTRA_PUBLIC_ROUTES,
  MCP_SERVER_ROUTES,
  MCP_TRANSPORT_ROUTES,
  MULTIPART_ROUTES,
  PERMISSION_CORRECTIONS,
  QUERY_ADDRESSED_ROUTES,
  RUN_OBSERVE_ROUTES,
  RUN_STREAM_ROUTES,
  STORED_CONTEXT_ROUTES,
  isServerContextKey,
  RESOURCE_NAMING_ROUTES,
  EVERY_USER_ROUTES,
  SCOPED_RPC_CALLS,
  mastraRouteTable,
} from '../../src/mastra/routes.js';
import { z } from 'zod';
import { listen, sendRaw as send } from '../support/http.js';

const table = mastraRouteTable();
const AUTHENTICATED = SERVER_ROUTES.filter((route) => route.requiresAuth !== false);

/**
 * The top-level property names of a route schema as a client may send them (JSON Schema of the input, every branch of
 * a union): sees through Mastra's preprocessors and unions, which a look at `.shape` does not.
 */
function schemaKeys(schema: unknown): string[] {
  if (schema === undefined) return [];
  const json = z.toJSONSchema(schema as z.ZodType, { unrepresentable: 'any', io: 'input' }) as JsonSchema;
  const branches = [json, ...(json.anyOf ?? []), ...(json.oneOf ?? []), ...(json.allOf ?? [])];
  return [...new Set(branches.flatMap((branch) => Object.keys(branch.properties ?? {})))];
}
interface JsonSchema {
  properties?: Record<string, unknown>;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
}

describe('routes that name their agent or workflow in the body', () => {
  it('are exactly the listed ones: every authenticated route whose body names an agent or workflow its path does not', () => {
    const found = AUTHENTICATED.filter((route) => {
      const body = schemaKeys((route as { bodySchema?: unknown }).bodySchema);
      return body.some((key) => /^(agent_?id|workflow_?id|event|targetId)$/i.test(key)) && !/:(agentId|workflowId)\b/.test(route.path);
    }).map((route) => `${route.method} ${route.path}`);
    expect(found.sort()).toEqual([...BODY_ADDRESSED_ROUTES].sort());
  });

  it('are marked in the table', () => {
    const marked = (method: string, path: string) => (table.match(method, path) as readonly RouteResource[]).map((r) => r.addressedInBody);
    expect(marked('POST', '/api/v1/responses')).toEqual([true]);
    expect(marked('POST', '/api/workflows/events')).toEqual([true]);
    expect(marked('POST', '/api/agents/finance/generate')).toEqual([false]);
  });
});

describe('routes that name their agent or workflow in the query', () => {
  it('are exactly the listed ones, with the ids each reads: every authenticated route whose query names one its path does not', () => {
    const found: Record<string, string[]> = {};
    for (const route of AUTHENTICATED) {
      const names = schemaKeys((route as { queryParamSchema?: unknown }).queryParamSchema).filter(
        (key) => /^(agentId|workflowId|toolId)$/.test(key) && !route.path.includes(`:${key}`),
      );
      if (names.length > 0) found[`${route.method} ${route.path}`] = names.sort();
    }
    const listed = Object.fromEntries(Object.entries(QUERY_ADDRESSED_ROUTES).map(([route, names]) => [route, [...names].sort()]));
    expect(found).toEqual(listed);
  });

  it('take those ids from a body only where the route has no body schema (a schema drops keys it does not list)', () => {
    const fromBody: string[] = [];
    for (const route of AUTHENTICATED) {
      const names = QUERY_ADDRESSED_ROUTES[`${route.method} ${route.path}`];
      const schema = (route as { bodySchema?: unknown }).bodySchema;
      if (names === undefined || route.method === 'GET') continue;
      if (schema === undefined) {
        fromBody.push(`${route.method} ${route.path}`);
        continue;
      }
      const output = z.toJSONSchema(schema as z.ZodType, { unrepresentable: 'any', io: 'output' }) as JsonSchema & { additionalProperties?: unknown };
      expect({ route: route.path, dropsUnknownKeys: output.additionalProperties === false, lists: schemaKeys(schema).filter((key) => names.includes(key)) }).toEqual({
        route: route.path,
        dropsUnknownKeys: true,
        lists: [],
      });
    }
    const marked = (method: string, path: string) => (table.match(method, path) as readonly RouteResource[])[0]!.bodyParams;
    expect(fromBody.sort()).toEqual(['DELETE /memory/network/threads/:threadId', 'DELETE /memory/threads/:threadId']);
    expect(marked('DELETE', '/api/memory/threads/t1')).toEqual(['agentId']);
    expect(marked('POST', '/api/memory/threads')).toEqual([]);
  });

  it('are marked in the table; the ids are filled in from the query by the core, not by the table', () => {
    const [threads] = table.match('GET', '/api/memory/threads') as readonly RouteResource[];
    expect(threads).toMatchObject({ route: '/memory/threads', params: {}, queryParams: ['agentId'] });
    const [messages] = table.match('GET', '/api/memory/threads/t1/messages') as readonly RouteResource[];
    expect(messages).toMatchObject({ params: { threadId: 't1' }, queryParams: ['agentId'] });
    expect((table.match('GET', '/api/agents/finance') as readonly RouteResource[])[0]!.queryParams).toEqual([]);
  });
});

const brief = (result: readonly RouteResource[] | 'invalid') =>
  result === 'invalid'
    ? result
    : result.map((r) => ({ method: r.method, route: r.route, prefix: r.prefix, params: { ...r.params }, permission: r.permission }));

describe('routes that act on a workflow run (a run id is tied to the workflow that streamed it)', () => {
  const key = (route: { method: string; path: string }) => `${route.method} ${route.path}`;
  const FAMILY = /^\/(?:workflows\/:workflowId|agent-builder\/:actionId)\//;

  it("stream into Mastra's server cache: the listed ones, the workflow handlers that push to it and the agent-builder ones calling them", () => {
    const handler = (route: unknown) => String((route as { handler: unknown }).handler);
    /** The agent-builder routes whose handlers call one of `routes` (an action is the workflow of its id). */
    const callingOneOf = (routes: typeof AUTHENTICATED) =>
      AUTHENTICATED.filter(
        (route) =>
          route.path.startsWith('/agent-builder/:actionId/') &&
          /workflowId: actionId/.test(handler(route)) &&
          routes.some((called) => called.path.replace(':workflowId', '') === route.path.replace('/agent-builder/:actionId', '/workflows/')),
      );
    const pushing = AUTHENTICATED.filter((route) => route.path.startsWith('/workflows/') && /cacheRunStream|listPush/.test(handler(route)));
    expect([...pushing, ...callingOneOf(pushing)].map(key).sort()).toEqual([...RUN_STREAM_ROUTES].sort());
    // The routes that replay the cache read it by the run id alone; the agent-builder ones call them.
    const replaying = AUTHENTICATED.filter((route) => /listFromTo/.test(handler(route)));
    expect(replaying.map(key).sort()).toEqual(['POST /workflows/:workflowId/observe', 'POST /workflows/:workflowId/observe-stream-legacy']);
    expect([...replaying, ...callingOneOf(replaying)].map(key).sort()).toEqual([...RUN_OBSERVE_ROUTES].sort());
  });

  it('are marked in the table: every workflow or agent-builder route with a run id in its path or query; the query id joins queryParams', () => {
    for (const route of AUTHENTICATED) {
      const inQuery = schemaKeys((route as { queryParamSchema?: unknown }).queryParamSchema).includes('runId');
      const expected = !FAMILY.test(route.path)
        ? undefined
        : RUN_STREAM_ROUTES.includes(key(route))
          ? 'streams'
          : RUN_OBSERVE_ROUTES.includes(key(route))
            ? 'observes'
            : inQuery || route.path.includes('/:runId')
              ? 'names'
              : undefined;
      const path = `/api${route.path.replace(/:(\w+)/g, 'p-$1')}`;
      const reading = (table.match(route.method, path) as readonly RouteResource[]).find((r) => r.route === route.path)!;
      expect({ route: key(route), run: reading.run, runIdInQuery: reading.queryParams.includes('runId') }).toEqual({
        route: key(route),
        run: expected,
        runIdInQuery: expected !== undefined && inQuery,
      });
    }
    // A run route's body schema drops a runId (and the path's ids) a body carries: its body cannot change the run.
    for (const route of AUTHENTICATED.filter((r) => FAMILY.test(r.path) && (r as { bodySchema?: unknown }).bodySchema !== undefined)) {
      const schema = (route as { bodySchema?: unknown }).bodySchema as z.ZodType;
      const output = z.toJSONSchema(schema, { unrepresentable: 'any', io: 'output' }) as JsonSchema & { additionalProperties?: unknown };
      const reading = (table.match(route.method, `/api${route.path.replace(/:(\w+)/g, 'p-$1')}`) as readonly RouteResource[]).find((r) => r.route === route.path);
      if (reading?.run === undefined) continue;
      expect({ route: key(route), dropsUnknownKeys: output.additionalProperties === false, lists: schemaKeys(schema).filter((k) => /^(runId|workflowId|actionId)$/.test(k)), bodySetsPathParams: reading.bodySetsPathParams }).toEqual({
        route: key(route),
        dropsUnknownKeys: true,
        lists: [],
        bodySetsPathParams: false,
      });
    }
    const observe = (table.match('POST', '/api/workflows/w1/observe') as readonly RouteResource[])[0]!;
    expect([observe.run, observe.bodyParams]).toEqual(['observes', ['runId']]);
    const stream = (table.match('POST', '/api/workflows/w1/stream') as readonly RouteResource[])[0]!;
    expect([stream.run, stream.bodyParams]).toEqual(['streams', []]);
  });
});

describe('routes that serve the memory resource the request names, unchecked by Mastra (AgentController sessions, observational memory)', () => {
  const key = (route: { method: string; path: string }) => `${route.method} ${route.path}`;
  it('are every AgentController route naming a resource in its path, query or body, each marked', () => {
    const found: Record<string, string[]> = {};
    for (const route of AUTHENTICATED.filter((r) => r.path.startsWith('/agent-controller/'))) {
      const r = route as { queryParamSchema?: unknown; bodySchema?: unknown };
      const names = [...schemaKeys(r.queryParamSchema), ...schemaKeys(r.bodySchema), ...(route.path.includes('/:resourceId') ? ['resourceId'] : [])];
      const named = [...new Set(names.filter((name) => /resourceId$/i.test(name)))].sort();
      if (named.length > 0) found[key(route)] = named;
    }
    for (const [route, names] of Object.entries(found)) {
      const reading = (table.match(route.split(' ')[0]!, `/api${route.split(' ')[1]!.replace(/:(\w+)/g, 'p-$1')}`) as readonly RouteResource[]).find(
        (r) => `${r.method} ${r.route}` === route,
      )!;
      const rule = reading.memoryResource;
      expect({ route, covered: rule === 'everyone' || names.every((name) => rule?.keys.includes(name) === true) }).toEqual({ route, covered: true });
    }
    expect(Object.keys(RESOURCE_NAMING_ROUTES).filter((route) => route.includes(' /agent-controller/')).every((route) => Object.hasOwn(found, route))).toBe(true);
  });

  it("are every observational-memory route (they read the record of the request's resourceId), each marked", () => {
    // The routes whose handler reads `getObservationalMemory` with the resource the request names.
    const observational = AUTHENTICATED.filter((route) => route.path === '/memory/status' || route.path.startsWith('/memory/observational-memory')).map(key);
    expect(observational.sort()).toEqual(Object.keys(RESOURCE_NAMING_ROUTES).filter((route) => route.includes(' /memory/')).sort());
    for (const route of observational) {
      const [method, path] = route.split(' ') as [string, string];
      const schema = (AUTHENTICATED.find((r) => key(r) === route) as { queryParamSchema?: unknown; bodySchema?: unknown })!;
      expect([route, [...schemaKeys(schema.queryParamSchema), ...schemaKeys(schema.bodySchema)].includes('resourceId')]).toEqual([route, true]);
      const reading = (table.match(method, `/api${path}`) as readonly RouteResource[]).find((r) => `${r.method} ${r.route}` === route)!;
      expect([route, reading.memoryResource]).toEqual([route, { keys: ['resourceId'], inBody: method === 'POST', required: false }]);
    }
  });

  it("that serve or act on every user's data are refused: the two AgentController lists, restarting every active run, the push-broker entry, every schedule route", () => {
    const schedules = AUTHENTICATED.filter((r) => r.path === '/schedules' || r.path.startsWith('/schedules/')).map(key);
    expect(schedules.length).toBeGreaterThan(0);
    expect([...EVERY_USER_ROUTES].sort()).toEqual(
      [
        ...schedules,
        'GET /agent-controller/:controllerId/sessions/:resourceId/resources',
        'GET /agent-controller/:controllerId/active-runs',
        ...AUTHENTICATED.filter((r) => r.path.startsWith('/workflows/:workflowId/restart-all-active-workflow-runs')).map(key),
        ...AUTHENTICATED.filter((r) => r.method === 'POST' && r.path === '/workflows/events').map(key),
      ].sort(),
    );
    for (const route of EVERY_USER_ROUTES) {
      const [method, path] = route.split(' ') as [string, string];
      const reading = (table.match(method, `/api${path.replace(/:(\w+)/g, 'p-$1')}`) as readonly RouteResource[]).find((r) => `${r.method} ${r.route}` === route)!;
      expect([route, reading.memoryResource]).toEqual([route, 'everyone']);
    }
  });
});

describe('routes that store a request context from the body (dataset items, run later over the server\'s own)', () => {
  it("are the installed Mastra's dataset item routes whose body, or each of its items, lists requestContext", () => {
    const found = new Map<string, 'body' | 'items'>();
    for (const route of AUTHENTICATED) {
      if (!route.path.startsWith('/datasets/:datasetId/items')) continue;
      const schema = (route as { bodySchema?: unknown }).bodySchema;
      if (schema === undefined) continue;
      const json = z.toJSONSchema(schema as z.ZodType, { unrepresentable: 'any', io: 'input' }) as JsonSchema & { properties?: { items?: { items?: JsonSchema } } };
      if (schemaKeys(schema).includes('requestContext')) found.set(`${route.method} ${route.path}`, 'body');
      else if (Object.keys(json.properties?.items?.items?.properties ?? {}).includes('requestContext')) found.set(`${route.method} ${route.path}`, 'items');
    }
    expect([...found].sort()).toEqual([...STORED_CONTEXT_ROUTES].sort());
  });

  it("count Mastra's reserved request-context keys and its auth's user as the server's own", () => {
    for (const key of ['mastra__resourceId', 'mastra__threadId', 'mastra__userPermissions', 'mastra__userRoles', 'mastra__authToken', 'organizationId', 'user']) {
      expect([key, isServerContextKey(key)]).toEqual([key, true]);
    }
    for (const key of ['locale', 'userId', 'mastra', 'tenant']) expect([key, isServerContextKey(key)]).toEqual([key, false]);
  });
});

describe('routes that take a multipart body (the Express middleware refuses one everywhere else)', () => {
  it("are the installed Mastra's routes whose body carries a file (the audio that @mastra/client-js sends as FormData)", () => {
    const found = SERVER_ROUTES.filter((route) => schemaKeys((route as { bodySchema?: unknown }).bodySchema).includes('audio'));
    expect(found.map((route) => `${route.method} ${route.path}`).sort()).toEqual([...MULTIPART_ROUTES].sort());
  });

  it('keep only their own body fields, so a body cannot replace the agent of the path (the policy need not see it)', () => {
    for (const key of MULTIPART_ROUTES) {
      const route = SERVER_ROUTES.find((candidate) => `${candidate.method} ${candidate.path}` === key)!;
      const schema = (route as { bodySchema?: z.ZodType }).bodySchema!;
      expect([key, schema.parse({ audio: 'x', agentId: 'ghost', agent_id: 'ghost' })]).toEqual([key, { audio: 'x' }]);
      const [resource] = table.match('POST', key.slice(5).replace(':agentId', 'public')) as RouteResource[];
      expect(resource!.bodySetsPathParams).toBe(false);
    }
    expect((table.match('POST', '/agents/public/generate') as RouteResource[])[0]!.bodySetsPathParams).toBe(true);
  });
});

describe('JSON-RPC routes (where only the calls Mastra keeps to their user get through)', () => {
  /** The body's `method` values a route's schema takes, in every branch. */
  function callsOf(schema: unknown): string[] {
    const json = z.toJSONSchema(schema as z.ZodType, { unrepresentable: 'any', io: 'input' }) as JsonSchema;
    return (json.oneOf ?? json.anyOf ?? [json]).flatMap((branch) => {
      const method = (branch.properties?.method ?? {}) as { enum?: string[]; const?: string };
      return method.enum ?? (method.const === undefined ? [] : [method.const]);
    });
  }

  it("are the installed Mastra's routes whose body names a call, and each listed call is one of the route's", () => {
    const rpc = AUTHENTICATED.filter((route) => schemaKeys((route as { bodySchema?: unknown }).bodySchema).includes('jsonrpc'));
    expect(rpc.map((route) => `${route.method} ${route.path}`)).toEqual([...SCOPED_RPC_CALLS.keys()]);
    for (const route of rpc) {
      const calls = callsOf((route as { bodySchema?: unknown }).bodySchema);
      // The A2A route takes both protocol versions' names; the task calls are the ones let through nowhere.
      expect(calls).toEqual(expect.arrayContaining(['tasks/get', 'GetTask', 'ListTasks', 'tasks/cancel', 'tasks/resubscribe']));
      expect(calls).toEqual(expect.arrayContaining([...SCOPED_RPC_CALLS.get(`${route.method} ${route.path}`)!]));
      for (const call of SCOPED_RPC_CALLS.get(`${route.method} ${route.path}`)!) expect(call).not.toMatch(/task/i);
    }
  });
});

describe('the routes of an MCP server (where an OAuth token bound to one server holds)', () => {
  it("are the installed Mastra's transports and the REST routes of the same servers, each with the parameter naming its server", () => {
    expect([...MCP_SERVER_ROUTES]).toEqual(
      expect.arrayContaining([
        ['/mcp/:serverId/mcp', 'serverId'],
        ['/mcp/:serverId/sse', 'serverId'],
        ['/mcp/:serverId/messages', 'serverId'],
        ['/mcp/:serverId/tools/:toolId/execute', 'serverId'],
        ['/mcp/:serverId/resources/read', 'serverId'],
        ['/mcp/v0/servers/:id', 'id'],
        ['/mcp/v0/servers', null],
      ]),
    );
    for (const route of MCP_TRANSPORT_ROUTES) expect(MCP_SERVER_ROUTES.get(route)).toBe('serverId');
    for (const [route, param] of MCP_SERVER_ROUTES) if (param !== null) expect(route).toContain(`/:${param}`);
  });
});

describe('mastraRouteTable()', () => {
  it('is built once and holds every authenticated route, none of the public ones', () => {
    expect(mastraRouteTable()).toBe(table);
    expect(AUTHENTICATED.length).toBeGreaterThan(300);
    expect(MASTRA_PUBLIC_ROUTES).toContain('GET /auth/me');
    expect(MASTRA_PUBLIC_ROUTES).toHaveLength(SERVER_ROUTES.length - AUTHENTICATED.length);
    expect(Object.isFrozen(MASTRA_PUBLIC_ROUTES)).toBe(true);
    expect(table.match('GET', '/api/auth/me')).toEqual([]);
    // Every authenticated route is found by its own path (params filled in), with Mastra's effective permission, or
    // with the listed correction.
    for (const route of AUTHENTICATED) {
      const path = '/api' + route.path.replace(/:[A-Za-z0-9_]+/g, 'p1');
      const method = route.method === 'ALL' ? 'PUT' : route.method;
      const result = table.match(method, path);
      expect(result).not.toBe('invalid');
      const found = (result as readonly RouteResource[]).find((r) => r.route === route.path && r.prefix === '/api');
      const expected = PERMISSION_CORRECTIONS.get(`${route.method} ${route.path}`) ?? getEffectivePermission(route);
      expect({ path, permission: found?.permission }).toEqual({ path, permission: expected });
    }
  });

  it('corrects the permission of a clone, which writes a stored agent: that of POST /stored/agents', () => {
    const mastraOwn = (method: string, path: string) => getEffectivePermission(SERVER_ROUTES.find((r) => r.method === method && r.path === path)!);
    // Still what Mastra derives (else the correction is stale), and the direct way's permission is what it takes.
    expect(mastraOwn('POST', '/agents/:agentId/clone')).toBe('agents:execute');
    expect(mastraOwn('POST', '/stored/agents')).toBe('stored-agents:write');
    expect([...PERMISSION_CORRECTIONS]).toEqual([['POST /agents/:agentId/clone', 'stored-agents:write']]);
    expect(brief(table.match('POST', '/api/agents/finance/clone'))).toEqual([
      { method: 'POST', route: '/agents/:agentId/clone', prefix: '/api', params: { agentId: 'finance' }, permission: 'stored-agents:write' },
    ]);
  });

  it('maps agent routes with decoded params and permission', () => {
    expect(brief(table.match('GET', '/api/agents/%66inance'))).toEqual([
      { method: 'GET', route: '/agents/:agentId', prefix: '/api', params: { agentId: 'finance' }, permission: 'agents:read' },
    ]);
    expect(brief(table.match('GET', '/API/Agents/x'))).toEqual([
      { method: 'GET', route: '/agents/:agentId', prefix: '/API', params: { agentId: 'x' }, permission: 'agents:read' },
    ]);
    expect(brief(table.match('GET', '/api/%61gents/x'))).toEqual([
      { method: 'GET', route: '/agents/:agentId', prefix: '/api', params: { agentId: 'x' }, permission: 'agents:read' },
    ]);
    expect(brief(table.match('GET', '/api/agents/a%2Fb'))).toMatchObject([{ route: '/agents/:agentId', params: { agentId: 'a/b' } }]);
    expect(table.match('GET', '/api/agents/%zz')).toBe('invalid');
    expect(brief(table.match('POST', '/api/agents/weatherAgent/generate'))).toEqual([
      { method: 'POST', route: '/agents/:agentId/generate', prefix: '/api', params: { agentId: 'weatherAgent' }, permission: 'agents:execute' },
    ]);
  });

  it('maps A2A routes', () => {
    expect(brief(table.match('POST', '/api/a2a/finance'))).toEqual([
      { method: 'POST', route: '/a2a/:agentId', prefix: '/api', params: { agentId: 'finance' }, permission: 'a2a:write' },
    ]);
    expect(brief(table.match('GET', '/api/.well-known/finance/agent-card.json'))).toEqual([
      { method: 'GET', route: '/.well-known/:agentId/agent-card.json', prefix: '/api', params: { agentId: 'finance' }, permission: 'a2a:read' },
    ]);
  });

  it('finds routes under any prefix', () => {
    for (const prefix of ['', '/mastra', '/v1/api']) {
      expect(brief(table.match('GET', `${prefix}/agents/finance`))).toEqual([
        { method: 'GET', route: '/agents/:agentId', prefix, params: { agentId: 'finance' }, permission: 'agents:read' },
      ]);
    }
  });

  it('returns every interpretation of an ambiguous path', () => {
    expect(brief(table.match('GET', '/api/agents/agents'))).toEqual([
      { method: 'GET', route: '/agents/:agentId', prefix: '/api', params: { agentId: 'agents' }, permission: 'agents:read' },
      { method: 'GET', route: '/agents', prefix: '/api/agents', params: {}, permission: 'agents:read' },
    ]);
    // A literal route declared before the param route comes first under the same prefix.
    expect((table.match('GET', '/api/agents/providers') as readonly RouteResource[]).map((r) => r.route)).toEqual([
      '/agents/providers',
      '/agents/:agentId',
    ]);
  });

  it('serves HEAD like GET, allows a trailing slash, not empty segments in the route', () => {
    expect(brief(table.match('HEAD', '/api/agents/x'))).toEqual(brief(table.match('GET', '/api/agents/x')));
    expect(brief(table.match('GET', '/api/agents/x/'))).toEqual(brief(table.match('GET', '/api/agents/x')));
    expect(table.match('GET', '/api/agents//x')).toEqual([]);
    expect(table.match('GET', '//api/agents/x')).toEqual([]);
  });

  it('maps memory, workflow, tool and MCP routes', () => {
    expect(brief(table.match('GET', '/api/memory/threads/thread%201'))).toEqual([
      { method: 'GET', route: '/memory/threads/:threadId', prefix: '/api', params: { threadId: 'thread 1' }, permission: 'memory:read' },
    ]);
    expect(brief(table.match('GET', '/api/memory/threads/t1/messages'))).toMatchObject([
      { route: '/memory/threads/:threadId/messages', params: { threadId: 't1' }, permission: 'memory:read' },
    ]);
    expect(brief(table.match('POST', '/api/workflows/w1/create-run'))).toEqual([
      {
        method: 'POST',
        route: '/workflows/:workflowId/create-run',
        prefix: '/api',
        params: { workflowId: 'w1' },
        permission: ['workflows:write', 'workflows:execute'],
      },
    ]);
    expect(brief(table.match('GET', '/api/workflows/w1/runs/r1'))).toMatchObject([
      { route: '/workflows/:workflowId/runs/:runId', params: { workflowId: 'w1', runId: 'r1' }, permission: 'workflows:read' },
    ]);
    expect(brief(table.match('POST', '/api/tools/t1/execute'))).toMatchObject([
      { route: '/tools/:toolId/execute', params: { toolId: 't1' }, permission: 'tools:execute' },
    ]);
    expect(brief(table.match('GET', '/api/tools'))).toMatchObject([{ route: '/tools', permission: 'tools:read' }]);
    expect(brief(table.match('DELETE', '/api/mcp/s1/mcp'))).toMatchObject([{ method: 'ALL', route: '/mcp/:serverId/mcp', permission: null }]);
  });

});

/** Every authenticated Mastra route in declaration order, answering with the route and Express's `req.params`. */
function mastraLikeApp(create: () => Express): Express {
  const app = create();
  const router = (create as unknown as { Router: () => Express }).Router();
  for (const route of AUTHENTICATED) {
    const method = route.method === 'ALL' ? 'all' : (route.method.toLowerCase() as 'get');
    router[method](route.path, (req, res) => {
      res.set('x-match', encodeURIComponent(JSON.stringify({ route: route.path, params: { ...req.params } })));
      res.status(200).end();
    });
  }
  app.use('/api', router);
  return app;
}

/** Values for params: plain, encoded letters, encoded slash, space, unicode, '+', dots, malformed. */
const VALUES = ['finance', '%66inance', 'FIN%61NCE', 'a%2Fb', 'a%20b', '%C3%A9t%C3%A9', 'a+b', 'x.json', '%zz', '%E0%A4%A'];

/** One request per route and value, with case and trailing-slash variations and a HEAD for GET routes. */
const CASES: Array<[string, string]> = AUTHENTICATED.flatMap((route, i) => {
  const value = VALUES[i % VALUES.length] as string;
  const path = route.path.replace(/:[A-Za-z0-9_]+/g, value);
  const method = route.method === 'ALL' ? 'POST' : route.method;
  const cases: Array<[string, string]> = [[method, '/api' + path]];
  if (i % 3 === 0) cases.push([method, '/API' + path.toUpperCase() + '/']);
  if (route.method === 'GET' && i % 4 === 0) cases.push(['HEAD', '/api' + path]);
  if (i % 5 === 0) cases.push(['PATCH', '/api' + path]);
  return cases;
});

describe.each([
  ['Express 5', express as unknown as () => Express],
  ['Express 4', express4 as unknown as () => Express],
])('mastraRouteTable() agrees with %s on every route', (_name, create) => {
  let server: Awaited<ReturnType<typeof listen>>;
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  beforeAll(async () => {
    server = await listen(mastraLikeApp(create));
  });
  afterAll(async () => {
    agent.destroy();
    await server.close();
  });

  it(`${CASES.length} requests`, async () => {
    const mismatches: unknown[] = [];
    for (let i = 0; i < CASES.length; i += 16) {
      await Promise.all(
        CASES.slice(i, i + 16).map(async ([method, path]) => {
          const got = await send(agent, server.port, method, path);
          const ours = table.match(method, path);
          let expected: { status: number; match?: unknown };
          if (ours === 'invalid') expected = { status: 400 };
          else {
            const first = ours.find((r) => r.prefix.toLowerCase() === '/api');
            expected = first ? { status: 200, match: { route: first.route, params: { ...first.params } } } : { status: 404 };
          }
          if (got.status !== expected.status || JSON.stringify(got.match) !== JSON.stringify(expected.match)) {
            mismatches.push({ method, path, express: got, ours: expected });
          }
        }),
      );
    }
    expect(mismatches).toEqual([]);
  });
});
