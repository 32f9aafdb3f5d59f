/**
 * Routes that act on an agent or workflow named in the request body (`POST /v1/responses` with `agent_id`,
 * `POST /v1/conversations`): a rule about one agent cannot see the name, so with a policy they are refused unless the
 * app says its policy judges them (`bodyAddressedRoutes: 'policy'`). The red team ran the admin-only agent through
 * `/v1/responses`, and started and cancelled runs of the admin-only workflow through `/workflows/events`, which is now
 * refused whatever the policy (it acts on any user's run: `workflow-run-owners.test.ts`).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import { Mastra } from '@mastra/core/mastra';
import { MastraServer } from '@mastra/express';
import { clerkMastraAuth, createClerkAuth, type AuthorizeContext, type ClerkAuthOptions } from '../../src/index.js';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { weatherAgent, weatherTool, weatherWorkflow } from '../../examples/mastra/index.js';
import { expectRejected } from '../support/errors.js';
import { listen } from '../support/http.js';

let issuer: TestIssuer;
let member: string;
let admin: string;
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  issuer = await createTestIssuer();
  member = await issuer.mintToken({}, { userId: 'user_member', org: { id: 'org_1', role: 'org:member' }, expiresInSeconds: 600 });
  admin = await issuer.mintToken({}, { userId: 'user_admin', org: { id: 'org_1', role: 'org:admin' }, expiresInSeconds: 600 });
});
afterAll(async () => {
  for (const close of closers) await close();
  await issuer.close();
});

/** The demo's rule: the weather agent and workflow are for organization admins. */
const seen: AuthorizeContext[] = [];
const authorizeUser: NonNullable<ClerkAuthOptions['authorizeUser']> = (user, ctx) => {
  seen.push(ctx);
  const restricted = ctx.resource?.params.agentId === 'weatherAgent' || ctx.resource?.params.workflowId === 'weatherWorkflow';
  return !restricted || user.o?.rol === 'admin';
};

async function start(mode: 'mixed' | 'standalone', bodyAddressedRoutes?: 'refuse' | 'policy'): Promise<string> {
  const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false, authorizeUser });
  const app = express();
  app.use(express.json());
  if (mode === 'mixed') app.use(clerkMastraAuth({ clerkAuth }));
  const mastra = new Mastra({
    agents: { weatherAgent },
    tools: { weatherTool },
    workflows: { weatherWorkflow },
    server: { auth: new MastraAuthClerk({ clerkAuth, bodyAddressedRoutes }) as never },
    logger: false,
  });
  await new MastraServer({ app, mastra, prefix: '/api' }).init();
  const server = await listen(app);
  closers.push(server.close);
  return server.base;
}

function post(base: string, path: string, token: string, body: unknown): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

const RESPONSES = { agent_id: 'weatherAgent', input: 'London', store: false };
const EVENT = {
  event: {
    id: 'e1',
    type: 'workflow.cancel',
    runId: 'someone-elses-run',
    createdAt: new Date().toISOString(),
    data: { workflowId: 'weatherWorkflow', runId: 'someone-elses-run' },
  },
};

describe.each(['mixed', 'standalone'] as const)('%s: with a policy, by default', (mode) => {
  let base: string;
  beforeAll(async () => {
    base = await start(mode);
  });

  it.each([
    ['POST /api/v1/responses', '/api/v1/responses', RESPONSES],
    ['POST /api/v1/conversations', '/api/v1/conversations', { agent_id: 'weatherAgent' }],
  ])('%s is refused, for a member and an admin alike (the policy cannot see what it acts on)', async (_name, path, body) => {
    for (const token of [member, admin]) {
      const res = await post(base, path, token, body);
      if (mode === 'mixed') await expectRejected(res, 403, 'access-denied');
      else expect([res.status, await res.json()]).toEqual([403, { error: 'Access denied' }]);
    }
  });

  it('the path-addressed route of the same agent still follows the policy', async () => {
    const generate = { messages: 'London' };
    const denied = await post(base, '/api/agents/weatherAgent/generate', member, generate);
    expect(denied.status).toBe(403);
    const allowed = await post(base, '/api/agents/weatherAgent/generate', admin, generate);
    expect(allowed.status).toBe(200);
  });
});

describe("bodyAddressedRoutes: 'policy'", () => {
  it('hands them to the policy, marked addressedInBody', async () => {
    const base = await start('standalone', 'policy');
    seen.length = 0;
    const res = await post(base, '/api/v1/conversations', member, { agent_id: 'weatherAgent' });
    expect(res.status).not.toBe(403);
    const judged = seen.find((ctx) => ctx.resource?.route === '/v1/conversations');
    expect(judged?.resource).toMatchObject({ route: '/v1/conversations', prefix: '/api', addressedInBody: true, params: {} });
    // The push-broker entry acts on the run its body names, whoever's: refused whatever the policy says.
    seen.length = 0;
    const events = await post(base, '/api/workflows/events', admin, EVENT);
    expect([events.status, await events.json(), seen.length]).toEqual([403, { error: 'Access denied' }, 0]);
  });

  it('is validated at start-up', () => {
    expect(() => new MastraAuthClerk({ ...issuer.authOptions, env: {}, logger: false, bodyAddressedRoutes: 'allow' as never })).toThrow(
      'MastraAuthClerk: "bodyAddressedRoutes" must be "refuse" or "policy"',
    );
    for (const bodySizeLimit of [0, -1, 1.5, Infinity, Number.NaN, '8mb']) {
      expect(() => new MastraAuthClerk({ ...issuer.authOptions, env: {}, logger: false, bodySizeLimit: bodySizeLimit as never })).toThrow(
        'MastraAuthClerk: "bodySizeLimit" must be a positive whole number of bytes',
      );
    }
  });
});
