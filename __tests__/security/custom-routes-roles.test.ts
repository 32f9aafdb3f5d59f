/**
 * Mastra custom routes under `rolePermissions()`, attacked (a review session found the encoded, HEAD and prefix cases):
 * the README's recipe, which names every custom route and looks it up first whichever adapter asks, holds on Express
 * behind the middleware and on Mastra's Hono server; the plain policy's limits, as the README states them, are recorded.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import { Mastra } from '@mastra/core/mastra';
import { MastraServer } from '@mastra/express';
import { registerApiRoute } from '@mastra/core/server';
import { clerkMastraAuth, createClerkAuth, rolePermissions, type ClerkAuth } from '../../src/index.js';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { createTestIssuer } from '../../src/testing/index.js';
import { listen } from '../support/http.js';
import { raw, serveMastra } from './support.js';

const issuer = await createTestIssuer();
afterAll(() => issuer.close());

const ACME = 'org_1';
// README, "Clerk roles to Mastra permissions", custom-route recipe, as written (plus a second route).
const permissions = rolePermissions({ organizations: [ACME], roles: { 'org:admin': ['*'], 'org:member': ['agents:read', 'reports:read'] } });
const CUSTOM: Record<string, string> = { 'GET /reports/export': 'reports:read', 'GET /custom/agents': 'admin:read' };
const recipe = createClerkAuth({
  ...issuer.authOptions,
  env: {},
  logger: false,
  authorizeUser: (user, ctx) => {
    const custom = CUSTOM[`${ctx.method === 'HEAD' ? 'GET' : ctx.method} ${ctx.path}`];
    return custom ? permissions.has(user, custom) : permissions.authorizeUser(user, ctx);
  },
});
// The plain policy: a custom route is for '*' holders only (permissions.ts doc, CHANGELOG).
const plain = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false, authorizeUser: permissions.authorizeUser });

const routes = () => [
  registerApiRoute('/reports/export', { method: 'GET', requiresPermission: 'reports:read' as never, handler: async (c) => c.json({ secret: 'REPORT' }) }),
  // Mastra's own advice for a custom route that would sit under /api: "/custom/...". An admin-only list.
  registerApiRoute('/custom/agents', { method: 'GET', requiresPermission: 'admin:read' as never, handler: async (c) => c.json({ secret: 'ADMIN-LIST' }) }),
];

async function mixed(clerkAuth: ClerkAuth) {
  const app = express();
  app.use(express.json());
  app.use(clerkMastraAuth({ clerkAuth }));
  const mastra = new Mastra({ server: { auth: new MastraAuthClerk({ clerkAuth }) as never, apiRoutes: routes() }, logger: false });
  await new MastraServer({ app: app as never, mastra, prefix: '/api' }).init();
  const server = await listen(app);
  return { port: Number(new URL(server.base).port), close: server.close };
}
async function hono(clerkAuth: ClerkAuth) {
  const mastra = new Mastra({ server: { auth: new MastraAuthClerk({ clerkAuth }) as never, apiRoutes: routes() }, logger: false });
  const server = await serveMastra(mastra, { mode: 'hono', clerkAuth });
  return { port: Number(new URL(server.base).port), close: server.close };
}

const viewerToken = () => issuer.mintToken({}, { userId: 'user_viewer', org: { id: ACME, role: 'org:viewer' } }); // no permissions at all
const memberToken = () => issuer.mintToken({}, { userId: 'user_member', org: { id: ACME, role: 'org:member' } }); // agents:read, reports:read
const strangerToken = () => issuer.mintToken({}, { userId: 'user_mallory' }); // no organization: nothing

describe('custom routes on Express behind clerkMastraAuth (the README setup for server.apiRoutes)', () => {
  it.each([
    ['GET', '/reports/export'],
    ['GET', '/reports/%65xport'],
    ['GET', '/%72eports/export'],
    ['HEAD', '/reports/export'],
  ])('recipe: %s %s by a user without reports:read is refused (403 access-denied); a member reads it', async (method, target) => {
    const server = await mixed(recipe);
    try {
      const res = await raw(server.port, method, target, { Authorization: `Bearer ${await strangerToken()}` });
      expect({ target, method, status: res.status, leaked: res.body.includes('REPORT') }).toEqual({ target, method, status: 403, leaked: false });
      const member = await raw(server.port, method, target, { Authorization: `Bearer ${await memberToken()}` });
      expect(member.status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('recipe: a custom route whose path reads as a built-in one under another prefix (GET /custom/agents, admin:read) is not opened by agents:read', async () => {
    const server = await mixed(recipe);
    try {
      const res = await raw(server.port, 'GET', '/custom/agents', { Authorization: `Bearer ${await memberToken()}` });
      expect({ status: res.status, leaked: res.body.includes('ADMIN-LIST') }).toEqual({ status: 403, leaked: false });
    } finally {
      await server.close();
    }
  });

  it("plain policy (README's stated limit): the exact spelling is for '*' holders, another spelling only meets the middleware", async () => {
    const server = await mixed(plain);
    try {
      const auth = { Authorization: `Bearer ${await strangerToken()}` };
      expect((await raw(server.port, 'GET', '/reports/export', auth)).status).toBe(403);
      expect((await raw(server.port, 'GET', '/reports/export', { Authorization: `Bearer ${await memberToken()}` })).status).toBe(403);
      const admin = await issuer.mintToken({}, { userId: 'user_admin', org: { id: ACME, role: 'org:admin' } });
      expect((await raw(server.port, 'GET', '/reports/export', { Authorization: `Bearer ${admin}` })).status).toBe(200);
      expect((await raw(server.port, 'GET', '/reports/%65xport', auth)).status).toBe(200);
      expect((await raw(server.port, 'GET', '/custom/agents', { Authorization: `Bearer ${await memberToken()}` })).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

describe("custom routes on Mastra's Hono server (mastra dev / start)", () => {
  it('recipe: GET /custom/agents (admin:read) is not opened by agents:read (the provider reads it as GET /agents under /custom)', async () => {
    const server = await hono(recipe);
    try {
      const res = await raw(server.port, 'GET', '/custom/agents', { Authorization: `Bearer ${await memberToken()}` });
      expect({ status: res.status, leaked: res.body.includes('ADMIN-LIST') }).toEqual({ status: 403, leaked: false });
      const admin = await issuer.mintToken({}, { userId: 'user_admin', org: { id: ACME, role: 'org:admin' } });
      expect((await raw(server.port, 'GET', '/custom/agents', { Authorization: `Bearer ${admin}` })).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('HEAD /reports/export without any token is refused (the GET route runs for HEAD)', async () => {
    const server = await hono(recipe);
    try {
      const res = await raw(server.port, 'HEAD', '/reports/export');
      expect({ status: res.status }).toEqual({ status: 401 });
    } finally {
      await server.close();
    }
  });

  // A variant either misses the route or reaches the provider.
  it.each(['/reports/%65xport', '/reports/export/', '/Reports/export', '/%72eports/export'])('recipe: GET %s by a viewer (no reports:read) does not get the report', async (target) => {
    const server = await hono(recipe);
    try {
      const res = await raw(server.port, 'GET', target, { Authorization: `Bearer ${await viewerToken()}` });
      expect({ target, leaked: res.body.includes('REPORT') }).toEqual({ target, leaked: false });
    } finally {
      await server.close();
    }
  });
});
