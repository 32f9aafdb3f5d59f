/**
 * The README's "Clerk roles to Mastra permissions" policy as written, attacked (an attacker
 * session found each case) against `@clerk/backend`'s own `has()` (the oracle) and against what each rule's text says:
 * Clerk permissions counted without an organization, or as Mastra wildcards and prefixes, or despite a `fea` Clerk
 * refuses; a clone (a stored-agent write) under `agents:execute`; a custom route open to every signed-in user.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import request from 'supertest';
import { Agent } from '@mastra/core/agent';
import { Mastra } from '@mastra/core/mastra';
import { MastraServer } from '@mastra/express';
import { registerApiRoute } from '@mastra/core/server';
import { __experimental_JWTPayloadToAuthObjectProperties as clerkParse } from '@clerk/shared/jwtPayloadParser';
import { createCheckAuthorization } from '@clerk/shared/authorization';
import { clerkMastraAuth, createClerkAuth, requireClerkAuth, rolePermissions } from '../../src/index.js';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { createTestIssuer } from '../../src/testing/index.js';
import { offlineWeatherModel } from '../../examples/mastra/offline-model.js';
import { raw, serveMastra } from './support.js';

const issuer = await createTestIssuer();
afterAll(() => issuer.close());

/** A stand-in for @mastra/editor (not installed here): records what Mastra's clone handler hands it. */
const cloned: Record<string, unknown>[] = [];
const editor = {
  agent: {
    clone: async (from: { id: string }, o: Record<string, unknown>) => {
      cloned.push({ from: from.id, newId: o.newId, authorId: o.authorId });
      return { id: o.newId, authorId: o.authorId };
    },
    applyStoredOverrides: async (a: unknown) => a,
  },
};
const agent = (id: string) => new Agent({ id, name: id, instructions: `${id} instructions`, model: offlineWeatherModel() as never });

// (A) README "Clerk roles to Mastra permissions", as written.
const ACME = 'org_1'; // the README's organization id
const permissions = rolePermissions({
  organizations: [ACME],
  roles: { 'org:admin': ['*'], 'org:member': ['agents:read', 'agents:execute', 'reports:read'] },
});
const rolesAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false, authorizeUser: permissions.authorizeUser });
const rolesApp = express();
rolesApp.use(express.json());
rolesApp.use(clerkMastraAuth({ clerkAuth: rolesAuth }));
rolesApp.get('/reports', requireClerkAuth(permissions.require('reports:read')), (_req, res) => res.json({ ok: true }));
rolesApp.get('/billing', requireClerkAuth(permissions.require('org:billing:read')), (_req, res) => res.json({ ok: true }));
const rolesMastra = new Mastra({
  agents: { finance: agent('finance') },
  editor: editor as never,
  server: { auth: new MastraAuthClerk({ clerkAuth: rolesAuth }) as never },
  logger: false,
} as never);
await new MastraServer({ app: rolesApp as never, mastra: rolesMastra, prefix: '/api' }).init();


/** `@clerk/backend`'s `auth.has()` for these claims (its JWT -> AuthObject parser and its authorization check). */
function clerkHas(token: string, params: { permission?: string; role?: string }): boolean | 'throws' {
  const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
  try {
    const a = clerkParse(claims as never);
    return createCheckAuthorization({
      userId: claims.sub as string,
      orgId: a.orgId,
      orgRole: a.orgRole,
      orgPermissions: a.orgPermissions,
      factorVerificationAge: null,
      features: claims.fea as string,
      plans: claims.pla as string,
    } as never)(params as never);
  } catch {
    return 'throws';
  }
}

const refused = (res: { status: number; body: { error?: string } }) => [res.status, res.body?.error];

describe('(A) rolePermissions: Clerk organization permissions counted where Clerk has() says no', () => {
  // Each token: a session whose Clerk permissions Clerk's own has({ permission: 'org:billing:read' }) denies.
  const cases: [string, Record<string, unknown>, 1 | 2][] = [
    ['v1 org_permissions without an active organization (no org_id)', { org_permissions: ['org:billing:read'] }, 1],
    ['v2 o.per/o.fpm without an active organization (no o.id)', { o: { per: 'read', fpm: '1' }, fea: 'o:billing' }, 2],
    ['v2 o.per/o.fpm with an empty o.id', { o: { id: '', per: 'read', fpm: '1' }, fea: 'o:billing' }, 2],
    ['v1 a longer permission (org:billing:read:x) matched by prefix', { org_id: 'org_1', org_role: 'org:viewer', org_permissions: ['org:billing:read:x'] }, 1],
    ['v2 a fea entry with a colon (o:billing:read) + o.per x', { o: { id: 'org_1', rol: 'viewer', per: 'x', fpm: '1' }, fea: 'o:billing:read' }, 2],
    ['v1 a wildcard Clerk permission (org:*:read)', { org_id: 'org_1', org_role: 'org:viewer', org_permissions: ['org:*:read'] }, 1],
    ['v2 a wildcard feature (fea o:*)', { o: { id: 'org_1', rol: 'viewer', per: 'read', fpm: '1' }, fea: 'o:*' }, 2],
    ['v2 a malformed fea entry Clerk throws on (bogus,o:billing)', { o: { id: 'org_1', rol: 'viewer', per: 'read', fpm: '1' }, fea: 'bogus,o:billing' }, 2],
  ];
  it.each(cases)('%s: GET /billing is refused', async (_name, claims, version) => {
    const token = await issuer.mintToken(claims, { userId: 'user_attacker', version });
    expect(clerkHas(token, { permission: 'org:billing:read' })).not.toBe(true); // the oracle denies
    const res = await request(rolesApp).get('/billing').set('Authorization', `Bearer ${token}`);
    expect(refused(res)).toEqual([403, 'access-denied']);
  });

  it.each([
    ['*', '*'],
    ['*:*', '*:*'],
    ['agents:*', 'agents:*'],
  ])('v1 org_permissions [%s] (a viewer) is not a Mastra wildcard: traces, agent configuration and /reports refused', async (_n, permission) => {
    const token = await issuer.mintToken({ org_id: 'org_1', org_role: 'org:viewer', org_permissions: [permission] }, { userId: 'user_attacker', version: 1 });
    expect(clerkHas(token, { permission: 'org:billing:read' })).toBe(false);
    const traces = await request(rolesApp).get('/api/observability/traces').set('Authorization', `Bearer ${token}`);
    const agentRead = await request(rolesApp).get('/api/agents/finance').set('Authorization', `Bearer ${token}`);
    const reports = await request(rolesApp).get('/reports').set('Authorization', `Bearer ${token}`);
    expect([refused(traces), refused(agentRead), refused(reports)]).toEqual([
      [403, 'access-denied'],
      [403, 'access-denied'],
      [403, 'access-denied'],
    ]);
  });
});

