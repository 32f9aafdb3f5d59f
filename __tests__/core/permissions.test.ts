/**
 * rolePermissions(): Mastra's own `hasPermission` (@mastra/core/auth/ee) is the oracle for wildcard matching, and
 * Clerk's own AuthObject (`signedInAuthObject`) the oracle for reading roles and permissions out of v1/v2 claims.
 */
import { describe, expect, it } from '@jest/globals';
import { hasPermission as mastraHasPermission } from '@mastra/core/auth/ee';
import { signedInAuthObject } from '@clerk/backend/internal';
import type { ClerkClaims } from '../../src/core/claims.js';
import { matchesPermission, rolePermissions } from '../../src/core/permissions.js';
import type { RouteResource } from '../../src/core/routes.js';
import type { AuthorizeUser } from '../../src/index.js';
import { mastraRouteTable } from '../../src/mastra/routes.js';

const GRANTED = [
  '*', '*:*', '*:read', '*:execute', '*:*:a1', '*:read:a1', 'agents:*', 'agents:read', 'agents:read:a1', 'agents:*:a1',
  'agents', 'workflows:*', 'stored:read', 'stored:*', 'stored:*:x', 'stored', 'stored-agents:read', 'agents:read:a1:z',
  'org:reports:read', 'a:b:c:d', ':', '', 'agents:',
];
const REQUIRED = [
  'agents:read', 'agents:execute', 'agents:read:a1', 'agents:read:a2', 'agents:write:a1', 'workflows:read', 'agents',
  'stored-agents:read', 'stored-skills:write', 'stored-agents:read:x', 'stored:read', 'stored-agents', 'storedx:read',
  'agents:read:a1:q', 'org:reports:read', 'org:reports:read:x', 'a:b:c:e', '*', ':', '', 'agents:',
];

describe('matchesPermission: identical to Mastra hasPermission', () => {
  const cases = GRANTED.flatMap((granted) => REQUIRED.map((required) => [granted, required] as const));
  it(`${cases.length} (granted, required) pairs`, () => {
    const differences = cases.filter(([g, r]) => matchesPermission(g, r) !== mastraHasPermission([g], r));
    expect(differences).toEqual([]);
    // The table does exercise both answers.
    expect(cases.filter(([g, r]) => matchesPermission(g, r)).length).toBeGreaterThan(50);
    expect(cases.filter(([g, r]) => !matchesPermission(g, r)).length).toBeGreaterThan(50);
  });

  it('spot checks of the rules', () => {
    expect(matchesPermission('*', 'anything')).toBe(true);
    expect(matchesPermission('*:*', 'agents')).toBe(false); // a bare word only matches itself
    expect(matchesPermission('*:read', 'workflows:read')).toBe(true);
    expect(matchesPermission('agents:read', 'agents:read:a1')).toBe(true);
    expect(matchesPermission('agents:read:a1', 'agents:read')).toBe(false);
    expect(matchesPermission('stored:write', 'stored-skills:write')).toBe(true);
    expect(matchesPermission('constructor:read', 'x:read')).toBe(false); // Mastra itself throws here (object lookup)
  });
});

const base = { sub: 'user_1', exp: 2_000_000_000, iat: 1_700_000_000 };
const v2 = (o?: ClerkClaims['o'], fea?: string): ClerkClaims => ({ ...base, v: 2, ...(o ? { o } : {}), ...(fea ? { fea } : {}) });
const v1 = (org_role?: string, org_permissions?: string[]): ClerkClaims => ({
  ...base,
  ...(org_role ? { org_id: 'org_1', org_slug: 'acme', org_role } : {}),
  ...(org_permissions ? { org_permissions } : {}),
});

const options = () => ({
  organizations: 'any' as const,
  roles: {
    'org:admin': ['*'],
    member: ['agents:read', 'agents:execute', 'memory:*'],
    'org:viewer': ['*:read'],
  } as Record<string, string[]>,
  withoutOrganization: ['agents:read'],
});

