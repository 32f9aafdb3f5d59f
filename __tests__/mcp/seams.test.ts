/**
 * MCP servers behind clerkMastraAuth (README's MCP setup), at two seams found by an attack session:
 * - an OAuth access token (signed by the instance) whose `aud` is not a string or a list of strings (`null`, a number,
 *   an object, a nested list, alone or next to the right URL) made the middleware throw in the audience check: a 500
 *   with Express's error page and no challenge. Such an `aud` names nothing: 401 `token-invalid-audience`.
 * - with `optional: true`, a request to an MCP transport without a token went through signed out, and Mastra's provider
 *   answered 401 with no `WWW-Authenticate`: an MCP client, whose first request has no token, could not discover where
 *   to sign in. The middleware answers it with the challenge and `resource_metadata`.
 * Real parts: the testing kit's issuer, Express 5, @mastra/express, @mastra/mcp.
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
import { DISCOVER_BODY, serveLater } from './support.js';

let issuer: TestIssuer;
const closers: Array<() => Promise<void>> = [];
beforeAll(async () => {
  issuer = await createTestIssuer();
});
afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await issuer.close();
});

/** The README's MCP setup (one server, `notes`, with a tool), the middleware `optional` or not; its base URL. */
async function mcpApp(optional: boolean): Promise<string> {
  const server = await serveLater();
  closers.push(server.close);
  const clerkAuth = createClerkAuth({
    ...issuer.authOptions,
    env: {},
    logger: false,
    acceptsToken: ['session_token', 'oauth_token'],
    protectedResource: { origin: server.base, scopes: ['profile', 'email'] },
    authorizeUser: (_user, ctx) => ctx.tokenType !== 'oauth_token' || ctx.resource?.route.startsWith('/mcp/') === true,
  } as ClerkAuthOptions);
  const app = express();
  app.use(express.json());
  app.use(clerkMastraAuth({ clerkAuth, optional }));
  const secret = createTool({ id: 'secret', description: 'x', inputSchema: z.object({}), execute: async () => ({ ok: true }) });
  const mastra = new Mastra({
    mcpServers: { notes: new MCPServer({ id: 'notes', name: 'notes', version: '1.0.0', tools: { secret } } as never) },
    server: { auth: new MastraAuthClerk({ clerkAuth }) as never },
    logger: false,
  });
  await new MastraServer({ app, mastra, prefix: '/api' }).init();
  server.use(app);
  return server.base;
}

async function oauthToken(aud: unknown): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return issuer.signJwt(
    { iss: issuer.issuer, sub: 'user_h18', aud, client_id: 'client_h18', scp: ['profile'], jti: 'oat_h18', iat: now, nbf: now, exp: now + 600 },
    { header: { typ: 'at+jwt' } },
  );
}

const transport = (method: string, token?: string): RequestInit => ({
  method,
  headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
  body: method === 'POST' ? DISCOVER_BODY : undefined,
});

describe('an OAuth token whose aud is not a list of strings', () => {
  let base: string;
  beforeAll(async () => {
    base = await mcpApp(false);
  });
  for (const path of ['/api/mcp/notes/mcp', '/api/mcp/notes/tools']) {
    it(`${path}: 401 token-invalid-audience, never a 500`, async () => {
      const url = `${base}/api/mcp/notes/mcp`;
      for (const aud of [null, 5, true, { url }, [[url]], [5, url], [null, url]]) {
        const res = await fetch(`${base}${path}`, transport(path.endsWith('/mcp') ? 'POST' : 'GET', await oauthToken(aud)));
        const body = await res.text();
        expect([JSON.stringify(aud), res.status, body.includes('TypeError')]).toEqual([JSON.stringify(aud), 401, false]);
        expect(JSON.parse(body)).toMatchObject({ error: 'token-invalid-audience' });
        expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
      }
    });
  }
});

describe('optional: true in front of MCP servers', () => {
  let base: string;
  beforeAll(async () => {
    base = await mcpApp(true);
  });
  for (const [method, path] of [
    ['POST', '/api/mcp/notes/mcp'],
    ['GET', '/api/mcp/notes/sse'],
  ] as const) {
    it(`${method} ${path} without a token: 401 with the Bearer challenge and resource_metadata`, async () => {
      const res = await fetch(`${base}${path}`, transport(method));
      await res.text();
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="api", resource_metadata="${base}/.well-known/oauth-protected-resource${path}"`);
    });
  }

  it("a REST route of the server is not a transport: let through signed out, Mastra's own 401, as on any Mastra route", async () => {
    const res = await fetch(`${base}/api/mcp/notes/tools`);
    expect([res.status, await res.json(), res.headers.get('www-authenticate')]).toEqual([401, { error: 'Invalid or expired token' }, null]);
  });
});
