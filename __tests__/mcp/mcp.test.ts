/**
 * A Mastra MCP server (`@mastra/mcp`, served at `/api/mcp/:serverId/mcp`) protected by Clerk OAuth access tokens, driven
 * by a real MCP client (`@modelcontextprotocol/client`) over a listening socket: the 401 challenge that points at the
 * RFC 9728 Protected Resource Metadata, the document itself, discovery of Clerk's authorization server from it, and a
 * tool that sees the token's user.
 *
 * (a) Mastra inside Express behind `clerkMastraAuth`, (b) Mastra in Express with only `MastraAuthClerk`.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import { Mastra } from '@mastra/core/mastra';
import { createTool } from '@mastra/core/tools';
import { MastraServer } from '@mastra/express';
import { MCPServer } from '@mastra/mcp';
import { UnauthorizedError } from '@modelcontextprotocol/client';
import { z } from 'zod';
import { ClerkAuthError, clerkMastraAuth, createClerkAuth, type ClerkAuthOptions } from '../../src/index.js';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import type { AcceptsToken } from '../../src/core/token-types.js';
import { invalidTokenChallenge } from '../support/errors.js';
import { rawGet } from '../support/http.js';
import {
  DISCOVER_BODY,
  fakeAuthorizationServer,
  MemoryOAuthClient,
  mcpClient,
  mcpTransport,
  serveLater,
} from './support.js';

const SERVER_ID = 'clerk-tools';
const MCP_PATH = `/api/mcp/${SERVER_ID}/mcp`;
const WELL_KNOWN = '/.well-known/oauth-protected-resource';
const SCOPES = ['profile', 'email'];
const USER_ID = 'user_mcp_1';

let issuer: TestIssuer;
const closers: Array<() => Promise<void>> = [];
beforeAll(async () => {
  issuer = await createTestIssuer();
});
afterAll(async () => {
  await issuer.close();
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** What the tool reports: the user of the MCP request as Mastra hands it to tools. */
interface Seen {
  userId: string | null;
  clientId: string | null;
  scopes: string[];
  contextUser: unknown;
  /** The AuthInfo as JSON (a tool that logs or returns it): its fields, never the token. */
  json: unknown;
}

/**
 * The one tool of the MCP server: whom the request is for, read where Mastra puts it. `context.mcp.extra.authInfo` is
 * the transport's `req.auth` (the MCP SDK's `AuthInfo`; Clerk's `@clerk/mcp-tools` puts the user id in
 * `extra.userId`), and `requestContext.get('user')` is what the server's `mapAuthInfoToUser` made of it.
 */
const whoami = createTool({
  id: 'whoami',
  description: 'Says whom the request is for.',
  inputSchema: z.object({}),
  outputSchema: z.object({
    userId: z.string().nullable(),
    clientId: z.string().nullable(),
    scopes: z.array(z.string()),
    contextUser: z.unknown(),
    json: z.unknown(),
  }),
  execute: async (_input, context): Promise<Seen> => {
    const authInfo = (context as { mcp?: { extra?: { authInfo?: { clientId?: string; scopes?: string[]; extra?: { userId?: string } } } } })
      .mcp?.extra?.authInfo;
    return {
      userId: authInfo?.extra?.userId ?? null,
      clientId: authInfo?.clientId ?? null,
      scopes: authInfo?.scopes ?? [],
      contextUser: context?.requestContext?.get('user') ?? null,
      json: authInfo === undefined ? null : (JSON.parse(JSON.stringify(authInfo)) as unknown),
    };
  },
});

function mcpServer(): MCPServer {
  return new MCPServer({
    id: SERVER_ID,
    name: 'Clerk tools',
    version: '1.0.0',
    tools: { whoami },
    // What an app writes to give Mastra's FGA and tools a `user`: the Clerk user id the transport's AuthInfo carries.
    mapAuthInfoToUser: ({ authInfo }) => {
      const userId = (authInfo as { extra?: { userId?: unknown } } | undefined)?.extra?.userId;
      return typeof userId === 'string' ? { id: userId } : undefined;
    },
  });
}

/** The options plus `protectedResource` for this server's origin. */
function withProtectedResource(options: ClerkAuthOptions, origin: string): ClerkAuthOptions {
  return { ...options, protectedResource: { origin, scopes: SCOPES } };
}