describe('clone: POST /agents/:agentId/clone (Mastra: agents:execute) writes a stored agent, with a client-chosen authorId', () => {
  it('(A) a member (agents:read/execute, no stored-agents:*) cannot create a stored agent by cloning', async () => {
    const member = await issuer.mintToken({}, { userId: 'user_member', org: { id: 'org_1', role: 'org:member' } });
    const direct = await request(rolesApp).post('/api/stored/agents').set('Authorization', `Bearer ${member}`).send({ id: 'x', name: 'x', instructions: 'x', model: { provider: 'openai', name: 'x' } });
    expect(refused(direct)).toEqual([403, 'access-denied']); // the direct way is refused
    cloned.length = 0;
    const res = await request(rolesApp)
      .post('/api/agents/finance/clone')
      .set('Authorization', `Bearer ${member}`)
      .send({ newId: 'planted', authorId: 'user_victim' });
    expect({ status: res.status, error: res.body.error, cloned }).toEqual({ status: 403, error: 'access-denied', cloned: [] });
  });

  it('(A) an admin (*) clones: the stored-agent write the route is refused for', async () => {
    const admin = await issuer.mintToken({}, { userId: 'user_admin', org: { id: 'org_1', role: 'org:admin' } });
    cloned.length = 0;
    const res = await request(rolesApp).post('/api/agents/finance/clone').set('Authorization', `Bearer ${admin}`).send({ newId: 'copy' });
    expect({ status: res.status, cloned }).toEqual({ status: 200, cloned: [{ from: 'finance', newId: 'copy', authorId: undefined }] });
  });
});

describe("(A) rolePermissions and a Mastra custom route that declares Mastra's own permission (requiresPermission)", () => {
  // Mastra's RBAC, which rolePermissions() reproduces, refuses this route without 'reports:read'; Mastra enforces
  // requiresPermission only with its (licensed) RBAC provider, so here nothing but the policy can.
  const exportRoute = () =>
    registerApiRoute('/reports/export', { method: 'GET', requiresPermission: 'reports:read' as never, handler: async (c) => c.json({ secret: 'REPORT' }) });

  it.each(['personal account (no organization)', 'viewer (org:viewer, no role permissions)'])(
    'a %s cannot read GET /reports/export (requiresPermission: reports:read), behind the middleware or on Mastra\'s Hono server',
    async (who) => {
      const token = who.startsWith('personal')
        ? await issuer.mintToken({}, { userId: 'user_nobody' })
        : await issuer.mintToken({}, { userId: 'user_viewer', org: { id: 'org_1', role: 'org:viewer' } });
      expect(permissions.has(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()), 'reports:read')).toBe(false);

      const app = express();
      app.use(express.json());
      app.use(clerkMastraAuth({ clerkAuth: rolesAuth }));
      const mastra = new Mastra({ server: { auth: new MastraAuthClerk({ clerkAuth: rolesAuth }) as never, apiRoutes: [exportRoute()] }, logger: false });
      await new MastraServer({ app: app as never, mastra, prefix: '/api' }).init();
      const viaExpress = await request(app).get('/reports/export').set('Authorization', `Bearer ${token}`);

      const hono = await serveMastra(new Mastra({ server: { auth: new MastraAuthClerk({ clerkAuth: rolesAuth }) as never, apiRoutes: [exportRoute()] }, logger: false }), {
        mode: 'hono',
        clerkAuth: rolesAuth,
      });
      try {
        const viaHono = await raw(Number(new URL(hono.base).port), 'GET', '/reports/export', { Authorization: `Bearer ${token}` });
        // The provider refuses (the middleware cannot tell a custom route from an Express one): Mastra's own 403.
        expect({ express: [viaExpress.status, viaExpress.body], hono: [viaHono.status, JSON.parse(viaHono.body)] }).toEqual({
          express: [403, { error: 'Access denied' }],
          hono: [403, { error: 'Access denied' }],
        });
      } finally {
        await hono.close();
      }
    },
  );
});