describe('rolePermissions', () => {
  const perms = rolePermissions(options());

  it('reads the role from v2 (`o.rol` without prefix) and v1 (`org_role`) claims; map keys in either form', () => {
    const adminV2 = v2({ id: 'org_1', rol: 'admin' });
    const memberV2 = v2({ id: 'org_1', rol: 'member' });
    const memberV1 = v1('org:member');
    expect(perms.permissionsOf(adminV2)).toEqual(['*']);
    expect(perms.permissionsOf(memberV2)).toEqual(['agents:read', 'agents:execute', 'memory:*']);
    expect(perms.permissionsOf(memberV1)).toEqual(['agents:read', 'agents:execute', 'memory:*']);
    expect(perms.has(memberV2, 'agents:execute')).toBe(true);
    expect(perms.has(memberV1, 'memory:delete')).toBe(true);
    expect(perms.has(memberV1, 'workflows:read')).toBe(false);
    expect(perms.has(v1('org:viewer'), 'workflows:read')).toBe(true);
    expect(perms.has(v1('org:viewer'), 'workflows:execute')).toBe(false);
    // The role as Clerk's AuthObject reports it is what we look up.
    expect(signedInAuthObject({}, 't', adminV2 as never).orgRole).toBe('org:admin');
  });

  it('no organization: withoutOrganization (default none); an unknown role: nothing', () => {
    expect(perms.permissionsOf(v2())).toEqual(['agents:read']);
    expect(perms.permissionsOf(v1())).toEqual(['agents:read']);
    expect(perms.has(v2(), 'agents:execute')).toBe(false);
    expect(rolePermissions({ organizations: 'any', roles: {} }).permissionsOf(v2())).toEqual([]);
    expect(perms.permissionsOf(v2({ id: 'org_1', rol: 'guest' }))).toEqual([]);
    expect(perms.has(v1('org:guest'), 'agents:read')).toBe(false); // in an org, withoutOrganization does not apply
  });

  it("adds Clerk's own organization permissions exactly as Clerk's AuthObject has them", () => {
    const claims = v2({ id: 'org_1', rol: 'member', per: 'read,manage', fpm: '1,3' }, 'o:reports,u:billing,o:dashboards');
    const clerk = signedInAuthObject({}, 't', claims as never).orgPermissions;
    expect(clerk).toEqual(['org:reports:read', 'org:dashboards:read', 'org:dashboards:manage']);
    expect(perms.permissionsOf(claims)).toEqual(['agents:read', 'agents:execute', 'memory:*', ...(clerk ?? [])]);
    expect(perms.has(claims, 'org:dashboards:manage')).toBe(true);
    expect(perms.has(claims, 'org:reports:manage')).toBe(false);
    expect(perms.require('org:reports:read')(claims)).toBe(true);
    const claimsV1 = v1('org:member', ['org:reports:read']);
    expect(perms.has(claimsV1, 'org:reports:read')).toBe(true);
    expect(perms.has(claimsV1, 'org:reports:write')).toBe(false);
  });

  it.each([
    ['no per/fpm', v2({ id: 'o', rol: 'member' }, 'o:reports')],
    ['no fea', v2({ id: 'o', rol: 'member', per: 'read', fpm: '1' })],
    ['user-scoped features only', v2({ id: 'o', rol: 'member', per: 'read', fpm: '1' }, 'u:a,u:b')],
    ['ou/uo scopes', v2({ id: 'o', rol: 'member', per: 'a,b', fpm: '2,1' }, 'ou:x, uo:y')],
    ['more masks than features', v2({ id: 'o', rol: 'member', per: 'a,b', fpm: '3,3,3' }, 'o:x')],
    ['non-numeric mask', v2({ id: 'o', rol: 'member', per: 'a,b', fpm: 'z,2' }, 'o:x,o:y')],
    ['mask beyond 2^53', v2({ id: 'o', rol: 'member', per: Array.from({ length: 60 }, (_, i) => `p${i}`).join(','), fpm: String(2n ** 59n + 1n) }, 'o:big')],
    ['v1 permissions', v1('org:member', ['org:x:a', 'org:y:b'])],
  ])("Clerk's part for %s equals Clerk's AuthObject orgPermissions", (_name, claims) => {
    const clerk = signedInAuthObject({}, 't', claims as never).orgPermissions ?? [];
    expect(perms.permissionsOf(claims).filter((p) => p.startsWith('org:'))).toEqual(clerk);
  });

  it("counts roles and Clerk permissions of the listed organizations only: a user's own organization makes no admin", () => {
    const p = rolePermissions({ organizations: ['org_1'], roles: { 'org:admin': ['*'], 'org:member': ['agents:read'] }, withoutOrganization: ['agents:read'] });
    const ownOrgAdmin = v2({ id: 'org_mallory', rol: 'admin', per: 'read', fpm: '1' }, 'o:billing');
    const ownOrgAdminV1 = { ...base, org_id: 'org_mallory', org_role: 'org:admin', org_permissions: ['org:billing:read'] };
    // Clerk's own has() says yes to the role and the permission in the user's own organization: the list is ours.
    expect(signedInAuthObject({}, 't', ownOrgAdmin as never).has({ role: 'org:admin' })).toBe(true);
    for (const claims of [ownOrgAdmin, ownOrgAdminV1 as ClerkClaims]) {
      expect(p.has(claims, 'agents:delete')).toBe(false);
      expect(p.has(claims, 'org:billing:read')).toBe(false);
      expect(p.permissionsOf(claims)).toEqual(['agents:read']); // as without an organization
    }
    expect(p.has(v2({ id: 'org_1', rol: 'admin' }), 'agents:delete')).toBe(true);
    expect(p.has(v1('org:admin', ['org:billing:read']), 'org:billing:read')).toBe(true);
    const any = rolePermissions({ organizations: 'any', roles: { 'org:admin': ['*'] } });
    expect([any.has(ownOrgAdmin, 'agents:delete'), any.has(ownOrgAdmin, 'org:billing:read')]).toEqual([true, true]);
  });

  it.each([undefined, [], [''], 'all', [3]])('refuses organizations %j: the ids, or any', (organizations) => {
    expect(() => rolePermissions({ organizations: organizations as never, roles: { 'org:admin': ['*'] } })).toThrow(/organizations must list/);
  });

  it('validates options, naming the field', () => {
    expect(() => rolePermissions(null as never)).toThrow(TypeError);
    expect(() => rolePermissions({ organizations: 'any', roles: [] as never })).toThrow(/roles/);
    expect(() => rolePermissions({ organizations: 'any', roles: { 'org:admin': ['*', 3 as never] } })).toThrow(/roles\['org:admin'\]\[1\]/);
    expect(() => rolePermissions({ organizations: 'any', roles: { 'org:admin': '*' as never } })).toThrow(/roles\['org:admin'\]/);
    expect(() => rolePermissions({ organizations: 'any', roles: {}, withoutOrganization: [''] })).toThrow(/withoutOrganization\[0\]/);
    expect(() => rolePermissions({ organizations: 'any', roles: { admin: ['*'], 'org:admin': ['agents:read'] } })).toThrow(/twice/);
    expect(() => perms.require('' as string)).toThrow(TypeError);
  });

  it('copies its options: a later change by the caller changes nothing', () => {
    const opts = options();
    const p = rolePermissions(opts);
    const member = v1('org:member');
    expect(p.has(member, 'workflows:read')).toBe(false);
    (opts.roles.member as string[]).push('*');
    opts.roles['org:guest'] = ['*'];
    opts.withoutOrganization.push('*');
    expect(p.has(member, 'workflows:read')).toBe(false);
    expect(p.has(v1('org:guest'), 'agents:read')).toBe(false);
    expect(p.has(v1(), 'workflows:read')).toBe(false);
    expect(Object.isFrozen(p.permissionsOf(member))).toBe(true);
  });

  it('a role named like an Object.prototype key is just a role', () => {
    const p = rolePermissions({ organizations: 'any', roles: { 'org:member': ['agents:read'] } });
    expect(p.has(v1('org:constructor'), 'agents:read')).toBe(false);
    expect(p.has(v2({ id: 'o', rol: '__proto__' }), 'agents:read')).toBe(false);
  });
});

