/**
 * Mastra's built-in server routes as a `RouteTable`, so a request can be mapped to the Mastra route (and the
 * permission Mastra's RBAC would require for it) before Mastra itself routes it.
 */
import { SERVER_ROUTES, getEffectivePermission, type ServerRoute } from '@mastra/server/server-adapter';
import { RouteTable, type MemoryResourceRule, type RunAccess } from '../core/routes.js';

/**
 * Routes Mastra serves without authentication (`requiresAuth: false`), as 'METHOD /path', e.g. 'GET /auth/me'.
 * Mastra never asks the auth provider about them, so they are left out of the table; listed for a start-up log line.
 */
export const MASTRA_PUBLIC_ROUTES: readonly string[] = Object.freeze(
  SERVER_ROUTES.filter((route) => route.requiresAuth === false).map((route) => `${route.method} ${route.path}`),
);

/**
 * The routes whose body Mastra's client sends as multipart (`FormData`): voice transcription, with the audio. Mastra
 * parses a multipart body on any route with a body, so the Express middleware refuses one everywhere else. Their body
 * schema keeps only its own fields, so a body cannot replace the agent of the path (a policy need not see it).
 * `__tests__/mastra/routes.test.ts` checks both against the installed Mastra.
 */
export const MULTIPART_ROUTES: readonly string[] = Object.freeze(['POST /agents/:agentId/voice/listen', 'POST /agents/:agentId/listen']);

let publicTable: RouteTable | undefined;

/** Mastra's public routes (`requiresAuth: false`: its `/auth/*` sign-in routes) as a route table, built once. */
export function mastraPublicRouteTable(): RouteTable {
  return (publicTable ??= new RouteTable(
    MASTRA_PUBLIC_ROUTES.map((route) => {
      const space = route.indexOf(' ');
      return { method: route.slice(0, space), path: route.slice(space + 1), permission: null };
    }),
  ));
}

/**
 * Routes whose permission is not the one Mastra derives, because they do something else than the name says:
 * `POST /agents/:agentId/clone` writes a new stored agent (Mastra derives `agents:execute` from the method, so a
 * caller allowed to run the agent could create stored agents, which `POST /stored/agents` refuses it). It takes the
 * permission of that direct way. `__tests__/mastra/routes.test.ts` checks each against the installed Mastra.
 */
export const PERMISSION_CORRECTIONS: ReadonlyMap<string, string> = new Map([['POST /agents/:agentId/clone', 'stored-agents:write']]);

/**
 * Mastra's authenticated routes that act on an agent or workflow named in the request body rather than the path
 * (the OpenAI-compatible Responses and Conversations APIs, the workflow event broker, processor runs, channel
 * connections, an observational-memory status, a schedule, an experiment run over a dataset). `__tests__/mastra/routes.test.ts` checks the list against the body schemas of the installed Mastra.
 */
export const BODY_ADDRESSED_ROUTES: readonly string[] = Object.freeze([
  'POST /v1/responses',
  'POST /v1/conversations',
  'POST /workflows/events',
  'POST /processors/:processorId/execute',
  'POST /channels/:platform/connect',
  'POST /memory/observational-memory/buffer-status',
  'POST /schedules',
  'POST /datasets/:datasetId/experiments',
]);

/**
 * Mastra's JSON-RPC routes, as 'METHOD /path', with the calls (the body's `method`) whose results Mastra keeps to
 * the signed-in user. On the A2A route only sending a message is: Mastra checks a continued task's resource against
 * the request's. Its other calls (`tasks/get`, `tasks/list`, `tasks/cancel`, `tasks/resubscribe`, the push
 * notification configs, in either protocol version's names) serve a stored task by agent and task id alone, whoever
 * asks, so the adapters refuse them. The extended agent card is not configurable in Mastra (always an error).
 * `__tests__/mastra/routes.test.ts` checks the route and the method names against the installed Mastra.
 */
