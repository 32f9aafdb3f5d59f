/**
 * Machine tokens on the real Mastra server (`@mastra/express`), from the user's side: the provider takes the types its
 * `clerkAuth` (or its own `acceptsToken`) accepts; Mastra's `requestContext.get('user')` is the `{ sub, exp, jti }` of
 * a machine token; the memory resource id is the OAuth token's user, the M2M token's machine, the API key's owner;
 * and the shared policy sees `ctx.tokenType` and `ctx.machine` on Mastra's routes as on Express's.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Mastra } from '@mastra/core/mastra';
import { MASTRA_RESOURCE_ID_KEY } from '@mastra/core/request-context';
import { createTool } from '@mastra/core/tools';
import { MastraServer } from '@mastra/express';
import { z } from 'zod';
import { clerkMastraAuth, createClerkAuth, type AuthorizeContext, type ClerkAuth, type ClerkClaims } from '../../src/index.js';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { expectRefused, machineOptions, tokenOf, type TokenForm } from './support.js';

let issuer: TestIssuer;
const servers: Server[] = [];
beforeAll(async () => {
  issuer = await createTestIssuer();
});
afterAll(async () => {
  await issuer.close();
});
async function closeAll(list: Server[]): Promise<void> {
  for (const server of list.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}
afterEach(() => closeAll(servers));

/** A tool that reports who Mastra thinks the caller is: the `user` and the memory resource id of its request context. */
const whoami = createTool({
  id: 'whoami',
  description: 'Returns the user and resource id Mastra resolved for this request.',
  inputSchema: z.object({}),
  outputSchema: z.object({ user: z.unknown(), resourceId: z.string().nullable() }),
  execute: async (_input, context) => ({
    user: context?.requestContext?.get('user') ?? null,
    resourceId: (context?.requestContext?.get(MASTRA_RESOURCE_ID_KEY) as string | undefined) ?? null,
  }),
});

/**
 * Mastra in Express under /api with `provider`, behind `front` (an Express middleware) when given; the server is
 * closed with `list` (by default after each test).
 */
async function serve(provider: MastraAuthClerk, front?: express.RequestHandler, list: Server[] = servers): Promise<string> {
  const app = express();
  app.use(express.json());
  if (front) app.use(front);
  const mastra = new Mastra({ tools: { whoami }, server: { auth: provider as never }, logger: false });
  await new MastraServer({ app, mastra, prefix: '/api' }).init();
  const server = app.listen(0, '127.0.0.1');
  list.push(server);
  await new Promise((resolve) => server.once('listening', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function callWhoami(base: string, token: string): Promise<Response> {
  return fetch(`${base}/api/tools/whoami/execute`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ data: {} }),
  });
}

const payloadOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

describe('Mastra behind the Express middleware, one shared clerkAuth accepting machine tokens', () => {
  let base: string;
  let clerkAuth: ClerkAuth;
  const seen: Array<{ user: ClerkClaims; ctx: AuthorizeContext }> = [];
  const shared: Server[] = [];
  afterAll(() => closeAll(shared));
  beforeAll(async () => {
    clerkAuth = createClerkAuth(
      machineOptions(issuer, {
        acceptsToken: ['session_token', 'oauth_token', 'm2m_token'],
        authorizeUser: (user, ctx) => {
          seen.push({ user, ctx });
          // Machines need the scope of this service; people and OAuth grants pass.
          return ctx.tokenType !== 'm2m_token' || ctx.machine?.scopes.includes('mch_mastra') === true;
        },
      }),
    );
    base = await serve(new MastraAuthClerk({ clerkAuth }), clerkMastraAuth({ clerkAuth }), shared);
  });

  it('an OAuth access token (JWT): requestContext user is { sub, exp, jti }, the memory resource is the user id', async () => {
    const token = await issuer.mintOAuthToken({ userId: 'user_granter', clientId: 'client_cli', claims: { o: { rol: 'admin' } } });
    const res = await callWhoami(base, token);
    expect(res.status).toBe(200);
    const { exp, jti } = payloadOf(token);
    expect(await res.json()).toEqual({ user: { sub: 'user_granter', exp, jti }, resourceId: 'user_granter' });
  });

  it('an opaque OAuth access token: the same, through the Backend API', async () => {
    const token = issuer.createOpaqueOAuthToken({ userId: 'user_granter', clientId: 'client_cli' });
    const res = await callWhoami(base, token);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ user: { sub: 'user_granter', jti: issuer.describeToken(token)?.id }, resourceId: 'user_granter' });
  });

  it('an M2M token with the scope: the resource id is the machine; without it: 403 access-denied', async () => {
    const ok = await issuer.mintM2MToken({ machineId: 'mch_worker', scopes: ['mch_mastra'] });
    const res = await callWhoami(base, ok);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ user: { sub: 'mch_worker' }, resourceId: 'mch_worker' });
    await expectRefused(await callWhoami(base, await issuer.mintM2MToken({ scopes: ['mch_other'] })), 403, 'access-denied');
  });

  it('a type the shared object does not list (an API key): 401 token-type-mismatch', async () => {
    await expectRefused(await callWhoami(base, issuer.createApiKey()), 401, 'token-type-mismatch');
  });

  it('the policy sees ctx.tokenType and ctx.machine on Mastra routes, from both adapters', async () => {
    seen.length = 0;
    const token = await issuer.mintM2MToken({ machineId: 'mch_worker', scopes: ['mch_mastra'] });
    expect((await callWhoami(base, token)).status).toBe(200);
    expect(seen.map(({ ctx }) => [ctx.source, ctx.tokenType, ctx.machine?.tokenType, ctx.machine?.subject])).toEqual([
      ['express', 'm2m_token', 'm2m_token', 'mch_worker'],
      ['mastra', 'm2m_token', 'm2m_token', 'mch_worker'],
    ]);
    expect(seen[1]?.ctx.resource).toMatchObject({ permission: expect.stringMatching(/^tools:/) });
  });
});

