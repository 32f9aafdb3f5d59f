/**
 * Clerk organization roles -> Mastra permissions, with Mastra's RBAC matching (`@mastra/core/auth/ee`
 * `matchesPermission`) reproduced here so apps get route permissions without Mastra's EE licence.
 *
 * Framework-neutral: a user is the verified Clerk claims, a Mastra route is a `RouteResource`.
 */
import type { ClerkClaims } from './claims.js';
import type { RouteResource } from './routes.js';
import { machineTokenOf } from './verifier.js';

export interface RolePermissionsOptions {
  /**
   * Clerk organization role key -> Mastra permission patterns, e.g.
   * `{ 'org:admin': ['*'], 'org:member': ['agents:read', 'agents:execute'] }`. Keys are Clerk role keys as the
   * Clerk dashboard shows them ('org:admin'); the bare form ('admin', as in v2 tokens) is accepted and means the same.
   * A user whose role is not in the map gets no role permissions (there is no `_default`).
   */
  roles: Record<string, readonly string[]>;
  /**
   * The organizations whose roles and Clerk permissions count, by id (`['org_2abc...']`), or `'any'`. Required: Clerk
   * lets users create organizations (unless the instance turns that off), and whoever creates one is its `org:admin`,
   * so a role in any organization would make any user an administrator of every Mastra route. A user whose active
   * organization is not listed counts as one without an organization (`withoutOrganization`).
   */
  organizations: readonly string[] | 'any';
  /** Permissions for a signed-in user with no active organization, or one not listed (default: none). */
  withoutOrganization?: readonly string[] | undefined;
}

export interface RolePermissions {
  /**
   * The Mastra permission patterns this user holds: the role map's patterns for the active organization role when
   * `organizations` lists that organization (else `withoutOrganization`), then, in a listed organization, Clerk's own
   * organization permissions exactly as Clerk's AuthObject `orgPermissions` has them ('org:<feature>:<permission>',
   * e.g. 'org:reports:read'), so a route can also be guarded by a Clerk permission with `require('org:reports:read')`.
   */
  permissionsOf(user: ClerkClaims): readonly string[];
  /**
   * True when one of the role's patterns grants `permission` (Mastra's matching), or when `permission` is one of the
   * user's Clerk organization permissions, exactly (Clerk's matching: `org:billing:read`, no wildcards).
   */
  has(user: ClerkClaims, permission: string): boolean;
  /**
   * An `authorizeUser` policy. With `ctx.resource` (a Mastra route): allowed iff the user has the route's permission
   * (an array: any one of them, as Mastra does; null: 'mcp:execute' for '/mcp/...' routes, otherwise only a '*'
   * holder). Without a resource: from the Express middleware (an Express route), true, as Express routes are guarded
   * with `require()`; from the Mastra provider (a custom route of `server.apiRoutes`, whose `requiresPermission`
   * Mastra does not hand a provider), only a '*' holder: name custom routes in the policy (see the README). Pass the
   * adapter's `ctx` whole: without `source`, a custom route counts as an Express route.
   */
  authorizeUser: (user: ClerkClaims, ctx: { resource?: RouteResource; source?: 'express' | 'mastra' }) => boolean;
  /** A policy for one route: allows iff the user has `permission` (`requireClerkAuth(perms.require('reports:read'))`). */
  require(permission: string): (user: ClerkClaims) => boolean;
}

/**
 * Mastra's compound resource: a granted `stored:<action>` also grants `stored-<family>:<action>`.
 * Copied from `RESOURCE_EXPANSIONS` in @mastra/core's auth/ee.
 */
const RESOURCE_EXPANSIONS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  stored: Object.freeze([
    'stored-agents',
    'stored-mcp-clients',
    'stored-prompt-blocks',
    'stored-scorers',
    'stored-skills',
    'stored-workflows',
    'stored-workspaces',
  ]),
});

/**
 * Does the granted pattern match the required permission? A line-for-line port of @mastra/core's
 * `matchesPermission` (format `resource:action[:id]`), quirks included, so both sides agree on every input:
 * '*' grants all; `*:action`, `resource:*`, `*:*` wildcard one part; a pattern without id grants every id; only
 * the first three parts count; a string without ':' only matches itself.
 */
export function matchesPermission(granted: string, required: string): boolean {
  if (granted === '*') return true;
  const grantedParts = granted.split(':');
  const requiredParts = required.split(':');
  const families = Object.hasOwn(RESOURCE_EXPANSIONS, grantedParts[0] ?? '')
    ? RESOURCE_EXPANSIONS[grantedParts[0] ?? '']
    : undefined;
  if (families && families.includes(requiredParts[0] ?? '')) {
    return matchesPermission([requiredParts[0], ...grantedParts.slice(1)].join(':'), required);
  }
  if (grantedParts.length < 2 || requiredParts.length < 2) return granted === required;
  const [grantedResource, grantedAction, grantedId] = grantedParts;
  const [requiredResource, requiredAction, requiredId] = requiredParts;
  if (grantedResource !== '*' && grantedResource !== requiredResource) return false;
  if (grantedAction !== '*' && grantedAction !== requiredAction) return false;
  return grantedId === undefined || grantedId === requiredId;
}