export const SCOPED_RPC_CALLS: ReadonlyMap<string, readonly string[]> = new Map([
  [
    'POST /a2a/:agentId',
    Object.freeze(['message/send', 'message/stream', 'SendMessage', 'SendStreamingMessage', 'agent/getAuthenticatedExtendedCard', 'GetExtendedAgentCard']),
  ],
]);

const AGENT = Object.freeze(['agentId']);

/**
 * Mastra's authenticated routes that read the agent (or workflow) they act on from the query string, not the path:
 * an agent's memory (`GET /memory/threads?agentId=`), its background tasks, the schedules of an agent or workflow.
 * The query's id is in `ctx.resource.params`, so a rule about one agent holds there too.
 * `__tests__/mastra/routes.test.ts` checks the list against the query schemas of the installed Mastra.
 */
export const QUERY_ADDRESSED_ROUTES: Readonly<Record<string, readonly string[]>> = Object.freeze({
  'GET /memory/status': AGENT,
  'GET /memory/config': AGENT,
  'GET /memory/observational-memory': AGENT,
  'GET /memory/threads': AGENT,
  'POST /memory/threads': AGENT,
  'GET /memory/threads/:threadId': AGENT,
  'PATCH /memory/threads/:threadId': AGENT,
  'DELETE /memory/threads/:threadId': AGENT,
  'GET /memory/threads/:threadId/messages': AGENT,
  'GET /memory/threads/:threadId/working-memory': AGENT,
  'POST /memory/threads/:threadId/working-memory': AGENT,
  'POST /memory/threads/:threadId/clone': AGENT,
  'POST /memory/threads/:threadId/transfer': AGENT,
  'POST /memory/save-messages': AGENT,
  'POST /memory/messages/delete': AGENT,
  'GET /memory/search': AGENT,
  'GET /memory/network/status': AGENT,
  'GET /memory/network/threads': AGENT,
  'POST /memory/network/threads': AGENT,
  'GET /memory/network/threads/:threadId': AGENT,
  'PATCH /memory/network/threads/:threadId': AGENT,
  'DELETE /memory/network/threads/:threadId': AGENT,
  'GET /memory/network/threads/:threadId/messages': AGENT,
  'POST /memory/network/save-messages': AGENT,
  'POST /memory/network/messages/delete': AGENT,
  'GET /background-tasks': AGENT,
  'GET /background-tasks/stream': AGENT,
  'GET /schedules': Object.freeze(['agentId', 'workflowId']),
});

/**
 * The routes that stream a workflow run and keep its events in Mastra's server cache, under the run id alone: what its
 * observe routes replay to anyone with a run of that id, of any workflow. An agent-builder action is a workflow of the
 * same id (its handlers call the workflow ones). `__tests__/mastra/routes.test.ts` checks the list against the
 * installed Mastra's handlers.
 */
export const RUN_STREAM_ROUTES: readonly string[] = Object.freeze([
  'POST /workflows/:workflowId/stream',
  'POST /workflows/:workflowId/stream-legacy',
  'POST /workflows/:workflowId/resume-stream',
  'POST /workflows/:workflowId/time-travel-stream',
  'POST /agent-builder/:actionId/stream',
  'POST /agent-builder/:actionId/stream-legacy',
  'POST /agent-builder/:actionId/resume-stream',
]);

/**
 * The routes that replay what the stream routes keep in Mastra's server cache, read by the run id alone (an
 * agent-builder action's call the workflow ones). `__tests__/mastra/routes.test.ts` checks the list against the
 * installed Mastra's handlers.
 */
export const RUN_OBSERVE_ROUTES: readonly string[] = Object.freeze(
  ['workflows/:workflowId', 'agent-builder/:actionId'].flatMap((base) => ['observe', 'observe-stream-legacy'].map((action) => `POST /${base}/${action}`)),
);

/**
 * Mastra's run routes that make a run of the id the request chooses (`?runId=`), or hand back the run of that id if
 * one exists, with no check of whose it is: Bob read Alice's running run by its id (`stream`), and started her finished
 * one again over its stored record (`start-async`). They tie the run id to its maker and refuse it to others; Mastra
 * checks the owner on its other run routes.
 */