/** An OAuth access token as Clerk issues it (`typ: at+jwt`), for `aud`. */
async function oauthToken(aud: string | undefined): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return issuer.signJwt(
    {
      iss: issuer.issuer,
      sub: USER_ID,
      aud,
      client_id: 'client_prebuilt',
      scp: SCOPES,
      jti: 'oat_0123456789abcdef',
      iat: now,
      nbf: now,
      exp: now + 600,
    },
    { header: { typ: 'at+jwt' } },
  );
}

function post(url: string, token?: string): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  if (token) headers.authorization = `Bearer ${token}`;
  return fetch(url, { method: 'POST', headers, body: DISCOVER_BODY });
}

interface Started {
  base: string;
  /** The resource: the MCP endpoint's URL. */
  mcpUrl: string;
  /** Its metadata URL: the well-known prefix inserted before the path (RFC 9728 section 3.1). */
  metadataUrl: string;
}

async function start(build: (base: string, mcpUrl: string) => Promise<express.Express>): Promise<Started> {
  const server = await serveLater();
  closers.push(server.close);
  const mcpUrl = `${server.base}${MCP_PATH}`;
  server.use(await build(server.base, mcpUrl));
  return { base: server.base, mcpUrl, metadataUrl: `${server.base}${WELL_KNOWN}${MCP_PATH}` };
}

/** (a): `clerkMastraAuth` in front of Mastra, one `createClerkAuth()` shared with the provider. */
function startExpress(options: { middlewareAccepts?: AcceptsToken } = {}): Promise<Started> {
  return start(async (base, mcpUrl) => {
    const clerkAuth = createClerkAuth(
      withProtectedResource(
        { ...issuer.authOptions, env: {}, logger: false, acceptsToken: ['session_token', 'oauth_token'], audience: [mcpUrl] },
        base,
      ),
    );
    const app = express();
    app.use(express.json());
    app.use(clerkMastraAuth({ clerkAuth, acceptsToken: options.middlewareAccepts ?? ['session_token', 'oauth_token'] }));
    const mastra = new Mastra({
      mcpServers: { [SERVER_ID]: mcpServer() },
      server: { auth: new MastraAuthClerk({ clerkAuth }) as never },
      logger: false,
    });
    await new MastraServer({ app, mastra, prefix: '/api' }).init();
    return app;
  });
}

/** (b): Mastra in Express with only the provider; the metadata through the provider's routes in `server.apiRoutes`. */
function startStandalone(): Promise<Started> {
  return start(async (base, mcpUrl) => {
    const provider = new MastraAuthClerk(
      withProtectedResource({ ...issuer.authOptions, env: {}, logger: false, acceptsToken: 'oauth_token', audience: [mcpUrl] }, base),
    );
    const app = express();
    app.use(express.json());
    const mastra = new Mastra({
      mcpServers: { [SERVER_ID]: mcpServer() },
      server: { auth: provider as never, apiRoutes: provider.protectedResourceRoutes() },
      logger: false,
    });
    await new MastraServer({ app, mastra, prefix: '/api' }).init();
    return app;
  });
}

/** The document every test expects for the resource `mcpUrl`: RFC 9728's fields, in Clerk's shape. */
function expectedMetadata(mcpUrl: string): Record<string, unknown> {
  return {
    resource: mcpUrl,
    authorization_servers: [issuer.issuer],
    scopes_supported: SCOPES,
    bearer_methods_supported: ['header'],
    token_types_supported: ['urn:ietf:params:oauth:token-type:access_token'],
    authorization_data_types_supported: ['oauth_scope'],
    authorization_data_locations_supported: ['header'],
    key_challenges_supported: [{ challenge_type: 'urn:ietf:params:oauth:pkce:code_challenge', challenge_algs: ['S256'] }],
    service_documentation: 'https://clerk.com/docs',
  };
}

/**
 * The whole OAuth dance of an MCP client against a protected server: connect without a token, get the 401, discover
 * the resource's metadata and Clerk's authorization server, register, send the user to authorize, exchange the code
 * (PKCE) for an access token bound to the resource, reconnect with it. Returns the connected client and what the
 * authorization server saw.
 */
