/**
 * The Mastra provider and Mastra mounted inside Express, over a real listening server, driven by the real
 * `@mastra/client-js` MastraClient: one createClerkAuth() gives the same decision on Express and Mastra routes.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Mastra } from '@mastra/core/mastra';
import { MASTRA_RESOURCE_ID_KEY } from '@mastra/core/request-context';
import { createTool } from '@mastra/core/tools';
import { MastraServer } from '@mastra/express';
import { MastraClient } from '@mastra/client-js';
import { z } from 'zod';
import { clerkMastraAuth, createClerkAuth, type ClerkAuthErrorCode, type ClerkAuthOptions } from '../../src/index.js';
import { MastraAuthClerk, type MastraProviderOptions } from '../../src/mastra/index.js';
import { createClerkMastraClient } from '../../src/client/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { expectRejected } from '../support/errors.js';
import { withClerkEnv } from '../support/env.js';
import { rawGet, statusOf } from '../support/http.js';
import { withIssuer } from '../support/issuer.js';
import { authorizeUser, createApp } from '../../examples/app.js';
import { createMastra, weatherAgent } from '../../examples/mastra/index.js';

const TARGET_MESSAGE =
  'The request target must be a plain path: no fragment, backslash, dot or empty segment, and valid percent-encoding.';

let issuer: TestIssuer;
const servers: Server[] = [];
beforeAll(async () => {
  issuer = await createTestIssuer();
});
afterAll(async () => {
  await issuer.close();
});
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function listen(app: express.Express): Promise<string> {
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await new Promise((resolve) => server.once('listening', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A MastraClient as the seed configures it: a fixed header (or none). No retries, so failures are immediate. */
function staticClient(baseUrl: string, token?: string): MastraClient {
  return new MastraClient({ baseUrl, retries: 0, headers: token ? { Authorization: `Bearer ${token}` } : {} });
}


