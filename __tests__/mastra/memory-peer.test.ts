/**
 * The contrast, describing the PEER (not this library): `@mastra/auth-clerk`'s MastraAuthClerk, configured as the
 * seed does (publishableKey, secretKey, jwksUri; no mapUserToResourceId), sets no resource id in Mastra's request
 * context, so Mastra's memory routes trust the resource id the client sends: user B reads, writes and deletes
 * user A's thread. These tests assert that the peer DOES leak; memory-isolation.test.ts asserts that ours does not.
 */
import { describe, expect, it } from '@jest/globals';
import { MastraClient } from '@mastra/client-js';
import { MastraAuthClerk as PeerMastraAuthClerk } from '@mastra/auth-clerk';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { statusOf } from '../support/http.js';
import { AGENT_ID, libsqlMemoryFixture } from '../support/memory-app.js';

const fixture = libsqlMemoryFixture('peer');
const issuer = () => fixture.issuer();

/** The peer as the seed configures it: a syntactically valid publishable key for the issuer's host, a dummy secret key. */
function peerProvider(): PeerMastraAuthClerk {
  const host = new URL(issuer().jwksUri).host;
  return new PeerMastraAuthClerk({
    publishableKey: `pk_test_${Buffer.from(`${host}$`).toString('base64')}`,
    secretKey: 'sk_test_x',
    jwksUri: issuer().jwksUri,
  });
}

async function start(provider: PeerMastraAuthClerk | MastraAuthClerk, name: string): Promise<string> {
  const app = await fixture.app({ storage: fixture.store(name), mode: 'standalone', provider: provider as never });
  return app.base;
}

async function clients(base: string) {
  const token = async (userId: string) => issuer().mintToken({}, { userId, org: { id: 'org_1', role: 'org:member' }, expiresInSeconds: 3600 });
  const make = async (userId: string) =>
    new MastraClient({ baseUrl: base, retries: 0, headers: { Authorization: `Bearer ${await token(userId)}` } });
  return { a: await make('user_a'), b: await make('user_b') };
}


/** A writes a thread and one exchange with the agent. */
async function seed(a: MastraClient, threadId: string): Promise<void> {
  await a.createMemoryThread({ agentId: AGENT_ID, resourceId: 'user_a', threadId, title: 'A secret title' } as never);
  await a.getAgent(AGENT_ID).generate('Paris A-SECRET', { memory: { thread: threadId, resource: 'user_a' } } as never);
}

describe('the peer @mastra/auth-clerk (no mapUserToResourceId): B reaches A\'s memory', () => {
  it("PEER LEAK: B reads A's thread, its messages and A's thread list by sending A's resourceId", async () => {
    const { a, b } = await clients(await start(peerProvider(), 'peer-read'));
    await seed(a, 'a-thread');

    // Describes the peer: with no resource id in the request context, Mastra trusts resourceId from the client.
    const thread = (await b.getMemoryThread({ threadId: 'a-thread', agentId: AGENT_ID }).get()) as { resourceId: string; title: string };
    expect(thread).toMatchObject({ resourceId: 'user_a', title: 'A secret title' });
    const { messages } = await b.getMemoryThread({ threadId: 'a-thread', agentId: AGENT_ID }).listMessages();
    expect(JSON.stringify(messages)).toContain('Paris A-SECRET');
    const list = await b.listMemoryThreads({ resourceId: 'user_a', agentId: AGENT_ID });
    expect(list.threads.map((t) => t.id)).toContain('a-thread');
  });

  it("PEER LEAK: B writes into A's thread (agent run with A's thread and resource), renames it, then deletes it", async () => {
    const { a, b } = await clients(await start(peerProvider(), 'peer-write'));
    await seed(a, 'a-thread');

    await b.getAgent(AGENT_ID).generate('Rome FROM-B', { memory: { thread: 'a-thread', resource: 'user_a' } } as never);
    const { messages } = await a.getMemoryThread({ threadId: 'a-thread', agentId: AGENT_ID }).listMessages();
    expect(JSON.stringify(messages)).toContain('Rome FROM-B'); // B's words, in A's history

    await b.getMemoryThread({ threadId: 'a-thread', agentId: AGENT_ID }).update({ title: 'B was here', metadata: {}, resourceId: 'user_a' } as never);
    expect(((await a.getMemoryThread({ threadId: 'a-thread', agentId: AGENT_ID }).get()) as { title: string }).title).toBe('B was here');

    await b.getMemoryThread({ threadId: 'a-thread', agentId: AGENT_ID }).delete({ agentId: AGENT_ID });
    expect(await statusOf(a.getMemoryThread({ threadId: 'a-thread', agentId: AGENT_ID }).get())).toBe(404);
  });

  it('the same scenario with our MastraAuthClerk: B is refused (403) and A\'s thread is unchanged', async () => {
    const { a, b } = await clients(await start(new MastraAuthClerk({ ...issuer().authOptions, env: {}, logger: false }), 'ours'));
    await seed(a, 'a-thread');
    const before = await a.getMemoryThread({ threadId: 'a-thread', agentId: AGENT_ID }).listMessages();

    expect(await statusOf(b.getMemoryThread({ threadId: 'a-thread', agentId: AGENT_ID }).get())).toBe(403);
    expect(await statusOf(b.getMemoryThread({ threadId: 'a-thread', agentId: AGENT_ID }).listMessages())).toBe(403);
    const list = await b.listMemoryThreads({ resourceId: 'user_a', agentId: AGENT_ID });
    expect(list.threads.map((t) => t.id)).not.toContain('a-thread');
    expect(await statusOf(b.getAgent(AGENT_ID).generate('Rome FROM-B', { memory: { thread: 'a-thread', resource: 'user_a' } } as never))).toBe(403);
    expect(await statusOf(b.getMemoryThread({ threadId: 'a-thread', agentId: AGENT_ID }).delete({ agentId: AGENT_ID }))).toBe(403);
    expect(await a.getMemoryThread({ threadId: 'a-thread', agentId: AGENT_ID }).listMessages()).toEqual(before);
  });
});
