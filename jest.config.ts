import type { Config } from 'jest';

// jose 6 and Mastra 1.x are ES modules only: Jest runs in ESM mode (see FACTS.md), which needs
// NODE_OPTIONS=--experimental-vm-modules (set by `npm test`).
// No network but the npm registry here: Mastra's own server (`@mastra/deployer`, in the Hono tests) otherwise sends
// usage telemetry to PostHog. Workers inherit this.
process.env.MASTRA_TELEMETRY_DISABLED ??= '1';

const config: Config = {
  preset: 'ts-jest/presets/default-esm',
  testEnvironment: 'node',
  roots: ['<rootDir>/__tests__'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    // Our own sub-path exports resolve to the sources, so tests import the package as users do.
    '^clerk-mastra-auth$': '<rootDir>/src/index.ts',
    '^clerk-mastra-auth/(.*)$': '<rootDir>/src/$1/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json', diagnostics: { ignoreCodes: [151002] } }],
  },
  testTimeout: 20000,
};

export default config;
