/**
 * An OAuth access token is bound (`aud`, RFC 8707) to one MCP server of the app, and holds for that server only,
 * however its routes are reached: the MCP transport (`/mcp/:serverId/mcp`, `/sse`, `/messages`) and Mastra's REST
 * routes of the same server (`/mcp/:serverId/tools/:toolId/execute`, `/resources`, `/resources/read`,
 * `/mcp/v0/servers/:id`). Two real `@mastra/mcp` servers, `notes` and `billing`, under the README's MCP configuration
 * (no `audience` option), behind (a) `clerkMastraAuth` with the provider and (b) the provider alone.
 *
 * Found by an attacker session of our own: a token bound to `notes`, or to any other OAuth application of the Clerk
 * instance, read `billing`'s resources and ran its tools through the REST routes.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import { Mastra } from '@mastra/core/mastra';
import { createTool } from '@mastra/core/tools';
import { MastraServer } from '@mastra/express';
import { MCPServer } from '@mastra/mcp';
import { z } from 'zod';
import { clerkMastraAuth, createClerkAuth, type ClerkAuthOptions } from '../../src/index.js';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { invalidTokenChallenge } from '../support/errors.js';
import { DISCOVER_BODY, mcpClient, mcpTransport, serveLater } from './support.js';

const USER = 'user_mcp_aud';
let issuer: TestIssuer;
/** The MCP servers whose tool ran, in order. */
const ran: string[] = [];
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  issuer = await createTestIssuer();
});
afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await issuer.close();
});

function mcpServer(id: string): MCPServer {
  const secret = createTool({
    id: 'secret',
    description: `${id}'s tool`,
    inputSchema: z.object({}),
    execute: async () => {
      ran.push(id);
      return { server: id };
    },
  });
  return new MCPServer({
    id,
    name: id,
    version: '1.0.0',
    tools: { secret },
    appResources: { [`ui://${id}/dashboard`]: { name: `${id} dashboard`, html: `<p>${id} dashboard</p>` } },
  } as never);
}

type Setup = 'express' | 'provider';

/** notes and billing under the README's MCP configuration; `policy`: the README's policy, else none. */
async function start(setup: Setup, policy: boolean): Promise<string> {
  const server = await serveLater();
  closers.push(server.close);
  const options: ClerkAuthOptions = {
    ...issuer.authOptions,
    env: {},
    logger: false,
    acceptsToken: ['session_token', 'oauth_token'],
    protectedResource: { origin: server.base, scopes: ['profile', 'email'] },
  };
  if (policy) options.authorizeUser = (_user, ctx) => ctx.tokenType !== 'oauth_token' || ctx.resource?.route.startsWith('/mcp/') === true;
  const clerkAuth = createClerkAuth(options);
  const app = express();
  app.use(express.json());
  if (setup === 'express') app.use(clerkMastraAuth({ clerkAuth }));
  const auth = new MastraAuthClerk({ clerkAuth });
  const mastra = new Mastra({
    mcpServers: { notes: mcpServer('notes'), billing: mcpServer('billing') },
    server: { auth: auth as never, apiRoutes: setup === 'provider' ? auth.protectedResourceRoutes() : [] },
    logger: false,
  });
  await new MastraServer({ app, mastra, prefix: '/api' }).init();
  server.use(app);
  return server.base;
}

/** An OAuth access token as Clerk issues it for a client acting for USER, bound to `aud`. */
async function tokenFor(aud: string | string[]): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return issuer.signJwt(
    { iss: issuer.issuer, sub: USER, aud, client_id: 'client_notes', scp: ['profile'], jti: 'oat_aud', iat: now, nbf: now, exp: now + 600 },
    { header: { typ: 'at+jwt' } },
  );
}

async function call(url: string, token: string, body?: string): Promise<{ status: number; body: string; challenge: string | null }> {
  const res = await fetch(url, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body,
  });
  return { status: res.status, body: await res.text(), challenge: res.headers.get('www-authenticate') };
}

const WELL_KNOWN = '/.well-known/oauth-protected-resource';
const EXECUTE = JSON.stringify({ data: {} });
const READ = (server: string) => JSON.stringify({ uri: `ui://${server}/dashboard` });

/** Every route of one MCP server, as Mastra serves it under `/api` (its transport with `transport`). */
function routesOf(server: string, spelling = server, transport = true): Array<[string, string | undefined]> {
  return [
    ...(transport ? [[`/api/mcp/${spelling}/mcp`, DISCOVER_BODY] as [string, string]] : []),
    [`/api/mcp/${spelling}/tools`, undefined],
    [`/api/mcp/${spelling}/tools/secret`, undefined],
    [`/api/mcp/${spelling}/tools/secret/execute`, EXECUTE],
    [`/api/mcp/${spelling}/resources`, undefined],
    [`/api/mcp/${spelling}/resources/read`, READ(server)],
    [`/api/mcp/v0/servers/${spelling}`, undefined],
  ];
}