export const RUN_START_ROUTES: readonly string[] = Object.freeze(
  ['workflows/:workflowId', 'agent-builder/:actionId'].flatMap((base) =>
    ['create-run', 'start', 'start-async', 'stream', 'stream-legacy'].map((action) => `POST /${base}/${action}`),
  ),
);

/**
 * Mastra's routes that store a `requestContext` from the request body, by where it sits ('body': the body's own,
 * 'items': each of its `items`): dataset items, which an experiment later runs its agent or workflow with, the item's
 * keys over the server's own. Mastra drops its reserved keys from a single item, not from a batch, so a user's item
 * named another user's resource and thread, and the agent read and wrote that user's memory (found by an attacker
 * session). `__tests__/mastra/routes.test.ts` checks the list against the installed Mastra's body schemas.
 */
export const STORED_CONTEXT_ROUTES: ReadonlyMap<string, 'body' | 'items'> = new Map([
  ['POST /datasets/:datasetId/items', 'body'],
  ['PATCH /datasets/:datasetId/items/:itemId', 'body'],
  ['POST /datasets/:datasetId/items/batch', 'items'],
]);

const SERVER_CONTEXT_KEYS: ReadonlySet<string> = new Set([
  'organizationId',
  'user',
  'userPermissions',
  'userRoles',
  'MastraMemory',
  'knowledgeResourceId',
  'runId',
  'channel',
]);

/**
 * A request-context key the server sets itself, or that Mastra reads to choose whose data a run reads or writes:
 * Mastra's reserved ones (`isReservedRequestContextKey` of `@mastra/server`: the `mastra__` keys, the user's resource,
 * thread, permissions and roles among them, and `organizationId`), its other `mastra__` and `__mastra` keys (the
 * response cache's scope and key, `mastra__response_cache_context`), `user`, `userPermissions` and `userRoles` (where
 * Mastra's auth puts the signed-in user and, with RBAC, their permissions and roles), `MastraMemory` (the thread and
 * resource of the memory processors of an agent without `memory`), `knowledgeResourceId` (whose knowledge
 * observational memory's knowledge tools serve), `runId` (the run an MCP server's workflow tool starts, whoever made
 * it: `MCPServer`'s `run_<workflow>` tools) and `channel` (the chat thread AgentChannels' tools act in, as the app's
 * bot). Mastra drops only the reserved ones from a client's request context (UPSTREAM 33).
 */
export function isServerContextKey(key: string): boolean {
  return key.startsWith('mastra__') || key.startsWith('__mastra') || SERVER_CONTEXT_KEYS.has(key);
}

/**
 * Keys Mastra's server cache holds other lists under, as prefixes: its durable agents' streams
 * (`CachingPubSub`, `pubsub:agent.stream.<runId>`). A workflow streamed under such a run id would read and add to one.
 * `__tests__/mastra/routes.test.ts` checks the prefix against the installed Mastra.
 */
export const RESERVED_RUN_ID_PREFIXES: readonly string[] = Object.freeze(['pubsub:']);

/** How a route acts on a workflow run (`RouteDefinition.run`), or undefined. */
function runAccessOf(route: ServerRoute): RunAccess | undefined {
  const key = `${route.method} ${route.path}`;
  if (RUN_STREAM_ROUTES.includes(key)) return 'streams';
  if (RUN_OBSERVE_ROUTES.includes(key)) return 'observes';
  return namesRun(route) ? 'names' : undefined;
}