describe('rolePermissions().authorizeUser', () => {
  const perms = rolePermissions(options());
  const table = mastraRouteTable();
  const resource = (method: string, path: string) => (table.match(method, path) as readonly RouteResource[])[0] as RouteResource;
  const member = v2({ id: 'org_1', rol: 'member' });
  const viewer = v1('org:viewer');
  const admin = v1('org:admin');

  it("allows a Mastra route iff the user has the route's permission", () => {
    expect(perms.authorizeUser(member, { resource: resource('POST', '/api/agents/a/generate') })).toBe(true);
    expect(perms.authorizeUser(member, { resource: resource('GET', '/api/workflows') })).toBe(false);
    expect(perms.authorizeUser(member, { resource: resource('DELETE', '/api/memory/threads/t1') })).toBe(true);
    expect(perms.authorizeUser(viewer, { resource: resource('GET', '/api/workflows') })).toBe(true);
    expect(perms.authorizeUser(viewer, { resource: resource('POST', '/api/agents/a/generate') })).toBe(false);
  });

  it('an array permission needs any one of them', () => {
    const createRun = resource('POST', '/api/workflows/w/create-run');
    expect(createRun.permission).toEqual(['workflows:write', 'workflows:execute']);
    expect(perms.authorizeUser(member, { resource: createRun })).toBe(false);
    const executor = rolePermissions({ organizations: 'any', roles: { 'org:x': ['workflows:execute'] } });
    expect(executor.authorizeUser(v1('org:x'), { resource: createRun })).toBe(true);
    const writer = rolePermissions({ organizations: 'any', roles: { 'org:x': ['workflows:write'] } });
    expect(writer.authorizeUser(v1('org:x'), { resource: createRun })).toBe(true);
    const reader = rolePermissions({ organizations: 'any', roles: { 'org:x': ['workflows:read'] } });
    expect(reader.authorizeUser(v1('org:x'), { resource: createRun })).toBe(false);
  });

  it("a null permission: 'mcp:execute' on MCP transport routes, else only a '*' holder", () => {
    const mcp = resource('POST', '/api/mcp/s1/mcp');
    expect(mcp.permission).toBeNull();
    const mcpUser = rolePermissions({ organizations: 'any', roles: { 'org:x': ['mcp:execute'] } });
    expect(mcpUser.authorizeUser(v1('org:x'), { resource: mcp })).toBe(true);
    expect(perms.authorizeUser(member, { resource: mcp })).toBe(false);
    expect(perms.authorizeUser(admin, { resource: mcp })).toBe(true);
    const other: RouteResource = { method: 'GET', route: '/custom', prefix: '', params: {}, permission: null, addressedInBody: false, queryParams: [], bodyParams: [], bodySetsPathParams: true, run: undefined, memoryResource: undefined };
    expect(mcpUser.authorizeUser(v1('org:x'), { resource: other })).toBe(false);
    expect(rolePermissions({ organizations: 'any', roles: { 'org:x': ['*:*'] } }).authorizeUser(v1('org:x'), { resource: other })).toBe(false);
    expect(perms.authorizeUser(admin, { resource: other })).toBe(true);
  });

  it('without a resource (an Express route) allows; require() guards Express routes', () => {
    expect(perms.authorizeUser(v2(), {})).toBe(true);
    const guard = perms.require('memory:write');
    expect(guard(member)).toBe(true);
    expect(guard(viewer)).toBe(false);
    expect(guard(v2())).toBe(false);
  });
});

it('AuthorizeUser is typed for Clerk claims without a type argument, as a policy is usually written', () => {
  const policy: AuthorizeUser = (user, ctx) => user.o?.rol === 'admin' || ctx.resource?.params.agentId !== 'finance';
  expect(policy({ sub: 'user_1', o: { id: 'org_1', rol: 'admin' } } as ClerkClaims, { method: 'GET', path: '/', headers: { get: () => null }, source: 'express', request: undefined, tokenType: 'session_token', machine: undefined })).toBe(true);
});
