/**
 * One Express app, one `createClerkAuth()`: the app's own routes behind `clerkMastraAuth(auth)`, and Mastra's
 * agents, tools and workflows mounted with `@mastra/express` under `/api`, behind the same verifier and policy.
 */
import express from 'express';
import { MastraServer } from '@mastra/express';
import { clerkMastraAuth, createClerkAuth, getClerkAuth, type ClerkAuthOptions } from '../src/index.js';
import { createMastra } from './mastra/index.js';

/** The one policy of both frameworks: `/admin/*` needs an organization admin. */
export const authorizeUser: NonNullable<ClerkAuthOptions['authorizeUser']> = (user, ctx) => {
  // Express matches routes case-insensitively by default: /ADMIN/report reaches the /admin/report route.
  if (ctx.path.toLowerCase().startsWith('/admin')) return user.o?.rol === 'admin' || user.org_role === 'org:admin';
  // Users listed as banned are refused everywhere, Express and Mastra alike.
  return !user.sub.startsWith('user_banned');
};

export async function createApp(options: ClerkAuthOptions = {}) {
  const auth = createClerkAuth({ authorizeUser, ...options });
  const app = express();
  app.use(express.json());

  // Every route below, Express's and Mastra's, needs a verified Clerk session and passes the policy.
  app.use(clerkMastraAuth(auth));

  app.get('/me', (req, res) => {
    const { userId, sessionId, orgId, orgRole } = getClerkAuth(req);
    res.json({ userId, sessionId, orgId, orgRole });
  });
  app.get('/admin/report', (_req, res) => res.json({ report: 'all good' }));

  const mastra = createMastra(auth.mastra());
  await new MastraServer({ app, mastra, prefix: '/api' }).init();
  return { app, auth, mastra };
}
