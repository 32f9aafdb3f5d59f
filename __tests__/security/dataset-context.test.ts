/**
 * A dataset item stores a `requestContext`, and an experiment runs its target agent or workflow with the item's keys
 * over the server's own (`{ ...requestContext, ...item.requestContext }`). Mastra drops its reserved keys from a
 * single item, not from a batch: Bob stored an item naming Alice's resource and thread (`mastra__resourceId`,
 * `mastra__threadId`), ran it, and the agent read Alice's thread and wrote into it (found by an attacker session).
 * Both adapters refuse a dataset item that sets the server's own keys (403), and `protectMemory` drops the ones Mastra
 * merges in itself (its auth's `user`: the author's claims). Real issuer, LibSQL, Mastra's Hono server
 * with the provider alone and Express with the middleware in front.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Mastra } from '@mastra/core/mastra';
import { createClerkAuth } from '../../src/index.js';
import { MastraAuthClerk, protectMemory } from '../../src/mastra/index.js';
import { libsqlMemoryFixture } from '../support/memory-app.js';
import { callJson, serveMastra } from './support.js';

const libsql = libsqlMemoryFixture('dataset-context');
let alice = '';
let bob = '';
beforeAll(async () => {
  [alice = '', bob = ''] = await libsql.tokens('user_alice', 'user_bob');
});

describe.each(['hono', 'mixed'] as const)("%s: a dataset item's requestContext", (mode) => {
  let api = '';
  let close: () => Promise<void>;
  let datasetId = '';
  beforeAll(async () => {
    const clerkAuth = createClerkAuth({ ...libsql.issuer().authOptions, env: {}, logger: false });
    const mastra = new Mastra({ storage: protectMemory(libsql.store(mode)), server: { auth: new MastraAuthClerk({ clerkAuth }) as never }, logger: false });
    let base: string;
    ({ base, close } = await serveMastra(mastra, { mode, clerkAuth }));
    api = `${base}/api`;
    const dataset = await callJson(api, bob, 'POST', '/datasets', { name: `bob-${mode}` });
    expect(dataset.status).toBe(200);
    datasetId = dataset.json.id as string;
  });
  afterAll(async () => close());

  const denied = mode === 'hono' ? 'Access denied' : 'access-denied';
  const forged = [
    { mastra__resourceId: 'user_alice', mastra__threadId: 'alice-thread' },
    { mastra__userPermissions: ['*'] },
    { user: { sub: 'user_alice' } },
    { organizationId: 'org_alice' },
  ];

  it("naming the server's own keys (the user, their resource, thread or permissions) is refused, in a batch and alone", async () => {
    for (const requestContext of forged) {
      const batch = await callJson(api, bob, 'POST', `/datasets/${datasetId}/items/batch`, { items: [{ input: 'ok' }, { input: 'probe', requestContext }] });
      expect({ requestContext, status: batch.status, error: batch.error }).toEqual({ requestContext, status: 403, error: denied });
      const single = await callJson(api, bob, 'POST', `/datasets/${datasetId}/items`, { input: 'probe', requestContext });
      expect({ requestContext, status: single.status, error: single.error }).toEqual({ requestContext, status: 403, error: denied });
    }
    const items = await callJson(api, bob, 'GET', `/datasets/${datasetId}/items`);
    expect(JSON.stringify(items.json)).not.toContain('probe');
    // The middleware names the key refused: the chat channel an experiment's run would act in.
    const channel = await callJson(api, bob, 'POST', `/datasets/${datasetId}/items/batch`, { items: [{ input: 'probe', requestContext: { channel: { platform: 'slack', threadId: 't' } } }] });
    expect([channel.status, channel.error]).toEqual([403, denied]);
    if (mode === 'mixed') expect(channel.json?.message).toMatch(/^A stored request context may not set channel, a key of the server's own/);
  });

  it("an item keeps none of the server's keys that Mastra merges into it: another user who reads or changes it gets nothing of its author's, and leaves nothing of theirs", async () => {
    // Mastra stores the live request context of a single item, its auth's `user` (the author's claims) included.
    const added = await callJson(api, alice, 'POST', `/datasets/${datasetId}/items`, { input: 'hers', requestContext: { locale: 'fr' } });
    expect(added.status).toBe(200);
    const listed = await callJson(api, bob, 'GET', `/datasets/${datasetId}/items`);
    const item = (listed.json.items as Array<{ id: string; requestContext?: Record<string, unknown> }>).find((i) => i.id === added.json.id)!;
    expect(item.requestContext).toEqual({ locale: 'fr' });
    expect(listed.text).not.toContain('user_alice');
    const updated = await callJson(api, bob, 'PATCH', `/datasets/${datasetId}/items/${item.id}`, { input: 'changed' });
    expect(updated.status).toBe(200);
    const one = await callJson(api, alice, 'GET', `/datasets/${datasetId}/items/${item.id}`);
    expect([one.json.requestContext, one.text.includes('user_bob')]).toEqual([{ locale: 'fr' }, false]);
  });

  it('keys of its own pass, in a batch, alone and in an update', async () => {
    const batch = await callJson(api, bob, 'POST', `/datasets/${datasetId}/items/batch`, { items: [{ input: 'fr', requestContext: { locale: 'fr' } }] });
    expect(batch.status).toBe(200);
    const itemId = (batch.json.items as Array<{ id: string }>)[0]!.id;
    const updated = await callJson(api, bob, 'PATCH', `/datasets/${datasetId}/items/${itemId}`, { requestContext: { locale: 'de' } });
    expect(updated.status).toBe(200);
    const forgedUpdate = await callJson(api, bob, 'PATCH', `/datasets/${datasetId}/items/${itemId}`, { requestContext: { mastra__resourceId: 'user_alice' } });
    expect([forgedUpdate.status, forgedUpdate.error]).toEqual([403, denied]);
  });
});