/** The user's active organization (its id, or undefined without one) and role in Clerk's 'org:<role>' form. */
function organizationOf(user: ClerkClaims): { id: string | undefined; role: string | undefined } {
  // Same switch as Clerk's JWT -> AuthObject parser: v2 reads `o`, anything else the v1 claims.
  const [id, role] = user.v === 2 ? [user.o?.id, user.o?.rol] : [user.org_id, user.org_role];
  if (typeof id !== 'string' || id === '') return { id: undefined, role: undefined };
  return { id, role: typeof role === 'string' && role !== '' ? roleKey(role) : undefined };
}

/** 'admin' and 'org:admin' name the same Clerk role; the map and the claims are both read in the 'org:' form. */
const roleKey = (role: string): string => (role.startsWith('org:') ? role : `org:${role}`);

/**
 * Clerk's organization permissions as its AuthObject `orgPermissions` has them (the caller checks the organization).
 * v1: `org_permissions` as given. v2: `o.per` lists permission names, `o.fpm` one decimal bitmask per organization
 * feature (the `o:`-scoped entries of `fea`, in order); bit i of feature f's mask grants `org:<f>:<per[i]>`. BigInt because masks may exceed 2^53. A `fea` entry without
 * ':' makes Clerk's parser throw, which grants nothing: so here no Clerk permission counts.
 */
function clerkOrgPermissions(user: ClerkClaims): readonly string[] {
  if (user.v !== 2) return Array.isArray(user.org_permissions) ? user.org_permissions.filter((p) => typeof p === 'string') : [];
  const o = user.o;
  if (!o || typeof o.per !== 'string' || typeof o.fpm !== 'string' || o.per === '' || o.fpm === '') return [];
  const names = o.per.split(',').map((p) => p.trim());
  const masks = o.fpm.split(',').map((m) => m.trim());
  const features: string[] = [];
  if (typeof user.fea === 'string' && user.fea !== '') {
    for (const part of user.fea.split(',')) {
      const entry = part.trim();
      const colon = entry.indexOf(':');
      if (colon === -1) return [];
      const scope = entry.slice(0, colon);
      if (scope === 'o' || scope === 'ou' || scope === 'uo') features.push(entry.slice(colon + 1));
    }
  }
  const out: string[] = [];
  features.forEach((feature, f) => {
    const mask = masks[f];
    if (mask === undefined || !/^\d+$/.test(mask)) return;
    const bits = BigInt(mask);
    names.forEach((name, i) => {
      if ((bits >> BigInt(i)) & 1n) out.push(`org:${feature}:${name}`);
    });
  });
  return out;
}

/** Clerk's part is derived from the claims alone; the verifier reuses one frozen claims object per token. */
const clerkPermissionCache = new WeakMap<ClerkClaims, readonly string[]>();

function cachedClerkPermissions(user: ClerkClaims): readonly string[] {
  let permissions = clerkPermissionCache.get(user);
  if (!permissions) {
    permissions = Object.freeze(clerkOrgPermissions(user));
    clerkPermissionCache.set(user, permissions);
  }
  return permissions;
}

/** Validates and copies a pattern list: a later change to the caller's array must not change decisions. */
function patternList(value: unknown, field: string): readonly string[] {
  if (!Array.isArray(value)) throw new TypeError(`rolePermissions: ${field} must be an array of permission strings`);
  value.forEach((pattern, i) => {
    if (typeof pattern !== 'string' || pattern === '') {
      throw new TypeError(`rolePermissions: ${field}[${i}] must be a non-empty permission string`);
    }
  });
  return Object.freeze([...(value as string[])]);
}

/** At most this many answers are memoised per role: permissions asked for normally come from a fixed route table. */
const MEMO_LIMIT = 1024;