/** Whether a route of a workflow (or agent-builder action) acts on a run: `:runId` in its path, or `runId` in its query. */
function namesRun(route: ServerRoute): boolean {
  if (!/^\/(?:workflows\/:workflowId|agent-builder\/:actionId)\//.test(route.path)) return false;
  return route.path.includes('/:runId') || schemaLists(route.queryParamSchema, RUN);
}

/** The query ids of a route: its agent or workflow (`QUERY_ADDRESSED_ROUTES`), and a workflow run's `runId`. */
function queryIds(route: ServerRoute): readonly string[] | undefined {
  const ids = QUERY_ADDRESSED_ROUTES[`${route.method} ${route.path}`];
  if (!namesRun(route) || !schemaLists(route.queryParamSchema, RUN)) return ids;
  return ids === undefined ? RUN : [...ids, 'runId'];
}

const RUN = Object.freeze(['runId']);

/**
 * Mastra's routes that serve the memory resource the request names, with no check of Mastra's that it is the caller's.
 * Both adapters let through only the signed-in user's own resource (as `mapUserToResourceId` maps it):
 * - AgentController sessions (their threads, their messages, the session's state): a session's `:resourceId` in the
 *   path (every `/agent-controller/:controllerId/sessions/:resourceId/...` route), the `resourceId` of a new session
 *   (body or query), the `newResourceId` a session moves to. A request must name one (`required`).
 * - Observational memory (the model's running summary of a user's conversations): the record of the `resourceId` in
 *   the query, or in the body of buffer-status. A request that names none reads no record. A thread's record is stored
 *   under the thread id alone: `protectMemory` serves it only to the thread's owner.
 * `__tests__/mastra/routes.test.ts` checks these against the installed Mastra.
 */
export const RESOURCE_NAMING_ROUTES: Readonly<Record<string, { readonly keys: readonly string[]; readonly required: boolean }>> = Object.freeze({
  'POST /agent-controller/:controllerId/sessions': Object.freeze({ keys: Object.freeze(['resourceId']), required: true }),
  'POST /agent-controller/:controllerId/sessions/:resourceId/resource': Object.freeze({ keys: Object.freeze(['resourceId', 'newResourceId']), required: true }),
  'GET /memory/observational-memory': Object.freeze({ keys: Object.freeze(['resourceId']), required: false }),
  'GET /memory/status': Object.freeze({ keys: Object.freeze(['resourceId']), required: false }),
  'POST /memory/observational-memory/buffer-status': Object.freeze({ keys: Object.freeze(['resourceId']), required: false }),
});

/**
 * Mastra's routes that serve or act on every user's data, whoever asks, refused by both adapters (403): two
 * AgentController routes that list every user's resources and running threads; restarting every user's active runs of
 * a workflow (any user allowed the workflow ran again every other user's interrupted runs, their steps' side effects
 * included: found by an attacker session; call `restartAllActiveWorkflowRuns()` from server code); the push-broker
 * entry `POST /workflows/events`, which starts, fails, cancels or resumes the run its body names, whoever's (found by an
 * attacker session; a broker's push goes to a route of the app's own that checks the broker and calls
 * `mastra.handleWorkflowEvent(event)`); and the schedules. A schedule runs its agent in the
 * thread, and as the resource, its body names, and Mastra keeps no owner: any signed-in user listed every schedule
 * (prompts, thread ids), and created, changed or fired one that writes into another user's thread. Manage schedules in
 * the server's own code (`mastra.schedules`). `__tests__/mastra/routes.test.ts` checks the list against the installed
 * Mastra.
 */
export const EVERY_USER_ROUTES: readonly string[] = Object.freeze([
  'GET /agent-controller/:controllerId/sessions/:resourceId/resources',
  'GET /agent-controller/:controllerId/active-runs',
  'POST /workflows/:workflowId/restart-all-active-workflow-runs',
  'POST /workflows/:workflowId/restart-all-active-workflow-runs-async',
  'POST /workflows/events',
  'GET /schedules',
  'POST /schedules',
  'GET /schedules/:scheduleId',
  'PATCH /schedules/:scheduleId',
  'DELETE /schedules/:scheduleId',
  'GET /schedules/:scheduleId/triggers',
  'POST /schedules/:scheduleId/pause',
  'POST /schedules/:scheduleId/resume',
  'POST /schedules/:scheduleId/run',
]);

const SESSION_RESOURCE = Object.freeze({ keys: Object.freeze(['resourceId']), required: true });

/** Whether a route's zod object schema lists one of `keys`. */
function schemaLists(schema: unknown, keys: readonly string[]): boolean {
  const shape = (schema as { shape?: object } | undefined)?.shape;
  return typeof shape === 'object' && shape !== null && keys.some((key) => Object.hasOwn(shape, key));
}

/** The memory resource rule of a route (`RouteDefinition.memoryResource`), or undefined. */
function memoryResourceOf(route: ServerRoute): MemoryResourceRule | undefined {
  const key = `${route.method} ${route.path}`;
  if (EVERY_USER_ROUTES.includes(key)) return 'everyone';
  const named = RESOURCE_NAMING_ROUTES[key] ?? (route.path.startsWith('/agent-controller/:controllerId/sessions/:resourceId') ? SESSION_RESOURCE : undefined);
  if (named === undefined) return undefined;
  const { keys, required } = named;
  // Mastra hands the handler the body over the path and query: a body without a schema, or whose schema lists a key.
  const inBody = BODY_METHODS.has(route.method) && (route.bodySchema === undefined || schemaLists(route.bodySchema, keys));
  return Object.freeze({ keys, inBody, required });
}

/** The methods whose routes Mastra's adapters hand a request body. */
export const BODY_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

let table: RouteTable | undefined;

/** Mastra's MCP transport routes (Streamable HTTP, legacy SSE): the OAuth protected resources (RFC 9728). */
export const MCP_TRANSPORT_ROUTES: readonly string[] = Object.freeze(['/mcp/:serverId/mcp', '/mcp/:serverId/sse', '/mcp/:serverId/messages']);

/**
 * Every Mastra route of an MCP server, by the parameter that names the server (null: all of them, the registry's
 * list): the transports, and the REST routes that list and run the same server's tools and resources
 * (`/mcp/:serverId/tools/:toolId/execute`, `/mcp/:serverId/resources/read`, `/mcp/v0/servers/:id`). An OAuth access
 * token bound to one server's endpoint holds on these routes of that server only.
 */
export const MCP_SERVER_ROUTES: ReadonlyMap<string, string | null> = new Map(
  SERVER_ROUTES.filter((route) => route.path.startsWith('/mcp/')).map((route) => [
    route.path,
    route.path.includes('/:serverId') ? 'serverId' : route.path.startsWith('/mcp/v0/servers/:id') ? 'id' : null,
  ]),
);

/**
 * The table of Mastra's authenticated routes with their effective permission. Built on first use (compiling ~400
 * routes costs a little; apps that never need it don't pay), then shared: it is immutable.
 */
export function mastraRouteTable(): RouteTable {
  return (table ??= new RouteTable(
    SERVER_ROUTES.filter((route) => route.requiresAuth !== false).map((route) => ({
      method: route.method,
      path: route.path,
      permission: PERMISSION_CORRECTIONS.get(`${route.method} ${route.path}`) ?? getEffectivePermission(route),
      addressedInBody: BODY_ADDRESSED_ROUTES.includes(`${route.method} ${route.path}`),
      queryParams: queryIds(route),
      // Mastra hands a handler the body over the query; a body schema drops the keys it does not list (the memory
      // routes' list no agentId), a route without one (`DELETE /memory/threads/:threadId`, the observe routes) passes
      // them on.
      bodyParams: route.bodySchema === undefined && BODY_METHODS.has(route.method) ? queryIds(route) : undefined,
      // Voice transcription's body schema ({ audio, options }) drops an agentId a multipart body carries, and so do the
      // workflow-run routes' body schemas a runId or workflowId (plain objects; routes.test.ts checks both).
      bodySetsPathParams: !MULTIPART_ROUTES.includes(`${route.method} ${route.path}`) && !(namesRun(route) && route.bodySchema !== undefined),
      run: runAccessOf(route),
      memoryResource: memoryResourceOf(route),
    })),
  ));
}