describe('one createClerkAuth() for Express routes and Mastra routes (examples/app.ts)', () => {
  let base: string;
  let server: Server;
  const sources: string[] = [];
  beforeAll(async () => {
    const { app } = await createApp({
      ...issuer.authOptions,
      env: {},
      logger: false,
      // The example's policy, recording which adapter asked.
      authorizeUser: (user, ctx) => {
        sources.push(`${ctx.source} ${ctx.path}`);
        return authorizeUser(user, ctx);
      },
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const calls: Array<[string, (c: MastraClient) => Promise<unknown>]> = [
    ['list agents', (c) => c.listAgents()],
    ['agent details', (c) => c.getAgent('weatherAgent').details()],
    ['generate', (c) => c.getAgent('weatherAgent').generate('London')],
    ['tool execute', (c) => c.getTool('get-weather').execute({ data: { city: 'Paris' } } as never)],
    ['list workflows', (c) => c.listWorkflows()],
  ];

  it.each(calls)('%s: 200 with a token, 401 without, 401 expired, 403 when the policy says no', async (_name, call) => {
    const ok = await issuer.mintToken({}, { userId: 'user_ok' });
    expect(await statusOf(call(staticClient(base, ok)))).toBe(200);
    expect(await statusOf(call(staticClient(base)))).toBe(401);
    expect(await statusOf(call(staticClient(base, await issuer.mintToken({}, { expired: true }))))).toBe(401);
    expect(await statusOf(call(staticClient(base, await issuer.mintToken({}, { userId: 'user_banned_1' }))))).toBe(403);
  });

  it('a Mastra route passes both adapters: the Express middleware, then the Mastra provider', async () => {
    sources.length = 0;
    expect(await statusOf(staticClient(base, await issuer.mintToken()).listAgents())).toBe(200);
    expect(sources).toEqual(['express /api/agents', 'mastra /api/agents']);
  });

  it('an absolute-form request target gets 400 from the Express middleware, not a 500 from Mastra', async () => {
    const res = await rawGet(Number(new URL(base).port), `${base}/api/agents`, { Authorization: `Bearer ${await issuer.mintToken()}` });
    await expectRejected(res, 400, 'request-invalid', TARGET_MESSAGE);
  });

  it.each([
    ['backslashes', '/api/agents/weatherAgent/tools/..\\..\\..\\x'],
    ['dot segments', '/api/agents/weatherAgent/tools/../../x'],
    ['encoded dot segments', '/api/agents/weatherAgent/tools/%2e%2e/%2E%2e/x'],
    ['an empty segment (a protocol-relative URL to some parsers)', '//api/agents'],
    ['an empty segment inside', '/api//agents/weatherAgent'],
  ])('%s in the target get 400 from the Express middleware: URL parsing would show Mastra another path', async (_case, target) => {
    const res = await rawGet(Number(new URL(base).port), target, { Authorization: `Bearer ${await issuer.mintToken()}` });
    await expectRejected(res, 400, 'request-invalid', TARGET_MESSAGE);
  });

  it('the policy compares paths case-insensitively, as Express routes', async () => {
    const member = await issuer.mintToken({}, { org: { id: 'org_1', role: 'org:member' } });
    await expectRejected(await fetch(`${base}/ADMIN/report`, { headers: { Authorization: `Bearer ${member}` } }), 403, 'access-denied');
  });

  it('the agent answers offline through MastraClient', async () => {
    const client = staticClient(base, await issuer.mintToken());
    const result = await client.getAgent('weatherAgent').generate('London');
    expect(result.text).toBe('Weather in London: sunny, 21°C.');
    expect(await client.getTool('get-weather').execute({ data: { city: 'Rome' } } as never)).toEqual({
      city: 'Rome',
      forecast: 'sunny',
      temperatureC: 21,
    });
  });

  it('the same token and policy give the same answer, status, code and header, on /me and /api/agents', async () => {
    const ok = { headers: { Authorization: `Bearer ${await issuer.mintToken({}, { userId: 'user_ok' })}` } };
    expect([(await fetch(`${base}/me`, ok)).status, (await fetch(`${base}/api/agents`, ok)).status]).toEqual([200, 200]);
    const refusals: Array<[string | undefined, number, ClerkAuthErrorCode]> = [
      [undefined, 401, 'token-missing'],
      [await issuer.mintToken({}, { expired: true }), 401, 'token-expired'],
      [await issuer.mintToken({}, { userId: 'user_banned_2' }), 403, 'access-denied'],
      [await issuer.mintToken({ azp: 'https://evil.example' }), 401, 'token-invalid-authorized-parties'],
    ];
    for (const [token, status, code] of refusals) {
      const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
      await expectRejected(await fetch(`${base}/me`, { headers }), status, code);
      await expectRejected(await fetch(`${base}/api/agents`, { headers }), status, code);
    }
  });

  it("a policy by path: /admin needs an admin of the app's organization (Acme), not of one of the user's own", async () => {
    const member = await issuer.mintToken({}, { org: { id: 'org_acme', role: 'org:member' } });
    const admin = await issuer.mintToken({}, { org: { id: 'org_acme', role: 'org:admin' } });
    const adminV1 = await issuer.mintToken({}, { version: 1, org: { id: 'org_acme', role: 'org:admin' } });
    const ownOrgAdmin = await issuer.mintToken({}, { org: { id: 'org_1', role: 'org:admin' } });
    const ownOrgAdminV1 = await issuer.mintToken({}, { version: 1, org: { id: 'org_1', role: 'org:admin' } });
    const as = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });
    await expectRejected(await fetch(`${base}/admin/report`, as(member)), 403, 'access-denied');
    await expectRejected(await fetch(`${base}/admin/report`, as(ownOrgAdmin)), 403, 'access-denied');
    await expectRejected(await fetch(`${base}/admin/report`, as(ownOrgAdminV1)), 403, 'access-denied');
    expect((await fetch(`${base}/admin/report`, as(admin))).status).toBe(200);
    expect((await fetch(`${base}/admin/report`, as(adminV1))).status).toBe(200);
    expect((await fetch(`${base}/api/agents`, as(member))).status).toBe(200);
  });

  it('createClerkMastraClient fetches a fresh token for every request', async () => {
    let calls = 0;
    const client = createClerkMastraClient({
      baseUrl: base,
      retries: 0,
      getToken: () => {
        calls += 1;
        return issuer.mintToken({}, { userId: `user_${calls}` });
      },
    });
    await client.listAgents();
    await client.getAgent('weatherAgent').details();
    await client.getAgent('weatherAgent').generate('Oslo');
    expect(calls).toBe(3);
  });

  it('createClerkMastraClient sends no Authorization when signed out (getToken returns null)', async () => {
    const client = createClerkMastraClient({ baseUrl: base, retries: 0, headers: { Authorization: 'Bearer stale' }, getToken: () => null });
    expect(await statusOf(client.listAgents())).toBe(401);
  });
});

describe('a token that expires between two calls', () => {
  it('is replaced by createClerkMastraClient, while the seed-style fixed header fails', async () => {
    let now = Date.now();
    const { app } = await createApp({ ...issuer.authOptions, env: {}, logger: false, now: () => now });
    const base = await listen(app);

    const fixed = staticClient(base, await issuer.mintToken({}, { now }));
    const fresh = createClerkMastraClient({ baseUrl: base, retries: 0, getToken: () => issuer.mintToken({}, { now }) });
    expect(await statusOf(fixed.listAgents())).toBe(200);
    expect(await statusOf(fresh.listAgents())).toBe(200);

    now += 70_000; // past the 60 s lifetime and the 5 s skew
    expect(await statusOf(fixed.listAgents())).toBe(401);
    expect(await statusOf(fresh.listAgents())).toBe(200);
    expect(await statusOf(fresh.getAgent('weatherAgent').generate('Lima'))).toBe(200);
  });
});

describe('MastraAuthClerk on its own (Mastra answers for itself)', () => {
  /** Mastra mounted in Express with only the provider: no Express middleware in front. */
  async function mastraOnly(provider: MastraAuthClerk, extraTools = {}, trustProxy = false, extendedQuery = false) {
    const app = express();
    if (trustProxy) app.set('trust proxy', true);
    // Express 4's query parser (qs), which Express 5 apps migrating from 4 often keep.
    if (extendedQuery) app.set('query parser', 'extended');
    app.use(express.json());
    const mastra = new Mastra({
      agents: { weatherAgent },
      tools: { ...extraTools },
      server: { auth: provider as never },
      logger: false,
    });
    await new MastraServer({ app, mastra, prefix: '/api' }).init();
    return listen(app);
  }

  function provider(options: ClerkAuthOptions & MastraProviderOptions & { logged?: string[] } = {}) {
    const { logged, ...rest } = options;
    return new MastraAuthClerk({ ...issuer.authOptions, env: {}, logger: logged ? levelled(logged) : false, ...rest });
  }

  /** A logger with levels (as console, pino or Mastra's), recording `level line`; start-up lines (info) left out. */
  function levelled(logged: string[]) {
    return {
      debug: (m: string) => logged.push(`debug ${m}`),
      warn: (m: string) => logged.push(`warn ${m}`),
      error: (m: string) => logged.push(`error ${m}`),
    };
  }

  it("answers with Mastra's own 401 and 403, and logs the failure's code, never the token", async () => {
    const logged: string[] = [];
    const base = await mastraOnly(provider({ logged, authorizeUser: (user) => user.sub !== 'user_denied' }));
    const expired = await issuer.mintToken({}, { expired: true });
    const res = await fetch(`${base}/api/agents`, { headers: { Authorization: `Bearer ${expired}` } });
    expect([res.status, await res.json()]).toEqual([401, { error: 'Invalid or expired token' }]);
    const none = await fetch(`${base}/api/agents`);
    expect(none.status).toBe(401);
    const denied = await fetch(`${base}/api/agents`, { headers: { Authorization: `Bearer ${await issuer.mintToken({}, { userId: 'user_denied' })}` } });
    expect([denied.status, await denied.json()]).toEqual([403, { error: 'Access denied' }]);
    // Refusals at debug, by code: one rule for both adapters.
    expect(logged).toEqual([
      'debug [clerk-mastra-auth] request refused (token-expired)',
      'debug [clerk-mastra-auth] request refused (token-missing)',
      'debug [clerk-mastra-auth] request refused (access-denied)',
    ]);
    expect(logged.join('\n')).not.toContain(expired);
  });

  it('logs a JWKS outage as such, not as an invalid token', async () => {
    await withIssuer(async (down) => {
      down.setJwksFailure('down');
      const logged: string[] = [];
      const base = await mastraOnly(new MastraAuthClerk({ ...down.authOptions, env: {}, logger: levelled(logged) }));
      const res = await fetch(`${base}/api/agents`, { headers: { Authorization: `Bearer ${await down.mintToken()}` } });
      expect(res.status).toBe(401); // Mastra's contract: a provider can only say null
      // An outage at warn, with its cause (here the status the JWKS answered), never a token or a key.
      expect(logged).toEqual(['warn [clerk-mastra-auth] keys unavailable (jwk-remote-failed-to-load): the JWKS endpoint answered HTTP 503']);
    });
  });

  it('reads the __session cookie, which Mastra itself does not', async () => {
    const base = await mastraOnly(provider());
    const res = await fetch(`${base}/api/agents`, { headers: { Cookie: `__session=${await issuer.mintToken()}; __client_uat=1` } });
    expect(res.status).toBe(200);
  });

  it('accepts a lower-case "bearer" scheme (Mastra strips only "Bearer ")', async () => {
    const base = await mastraOnly(provider());
    const res = await fetch(`${base}/api/agents`, { headers: { Authorization: `bearer ${await issuer.mintToken()}` } });
    expect(res.status).toBe(200);
  });

  it('refuses a token in the query string (?apiKey=)', async () => {
    const logged: string[] = [];
    const base = await mastraOnly(provider({ logged }));
    const res = await fetch(`${base}/api/agents?apiKey=${await issuer.mintToken()}`);
    expect(res.status).toBe(401);
    expect(logged).toEqual(['debug [clerk-mastra-auth] request refused (request-invalid)']);
  });

  it.each([
    ['Bearer%20', ''],
    ['bearer+', ''],
    ['%20', ''],
    ['', '%20'],
  ])('refuses ?apiKey=%s<token>%s too', async (before, after) => {
    const base = await mastraOnly(provider());
    const res = await fetch(`${base}/api/agents?apiKey=${before}${await issuer.mintToken()}${after}`);
    expect(res.status).toBe(401);
  });

  it.each(['[apiKey]', '%5BapiKey%5D', 'apiKey[]', '[apiKey][]'])(
    "refuses a token in any query key Express 4's parser reads as apiKey (?%s=), not only in ?apiKey=",
    async (key) => {
      const logged: string[] = [];
      const base = await mastraOnly(provider({ logged }), {}, false, true);
      const res = await fetch(`${base}/api/agents?${key}=${await issuer.mintToken()}`);
      expect([key, res.status]).toEqual([key, 401]);
      expect(logged).toEqual(['debug [clerk-mastra-auth] request refused (request-invalid)']);
    },
  );

  it.each<[string, string, Record<string, string>]>([
    ['a Host that shifts the path', '/api/agents/weatherAgent', { Host: 'x/zz' }],
    // With Host "x", Mastra's adapter builds the URL http://xhttp://x/api/..., whose path is //x/api/...
    ['an absolute-form request target', 'http://x/api/agents/weatherAgent', { Host: 'x' }],
    // Behind `trust proxy`, the client's X-Forwarded-Proto becomes the URL's scheme: http://x/zz?://host/api/...
    ['an X-Forwarded-Proto that shifts the path', '/api/agents/weatherAgent', { 'X-Forwarded-Proto': 'http://x/zz?' }],
    ['an X-Forwarded-Proto with a fragment', '/api/agents/weatherAgent', { 'X-Forwarded-Proto': 'http://x/public#, https' }],
  ])('refuses %s before a path policy sees it (403)', async (_case, target, headers) => {
    const policyPaths: string[] = [];
    const base = await mastraOnly(
      provider({
        authorizeUser: (user, ctx) => {
          policyPaths.push(ctx.path);
          return !ctx.path.toLowerCase().startsWith('/api/agents/') || user.o?.rol === 'admin';
        },
      }),
      {},
      true,
    );
    const port = Number(new URL(base).port);
    const member = await issuer.mintToken({}, { org: { id: 'org_1', role: 'org:member' } });
    const res = await rawGet(port, target, { ...headers, Authorization: `Bearer ${member}` });
    expect(res.status).toBe(403);
    expect(policyPaths).toEqual([]);
    const plain = await rawGet(port, '/api/agents/weatherAgent', { Authorization: `Bearer ${member}` });
    expect(plain.status).toBe(403);
    expect(policyPaths).toEqual(['/api/agents/weatherAgent']);
    // Legitimate variants still reach the policy: an underscore host, a proxy's https, an explicit default port.
    const legitimate: Array<Record<string, string>> = [{ Host: 'mastra_api:4111' }, { 'X-Forwarded-Proto': 'https' }, { Host: 'example.com:80' }];
    for (const ok of legitimate) {
      expect((await rawGet(port, '/api/agents', { ...ok, Authorization: `Bearer ${member}` })).status).toBe(200);
    }
  });

  it('runs the shared policy with source "mastra", the full path and the method', async () => {
    const seen: Array<{ source: string; path: string; method: string; trace: string | null }> = [];
    const base = await mastraOnly(
      provider({
        authorizeUser: (user, ctx) => {
          seen.push({ source: ctx.source, path: ctx.path, method: ctx.method, trace: ctx.headers.get('x-trace') });
          return !(ctx.path.startsWith('/api/agents/weatherAgent/generate') && user.o?.rol !== 'admin');
        },
      }),
    );
    const member = new MastraClient({
      baseUrl: base,
      retries: 0,
      headers: { Authorization: `Bearer ${await issuer.mintToken({}, { org: { id: 'org_1', role: 'org:member' } })}`, 'X-Trace': 't-9' },
    });
    expect(await statusOf(member.listAgents())).toBe(200);
    expect(await statusOf(member.getAgent('weatherAgent').generate('Quito'))).toBe(403);
    const admin = staticClient(base, await issuer.mintToken({}, { org: { id: 'org_1', role: 'org:admin' } }));
    expect(await statusOf(admin.getAgent('weatherAgent').generate('Quito'))).toBe(200);
    expect(seen[0]).toEqual({ source: 'mastra', path: '/api/agents', method: 'GET', trace: 't-9' });
    expect(seen[1]).toEqual({ source: 'mastra', path: '/api/agents/weatherAgent/generate', method: 'POST', trace: 't-9' });
  });

  it('a policy that throws is a 500, logged with what it threw', async () => {
    const logged: string[] = [];
    const base = await mastraOnly(
      provider({
        logged,
        authorizeUser: () => {
          throw new Error('boom');
        },
      }),
    );
    const res = await fetch(`${base}/api/agents`, { headers: { Authorization: `Bearer ${await issuer.mintToken()}` } });
    expect(res.status).toBe(500);
    expect(logged).toEqual([expect.stringMatching(/^error \[clerk-mastra-auth\] authorizeUser threw \(authorization-error\): Error: boom\n\s+at /)]);
  });

  it('maps the memory resource id to the Clerk user id by default', async () => {
    const whoami = createTool({
      id: 'whoami',
      description: 'Returns the resource id Mastra resolved for this request.',
      inputSchema: z.object({}),
      outputSchema: z.object({ resourceId: z.string().nullable() }),
      execute: async (_input, context) => ({
        resourceId: (context?.requestContext?.get(MASTRA_RESOURCE_ID_KEY) as string | undefined) ?? null,
      }),
    });
    const base = await mastraOnly(provider(), { whoami });
    const client = staticClient(base, await issuer.mintToken({}, { userId: 'user_owner' }));
    expect(await client.getTool('whoami').execute({ data: {} } as never)).toEqual({ resourceId: 'user_owner' });

    const customBase = await mastraOnly(provider({ mapUserToResourceId: (user) => `tenant:${user.sub}` }), { whoami });
    const customClient = staticClient(customBase, await issuer.mintToken({}, { userId: 'user_x' }));
    expect(await customClient.getTool('whoami').execute({ data: {} } as never)).toEqual({ resourceId: 'tenant:user_x' });
  });

  it('shares the verifier through { clerkAuth }: one JWKS fetch for Express and Mastra', async () => {
    await withIssuer(async (own) => {
      const auth = createClerkAuth({ ...own.authOptions, env: {}, logger: false });
      const app = express();
      app.get('/express', clerkMastraAuth({ clerkAuth: auth }), (_req, res) => res.json({ ok: true }));
      await new MastraServer({ app, mastra: createMastra(new MastraAuthClerk({ clerkAuth: auth })), prefix: '/api' }).init();
      const base = await listen(app);
      const token = await own.mintToken();
      expect((await fetch(`${base}/express`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(200);
      expect((await fetch(`${base}/api/agents`, { headers: { Authorization: `Bearer ${await own.mintToken()}` } })).status).toBe(200);
      expect(own.jwksFetchCount).toBe(1);
    });
  });
});

describe('drop-in for @mastra/auth-clerk', () => {
  it("takes the seed's constructor options (publishableKey, secretKey, jwksUri) and verifies with them", async () => {
    const auth = new MastraAuthClerk({
      publishableKey: issuer.publishableKey,
      secretKey: issuer.secretKey,
      jwksUri: issuer.jwksUri,
    });
    const base = await (async () => {
      const app = express();
      await new MastraServer({ app, mastra: createMastra(auth), prefix: '/api' }).init();
      return listen(app);
    })();
    const client = staticClient(base, await issuer.mintToken());
    expect(Object.keys(await client.listAgents())).toEqual(['weatherAgent']);
    // And it checks what @mastra/auth-clerk does not: the issuer of the publishable key.
    const foreignIssuer = staticClient(base, await issuer.mintToken({ iss: 'https://evil.clerk.accounts.dev' }));
    expect(await statusOf(foreignIssuer.listAgents())).toBe(401);
  });

  it('reads the seed .env variables when given no options, and needs no secret key to verify', async () => {
    await withClerkEnv({ CLERK_PUBLISHABLE_KEY: issuer.publishableKey, CLERK_JWKS_URI: issuer.jwksUri }, async () => {
      const auth = new MastraAuthClerk({ logger: false });
      await expect(auth.authenticateToken(await issuer.mintToken(), new Request('http://localhost/api/agents'))).resolves.toMatchObject({
        sub: 'user_test',
      });
    });
  });

  it('fails at start-up without any key configuration', () => {
    expect(() => new MastraAuthClerk({ env: {} })).toThrow(/CLERK_PUBLISHABLE_KEY, CLERK_JWKS_URI, CLERK_JWT_KEY or CLERK_SECRET_KEY/);
  });
});
