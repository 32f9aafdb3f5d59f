/**
 * Found by an attack session: an OAuth access token (JWT, `typ: at+jwt`, signed by the instance) whose `aud` holds a value
 * that is not a string (`null`, a number, an object, a nested list, alone or next to the right URL) makes the
 * Express middleware throw inside the MCP audience check (`aud.startsWith is not a function`): 500, with Express's
 * default error page (stack trace in development), no WWW-Authenticate. Expected: 401 `token-invalid-audience`
 * (Clerk's `assertOAuthAudienceClaim` refuses a non-string aud as a failed verification) with the MCP challenge.
 * The provider alone answers 401 (it catches and logs `unexpected-error`).
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
  } as ClerkAuthOptions);
  const app = express();
  app.use(express.json());
  app.use(clerkMastraAuth({ clerkAuth }));
  const secret = createTool({ id: 'secret', description: 'x', inputSchema: z.object({}), execute: async () => ({ ok: true }) });
  const mastra = new Mastra({
    mcpServers: { notes: new MCPServer({ id: 'notes', name: 'notes', version: '1.0.0', tools: { secret } } as never) },
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

async function oauthToken(aud: unknown): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return issuer.signJwt(
    { iss: issuer.issuer, sub: 'user_h18', aud, client_id: 'client_h18', scp: ['profile'], jti: 'oat_h18', iat: now, nbf: now, exp: now + 600 },
    { header: { typ: 'at+jwt' } },
  );
}

describe('an OAuth token whose aud is not a list of strings, on MCP routes behind clerkMastraAuth', () => {
  const auds = (url: string): unknown[] => [null, 5, true, { url }, [[url]], [5, url], [null, url]];
  for (const path of ['/api/mcp/notes/mcp', '/api/mcp/notes/tools']) {
    it(`${path}: 401 token-invalid-audience, never a 500`, async () => {
      for (const aud of auds(`${base}/api/mcp/notes/mcp`)) {
        const res = await fetch(`${base}${path}`, {
          method: path.endsWith('/mcp') ? 'POST' : 'GET',
          headers: { authorization: `Bearer ${await oauthToken(aud)}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
          body: path.endsWith('/mcp') ? DISCOVER_BODY : undefined,
        });
        const text = await res.text();
        expect([JSON.stringify(aud), res.status, text.includes('TypeError')]).toEqual([JSON.stringify(aud), 401, false]);
        expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
      }
    });
  }
});
