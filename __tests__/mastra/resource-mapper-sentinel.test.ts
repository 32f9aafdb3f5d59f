/**
 * A user a `mapUserToResourceId` gives no resource is refused by the provider, but Mastra calls the mapper first and
 * needs a string: it is told a resource of that request's own (`clerk-mastra-auth:no-resource:<random>`), so a
 * request that gets through all the same reads and writes no one else's memory. Two ways through, found by a review
 * session: a mapper that answers otherwise when the provider asks again (a table filled on a miss), and Mastra's
 * CompositeAuth, which serves what any of its providers allows. (With one shared id, Bob read Alice's thread.)
 * Real issuer, real @mastra/express with LibSQL memory; no mocks.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { CompositeAuth, MastraAuthProvider } from '@mastra/core/server';
import { createClerkAuth, type ClerkClaims } from '../../src/index.js';
import { MastraAuthClerk, protectMemory } from '../../src/mastra/index.js';
import { AGENT_ID, libsqlMemoryFixture, type MemoryAppMode } from '../support/memory-app.js';

const fixture = libsqlMemoryFixture('sentinel');

/** A tenant table filled on a miss: the first lookup of a user finds nothing (and fills it), later ones find it. */
function lazyTenants(): (user: ClerkClaims) => string | undefined {
  const tenants = new Map<string, string>();
  return (user) => {
    const found = tenants.get(user.sub);
    if (found === undefined) tenants.set(user.sub, `tenant_${user.sub}`);
    return found;
  };
}

describe.each<MemoryAppMode>(['standalone', 'mixed'])('%s', (mode) => {
  let base: string;
  beforeAll(async () => {
    const storage = protectMemory(fixture.store(mode));
    const clerkAuth = createClerkAuth({ ...fixture.issuer().authOptions, env: {}, logger: false });
    const provider = new MastraAuthClerk({ clerkAuth, mapUserToResourceId: lazyTenants() });
    base = (await fixture.app({ storage, mode, clerkAuth, provider: provider as never })).base;
  });

  it("a request is never served with a resource another user has (one user's thread is not another's)", async () => {
    const [alice, bob] = await fixture.tokens('user_alice', 'user_bob');
    const created = await fetch(`${base}/api/memory/threads?agentId=${AGENT_ID}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' },
      body: JSON.stringify({ resourceId: 'user_alice', threadId: `alice-${mode}`, title: 'alice private' }),
    });
    const thread = (await created.json()) as { resourceId?: string };
    // Refused (403) or stored under Alice's tenant: never under the shared sentinel.
    const stored = { status: created.status, resourceId: thread.resourceId };
    const listed = await fetch(`${base}/api/memory/threads?agentId=${AGENT_ID}&resourceId=x&perPage=100`, { headers: { authorization: `Bearer ${bob}` } });
    const body = (await listed.json()) as { threads?: Array<{ id: string; resourceId: string }> };
    const seenByBob = (body.threads ?? []).map((t) => `${t.id}@${t.resourceId}`);
    // Alice refused, or her thread under a resource no one else has; Bob sees nothing of hers.
    expect({ shared: stored.resourceId === 'clerk-mastra-auth:no-resource', seenByBob }).toEqual({ shared: false, seenByBob: [] });
    expect(stored.status === 403 || /^(tenant_user_alice|clerk-mastra-auth:no-resource:[0-9a-f-]{36})$/.test(stored.resourceId ?? '')).toBe(true);
  });
});

/**
 * Mastra's CompositeAuth (`new CompositeAuth([clerk, apiKeys])`) authorizes a user when any provider's authorizeUser
 * says yes, so the provider's refusal of a user without a resource does not hold there.
 */

class ApiKeys extends MastraAuthProvider<{ id: string }> {
  async authenticateToken(token: string): Promise<{ id: string } | null> {
    return token === 'key_ci' ? { id: 'ci' } : null;
  }
  // The shape of Mastra's custom-provider examples: a signed-in user is allowed.
  async authorizeUser(user: unknown): Promise<boolean> {
    return user !== null && user !== undefined;
  }
}

describe('CompositeAuth with a second provider', () => {
  it("a Clerk user without an organization is served (the other provider says yes) with a resource of the request's own", async () => {
    const storage = protectMemory(fixture.store('composite'));
    const clerkAuth = createClerkAuth({ ...fixture.issuer().authOptions, env: {}, logger: false });
    const clerk = new MastraAuthClerk({ clerkAuth, mapUserToResourceId: (user) => user.o?.id });
    const provider = new CompositeAuth([clerk as never, new ApiKeys() as never]);
    const { base } = await fixture.app({ storage, mode: 'standalone', provider: provider as never });
    const [alice, bob] = await fixture.tokens('user_alice', 'user_bob');
    const created = await fetch(`${base}/api/memory/threads?agentId=${AGENT_ID}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' },
      body: JSON.stringify({ resourceId: 'user_alice', threadId: 'alice-composite', title: 'alice private' }),
    });
    const stored = { status: created.status, resourceId: ((await created.json()) as { resourceId?: string }).resourceId };
    const listed = await fetch(`${base}/api/memory/threads?agentId=${AGENT_ID}&resourceId=x&perPage=100`, { headers: { authorization: `Bearer ${bob}` } });
    const seenByBob = (((await listed.json()) as { threads?: Array<{ id: string; resourceId: string }> }).threads ?? []).map((t) => `${t.id}@${t.resourceId}`);
    expect({ status: stored.status, own: /^clerk-mastra-auth:no-resource:[0-9a-f-]{36}$/.test(stored.resourceId ?? ''), seenByBob }).toEqual({ status: 200, own: true, seenByBob: [] });
  });
});
