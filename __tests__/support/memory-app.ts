/**
 * An Express app with Mastra mounted under `/api` (`@mastra/express`), serving `weatherAgent` (the offline example
 * model) with Memory on the given storage, listening on 127.0.0.1 and a free port.
 *
 * - `mixed`: our Express middleware (`clerkMastraAuth({ clerkAuth })`) in front of everything, and Mastra's provider
 *   `new MastraAuthClerk({ clerkAuth })` sharing the same `createClerkAuth()`; plus an Express route `/me`.
 * - `standalone`: only the Mastra provider given in `provider` (ours or `@mastra/auth-clerk`'s).
 */
import { afterAll, beforeAll } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LibSQLStore } from '@mastra/libsql';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Agent } from '@mastra/core/agent';
import { Mastra } from '@mastra/core/mastra';
import type { MastraAuthProvider } from '@mastra/core/server';
import type { MastraCompositeStore } from '@mastra/core/storage';
import { MastraServer } from '@mastra/express';
import { Memory } from '@mastra/memory';
import { clerkMastraAuth, createClerkAuth, getClerkAuth, type ClerkAuth, type ClerkAuthOptions } from '../../src/index.js';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { offlineWeatherModel } from '../../examples/mastra/offline-model.js';

export type MemoryAppMode = 'mixed' | 'standalone';

export interface MemoryAppOptions {
  /** The Mastra storage (LibSQLStore, PostgresStore): the caller owns it and closes it. */
  storage: MastraCompositeStore;
  mode: MemoryAppMode;
  /** The Mastra auth provider (standalone). In mixed mode, default `new MastraAuthClerk({ clerkAuth })`. */
  provider?: MastraAuthProvider<never> | MastraAuthProvider<unknown>;
  /** Mixed mode: the shared verifier, or the options to build one with (`createClerkAuth({ ...authOptions, env: {}, logger: false })`). */
  clerkAuth?: ClerkAuth;
  authOptions?: ClerkAuthOptions;
}

export interface MemoryApp {
  /** `http://127.0.0.1:<port>` (Mastra under `${base}/api`). */
  base: string;
  mastra: Mastra;
  memory: Memory;
  /** Waits for the memory's background work, then closes the server (not the storage). */
  close(): Promise<void>;
}

export const AGENT_ID = 'weatherAgent';

export async function createMemoryApp(options: MemoryAppOptions): Promise<MemoryApp> {
  const { storage, mode } = options;
  const app = express();
  app.use(express.json());

  let provider = options.provider;
  if (mode === 'mixed') {
    const clerkAuth = options.clerkAuth ?? createClerkAuth({ ...options.authOptions, env: {}, logger: false });
    app.use(clerkMastraAuth({ clerkAuth }));
    app.get('/me', (req, res) => {
      const { userId, orgId, orgRole } = getClerkAuth(req);
      res.json({ userId, orgId, orgRole });
    });
    provider ??= new MastraAuthClerk({ clerkAuth });
  }
  if (!provider) throw new Error('createMemoryApp: standalone mode needs a provider');

  const memory = new Memory({ storage });
  const weatherAgent = new Agent({
    id: AGENT_ID,
    name: 'Weather Agent',
    instructions: 'You tell people the weather of the city they ask about.',
    model: offlineWeatherModel() as never,
    memory,
  });
  const mastra = new Mastra({
    agents: { weatherAgent },
    storage,
    server: { auth: provider as never },
    logger: false,
  });
  await new MastraServer({ app, mastra, prefix: '/api' }).init();

  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closed = false;
  return {
    base,
    mastra,
    memory,
    async close() {
      if (closed) return;
      closed = true;
      await Promise.race([memory.settled?.(), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * For a test file: a test issuer, a temp directory for LibSQL files, and every store and app it opens, all closed
 * and removed after the file's tests.
 */
export function libsqlMemoryFixture(prefix: string) {
  let issuer: TestIssuer | undefined;
  let dir = '';
  const stores: LibSQLStore[] = [];
  const apps: MemoryApp[] = [];
  beforeAll(async () => {
    issuer = await createTestIssuer();
    dir = await mkdtemp(join(tmpdir(), `cma-${prefix}-`));
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    for (const store of stores) await store.close();
    await issuer?.close();
    await rm(dir, { recursive: true, force: true });
  });
  return {
    issuer: (): TestIssuer => issuer!,
    /** Session tokens of these users, valid for an hour (mint them in a `beforeAll`). */
    tokens: (...userIds: string[]): Promise<string[]> =>
      Promise.all(userIds.map((userId) => issuer!.mintToken({}, { userId, expiresInSeconds: 3600 }))),
    /** A LibSQL store in a file of its own, closed after the tests. */
    store(name: string): LibSQLStore {
      const store = new LibSQLStore({ id: `${prefix}-${name}`, url: `file:${join(dir, `${name}.db`)}` });
      stores.push(store);
      return store;
    },
    /** `createMemoryApp`, closed after the tests. */
    async app(options: MemoryAppOptions): Promise<MemoryApp> {
      const app = await createMemoryApp(options);
      apps.push(app);
      return app;
    },
  };
}