async function authorizeAndConnect(mcpUrl: string, metadataUrl: string) {
  const clerk = fakeAuthorizationServer(issuer, USER_ID);
  const oauth = new MemoryOAuthClient();
  const first = mcpTransport(mcpUrl, { authProvider: oauth, fetch: clerk.fetch });
  const refused = await mcpClient()
    .connect(first)
    .then(
      () => undefined,
      (error: unknown) => error,
    );
  const discovery = [...clerk.requests];
  // The MCP request, the resource's metadata, then Clerk's authorization server metadata at the issuer it names.
  expect(discovery.slice(0, 3)).toEqual([
    `POST ${mcpUrl}`,
    `GET ${metadataUrl}`,
    `GET ${issuer.issuer}/.well-known/oauth-authorization-server`,
  ]);
  // The client stops there and sends the user to Clerk: a redirect, not an error of its own.
  expect(refused).toBeInstanceOf(UnauthorizedError);
  expect(oauth.authorizationUrl).toBeDefined();
  const { code, grant } = clerk.consent(oauth.authorizationUrl!);
  await first.finishAuth(code);
  const client = mcpClient();
  await client.connect(mcpTransport(mcpUrl, { authProvider: oauth, fetch: clerk.fetch }));
  closers.push(() => client.close());
  return { client, discovery, grant, clerk };
}

