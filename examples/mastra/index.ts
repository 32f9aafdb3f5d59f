/**
 * The example Mastra instance: a weather agent on an offline model, a weather tool and a workflow.
 * The auth provider is passed in, so the same Mastra serves the demo, the tests and the README.
 */
import { Agent } from '@mastra/core/agent';
import { Mastra } from '@mastra/core/mastra';
import type { MastraAuthProvider } from '@mastra/core/server';
import { createTool } from '@mastra/core/tools';
import { createStep, createWorkflow } from '@mastra/core/workflows';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Memory } from '@mastra/memory';
import type { MastraCompositeStore } from '@mastra/core/storage';
import { z } from 'zod';
import { protectMemory } from '../../src/mastra/index.js';
import { offlineWeatherModel } from './offline-model.js';

export const weatherTool = createTool({
  id: 'get-weather',
  description: 'The current weather of a city.',
  inputSchema: z.object({ city: z.string() }),
  outputSchema: z.object({ city: z.string(), forecast: z.string(), temperatureC: z.number() }),
  execute: async ({ city }) => ({ city, forecast: 'sunny', temperatureC: 21 }),
});

const forecastStep = createStep({
  id: 'forecast',
  inputSchema: z.object({ city: z.string() }),
  outputSchema: z.object({ summary: z.string() }),
  execute: async ({ inputData }) => ({ summary: `${inputData.city}: sunny, 21°C` }),
});

export const weatherWorkflow = createWorkflow({
  id: 'weatherWorkflow',
  inputSchema: z.object({ city: z.string() }),
  outputSchema: z.object({ summary: z.string() }),
})
  .then(forecastStep)
  .commit();

export const weatherAgent = new Agent({
  id: 'weatherAgent',
  name: 'Weather Agent',
  instructions: 'You tell people the weather of the city they ask about.',
  model: offlineWeatherModel() as never,
  tools: { weatherTool },
});

/**
 * The agent's memory storage, as a deployment would have it: `@mastra/pg` when `DATABASE_URL` is a PostgreSQL URL
 * (several app instances share it), else `@mastra/libsql` in a file under the git-ignored `data/` folder (survives
 * restarts). `protectMemory` keeps the ownership rules Mastra's memory handlers do not.
 */
export async function createStorage(env: Record<string, string | undefined> = process.env): Promise<MastraCompositeStore> {
  const url = env.DATABASE_URL;
  if (url && /^postgres(ql)?:\/\//.test(url)) {
    const { PostgresStore } = await import('@mastra/pg');
    return protectMemory(new PostgresStore({ id: 'demo', connectionString: url }));
  }
  const { LibSQLStore } = await import('@mastra/libsql');
  const dir = env.DEMO_DATA_DIR ?? 'data';
  await mkdir(dir, { recursive: true });
  return protectMemory(new LibSQLStore({ id: 'demo', url: `file:${join(dir, 'mastra.db')}` }));
}

/**
 * A Mastra server protected by `auth` (Mastra 1.x: `server.auth`; 0.x called it `experimental_auth`). With a
 * storage, the weather agent remembers each user's conversations there (per user: the provider maps the memory
 * resource to the Clerk user).
 */
export function createMastra(auth: MastraAuthProvider<never> | MastraAuthProvider<unknown>, storage?: MastraCompositeStore) {
  const agent = storage
    ? new Agent({
        id: 'weatherAgent',
        name: 'Weather Agent',
        instructions: 'You tell people the weather of the city they ask about.',
        model: offlineWeatherModel() as never,
        tools: { weatherTool },
        memory: new Memory({ storage }),
      })
    : weatherAgent;
  return new Mastra({
    agents: { weatherAgent: agent },
    tools: { weatherTool },
    workflows: { weatherWorkflow },
    ...(storage ? { storage } : {}),
    server: { auth: auth as never },
    logger: false,
  });
}
