/**
 * One Express app, one `createClerkAuth()`: the app's own routes behind `clerkMastraAuth({ clerkAuth })`, and
 * Mastra's agents, tools and workflows mounted with `@mastra/express` under `/api`, behind the same verifier and
 * policy.
 */
import express from 'express';
import { MastraServer } from '@mastra/express';
import { clerkMastraAuth, createClerkAuth, getClerkAuth, type ClerkAuthOptions } from '../src/index.js';
import { MastraAuthClerk } from '../src/mastra/index.js';
import type { MastraCompositeStore } from '@mastra/core/storage';
import { createMastra } from './mastra/index.js';

const isOrgAdmin = (user: { o?: { rol?: string }; org_role?: string }) => user.o?.rol === 'admin' || user.org_role === 'org:admin';

/** The one policy of both frameworks. */
export const authorizeUser: NonNullable<ClerkAuthOptions['authorizeUser']> = (user, ctx) => {
  // Users listed as banned are refused everywhere, Express and Mastra alike.
  if (user.sub.startsWith('user_banned')) return false;
  // `/admin/*` needs an organization admin. `ctx.path` is the path Express routes, decoded; Express matches routes
  // case-insensitively by default (/ADMIN/report reaches the /admin/report route), so compare in lower case.
  if (ctx.path.toLowerCase().startsWith('/admin')) return isOrgAdmin(user);
  // The workflow is for organization admins: judged by the resource Mastra serves, so every alias, prefix and
  // encoding of the workflow's routes is covered.
  if (ctx.resource?.params.workflowId === 'weatherWorkflow') return isOrgAdmin(user);
  return true;
};

/** The app; `storage` gives the weather agent memory (see `createStorage()` in ./mastra/index.ts). */
export async function createApp(options: ClerkAuthOptions = {}, { storage }: { storage?: MastraCompositeStore } = {}) {
  const clerkAuth = createClerkAuth({ authorizeUser, ...options });
  const app = express();
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
  return { app, clerkAuth, mastra };
}