const AUDIENCE = 'The OAuth access token is not meant for this resource.';

function expectRefused(setup: Setup, base: string, res: { status: number; body: string; challenge: string | null }, path: string, note = ''): void {
  const label = `${path}${note}`;
  if (setup === 'express') {
    expect([label, res.status, JSON.parse(res.body)]).toEqual([label, 401, { error: 'token-invalid-audience', message: AUDIENCE }]);
    // A transport, spelled as published, is a resource the metadata describes: its 401 points there; the REST routes
    // and other spellings have no document.
    const transport = /^\/api\/mcp\/([^/]+)\/(mcp|sse|messages)$/.exec(path);
    const published = transport !== null && encodeURIComponent(decodeURIComponent(transport[1]!)) === transport[1];
    const challenge = invalidTokenChallenge(AUDIENCE);
    expect([label, res.challenge]).toEqual([label, published ? `${challenge}, resource_metadata="${base}${WELL_KNOWN}${path}"` : challenge]);
  } else {
    // Mastra answers a provider's refusal itself (no header of ours).
    expect([label, res.status, JSON.parse(res.body)]).toEqual([label, 401, { error: 'Invalid or expired token' }]);
  }
}

describe.each<[Setup, boolean]>([
  ['express', true],
  ['express', false],
  ['provider', true],
  ['provider', false],
])('%s, README policy %s: a token bound to the notes server', (setup, policy) => {
  let base: string;
  beforeAll(async () => {
    base = await start(setup, policy);
  });

  it('reaches every route of notes', async () => {
    const token = await tokenFor(`${base}/api/mcp/notes/mcp`);
    ran.length = 0;
    // The transport, with a real MCP client.
    const client = mcpClient();
    await client.connect(mcpTransport(`${base}/api/mcp/notes/mcp`, { token }));
    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['secret']);
    await client.close();
    for (const [path, body] of routesOf('notes', 'notes', false)) {
      const res = await call(`${base}${path}`, token, body);
      // Under the README's policy, `/api/mcp/notes/tools...` has a second reading, Mastra's `/tools...` under the
      // prefix `/api/mcp/notes`, which the policy refuses (README, Security model, "Aliases").
      const status = policy && path.includes('/tools') ? 403 : 200;
      expect([path, res.status]).toEqual([path, status]);
    }
    expect(ran).toEqual(policy ? [] : ['notes']);
  });

  it('reaches no route of billing, however spelled, and runs nothing there', async () => {
    const token = await tokenFor(`${base}/api/mcp/notes/mcp`);
    ran.length = 0;
    for (const spelling of ['billing', 'bil%6Cing', 'BILLING']) {
      for (const [path, body] of routesOf('billing', spelling)) expectRefused(setup, base, await call(`${base}${path}`, token, body), path);
    }
    expect(ran).toEqual([]);
  });

  it("a query or body naming billing on notes' routes reaches nothing of billing (Mastra's handler reads them over the path)", async () => {
    // Found by an attacker session of our own: `?serverId=billing` on notes' REST routes ran billing's tool and read
    // its resources (200) without a policy: Mastra hands its handler `{ ...path, ...query, ...body }`.
    const token = await tokenFor(`${base}/api/mcp/notes/mcp`);
    ran.length = 0;
    const named: Array<[string, string | undefined]> = [
      ['/api/mcp/notes/tools/secret/execute?serverId=billing', EXECUTE],
      ['/api/mcp/notes/tools?serverId=billing', undefined],
      ['/api/mcp/notes/tools/secret?serverId=billing', undefined],
      ['/api/mcp/notes/resources?serverId=billing', undefined],
      ['/api/mcp/notes/resources/read?serverId=billing', READ('billing')],
      ['/api/mcp/notes/resources?serverId=notes&serverId=billing', undefined],
      ['/api/mcp/notes/resources?serverId[]=billing', undefined],
      ['/api/mcp/v0/servers/notes?id=billing', undefined],
      ['/api/mcp/notes/tools/secret/execute', JSON.stringify({ serverId: 'billing', data: {} })],
      ['/api/mcp/notes/resources/read', JSON.stringify({ serverId: 'billing', uri: 'ui://billing/dashboard' })],
    ];
    for (const [path, body] of named) {
      const res = await call(`${base}${path}`, token, body);
      const served = !(setup === 'provider' && body?.includes('serverId'));
      if (served) expectRefused(setup, base, res, path.replace(/\?.*/, ''), ` (${path})`);
      // The provider alone never sees the body (README, Security model): Mastra's schema decides there.
      expect([path, res.body.includes('billing dashboard'), res.body.includes('"server":"billing"')]).toEqual([path, false, false]);
    }
    // The same id spelled again is no other server.
    expect((await call(`${base}/api/mcp/notes/resources?serverId=notes`, token)).status).toBe(200);
    // The provider alone let the body through: Mastra ran notes' tool (its handler takes the server from the path;
    // under the README's policy, the tool routes' second reading is refused).
    expect(ran).toEqual(setup === 'provider' && !policy ? ['notes'] : []);
  });

  it('a token of another OAuth application of the instance reaches no MCP route, not even the server list', async () => {
    const token = await tokenFor('https://other-app.example/');
    for (const [path, body] of [...routesOf('notes'), ['/api/mcp/v0/servers', undefined] as [string, undefined]]) {
      expectRefused(setup, base, await call(`${base}${path}`, token, body), path);
    }
  });

  it("a token naming notes' endpoint on another origin, or another prefix, is not notes'", async () => {
    for (const aud of ['https://elsewhere.example/api/mcp/notes/mcp', `${base}/v2/mcp/notes/mcp`, `${base}/api/mcp/notes`]) {
      const res = await call(`${base}/api/mcp/notes/tools`, await tokenFor(aud), undefined);
      expectRefused(setup, base, res, '/api/mcp/notes/tools', ` (aud ${aud})`);
    }
  });

  it('an aud that is not the published resource, however it would resolve, is no endpoint at all', async () => {
    // Each would resolve (as a URL, or through the route table) to billing's transport; the resource the metadata
    // publishes is one exact string, and something upstream may have judged these strings as written (as notes').
    const auds = [
      `${base}/api/mcp/notes/../billing/mcp`,
      `${base}/api/mcp/notes/%2e%2e/billing/mcp`,
      `${base}/api/mcp/notes\\..\\billing\\mcp`,
      `${base.replace('http://', 'http://notes@')}/api/mcp/billing/mcp`,
      `${base}/v2/../api/mcp/billing/mcp`,
      `${base}/api/mcp/billing/mcp?`,
      `${base}/API/MCP/billing/MCP`,
      `${base}/api/mcp/bil%6Cing/mcp`,
      `${base}/api/mcp/billing/mcp/`,
      ` ${base}/api/mcp/billing/mcp`,
      `${base}/api/mcp/bil\nling/mcp`,
    ];
    for (const aud of auds) {
      for (const [path, body] of [
        ['/api/mcp/billing/mcp', DISCOVER_BODY],
        ['/api/mcp/billing/resources', undefined],
      ] as Array<[string, string | undefined]>) {
        expectRefused(setup, base, await call(`${base}${path}`, await tokenFor(aud), body), path, ` (aud ${JSON.stringify(aud)})`);
      }
    }
  });

  it('a token and a request that spell the server alike, but not as published, reach nothing of it', async () => {
    // Express and Mastra decode the id (and fold the route's letters): `bil%6Cing` is billing to them.
    for (const [spelling, prefix] of [
      ['bil%6Cing', '/api'],
      ['%62illing', '/api'],
    ]) {
      const token = await tokenFor(`${base}${prefix}/mcp/${spelling}/mcp`);
      ran.length = 0;
      for (const [path, body] of routesOf('billing', spelling)) {
        expectRefused(setup, base, await call(`${base}${path}`, token, body), path, ` (aud spelled ${spelling})`);
      }
      expect(ran).toEqual([]);
    }
  });

  it('the metadata describes each transport as published, and no other spelling of it', async () => {
    const metadata = async (path: string) => {
      const res = await fetch(`${base}${WELL_KNOWN}${path}`);
      return [path, res.status, res.status === 200 ? ((await res.json()) as { resource: string }).resource : null];
    };
    expect(await metadata('/api/mcp/billing/mcp')).toEqual(['/api/mcp/billing/mcp', 200, `${base}/api/mcp/billing/mcp`]);
    // A client that read a document for these would get a token the audience check refuses: no document at all.
    // (The Express middleware goes on to the app, which wants a token; Mastra's metadata route answers 404.)
    for (const path of ['/api/mcp/bil%6Cing/mcp', '/api/mcp/%62illing/sse', '/api/mcp/bil%6cing/messages']) {
      expect(await metadata(path)).toEqual([path, setup === 'express' ? 401 : 404, null]);
    }
  });

  it('the server list takes a token bound to any MCP server of the app', async () => {
    const res = await call(`${base}/api/mcp/v0/servers`, await tokenFor(`${base}/api/mcp/notes/mcp`));
    expect(res.status).toBe(200);
  });

  it("a legacy SSE client's token (bound to /sse) holds on the same server's message route, not on another's", async () => {
    const token = await tokenFor(`${base}/api/mcp/notes/sse`);
    // No SSE session: Mastra answers the message itself (not an authentication refusal).
    const own = await call(`${base}/api/mcp/notes/messages?sessionId=none`, token, DISCOVER_BODY);
    expect(own.status).not.toBe(401);
    expect(own.status).toBeLessThan(500);
    expectRefused(setup, base, await call(`${base}/api/mcp/billing/messages?sessionId=none`, token, DISCOVER_BODY), '/api/mcp/billing/messages');
  });
});