describe('MastraAuthClerk answering for itself', () => {
  it('by default (sessions only) refuses every machine token with a 401', async () => {
    const base = await serve(new MastraAuthClerk(machineOptions(issuer)));
    expect((await callWhoami(base, await tokenOf(issuer, 'session'))).status).toBe(200);
    for (const form of ['m2m-jwt', 'm2m-opaque', 'oauth-jwt', 'oauth-opaque', 'api-key'] as TokenForm[]) {
      const res = await callWhoami(base, await tokenOf(issuer, form));
      expect({ form, status: res.status }).toEqual({ form, status: 401 });
    }
  });

  it('with acceptsToken in its own options takes those types; an API key\'s resource is its owner', async () => {
    const base = await serve(new MastraAuthClerk(machineOptions(issuer, { acceptsToken: ['oauth_token', 'api_key'] })));
    const oauth = await callWhoami(base, await tokenOf(issuer, 'oauth-jwt'));
    expect([oauth.status, ((await oauth.json()) as { resourceId: string }).resourceId]).toEqual([200, 'user_granter']);
    const key = await callWhoami(base, issuer.createApiKey({ subject: 'user_owner' }));
    expect([key.status, ((await key.json()) as { resourceId: string }).resourceId]).toEqual([200, 'user_owner']);
    expect((await callWhoami(base, await tokenOf(issuer, 'session'))).status).toBe(401);
    expect((await callWhoami(base, await tokenOf(issuer, 'm2m-jwt'))).status).toBe(401);
  });

  it('new MastraAuthClerk({ clerkAuth, acceptsToken }) replaces the shared list for the provider', async () => {
    const clerkAuth = createClerkAuth(machineOptions(issuer, { acceptsToken: 'any' }));
    const base = await serve(new MastraAuthClerk({ clerkAuth, acceptsToken: 'session_token' } as never));
    expect((await callWhoami(base, await tokenOf(issuer, 'session'))).status).toBe(200);
    expect((await callWhoami(base, await tokenOf(issuer, 'oauth-jwt'))).status).toBe(401);
    const wide = await serve(new MastraAuthClerk({ clerkAuth }));
    expect((await callWhoami(wide, await tokenOf(issuer, 'oauth-jwt'))).status).toBe(200);
  });

  it('a machine\'s custom claim o.rol = admin never meets a rule on user.o?.rol in Mastra either', async () => {
    const base = await serve(
      new MastraAuthClerk(machineOptions(issuer, { acceptsToken: 'any', authorizeUser: (user) => user.o?.rol === 'admin' })),
    );
    const res = await callWhoami(base, await issuer.mintM2MToken({ claims: { o: { id: 'org_1', rol: 'admin' } } }));
    expect(res.status).toBe(403);
    const admin = await issuer.mintToken({}, { org: { id: 'org_1', role: 'org:admin' } });
    expect((await callWhoami(base, admin)).status).toBe(200);
  });
});
