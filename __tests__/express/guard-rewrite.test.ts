/**
 * `requireClerkAuth(policy)` after a middleware that rewrites `req.url` (a locale stripper): the guard's policy sees the
 * path its route serves (`/admin/report`), not the one the global `clerkMastraAuth()` saw (`/en/admin/report`). README:
 * `ctx.path` is "the full path after any rewrite of `req.url` by earlier middleware" (found by an attack session: an
 * admin-only page by path was served to a member). Real Express 4 and 5 over sockets.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express5 from 'express';
import express4 from 'express4';
import type { Express, NextFunction, Request, Response } from 'express';
import { clerkMastraAuth, requireClerkAuth, type AuthorizeContext } from '../../src/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { listen } from '../support/http.js';
import { raw } from '../security/support.js';

let issuer: TestIssuer;
beforeAll(async () => {
  issuer = await createTestIssuer();
});
afterAll(() => issuer.close());

const frameworks = [
  ['Express 5', express5 as unknown as () => Express],
  ['Express 4', express4 as unknown as () => Express],
] as const;

const isAdmin = (user: { o?: { id?: string; rol?: string } }) => user.o?.id === 'org_1' && user.o?.rol === 'admin';

describe.each(frameworks)('%s', (_name, express) => {
  function app(optional: boolean, seen: string[]): Express {
    const a = express();
    a.use(clerkMastraAuth({ ...issuer.authOptions, env: {}, logger: false, optional }));
    // A locale prefix stripper (i18n): /en/admin/report is served as /admin/report.
    a.use((req: Request, _res: Response, next: NextFunction) => {
      req.url = req.url.replace(/^\/(?:en|fr)(?=\/)/, '');
      next();
    });
    // The admin area's guard, by path, as the global policy example of the README writes it.
    const adminGuard = requireClerkAuth((user, ctx: AuthorizeContext) => {
      seen.push(ctx.path);
      return ctx.path.toLowerCase().startsWith('/admin') ? isAdmin(user) : true;
    });
    a.get('/admin/report', adminGuard, (req, res) => res.json({ report: 'ADMIN-ONLY', served: req.path }));
    return a;
  }

  it.each([false, true])('optional %s: GET /en/admin/report by a non-admin is 403 access-denied; the guard sees /admin/report', async (optional) => {
    const seen: string[] = [];
    const server = await listen(app(optional, seen));
    try {
      const token = await issuer.mintToken({}, { userId: 'user_member', org: { id: 'org_1', role: 'org:member' } });
      const res = await raw(server.port, 'GET', '/en/admin/report', { Authorization: `Bearer ${token}` });
      expect({ seen, status: res.status, leaked: res.body.includes('ADMIN-ONLY') }).toEqual({ seen: ['/admin/report'], status: 403, leaked: false });
      expect(JSON.parse(res.body).error).toBe('access-denied');
      expect(res.headers['www-authenticate']).toContain('error="insufficient_scope"');
    } finally {
      await server.close();
    }
  });
});
