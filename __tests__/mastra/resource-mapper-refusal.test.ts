/**
 * Found by an attack session: a `mapUserToResourceId` that returns no resource (its type allows `undefined | null`: a Studio user or a
 * token without an active organization, mapped by organization) or throws. README: "one that throws refuses the
 * request, 403, and is logged at error"; the library's rule: 401/403/400/503, never 500. The provider hands Mastra the
 * app's raw mapper (the `mapUserToResourceId` getter), and Mastra's core auth calls it before the policy and answers
 * 500 "Failed to map authenticated user to a resource ID", on every route, in every mode (standalone @mastra/express,
 * Mastra's own Hono server, and behind clerkMastraAuth on routes the middleware does not judge by memory resource).
 * Real issuer, real Mastra servers, no mocks.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Agent } from '@mastra/core/agent';
import { Mastra } from '@mastra/core/mastra';
import { createClerkAuth, type ClerkClaims } from '../../src/index.js';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { serveMastra } from '../security/support.js';
import { offlineWeatherModel } from '../../examples/mastra/offline-model.js';
import { signedInBrowser, startStudioApp } from '../studio/support.js';

let issuer: TestIssuer;
beforeAll(async () => {
  issuer = await createTestIssuer();
});
afterAll(async () => {
  await issuer.close();
});

/** Memory per organization, the app's own way (its type allows undefined). */
const byOrganization = (user: ClerkClaims): string | undefined => user.o?.id;
const throwing = (): string => {
  throw new Error('mapper boom');
};

describe.each(['standalone', 'hono', 'mixed'] as const)('%s', (mode) => {
  it.each([
    ['returns undefined (a user without an organization)', byOrganization],
    ['returns only spaces', () => '  '],
    ['throws', throwing],
  ] as const)('a mapper that %s: GET /api/agents is refused (403), not a 500', async (_name, mapper) => {
    const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false });
    const agent = new Agent({ id: 'a', name: 'a', instructions: 'x', model: offlineWeatherModel() as never });
    const mastra = new Mastra({
      agents: { a: agent },
      server: { auth: new MastraAuthClerk({ clerkAuth, mapUserToResourceId: mapper }) },
      logger: false,
    });
    const { base, close } = await serveMastra(mastra, { mode, clerkAuth });
    try {
      const token = await issuer.mintToken({}, { userId: 'user_no_org' });
      const res = await fetch(`${base}/api/agents`, { headers: { authorization: `Bearer ${token}` } });
      const body = await res.text();
      expect({ status: res.status, body }).toEqual({ status: 403, body: '{"error":"Access denied"}' });
      // A user the mapper does give a resource is served.
      const member = await issuer.mintToken({}, { userId: 'user_member', org: { id: 'org_acme', role: 'org:member' } });
      const served = await fetch(`${base}/api/agents`, { headers: { authorization: `Bearer ${member}` } });
      expect(served.status).toBe(mapper === byOrganization ? 200 : 403);
    } finally {
      await close();
    }
  });
});

it('a Studio user (never an organization) on standalone @mastra/express with an organization mapper: not a 500', async () => {
  const ALICE = { id: 'user_alice', firstName: 'Alice', email: 'alice@example.com' };
  issuer.addUser(ALICE);
  const app = await startStudioApp(issuer, { mapUserToResourceId: byOrganization });
  try {
    app.oauth.addUser(ALICE);
    const browser = await signedInBrowser(app, ALICE.id);
    const res = await browser.fetch(`${app.base}/api/agents`, { fromPage: app.base });
    expect({ status: res.status, body: res.body }).toEqual({ status: 403, body: '{"error":"Access denied"}' });
  } finally {
    await app.close();
  }
});
