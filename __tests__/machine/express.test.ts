/**
 * Machine tokens through the Express middleware, from the user's side (issue 12), on Express 5 and Express 4 over
 * Supertest: which token types a configuration accepts (sessions only by default, so nothing changes for existing
 * apps), JWT and opaque forms, refusals by name, what the policy and the route see, Clerk's own `getAuth`, and
 * `requireClerkAuth(policy, { acceptsToken })`.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { getAuth } from '@clerk/express';
import request from 'supertest';
import {
  clerkMastraAuth,
  ClerkAuthConfigError,
  createClerkAuth,
  getClerkAuth,
  getClerkClaims,
  requireClerkAuth,
  type AcceptsToken,
  type AuthorizeContext,
  type ClerkAuthOptions,
  type ClerkClaims,
} from '../../src/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import {
  addEchoRoute,
  expectRefused,
  FORMS,
  frameworks,
  machineOptions,
  tokenOf,
  TYPE_OF,
  type TokenForm,
} from './support.js';

let issuer: TestIssuer;
beforeAll(async () => {
  issuer = await createTestIssuer();
});
afterAll(async () => {
  await issuer.close();
});

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

describe.each(frameworks)('%s', (_name, express) => {
  function appWith(options: ClerkAuthOptions & { acceptsToken?: AcceptsToken } = {}) {
    const app = express();
    app.use(clerkMastraAuth(machineOptions(issuer, options)));
    return addEchoRoute(app);
  }

  describe('the default accepts session tokens only: nothing changes for existing apps', () => {
    it('a session token signs in as before', async () => {
      const res = await request(appWith()).get('/who').set(bearer(await tokenOf(issuer, 'session')));
      expect(res.status).toBe(200);
      expect(res.body.auth).toMatchObject({ tokenType: 'session_token', userId: 'user_person', isAuthenticated: true });
    });

    it.each(FORMS.filter((form) => form !== 'session'))(
      '%s: 401 token-type-mismatch, refused before any Backend API call',
      async (form) => {
        const token = await tokenOf(issuer, form);
        issuer.resetBackendApiCalls();
        await expectRefused(await request(appWith()).get('/who').set(bearer(token)), 401, 'token-type-mismatch');
        expect(issuer.backendApiCalls()).toBe(0);
      },
    );

    it('a cookie is a browser session, never a machine credential: a machine-only app sees no token', async () => {
      const token = await tokenOf(issuer, 'm2m-jwt');
      const res = await request(appWith({ acceptsToken: 'm2m_token' })).get('/who').set('Cookie', `__session=${token}; __client_uat=1`);
      await expectRefused(res, 401, 'token-missing');
      // And where sessions are accepted, a machine JWT in the cookie is not a session.
      const both = await request(appWith({ acceptsToken: ['session_token', 'm2m_token'] }))
        .get('/who')
        .set('Cookie', `__session=${token}; __client_uat=1`);
      await expectRefused(both, 401, 'token-type-mismatch');
    });
  });

  describe('each type is accepted when listed and refused with token-type-mismatch when not', () => {
    const configurations: Array<[string, AcceptsToken]> = [
      ['m2m_token', 'm2m_token'],
      ['oauth_token', 'oauth_token'],
      ['api_key', 'api_key'],
      ['session_token', 'session_token'],
      ["['session_token', 'api_key']", ['session_token', 'api_key']],
      ["['m2m_token', 'oauth_token']", ['m2m_token', 'oauth_token']],
      ["'any'", 'any'],
    ];
    const listed = (accepts: AcceptsToken, form: TokenForm): boolean =>
      accepts === 'any' || [accepts].flat().includes(TYPE_OF[form]);

    it.each(configurations)('acceptsToken %s', async (_label, acceptsToken) => {
      const app = appWith({ acceptsToken });
      for (const form of FORMS) {
        const res = await request(app).get('/who').set(bearer(await tokenOf(issuer, form)));
        if (listed(acceptsToken, form)) {
          expect({ form, status: res.status, tokenType: res.body.any?.tokenType }).toEqual({
            form,
            status: 200,
            tokenType: TYPE_OF[form],
          });
        } else {
          await expectRefused(res, 401, 'token-type-mismatch');
        }
      }
    });

    it('an invalid acceptsToken is a configuration error at start-up', () => {
      expect(() => clerkMastraAuth(machineOptions(issuer, { acceptsToken: 'machine_token' as never }))).toThrow(ClerkAuthConfigError);
      expect(() => clerkMastraAuth(machineOptions(issuer, { acceptsToken: [] }))).toThrow(ClerkAuthConfigError);
    });

    it("'api_key' without any secret key is a configuration error at start-up", () => {
      expect(() => clerkMastraAuth({ ...issuer.authOptions, env: {}, logger: false, acceptsToken: ['session_token', 'api_key'] })).toThrow(
        ClerkAuthConfigError,
      );
    });
  });

  describe('refusals by name (status, code and WWW-Authenticate)', () => {
    const app = () => appWith({ acceptsToken: 'any' });

    it.each<[string, () => Promise<string>]>([
      ['M2M JWT', () => issuer.mintM2MToken({ expired: true })],
      ['OAuth JWT', () => issuer.mintOAuthToken({ expired: true })],
    ])('expired %s: 401 token-expired', async (_kind, mint) => {
      await expectRefused(await request(app()).get('/who').set(bearer(await mint())), 401, 'token-expired');
    });

    it.each<[string, () => Promise<string>]>([
      ['M2M JWT', () => issuer.mintM2MToken({ notYetValid: true })],
      ['OAuth JWT', () => issuer.mintOAuthToken({ notYetValid: true })],
    ])('not-yet-valid %s: 401 token-not-active-yet', async (_kind, mint) => {
      await expectRefused(await request(app()).get('/who').set(bearer(await mint())), 401, 'token-not-active-yet');
    });

    it.each<[string, () => Promise<string>]>([
      ['M2M JWT', () => issuer.mintM2MToken({ signWith: 'foreign' })],
      ['OAuth JWT', () => issuer.mintOAuthToken({ signWith: 'foreign' })],
    ])('forged %s: 401 token-invalid-signature', async (_kind, mint) => {
      await expectRefused(await request(app()).get('/who').set(bearer(await mint())), 401, 'token-invalid-signature');
    });

    it('an OAuth JWT from another issuer: 401 token-invalid-issuer', async () => {
      const token = await issuer.mintOAuthToken({ claims: { iss: 'https://evil.clerk.accounts.dev' } });
      await expectRefused(await request(app()).get('/who').set(bearer(token)), 401, 'token-invalid-issuer');
    });

    it("a JWT of another Clerk category (a JWT template) is no token type at all, even with acceptsToken 'any'", async () => {
      const template = await issuer.mintM2MToken({ header: { cat: 'cl_B7d4PD222AAA' } });
      await expectRefused(await request(app()).get('/who').set(bearer(template)), 401, 'token-type-mismatch');
    });

    it.each<[string, () => string]>([
      ['M2M token', () => 'mt_' + 'x'.repeat(40)],
      ['OAuth token', () => 'oat_' + 'x'.repeat(40)],
      ['API key', () => 'ak_' + 'x'.repeat(40)],
    ])('an unknown opaque %s: 401 token-invalid', async (_kind, token) => {
      await expectRefused(await request(app()).get('/who').set(bearer(token())), 401, 'token-invalid');
    });

    it.each<[string, () => string]>([
      ['M2M token', () => issuer.createOpaqueM2MToken()],
      ['OAuth token', () => issuer.createOpaqueOAuthToken()],
      ['API key', () => issuer.createApiKey()],
    ])('a revoked opaque %s: 401 (token-invalid when the Backend API says 404, token-revoked when it says revoked)', async (_kind, create) => {
      const token = create();
      issuer.revokeToken(token);
      // Clerk's Backend API answers 404 for a revoked token: nothing tells it from an unknown one.
      await expectRefused(await request(app()).get('/who').set(bearer(token)), 401, 'token-invalid');
      issuer.setInactiveTokenAnswer('flags');
      try {
        await expectRefused(await request(app()).get('/who').set(bearer(token)), 401, 'token-revoked');
      } finally {
        issuer.setInactiveTokenAnswer('not-found');
      }
    });

    it.each<[string, () => string]>([
      ['M2M token', () => issuer.createOpaqueM2MToken({ expiresInSeconds: -60 })],
      ['OAuth token', () => issuer.createOpaqueOAuthToken({ expiresInSeconds: -60 })],
      ['API key', () => issuer.createApiKey({ expiresInSeconds: -60 })],
    ])('an expired opaque %s: 401 (token-invalid on a 404, token-expired when the Backend API says expired)', async (_kind, create) => {
      const token = create();
      await expectRefused(await request(app()).get('/who').set(bearer(token)), 401, 'token-invalid');
      issuer.setInactiveTokenAnswer('flags');
      try {
        await expectRefused(await request(app()).get('/who').set(bearer(token)), 401, 'token-expired');
      } finally {
        issuer.setInactiveTokenAnswer('not-found');
      }
    });
  });

  describe('OAuth audience (the audience option, Clerk\'s assertOAuthAudienceClaim rule)', () => {
    const app = () => appWith({ acceptsToken: 'oauth_token', audience: 'https://api.example.com' });

    it('accepts an OAuth JWT for this audience, as a string or in a list', async () => {
      for (const audience of ['https://api.example.com', ['https://other.example', 'https://api.example.com']]) {
        const token = await issuer.mintOAuthToken({ audience });
        expect((await request(app()).get('/who').set(bearer(token))).status).toBe(200);
      }
    });

    it('refuses an OAuth JWT for another audience, or with none: 401 token-invalid-audience', async () => {
      for (const token of [
        await issuer.mintOAuthToken({ audience: 'https://other.example' }),
        await issuer.mintOAuthToken(),
        await issuer.mintOAuthToken({ claims: { aud: [] } }),
      ]) {
        await expectRefused(await request(app()).get('/who').set(bearer(token)), 401, 'token-invalid-audience');
      }
    });

    it('checks the audience of an opaque OAuth token too', async () => {
      const ok = issuer.createOpaqueOAuthToken({ audience: 'https://api.example.com' });
      expect((await request(app()).get('/who').set(bearer(ok))).status).toBe(200);
      const other = issuer.createOpaqueOAuthToken({ audience: ['https://other.example'] });
      await expectRefused(await request(app()).get('/who').set(bearer(other)), 401, 'token-invalid-audience');
    });
  });

  describe('what the policy sees: ctx.tokenType, ctx.machine, and a user of { sub, exp, jti } only', () => {
    function recordingApp(policy: (user: ClerkClaims, ctx: AuthorizeContext) => boolean) {
      const seen: Array<{ user: ClerkClaims; ctx: AuthorizeContext }> = [];
      const app = appWith({
        acceptsToken: 'any',
        authorizeUser: (user, ctx) => {
          seen.push({ user, ctx });
          return policy(user, ctx);
        },
      });
      return { app, seen };
    }

    it('an M2M JWT: tokenType m2m_token, Clerk\'s machine object, and a frozen { sub, exp, jti }', async () => {
      const { app, seen } = recordingApp(() => true);
      const token = await issuer.mintM2MToken({ machineId: 'mch_worker', scopes: ['mch_api'], claims: { o: { rol: 'admin' } } });
      const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
      expect((await request(app).get('/who').set(bearer(token))).status).toBe(200);
      const [{ user, ctx }] = seen as [{ user: ClerkClaims; ctx: AuthorizeContext }];
      expect(user).toEqual({ sub: 'mch_worker', exp: claims.exp, jti: claims.jti });
      expect(Object.isFrozen(user)).toBe(true);
      expect(ctx.tokenType).toBe('m2m_token');
      expect(ctx.machine).toMatchObject({
        tokenType: 'm2m_token',
        isAuthenticated: true,
        id: claims.jti,
        subject: 'mch_worker',
        machineId: 'mch_worker',
        scopes: ['mch_api'],
      });
      expect((ctx.machine as { claims?: unknown } | undefined)?.claims).toMatchObject({ o: { rol: 'admin' } });
    });

    it('a session: tokenType session_token, no ctx.machine, the session claims as before', async () => {
      const { app, seen } = recordingApp(() => true);
      expect((await request(app).get('/who').set(bearer(await tokenOf(issuer, 'session')))).status).toBe(200);
      expect(seen[0]?.ctx.tokenType).toBe('session_token');
      expect(seen[0]?.ctx.machine).toBeUndefined();
      expect(seen[0]?.user).toMatchObject({ sub: 'user_person', sid: expect.any(String), azp: issuer.authorizedParty });
    });

    it.each<[TokenForm, Record<string, unknown>]>([
      ['oauth-jwt', { tokenType: 'oauth_token', userId: 'user_granter', clientId: 'client_cli', subject: 'user_granter', scopes: ['read'] }],
      ['oauth-opaque', { tokenType: 'oauth_token', userId: 'user_granter', clientId: 'client_cli', subject: 'user_granter', scopes: ['read'] }],
      ['api-key', { tokenType: 'api_key', userId: 'user_owner', name: 'ci', subject: 'user_owner', scopes: ['deploy'] }],
      ['m2m-opaque', { tokenType: 'm2m_token', machineId: 'mch_worker', subject: 'mch_worker', scopes: ['mch_api'] }],
    ])('%s: ctx.machine is Clerk\'s machine object of its type, user is { sub, exp, jti }', async (form, expected) => {
      const { app, seen } = recordingApp(() => true);
      expect((await request(app).get('/who').set(bearer(await tokenOf(issuer, form)))).status).toBe(200);
      expect(seen[0]?.ctx.tokenType).toBe(expected.tokenType);
      expect(seen[0]?.ctx.machine).toMatchObject({ ...expected, isAuthenticated: true });
      expect(Object.keys(seen[0]?.user ?? {}).sort()).toEqual(['exp', 'jti', 'sub']);
      expect(seen[0]?.user.sub).toBe(expected.subject);
      expect(seen[0]?.user.jti).toBe(seen[0]?.ctx.machine?.id);
    });

    it('an organization API key: orgId is its subject', async () => {
      const { app, seen } = recordingApp(() => true);
      const key = issuer.createApiKey({ subject: 'org_acme', name: 'deployer' });
      expect((await request(app).get('/who').set(bearer(key))).status).toBe(200);
      expect(seen[0]?.ctx.machine).toMatchObject({ tokenType: 'api_key', orgId: 'org_acme', subject: 'org_acme', name: 'deployer' });
    });

    it('a machine\'s custom claim o.rol = admin never meets a rule on user.o?.rol: 403 access-denied', async () => {
      const { app } = recordingApp((user) => user.o?.rol === 'admin');
      const machine = await issuer.mintM2MToken({ claims: { o: { id: 'org_1', rol: 'admin' } } });
      await expectRefused(await request(app).get('/who').set(bearer(machine)), 403, 'access-denied');
      const oauth = await issuer.mintOAuthToken({ claims: { o: { id: 'org_1', rol: 'admin' } } });
      await expectRefused(await request(app).get('/who').set(bearer(oauth)), 403, 'access-denied');
      const admin = await issuer.mintToken({}, { org: { id: 'org_1', role: 'org:admin' } });
      expect((await request(app).get('/who').set(bearer(admin))).status).toBe(200);
    });

    it('a scope rule on ctx.machine.scopes: 403 access-denied without the scope, 200 with it', async () => {
      const { app } = recordingApp((_user, ctx) => ctx.tokenType !== 'session_token' && ctx.machine?.scopes.includes('mch_reports') === true);
      await expectRefused(await request(app).get('/who').set(bearer(await issuer.mintM2MToken({ scopes: ['mch_api'] }))), 403, 'access-denied');
      await expectRefused(await request(app).get('/who').set(bearer(issuer.createOpaqueM2MToken({ scopes: [] }))), 403, 'access-denied');
      expect((await request(app).get('/who').set(bearer(await issuer.mintM2MToken({ scopes: ['mch_api', 'mch_reports'] })))).status).toBe(200);
      expect((await request(app).get('/who').set(bearer(issuer.createOpaqueM2MToken({ scopes: ['mch_reports'] })))).status).toBe(200);
    });
  });

  describe('what the route sees: getClerkAuth, getClerkClaims and @clerk/express getAuth follow Clerk', () => {
    function inspectingApp() {
      const app = express();
      app.use(clerkMastraAuth(machineOptions(issuer, { acceptsToken: 'any' })));
      const plain = (value: unknown) => JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
      app.get('/inspect', (req, res) => {
        res.json({
          ours: {
            default: plain(getClerkAuth(req)),
            m2m: plain(getClerkAuth(req, { acceptsToken: 'm2m_token' })),
            oauth: plain(getClerkAuth(req, { acceptsToken: 'oauth_token' })),
            sessionList: plain(getClerkAuth(req, { acceptsToken: ['session_token'] })),
            any: plain(getClerkAuth(req, { acceptsToken: 'any' })),
          },
          clerk: {
            default: plain(getAuth(req)),
            m2m: plain(getAuth(req, { acceptsToken: 'm2m_token' })),
            oauth: plain(getAuth(req, { acceptsToken: 'oauth_token' })),
            sessionList: plain(getAuth(req, { acceptsToken: ['session_token'] })),
            any: plain(getAuth(req, { acceptsToken: 'any' })),
          },
          claims: getClerkClaims(req) ?? null,
        });
      });
      return app;
    }

    it('an M2M token: its machine object when asked for m2m_token or any; signed out / unauthenticated otherwise', async () => {
      const token = await issuer.mintM2MToken({ machineId: 'mch_worker', scopes: ['mch_api'], claims: { tier: 'gold' } });
      const jti = (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti;
      const res = await request(inspectingApp()).get('/inspect').set(bearer(token));
      expect(res.status).toBe(200);
      const { ours, clerk, claims } = res.body as { ours: Record<string, Record<string, unknown>>; clerk: unknown; claims: Record<string, unknown> };
      // @clerk/express's getAuth reads our req.auth and answers the same.
      expect(clerk).toEqual(ours);
      expect(ours.m2m).toMatchObject({
        tokenType: 'm2m_token',
        isAuthenticated: true,
        id: jti,
        subject: 'mch_worker',
        machineId: 'mch_worker',
        scopes: ['mch_api'],
        claims: { tier: 'gold' },
      });
      expect(ours.any).toEqual(ours.m2m);
      // Clerk's getAuthObjectForAcceptedToken: sessions asked for, a machine token there: signed out.
      expect(ours.default).toMatchObject({ tokenType: 'session_token', isAuthenticated: false, userId: null });
      expect(ours.oauth).toMatchObject({ tokenType: 'oauth_token', isAuthenticated: false, id: null });
      expect(ours.sessionList).toMatchObject({ tokenType: null, isAuthenticated: false });
      expect(claims).toEqual({ sub: 'mch_worker', exp: expect.any(Number), jti });
    });

    it('an opaque OAuth token: userId and clientId; a session still reads as before', async () => {
      const oauth = issuer.createOpaqueOAuthToken({ userId: 'user_granter', clientId: 'client_cli', scopes: ['read'] });
      const res = await request(inspectingApp()).get('/inspect').set(bearer(oauth));
      expect(res.body.ours.oauth).toMatchObject({ tokenType: 'oauth_token', isAuthenticated: true, userId: 'user_granter', clientId: 'client_cli', scopes: ['read'] });
      expect(res.body.clerk).toEqual(res.body.ours);
      expect(res.body.claims).toEqual({ sub: 'user_granter', exp: expect.any(Number), jti: issuer.describeToken(oauth)?.id });

      const session = await request(inspectingApp()).get('/inspect').set(bearer(await tokenOf(issuer, 'session')));
      expect(session.body.ours.default).toMatchObject({ tokenType: 'session_token', isAuthenticated: true, userId: 'user_person' });
      expect(session.body.ours.m2m).toMatchObject({ tokenType: 'm2m_token', isAuthenticated: false });
      expect(session.body.clerk).toEqual(session.body.ours);
    });
  });

  describe('requireClerkAuth(policy, { acceptsToken }) narrows what the global middleware let through', () => {
    function guardedApp() {
      const app = express();
      app.use(clerkMastraAuth(machineOptions(issuer, { acceptsToken: ['session_token', 'm2m_token', 'api_key'] })));
      app.post(
        '/jobs',
        requireClerkAuth((_user, ctx) => ctx.machine?.scopes.includes('mch_scheduler') === true, { acceptsToken: 'm2m_token' }),
        (_req, res) => res.json({ ran: true }),
      );
      app.get('/me', requireClerkAuth(), (req, res) => res.json({ userId: getClerkAuth(req).userId }));
      app.get('/keys', requireClerkAuth(undefined, { acceptsToken: ['api_key', 'session_token'] }), (_req, res) => res.json({ ok: true }));
      return app;
    }

    it('a route for M2M tokens refuses sessions and API keys (token-type-mismatch), and applies its own policy', async () => {
      const app = guardedApp();
      expect((await request(app).post('/jobs').set(bearer(await issuer.mintM2MToken({ scopes: ['mch_scheduler'] })))).status).toBe(200);
      expect((await request(app).post('/jobs').set(bearer(issuer.createOpaqueM2MToken({ scopes: ['mch_scheduler'] })))).status).toBe(200);
      await expectRefused(await request(app).post('/jobs').set(bearer(await issuer.mintM2MToken({ scopes: ['mch_api'] }))), 403, 'access-denied');
      await expectRefused(await request(app).post('/jobs').set(bearer(await tokenOf(issuer, 'session'))), 401, 'token-type-mismatch');
      await expectRefused(await request(app).post('/jobs').set(bearer(await tokenOf(issuer, 'api-key'))), 401, 'token-type-mismatch');
      // Not let through globally: refused by the global middleware, before the route.
      await expectRefused(await request(app).post('/jobs').set(bearer(await tokenOf(issuer, 'oauth-jwt'))), 401, 'token-type-mismatch');
    });

    it('requireClerkAuth() takes sessions only by default', async () => {
      const app = guardedApp();
      expect((await request(app).get('/me').set(bearer(await tokenOf(issuer, 'session')))).body).toEqual({ userId: 'user_person' });
      await expectRefused(await request(app).get('/me').set(bearer(await tokenOf(issuer, 'm2m-jwt'))), 401, 'token-type-mismatch');
      expect((await request(app).get('/keys').set(bearer(await tokenOf(issuer, 'api-key')))).status).toBe(200);
      await expectRefused(await request(app).get('/keys').set(bearer(await tokenOf(issuer, 'm2m-opaque'))), 401, 'token-type-mismatch');
    });

    it('clerkMastraAuth({ clerkAuth, acceptsToken }) replaces the shared object\'s list for that middleware', async () => {
      const clerkAuth = createClerkAuth(machineOptions(issuer, { acceptsToken: 'any' }));
      const app = express();
      app.get('/people', clerkMastraAuth({ clerkAuth, acceptsToken: 'session_token' }), (_req, res) => res.json({ ok: true }));
      app.get('/machines', clerkMastraAuth({ clerkAuth }), (_req, res) => res.json({ ok: true }));
      const m2m = await tokenOf(issuer, 'm2m-jwt');
      await expectRefused(await request(app).get('/people').set(bearer(m2m)), 401, 'token-type-mismatch');
      expect((await request(app).get('/machines').set(bearer(m2m))).status).toBe(200);
      expect((await request(app).get('/people').set(bearer(await tokenOf(issuer, 'session')))).status).toBe(200);
    });
  });
});