describe('(a) a Mastra MCP server behind clerkMastraAuth (Express)', () => {
  it('answers an MCP request without a token with 401 and a challenge that points at the metadata (RFC 9728 5.1)', async () => {
    const { mcpUrl, metadataUrl, base } = await startExpress();
    const res = await post(mcpUrl);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: 'token-missing', message: new ClerkAuthError('token-missing').message });
    expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="api", resource_metadata="${metadataUrl}"`);

    // Only MCP endpoints are protected resources: other routes keep the plain challenge.
    const agents = await fetch(`${base}/api/agents`);
    expect([agents.status, agents.headers.get('www-authenticate')]).toEqual([401, 'Bearer realm="api"']);
  });

  it('serves the metadata document at that URL, without a token: the resource and Clerk as its authorization server', async () => {
    const { mcpUrl, metadataUrl } = await startExpress();
    const res = await fetch(metadataUrl);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(await res.json()).toEqual(expectedMetadata(mcpUrl));
  });

  it('names the configured origin whatever the Host says: a forged Host cannot move the resource', async () => {
    const { mcpUrl, metadataUrl } = await startExpress();
    const port = Number(new URL(mcpUrl).port);
    const doc = await rawGet(port, `${WELL_KNOWN}${MCP_PATH}`, { Host: 'evil.example' });
    expect([doc.status, JSON.parse(doc.body)]).toEqual([200, expectedMetadata(mcpUrl)]);
    const challenge = await rawGet(port, MCP_PATH, { Host: 'evil.example' });
    expect([challenge.status, challenge.headers['www-authenticate']]).toEqual([
      401,
      `Bearer realm="api", resource_metadata="${metadataUrl}"`,
    ]);
  });

  it('serves no document for a path that is not an MCP endpoint', async () => {
    const { base } = await startExpress();
    const res = await fetch(`${base}${WELL_KNOWN}/api/agents`);
    expect(res.status).not.toBe(200);
  });

  it('a real MCP client discovers the metadata from the 401, gets a Clerk OAuth token for the resource, and calls the tool as the user', async () => {
    const { mcpUrl, metadataUrl } = await startExpress();
    const { client, discovery, grant, clerk } = await authorizeAndConnect(mcpUrl, metadataUrl);

    // Discovery as RFC 9728 and the MCP specification have it: the MCP request, the document the challenge named,
    // then Clerk's authorization server metadata at the issuer the document named, then registration.
    expect(discovery).toEqual([
      `POST ${mcpUrl}`,
      `GET ${metadataUrl}`,
      `GET ${issuer.issuer}/.well-known/oauth-authorization-server`,
      `POST ${issuer.issuer}/oauth/register`,
    ]);
    // The client asked for a token bound to the resource (RFC 8707), with the scopes the document lists.
    expect({ resource: grant.resource, scope: grant.scope }).toEqual({ resource: mcpUrl, scope: SCOPES.join(' ') });
    expect(clerk.issued[0]?.claims).toMatchObject({ aud: mcpUrl, sub: USER_ID, client_id: grant.clientId });

    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['whoami']);
    const result = await client.callTool({ name: 'whoami', arguments: {} });
    expect(result.isError).toBe(false);
    expect(result.structuredContent).toEqual({
      userId: USER_ID,
      clientId: grant.clientId,
      scopes: SCOPES,
      contextUser: { id: USER_ID },
      json: { clientId: grant.clientId, scopes: SCOPES, expiresAt: expect.any(Number), extra: { userId: USER_ID, sub: USER_ID } },
    });
  });

  it('takes an access token obtained beforehand (requestInit headers): no discovery, the same user', async () => {
    const { mcpUrl } = await startExpress();
    const client = mcpClient();
    await client.connect(mcpTransport(mcpUrl, { token: await oauthToken(mcpUrl) }));
    closers.push(() => client.close());
    const result = await client.callTool({ name: 'whoami', arguments: {} });
    expect(result.structuredContent).toEqual({ userId: USER_ID, clientId: 'client_prebuilt', scopes: SCOPES, contextUser: { id: USER_ID }, json: expect.objectContaining({ clientId: 'client_prebuilt' }) });
  });

  it('refuses a session token where only OAuth tokens are accepted: 401 token-type-mismatch, with the challenge', async () => {
    const { mcpUrl, metadataUrl } = await startExpress({ middlewareAccepts: 'oauth_token' });
    const session = await issuer.mintToken({}, { userId: USER_ID });
    const res = await post(mcpUrl, session);
    const message = new ClerkAuthError('token-type-mismatch').message;
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: 'token-type-mismatch', message });
    expect(res.headers.get('www-authenticate')).toBe(`${invalidTokenChallenge(message)}, resource_metadata="${metadataUrl}"`);

    await expect(mcpClient().connect(mcpTransport(mcpUrl, { token: session }))).rejects.toThrow();
  });

  it('refuses an OAuth token issued for another resource (audience): 401 token-invalid-audience, with the challenge', async () => {
    const { mcpUrl, metadataUrl } = await startExpress();
    const foreign = await oauthToken('https://elsewhere.example/mcp');
    const res = await post(mcpUrl, foreign);
    const message = new ClerkAuthError('token-invalid-audience').message;
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: 'token-invalid-audience', message });
    expect(res.headers.get('www-authenticate')).toBe(`${invalidTokenChallenge(message)}, resource_metadata="${metadataUrl}"`);

    await expect(mcpClient().connect(mcpTransport(mcpUrl, { token: foreign }))).rejects.toThrow();
  });
});

describe('(b) a Mastra MCP server in Express with only MastraAuthClerk', () => {
  it('answers 401 without a token, to a session token, and to an OAuth token for another resource', async () => {
    const { mcpUrl } = await startStandalone();
    const tokens = [undefined, await issuer.mintToken({}, { userId: USER_ID }), await oauthToken('https://elsewhere.example/mcp')];
    for (const token of tokens) {
      const res = await post(mcpUrl, token);
      expect([res.status, await res.json()]).toEqual([401, { error: 'Invalid or expired token' }]);
      // Mastra answers a provider's refusal itself, with no way for the provider to add a header (@mastra/server
      // coreAuthMiddleware): no `resource_metadata` here; clients fall back to the well-known URL (next test).
      expect(res.headers.get('www-authenticate')).toBeNull();
    }
  });

  it("serves the metadata document through the provider's routes (server.apiRoutes)", async () => {
    const { mcpUrl, metadataUrl } = await startStandalone();
    const res = await fetch(metadataUrl);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(expectedMetadata(mcpUrl));
  });

  it('a real MCP client finds the metadata at the well-known URL of the resource, gets a token and calls the tool', async () => {
    const { mcpUrl, metadataUrl } = await startStandalone();
    const { client, discovery, grant } = await authorizeAndConnect(mcpUrl, metadataUrl);
    // Without `resource_metadata` in the challenge, the client tries the path-inserted well-known URL first.
    expect(discovery.slice(0, 2)).toEqual([`POST ${mcpUrl}`, `GET ${metadataUrl}`]);
    expect(grant.resource).toBe(mcpUrl);
    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['whoami']);
    const result = await client.callTool({ name: 'whoami', arguments: {} });
    expect(result.isError).toBe(false);
    // @mastra/express 1.5.12 hands the MCP transport the Express request as it is: nothing sets `req.auth` (the Hono
    // adapter bridges Mastra's user with `applyMcpRequestAuth`), so a tool sees no user unless Express middleware
    // (clerkMastraAuth, case (a)) sets it. If this starts failing, Mastra's Express adapter bridges now.
    expect(result.structuredContent).toEqual({ userId: null, clientId: null, scopes: [], contextUser: null, json: null });
  });
});
