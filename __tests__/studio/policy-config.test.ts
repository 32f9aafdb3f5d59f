/**
 * A Studio session goes through the same policy as Clerk's tokens (the resource Mastra acts on, the memory scope), and
 * the Studio options are checked at start-up: in production, no sign-in without CLERK_COOKIE_PASSWORD.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ClerkAuthConfigError, createClerkAuth, type AuthorizeContext } from '../../src/index.js';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { Browser, signInToClerk, startStudioApp, studioSignIn, type StudioApp } from './support.js';

let issuer: TestIssuer;
const ALICE = { id: 'user_alice', firstName: 'Alice', email: 'alice@example.com' };
const PASSWORD = 'a-test-cookie-password-of-at-least-32-characters';

beforeAll(async () => {
  issuer = await createTestIssuer();
  issuer.addUser(ALICE);
});
afterAll(async () => {
  await issuer.close();
});

async function signedInBrowser(app: StudioApp): Promise<Browser> {
  app.oauth.addUser(ALICE);
  const browser = new Browser();
  await signInToClerk(browser, app, ALICE.id);
  await studioSignIn(browser, app);
  return browser;
}

describe('a Studio session meets the same policy as every Clerk token', () => {
  it('the policy sees the resource Mastra acts on, and a Studio user (no organization): default deny holds', async () => {
    const seen: Array<{ user: Record<string, unknown>; ctx: AuthorizeContext }> = [];
    const app = await startStudioApp(issuer, {
      // Finance is for organization admins: a Studio session carries no organization, so it never passes.
      policy: (user, ctx) => {
        seen.push({ user, ctx });
        return ctx.resource?.params.agentId !== 'finance' || user.o?.rol === 'admin';
      },
    });
    try {
      const browser = await signedInBrowser(app);
      const get = (path: string) => browser.fetch(`${app.base}${path}`, { fromPage: app.base });
      expect((await get('/api/agents/public')).status).toBe(200);
      expect((await get('/api/agents/finance')).status).toBe(403);
      const post = await browser.fetch(`${app.base}/api/agents/finance/generate`, {
        method: 'POST',
        fromPage: app.base,
        body: JSON.stringify({ messages: 'numbers' }),
      });
      expect(post.status).toBe(403);
      const finance = seen.find((s) => s.ctx.resource?.params.agentId === 'finance')!;
      expect(finance.ctx).toMatchObject({ source: 'mastra', method: 'GET', path: '/api/agents/finance', resource: { permission: 'agents:read' } });
      expect(finance.user).toMatchObject({ sub: ALICE.id, studio: true, sts: 'active', azp: app.base });
      expect(finance.user.o).toBeUndefined();
      // An admin's Clerk token passes the same rule.
      const admin = await issuer.mintToken({}, { userId: 'user_admin', org: { id: 'org_1', role: 'org:admin' } });
      const asAdmin = await browser.fetch(`${app.base}/api/agents/finance`, { headers: { authorization: `Bearer ${admin}` } });
      expect(asAdmin.status).toBe(200);
    } finally {
      await app.close();
    }
  });

  it("organization-scoped memory: a Studio session (no active organization) is refused, as a token without one", async () => {
    const app = await startStudioApp(issuer, { resourceScope: 'organization' });
    try {
      const browser = await signedInBrowser(app);
      expect((await browser.fetch(`${app.base}/api/agents`, { fromPage: app.base })).status).toBe(403);
    } finally {
      await app.close();
    }
  });

  it('the memory resource of a Studio session is its Clerk user id', async () => {
    const app = await startStudioApp(issuer);
    try {
      const claims = { sub: ALICE.id, studio: true } as never;
      expect(app.provider.mapUserToResourceId?.(claims)).toBe(ALICE.id);
    } finally {
      await app.close();
    }
  });
});

describe('Studio options at start-up', () => {
  const oauthEnv = { CLERK_OAUTH_CLIENT_ID: 'client_1', CLERK_OAUTH_CLIENT_SECRET: 'secret_1' };
  const build = (options: Record<string, unknown>) =>
    new MastraAuthClerk({ ...issuer.authOptions, logger: false, ...options } as never);

  it('refuses to start Studio sign-in in production without CLERK_COOKIE_PASSWORD, saying what to set', () => {
    expect(() => build({ env: { ...oauthEnv, NODE_ENV: 'production' } })).toThrow(ClerkAuthConfigError);
    expect(() => build({ env: { ...oauthEnv, NODE_ENV: 'production' } })).toThrow(/CLERK_COOKIE_PASSWORD.*in production/);
    // With it, production starts, with Secure cookies.
    const provider = build({ env: { ...oauthEnv, NODE_ENV: 'production', CLERK_COOKIE_PASSWORD: PASSWORD } });
    expect(provider.isSSOEnabled()).toBe(true);
    expect(provider.getClearSessionHeaders!()['Set-Cookie']).toMatch(/; Secure$/);
  });

  it('outside production a missing password is allowed, and said once (sessions end at restart)', () => {
    const lines: string[] = [];
    const provider = build({ env: oauthEnv, logger: { info: (l: string) => lines.push(l) } });
    expect(provider.isSSOEnabled()).toBe(true);
    expect(lines.filter((l) => l.includes('CLERK_COOKIE_PASSWORD'))).toHaveLength(1);
  });

  it('says at start-up when Mastra will not show Studio sign-in: production without a Mastra licence', () => {
    // Mastra's `buildCapabilities` offers SSO only in development or with MASTRA_LICENSE_KEY (found by a new user).
    const warned = (env: Record<string, string>) => {
      const lines: string[] = [];
      build({ env: { ...oauthEnv, CLERK_COOKIE_PASSWORD: PASSWORD, ...env }, logger: { warn: (l: string) => lines.push(l) } });
      return lines.filter((l) => l.includes('Mastra licence'));
    };
    expect(warned({ NODE_ENV: 'production' })).toEqual([
      '[clerk-mastra-auth] Studio: Mastra offers its sign-in only in development or with a Mastra licence (MASTRA_LICENSE_KEY): ' +
        'with NODE_ENV=production and no licence, Studio shows no "Sign in with Clerk" (Clerk tokens are still accepted)',
    ]);
    expect(warned({ NODE_ENV: 'production', MASTRA_LICENSE_KEY: 'key' })).toEqual([]);
    expect(warned({ NODE_ENV: 'production', MASTRA_DEV: 'true' })).toEqual([]);
    expect(warned({ NODE_ENV: 'development' })).toEqual([]);
  });

  it('reads the OAuth client, redirect URI and cookie password from the environment (as @mastra/auth-clerk)', async () => {
    const provider = build({
      env: { ...oauthEnv, CLERK_OAUTH_REDIRECT_URI: 'https://studio.example.com/api/auth/sso/callback', CLERK_COOKIE_PASSWORD: PASSWORD },
    });
    const url = new URL(await provider.getLoginUrl!('http://attacker.example/api/auth/sso/callback', `${crypto.randomUUID()}|%2F`));
    expect(url.origin).toBe(issuer.issuer);
    expect(url.pathname).toBe('/oauth/authorize');
    expect(url.searchParams.get('client_id')).toBe('client_1');
    expect(url.searchParams.get('redirect_uri')).toBe('https://studio.example.com/api/auth/sso/callback');
    expect(provider.getFapiUrl()).toBe(issuer.issuer);
    expect(provider.getLoginButtonConfig!()).toEqual({ provider: 'clerk', text: 'Sign in with Clerk', description: 'Sign in using your Clerk account' });
  });

  it.each([
    [{ env: { CLERK_OAUTH_CLIENT_ID: 'client_1' } }, /oauthClientSecret.*CLERK_OAUTH_CLIENT_SECRET/],
    [{ env: { CLERK_OAUTH_CLIENT_SECRET: 'secret_1' } }, /oauthClientId.*CLERK_OAUTH_CLIENT_ID/],
    [{ env: { ...oauthEnv, CLERK_COOKIE_PASSWORD: 'short' } }, /at least 32 characters/],
    [{ env: oauthEnv, session: { cookieName: 'bad name' } }, /cookieName/],
    [{ env: oauthEnv, session: { cookieName: '__Host-studio', secureCookies: false } }, /Secure/],
    [{ env: oauthEnv, session: { revalidateAfterSeconds: 0 } }, /revalidateAfterSeconds/],
    [{ env: oauthEnv, session: { cookieName: '__session' } }, /Clerk's own cookies/],
    [
      { env: { ...oauthEnv, NODE_ENV: 'production', CLERK_COOKIE_PASSWORD: PASSWORD, CLERK_OAUTH_REDIRECT_URI: 'http://studio.example.com/cb' } },
      /https:\/\/ URL in production/,
    ],
    [{ env: oauthEnv, redirectUri: 'not a url' }, /redirectUri/],
    [{ env: oauthEnv, scopes: [] }, /scopes/],
    [{ env: oauthEnv, session: { allowedOrigins: ['https://studio.example.com/path'] } }, /allowedOrigins/],
  ])('a configuration that cannot work is a start-up error: %j', (options, message) => {
    expect(() => build(options)).toThrow(message);
  });

  it('without the Frontend API (a PEM key alone), sign-in cannot start: a start-up error naming what to set', () => {
    expect(
      () => new MastraAuthClerk({ jwtKey: issuer.jwtKey, env: oauthEnv, logger: false } as never),
    ).toThrow(/publishableKey.*frontendApiUrl/);
  });

  it('without an OAuth client: users only, no sign-in methods (Mastra detects them by their presence)', async () => {
    const provider = build({ env: {} });
    expect(provider.isSSOEnabled()).toBe(false);
    for (const method of ['getLoginUrl', 'handleCallback', 'createSession', 'validateSession', 'getSessionIdFromRequest']) {
      expect(method in provider).toBe(false);
    }
    expect(typeof provider.getCurrentUser).toBe('function');
    const app = await startStudioApp(issuer, { oauthClientId: undefined, oauthClientSecret: undefined, env: {} } as never);
    try {
      expect(app.provider.isSSOEnabled()).toBe(false);
      const browser = new Browser();
      const capabilities = await browser.fetch(`${app.base}/api/auth/capabilities`);
      expect(capabilities.json()).toEqual({ enabled: true, login: null });
      expect((await browser.fetch(`${app.base}/api/auth/sso/login`)).status).toBe(404);
    } finally {
      await app.close();
    }
  });

  it('Studio options sit next to a shared createClerkAuth(), core options still do not', () => {
    const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false });
    const provider = new MastraAuthClerk({ clerkAuth, oauthClientId: 'client_1', oauthClientSecret: 'secret_1', session: { cookiePassword: PASSWORD } });
    expect(provider.isSSOEnabled()).toBe(true);
    expect(() => new MastraAuthClerk({ clerkAuth, jwksUri: issuer.jwksUri } as never)).toThrow(/not next to "clerkAuth"/);
    expect(() => build({ env: {}, oauthClientIdd: 'x' })).toThrow(/unknown option "oauthClientIdd"/);
    // A misspelling next to a shared object is named as one, with the provider's own names among the guesses.
    expect(() => new MastraAuthClerk({ clerkAuth, resourceScop: 'organization' } as never)).toThrow(
      'MastraAuthClerk: unknown option "resourceScop"; did you mean "resourceScope"?',
    );
  });
});
