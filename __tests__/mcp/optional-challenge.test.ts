/**
 * Found by an attack session: with `clerkMastraAuth({ clerkAuth, optional: true })` (README, Express: the documented way to
 * have public Express routes next to guarded ones) in front of Mastra with `protectedResource`, a request to an MCP
 * transport without a token is let through signed out and Mastra's provider answers `401 {"error":"Invalid or
 * expired token"}` with no `WWW-Authenticate` at all: no Bearer challenge (RFC 6750 section 3) and no
 * `resource_metadata` (RFC 9728 section 5.1; README, MCP servers). An MCP client then cannot discover Clerk and
 * never signs in. A bad token on the same route does get the full challenge, so only the "no token" case (the
 * discovery step of every MCP client) loses it.
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
let base: string;
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  issuer = await createTestIssuer();
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
  app.use(clerkMastraAuth({ clerkAuth, optional: true }));
  const tool = createTool({ id: 'secret', description: 'x', inputSchema: z.object({}), execute: async () => ({ ok: true }) });
  const mastra = new Mastra({
    mcpServers: { notes: new MCPServer({ id: 'notes', name: 'notes', version: '1.0.0', tools: { secret: tool } } as never) },
    server: { auth: new MastraAuthClerk({ clerkAuth }) as never },
    logger: false,
  });
  await new MastraServer({ app, mastra, prefix: '/api' }).init();
  server.use(app);
  base = server.base;
});
afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await issuer.close();
});

describe('optional: true in front of MCP servers', () => {
  for (const [method, path] of [
    ['POST', '/api/mcp/notes/mcp'],
    ['GET', '/api/mcp/notes/sse'],
  ] as const) {
    it(`${method} ${path} without a token: 401 with the Bearer challenge and resource_metadata`, async () => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: method === 'POST' ? DISCOVER_BODY : undefined,
      });
      await res.text();
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe(
        `Bearer realm="api", resource_metadata="${base}/.well-known/oauth-protected-resource${path}"`,
      );
    });
  }
});
