/**
 * Mastra's Responses API keeps a response's turn as a record in the metadata of its assistant message
 * (`content.metadata.mastra.response.messageIds`), and `GET` / `DELETE /v1/responses/:responseId` check only that
 * this message is in the caller's thread, then load and delete the messages it lists by id alone. Bob saved, in his own
 * thread, a message listing Alice's message ids: the GET served Alice's messages, the DELETE deleted them (found by an
 * attacker session). `protectMemory` refuses a message whose response record lists messages of another thread.
 * Real issuer, LibSQL, Mastra's Hono server with the provider alone and Express with the middleware in front.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Agent } from '@mastra/core/agent';
import { Mastra } from '@mastra/core/mastra';
import { Memory } from '@mastra/memory';
import { createClerkAuth } from '../../src/index.js';
import { MastraAuthClerk, protectMemory } from '../../src/mastra/index.js';
import { offlineWeatherModel } from '../../examples/mastra/offline-model.js';
import { libsqlMemoryFixture } from '../support/memory-app.js';
import { callJson, serveMastra } from './support.js';

const libsql = libsqlMemoryFixture('response-records');
let alice = '';
let bob = '';
beforeAll(async () => {
  [alice = '', bob = ''] = await libsql.tokens('user_alice', 'user_bob');
});

/** A stored message of `who`'s thread; `listed` makes it a response record listing those message ids. */
function message(id: string, thread: string, resource: string, text: string, listed?: string[]) {
  const metadata = listed && { mastra: { response: { agentId: 'notes', model: 'm', createdAt: 1, completedAt: 1, status: 'completed', tools: [], store: true, messageIds: listed } } };
  return { id, role: 'assistant', type: 'text', threadId: thread, resourceId: resource, createdAt: new Date().toISOString(), content: { format: 2, parts: [{ type: 'text', text }], ...(metadata && { metadata }) } };
}

describe.each(['hono', 'mixed'] as const)('%s: a response record in my own thread that lists messages of another', (mode) => {
  let api = '';
  let close: () => Promise<void>;
  const [aliceThread, bobThread] = [`alice-${mode}`, `bob-${mode}`];
  beforeAll(async () => {
    const clerkAuth = createClerkAuth({ ...libsql.issuer().authOptions, env: {}, logger: false });
    const storage = protectMemory(libsql.store(mode));
    const notes = new Agent({ id: 'notes', name: 'notes', instructions: 'notes', model: offlineWeatherModel(), memory: new Memory() });
    const mastra = new Mastra({ agents: { notes }, storage, server: { auth: new MastraAuthClerk({ clerkAuth }) as never }, logger: false });
    let base: string;
    ({ base, close } = await serveMastra(mastra, { mode, clerkAuth }));
    api = `${base}/api`;
    for (const [token, thread, resource] of [[alice, aliceThread, 'user_alice'], [bob, bobThread, 'user_bob']] as const) {
      expect((await callJson(api, token, 'POST', '/memory/threads?agentId=notes', { threadId: thread, resourceId: resource, title: thread })).status).toBe(200);
    }
    const saved = await callJson(api, alice, 'POST', '/memory/save-messages?agentId=notes', { messages: [message(`alice-diary-${mode}`, aliceThread, 'user_alice', 'alice-secret-diary')] });
    expect(saved.status).toBe(200);
  });
  afterAll(async () => close());

  it("is refused when saved, so Bob's GET and DELETE of it reach nothing of Alice's", async () => {
    const forged = `bob-record-${mode}`;
    const saved = await callJson(api, bob, 'POST', '/memory/save-messages?agentId=notes', { messages: [message(forged, bobThread, 'user_bob', 'bob', [`alice-diary-${mode}`])] });
    expect(saved.status).toBe(403);
    const read = await callJson(api, bob, 'GET', `/v1/responses/${forged}`);
    expect(read.text).not.toContain('alice-secret-diary');
    await callJson(api, bob, 'DELETE', `/v1/responses/${forged}`);
    const hers = await callJson(api, alice, 'GET', `/memory/threads/${aliceThread}/messages?agentId=notes`);
    expect((hers.json.messages as Array<{ id: string }>).map((m) => m.id)).toEqual([`alice-diary-${mode}`]);
  });

  it("Mastra's own stored response is saved and read back by its user", async () => {
    const created = await callJson(api, bob, 'POST', '/v1/responses', { agent_id: 'notes', input: 'Weather in Paris?', store: true });
    expect({ status: created.status, text: created.text.slice(0, 200) }).toMatchObject({ status: 200 });
    const read = await callJson(api, bob, 'GET', `/v1/responses/${created.json.id as string}`);
    expect([read.status, read.json.id]).toEqual([200, created.json.id]);
  });

  it('a record listing messages of its own thread (what Mastra writes), saved with them or before, still passes', async () => {
    const own = await callJson(api, bob, 'POST', '/memory/save-messages?agentId=notes', {
      messages: [message(`bob-q-${mode}`, bobThread, 'user_bob', 'question'), message(`bob-a-${mode}`, bobThread, 'user_bob', 'answer', [`bob-q-${mode}`, `bob-a-${mode}`])],
    });
    expect(own.status).toBe(200);
    const later = await callJson(api, bob, 'POST', '/memory/save-messages?agentId=notes', { messages: [message(`bob-b-${mode}`, bobThread, 'user_bob', 'again', [`bob-q-${mode}`, 'never-saved'])] });
    expect(later.status).toBe(200);
  });
});
