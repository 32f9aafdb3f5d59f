/**
 * The public surface: what each entry point exports. A change here is a change to the API.
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';

describe('public API', () => {
  it('"." exports the core and the Express adapter', async () => {
    const api = await import('clerk-mastra-auth');
    expect(Object.keys(api).sort()).toEqual([
      'ClerkAuthConfigError',
      'ClerkAuthError',
      'clerkMastraAuth',
      'createClerkAuth',
      'getClerkAuth',
      'getClerkClaims',
      'isClerkAuthError',
      'parsePublishableKey',
      'requireClerkAuth',
      'rolePermissions',
      'toErrorResponse',
      'verifyClerkToken',
    ]);
  });

  it('"./mastra" exports the Mastra provider', async () => {
    const mastra = await import('clerk-mastra-auth/mastra');
    expect(Object.keys(mastra).sort()).toEqual(['MastraAuthClerk']);
  });

  it('"./client" exports the fresh-token client and its fetch wrapper', async () => {
    const client = await import('clerk-mastra-auth/client');
    expect(Object.keys(client).sort()).toEqual(['createClerkMastraClient', 'withClerkToken']);
  });

  it('"./testing" exports the local issuer, and the main entry never imports it', async () => {
    const testing = await import('clerk-mastra-auth/testing');
    expect(Object.keys(testing).sort()).toEqual(['createTestIssuer']);
    const sources = ['src/index.ts', 'src/core/clerk-auth.ts'].map((file) => readFileSync(file, 'utf8')).join('\n');
    expect(sources).not.toMatch(/testing/);
  });

  it('package.json maps each entry point to the build', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
    expect(Object.keys(pkg.exports)).toEqual(['.', './mastra', './client', './testing', './package.json']);
    expect(pkg.type).toBe('module');
    expect(pkg.engines.node).toBe('>=20.9');
  });
});
