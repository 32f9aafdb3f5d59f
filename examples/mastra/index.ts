/**
 * The example Mastra instance: a weather agent on an offline model, a weather tool and a workflow.
 * The auth provider is passed in, so the same Mastra serves the demo, the tests and the README.
 */
import { Agent } from '@mastra/core/agent';
import { Mastra } from '@mastra/core/mastra';
import type { MastraAuthProvider } from '@mastra/core/server';
import { createTool } from '@mastra/core/tools';
import { createStep, createWorkflow } from '@mastra/core/workflows';
import { z } from 'zod';
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

/** A Mastra server protected by `auth` (Mastra 1.x: `server.auth`; 0.x called it `experimental_auth`). */
export function createMastra(auth: MastraAuthProvider<never> | MastraAuthProvider<unknown>) {
  return new Mastra({
    agents: { weatherAgent },
    tools: { weatherTool },
    workflows: { weatherWorkflow },
    server: { auth: auth as never },
    logger: false,
  });
}
