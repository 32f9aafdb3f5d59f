/**
 * `resourceScope: 'organization'`: members of one organization share agent memory, outsiders see none, and a request
 * without an active organization is refused (403), standalone and with the Express middleware in front alike.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { MastraClient } from '@mastra/client-js';
import { createClerkAuth } from '../../src/index.js';
import { MastraAuthClerk, protectMemory } from '../../src/mastra/index.js';
import { statusOf } from '../support/http.js';
import { AGENT_ID, libsqlMemoryFixture, type MemoryAppMode } from '../support/memory-app.js';

const fixture = libsqlMemoryFixture('scope');

async function start(mode: MemoryAppMode): Promise<string> {
  const storage = protectMemory(fixture.store(mode));
  const clerkAuth = createClerkAuth({ ...fixture.issuer().authOptions, env: {}, logger: false });
  const provider = new MastraAuthClerk({ clerkAuth, resourceScope: 'organization' });
  return (await fixture.app({ storage, mode, clerkAuth, provider: provider as never })).base;
}

async function client(base: string, userId: string, orgId?: string): Promise<MastraClient> {
  const token = await fixture.issuer().mintToken({}, { userId, org: orgId ? { id: orgId, role: 'org:member' } : undefined, expiresInSeconds: 3600 });
  return new MastraClient({ baseUrl: base, retries: 0, headers: { Authorization: `Bearer ${token}` } });
}


describe.each<MemoryAppMode>(['standalone', 'mixed'])('organization-scoped memory, %s', (mode) => {
  let base: string;
  beforeAll(async () => {
    base = await start(mode);
  });

  it("maps every member's threads to the organization: a colleague reads them, an outsider does not", async () => {
    const alice = await client(base, 'user_alice', 'org_acme');
    const bob = await client(base, 'user_bob', 'org_acme');
    const eve = await client(base, 'user_eve', 'org_evil');
    // Whatever resourceId the client sends, the thread lands in the organization's resource.
    const thread = await alice.createMemoryThread({ agentId: AGENT_ID, resourceId: 'user_alice', threadId: `t-${mode}`, title: 'acme plans' });
    expect(thread.resourceId).toBe('org_acme');
    const seenByBob = await bob.getMemoryThread({ threadId: `t-${mode}`, agentId: AGENT_ID }).get();
    expect({ id: seenByBob.id, title: seenByBob.title, resourceId: seenByBob.resourceId }).toEqual({
      id: `t-${mode}`,
      title: 'acme plans',
      resourceId: 'org_acme',
    });
    expect(await statusOf(eve.getMemoryThread({ threadId: `t-${mode}`, agentId: AGENT_ID }).get())).toBe(403);
    const evesList = await eve.listMemoryThreads({ resourceId: 'org_acme', agentId: AGENT_ID, perPage: 100 });
    expect(evesList.threads.map((t) => t.id)).not.toContain(`t-${mode}`);
  });

  it('refuses a user without an active organization with 403', async () => {
    const loner = await client(base, 'user_loner');
    const res = await fetch(`${base}/api/memory/threads?agentId=${AGENT_ID}&resourceId=user_loner`, {
      headers: { Authorization: `Bearer ${await fixture.issuer().mintToken({}, { userId: 'user_loner' })}` },
    });
    // Mastra's words in both setups: the middleware cannot tell Mastra's routes from the app's by path alone.
    expect({ status: res.status, body: await res.json(), challenge: res.headers.get('www-authenticate') }).toEqual({ status: 403, body: { error: 'Access denied' }, challenge: null });
    expect(await statusOf(loner.listAgents())).toBe(403);
  });
});

describe('resourceScope options', () => {
  it('refuses an unknown scope and a scope next to mapUserToResourceId, at start-up', () => {
    const options = { ...fixture.issuer().authOptions, env: {}, logger: false as const };
    expect(() => new MastraAuthClerk({ ...options, resourceScope: 'team' as never })).toThrow(
      'MastraAuthClerk: "resourceScope" must be "user" or "organization"',
    );
    expect(() => new MastraAuthClerk({ ...options, resourceScope: 'user', mapUserToResourceId: (u) => u.sub })).toThrow(
      'MastraAuthClerk: give "resourceScope" or "mapUserToResourceId", not both',
    );
  });
});