/** One set of patterns with memoised answers, so `has()` for a route permission is one Map lookup after the first. */
class Grants {
  readonly #memo = new Map<string, boolean>();
  constructor(readonly patterns: readonly string[]) {}
  has(permission: string): boolean {
    let answer = this.#memo.get(permission);
    if (answer === undefined) {
      answer = this.patterns.some((pattern) => matchesPermission(pattern, permission));
      if (this.#memo.size < MEMO_LIMIT) this.#memo.set(permission, answer);
    }
    return answer;
  }
}

const NONE = new Grants(Object.freeze([]));

/**
 * Clerk organization roles to Mastra's permission names, with Mastra's wildcard rules (`*`, `agents:*`, `*:read`),
 * without Mastra's enterprise RBAC: a policy for Mastra routes (by `ctx.resource.permission`) and guards for Express
 * routes. Roles are Clerk role keys (`org:admin`); options are validated and copied once.
 *
 * @example
 * const permissions = rolePermissions({ organizations: [ORG_ID], roles: { 'org:admin': ['*'], 'org:member': ['agents:read', 'agents:execute'] } });
 * const clerkAuth = createClerkAuth({ authorizeUser: permissions.authorizeUser });
 * app.get('/reports', requireClerkAuth(permissions.require('reports:read')), handler);
 */
export function rolePermissions(options: RolePermissionsOptions): RolePermissions {
  if (typeof options !== 'object' || options === null) throw new TypeError('rolePermissions: options must be an object');
  const { roles } = options;
  if (typeof roles !== 'object' || roles === null || Array.isArray(roles)) {
    throw new TypeError('rolePermissions: roles must be an object mapping Clerk role keys to permission arrays');
  }
  // A Map, not the caller's object: no prototype keys ('constructor'), no later mutation.
  const byRole = new Map<string, Grants>();
  for (const [role, patterns] of Object.entries(roles)) {
    const key = roleKey(role);
    if (role === '' || role === 'org:') throw new TypeError('rolePermissions: roles has an empty role key');
    if (byRole.has(key)) throw new TypeError(`rolePermissions: roles names '${key}' twice ('${role}' and its other form)`);
    byRole.set(key, new Grants(patternList(patterns, `roles['${role}']`)));
  }
  const { organizations } = options;
  if (organizations !== 'any') {
    if (!Array.isArray(organizations) || organizations.length === 0 || organizations.some((id) => typeof id !== 'string' || id === '')) {
      throw new TypeError(
        "rolePermissions: organizations must list the ids of the organizations whose roles count (['org_...']), or be 'any' " +
          '(any user who creates an organization is its admin)',
      );
    }
  }
  const listed: ReadonlySet<string> | undefined = organizations === 'any' ? undefined : new Set(organizations);
  const outside =
    options.withoutOrganization === undefined
      ? NONE
      : new Grants(patternList(options.withoutOrganization, 'withoutOrganization'));

  /** The user's active organization when it is one whose roles count, else undefined. */
  const countedOrganization = (user: ClerkClaims) => {
    const organization = organizationOf(user);
    return organization.id !== undefined && (listed === undefined || listed.has(organization.id)) ? organization : undefined;
  };
  const grantsOf = (user: ClerkClaims): Grants => {
    // A machine token (M2M, API key, OAuth) is no member of anything: `withoutOrganization` is for people.
    if (machineTokenOf(user)) return NONE;
    const organization = countedOrganization(user);
    if (!organization) return outside;
    return (organization.role !== undefined && byRole.get(organization.role)) || NONE;
  };
  /** Clerk's own permissions, in a counted organization only (Clerk's `has()` checks the organization id first). */
  const clerkOf = (user: ClerkClaims): readonly string[] => (countedOrganization(user) ? cachedClerkPermissions(user) : NONE.patterns);

  const has = (user: ClerkClaims, permission: string): boolean => {
    if (grantsOf(user).has(permission)) return true;
    const clerk = clerkOf(user);
    // Clerk's own permissions are names, not patterns, always `org:`-prefixed where Clerk's has() compares them: they
    // count exactly, and never for a Mastra permission ('*', 'agents:read') whatever a claim lists.
    return clerk.length > 0 && permission.startsWith('org:') && clerk.includes(permission);
  };

  return Object.freeze({
    permissionsOf(user: ClerkClaims): readonly string[] {
      const own = grantsOf(user).patterns;
      const clerk = clerkOf(user);
      return clerk.length === 0 ? own : Object.freeze([...own, ...clerk.filter((p) => !own.includes(p))]);
    },
    has,
    authorizeUser(user: ClerkClaims, ctx: { resource?: RouteResource; source?: 'express' | 'mastra' }): boolean {
      const resource = ctx?.resource;
      // A Mastra request without a resource is a custom route: Mastra's RBAC would require its `requiresPermission` (or
      // one derived from its path), which no provider is told. Full administrators only, rather than everyone.
      if (!resource) return ctx?.source === 'mastra' ? has(user, '*') : true;
      const { permission } = resource;
      if (permission === null) {
        // Mastra derives no permission for its ALL-method MCP transport routes; executing MCP is the closest one.
        // Any other permission-less route is left to full administrators rather than to everyone.
        return has(user, resource.route.startsWith('/mcp/') ? 'mcp:execute' : '*');
      }
      if (typeof permission === 'string') return has(user, permission);
      return permission.some((p) => has(user, p)); // Mastra: any one of an array (logical OR)
    },
    require(permission: string): (user: ClerkClaims) => boolean {
      if (typeof permission !== 'string' || permission === '') {
        throw new TypeError('rolePermissions: require(permission) needs a non-empty permission string');
      }
      return (user: ClerkClaims) => has(user, permission);
    },
  });
}
