/**
 * Found by an attack session: Studio's `GET /api/auth/sso/login` without a configured `redirectUri` (README: "When set it is always
 * used; else the one Mastra builds from the request"), on Mastra standalone (@mastra/express, and Mastra's own Hono
 * server, the README's Studio setup). Mastra builds the callback URI from `X-Forwarded-Host` / `X-Mastra-Public-Host`
 * / `X-Forwarded-Proto` unchecked; the provider's `getLoginUrl` refuses the URI by throwing a plain
 * `StudioSignInError('sso_redirect_uri_invalid')`, which Mastra answers with 500. The provider already gives Mastra a
 * status where it refuses (`getLogoutUrl` throws `{ status: 403 }`), so a 400 is in its hands here. Rule: never 500.
 * Real issuer, local OAuth server, real Mastra servers.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Agent } from '@mastra/core/agent';
import { Mastra } from '@mastra/core/mastra';
import { createClerkAuth } from '../../src/index.js';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { createTestOAuthServer } from '../../src/testing/oauth-server.js';
import { raw, serveMastra } from '../security/support.js';
import { studioSignInOptions } from './support.js';
import { offlineWeatherModel } from '../../examples/mastra/offline-model.js';

let issuer: TestIssuer;
beforeAll(async () => {
  issuer = await createTestIssuer();
});
afterAll(async () => {
  await issuer.close();
});

const BAD_FORWARDED: Array<Record<string, string>> = [
  { 'X-Forwarded-Host': 'a b' },
  { 'X-Forwarded-Host': '[' },
  { 'X-Mastra-Public-Host': 'x:99999' },
  { 'X-Forwarded-Proto': 'ftp' },
];

describe.each(['standalone', 'hono'] as const)('%s Mastra with Studio sign-in, no redirectUri configured', (mode) => {
  it.each(BAD_FORWARDED.map((h) => [JSON.stringify(h), h] as const))('GET /api/auth/sso/login with %s is a 400, not a 500', async (_name, headers) => {
    const oauth = await createTestOAuthServer({ issuer });
    const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false });
    const provider = new MastraAuthClerk({ clerkAuth, ...studioSignInOptions(oauth) });
    const agent = new Agent({ id: 'a', name: 'a', instructions: 'x', model: offlineWeatherModel() as never });
    const mastra = new Mastra({ agents: { a: agent }, server: { auth: provider as never }, logger: false });
    const { base, close } = await serveMastra(mastra, { mode, clerkAuth });
    try {
      const res = await raw(Number(new URL(base).port), 'GET', '/api/auth/sso/login', headers);
      expect({ status: res.status, body: res.body }).toEqual({ status: 400, body: expect.stringContaining('sso_redirect_uri_invalid') });
    } finally {
      await close();
      await oauth.close();
    }
  });
});
