/**
 * One Express app, one `createClerkAuth()`: the app's own routes behind `clerkMastraAuth({ clerkAuth })`, and
 * Mastra's agents, tools and workflows mounted with `@mastra/express` under `/api`, behind the same verifier and
 * policy. Public, by name and before the middleware: `/health`, and the playground (`/`, `/playground/<asset>`) when
 * one is given; everything else needs a verified Clerk session that passes the policy.
 */
import express, { type RequestHandler } from 'express';
import { MastraServer } from '@mastra/express';
import { clerkMastraAuth, createClerkAuth, getClerkAuth, type ClerkAuthOptions } from '../src/index.js';
import { MastraAuthClerk } from '../src/mastra/index.js';
import type { MastraCompositeStore } from '@mastra/core/storage';
import { createMastra } from './mastra/index.js';

/**
 * The organization whose admins administer this app (the demo issuer's "Acme"; yours has an id from Clerk's
 * dashboard). Only its admins: any user may create an organization of their own, and is its admin.
 */
const ACME = 'org_acme';
const isOrgAdmin = (user: { v?: number; o?: { id?: string; rol?: string }; org_id?: string; org_role?: string }) =>
  user.v === 2 ? user.o?.id === ACME && user.o?.rol === 'admin' : user.org_id === ACME && user.org_role === 'org:admin';

/** The one policy of both frameworks. */
export const authorizeUser: NonNullable<ClerkAuthOptions['authorizeUser']> = (user, ctx) => {
  // Users listed as banned are refused everywhere, Express and Mastra alike.
  if (user.sub.startsWith('user_banned')) return false;
  // `/admin/*` needs an organization admin. `ctx.path` is the path Express routes, decoded; Express matches routes
  // case-insensitively by default (/ADMIN/report reaches the /admin/report route), so compare in lower case.
  if (ctx.path.toLowerCase().startsWith('/admin')) return isOrgAdmin(user);
  // The workflow is for organization admins: judged by the resource Mastra serves, so every route, prefix and
  // encoding naming it in the path is covered (routes naming it in the body are refused: the policy cannot see it).
  if (ctx.resource?.params.workflowId === 'weatherWorkflow') return isOrgAdmin(user);
  return true;
};

/** A page served at `/` and its assets at `/playground/<name>` (see ./playground/index.ts). */
export interface Playground {
  page: string;
  assets: Record<string, { type: string; body: string }>;
}

export interface AppExtras {
  /** Gives the weather agent memory (see `createStorage()` in ./mastra/index.ts). */
  storage?: MastraCompositeStore;
  /** Served publicly at `/` and `/playground/<name>`. */
  playground?: Playground;
  /** More public routes, mounted before the middleware (the demo server's development-only `POST /dev/token`). */
  publicRoutes?: RequestHandler;
}

/** The page is static: scripts from this origin only, never inline; no framing. */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/** The app. */
export async function createApp(options: ClerkAuthOptions = {}, { storage, playground, publicRoutes }: AppExtras = {}) {
  const clerkAuth = createClerkAuth({ authorizeUser, ...options });
  const app = express();
  app.disable('x-powered-by');

  // Public routes, declared one by one before the middleware: nothing else is.
  app.get('/health', (_req, res) => {
    res.set('cache-control', 'no-store').json({ status: 'ok' });
  });
  if (playground) {
    app.get('/', (_req, res) => {
      res.set(PAGE_HEADERS).type('html').send(playground.page);
    });
    app.get('/playground/:asset', (req, res, next) => {
      const asset = Object.hasOwn(playground.assets, req.params.asset) ? playground.assets[req.params.asset] : undefined;
      // An unknown name falls through to the middleware: 401 like any other path.
      if (!asset) return next();
      res.set(PAGE_HEADERS).type(asset.type).send(asset.body);
    });
  }
  if (publicRoutes) app.use(publicRoutes);

  // Bodies are parsed before the middleware: Mastra's handlers take an agent, tool or workflow id from the body over
  // the path's, so the policy must see the body (a body still unread when it runs is refused on such routes).
  app.use(express.json());
  // Every route below, Express's and Mastra's, needs a verified Clerk session and passes the policy.
  app.use(clerkMastraAuth({ clerkAuth }));

  app.get('/me', (req, res) => {
    const { userId, sessionId, orgId, orgRole } = getClerkAuth(req);
    res.json({ userId, sessionId, orgId, orgRole });
  });
  app.get('/admin/report', (_req, res) => res.json({ report: 'all good' }));

  const mastra = createMastra(new MastraAuthClerk({ clerkAuth }), storage);
  await new MastraServer({ app, mastra, prefix: '/api' }).init();
  // Last: an error no route answered (a body that is not JSON, ...) gets JSON without a stack trace, whatever NODE_ENV.
  app.use((error: { status?: unknown; type?: unknown }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    const status = typeof error.status === 'number' && error.status >= 400 && error.status < 500 ? error.status : 500;
    const body =
      error.type === 'entity.parse.failed'
        ? { error: 'request-invalid', message: 'The request body is not valid JSON.' }
        : { error: status === 500 ? 'internal-error' : 'request-invalid', message: status === 500 ? 'Something went wrong.' : 'The request is malformed.' };
    res.status(status).json(body);
  });
  return { app, clerkAuth, mastra };
}
