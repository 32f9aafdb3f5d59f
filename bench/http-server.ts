/**
 * One server variant of the HTTP sections in its own process (the load generator never shares its CPU), forked by
 * bench/http.ts with its configuration in `BENCH_HTTP_SERVER`. Over IPC it sends `ready` (its port) or `error`, and
 * answers `'snapshot'` with its cumulative CPU µs and requests served; `'exit'` ends it. With `workers`, it is a
 * `node:cluster` primary running that many workers of the variant (each with its own caches).
 */
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import type { Express, Request, Response } from 'express';

export type Variant = 'express:none' | 'express:floor' | 'express:floor-loaded' | 'express:ours' | 'express:clerk' | 'mastra:none' | 'mastra:floor' | 'mastra:ours' | 'mastra:peer';

export interface ServerConfig {
  variant: Variant;
  workers?: number;
  authOptions: { publishableKey: string; jwksUri: string; issuer: string; authorizedParties: string[] };
  jwtKey: string;
  secretKey: string;
}

export type ChildMessage = { type: 'ready'; port: number } | { type: 'error'; message: string } | { type: 'snapshot'; cpu: number; served: number };

async function expressApp(config: ServerConfig): Promise<Express> {
  const { default: express } = await import('express');
  const app = express();
  const { variant, authOptions } = config;
  if (variant === 'express:none') {
    app.get('/hello', (_req: Request, res: Response) => res.json({ hello: 'world', userId: null }));
  } else if (variant === 'express:floor' || variant === 'express:floor-loaded') {
    // The least any Express auth middleware does: add `req.auth` (Clerk's getAuth(req) reads it), verify nothing.
    // "floor-loaded" also carries this package's modules (one clerkMastraAuth() built, never called): what a process
    // pays per request for a few MB more code and heap, whichever package they come from.
    if (variant === 'express:floor-loaded') {
      const { clerkMastraAuth } = await (await import('./package.js')).loadPkg();
      (globalThis as { benchUnused?: unknown }).benchUnused = clerkMastraAuth({ ...authOptions, env: {}, logger: false });
    }
    const auth = (): null => null;
    app.use((req: Request, _res: Response, next: () => void) => {
      (req as { auth?: unknown }).auth = auth;
      next();
    });
    app.get('/hello', (_req: Request, res: Response) => res.json({ hello: 'world', userId: null }));
  } else if (variant === 'express:ours') {
    const { clerkMastraAuth, getClerkAuth } = await (await import('./package.js')).loadPkg();
    app.use(clerkMastraAuth({ ...authOptions, env: {}, logger: false }));
    app.get('/hello', (req: Request, res: Response) => res.json({ hello: 'world', userId: getClerkAuth(req).userId }));
  } else {
    const { clerkMiddleware, getAuth } = await import('@clerk/express');
    const { publishableKey, authorizedParties } = authOptions;
    app.use(clerkMiddleware({ publishableKey, secretKey: config.secretKey, jwtKey: config.jwtKey, authorizedParties }));
    app.get('/hello', (req: Request, res: Response) => {
      const { userId } = getAuth(req);
      if (userId === null) res.status(401).json({ error: 'unauthenticated' });
      else res.json({ hello: 'world', userId });
    });
  }
  return app;
}

async function mastraApp(config: ServerConfig): Promise<Express> {
  const { default: express } = await import('express');
  const { MastraServer } = await import('@mastra/express');
  const example = await import('../examples/mastra/index.js');
  let mastra;
  if (config.variant === 'mastra:none') {
    const { Mastra } = await import('@mastra/core/mastra');
    // createMastra() without `server.auth`: the same agents, tools and workflows, so `/api/agents` answers the same.
    const { weatherAgent, weatherTool, weatherWorkflow } = example;
    mastra = new Mastra({ agents: { weatherAgent }, tools: { weatherTool }, workflows: { weatherWorkflow }, logger: false });
  } else if (config.variant === 'mastra:floor') {
    // Mastra's own auth pipeline alone: a provider that accepts every request as one user and checks nothing, with
    // the same protected paths as ours.
    const { MastraAuthProvider } = await import('@mastra/core/server');
    class AcceptAll extends MastraAuthProvider<{ id: string }> {
      override async authenticateToken(): Promise<{ id: string }> {
        return { id: 'user_floor' };
      }
      override async authorizeUser(): Promise<boolean> {
        return true;
      }
    }
    mastra = example.createMastra(new AcceptAll({ name: 'floor', protected: ['/*'] }) as never);
  } else if (config.variant === 'mastra:ours') {
    const { MastraAuthClerk } = await (await import('./package.js')).loadPkgMastra();
    mastra = example.createMastra(new MastraAuthClerk({ ...config.authOptions, env: {}, logger: false }));
  } else {
    const { MastraAuthClerk } = await import('@mastra/auth-clerk');
    const { jwksUri, publishableKey } = config.authOptions;
    mastra = example.createMastra(new MastraAuthClerk({ jwksUri, secretKey: config.secretKey, publishableKey }) as never);
  }
  const app = express();
  app.use(express.json());
  await new MastraServer({ app, mastra, prefix: '/api' }).init();
  return app;
}

const send = (message: ChildMessage): void => void process.send?.(message);

async function main(): Promise<void> {
  const config = JSON.parse(process.env.BENCH_HTTP_SERVER ?? '') as ServerConfig;
  const primary = cluster.isPrimary && (config.workers ?? 0) > 0;
  let served = 0;
  let port: number;
  process.on('disconnect', () => process.exit(0));
  if (primary) {
    for (let i = 0; i < config.workers!; i++) cluster.fork();
    const ports = await Promise.all(
      Object.values(cluster.workers!).map(
        (worker) =>
          new Promise<number>((resolve, reject) => {
            worker!.once('listening', (address) => resolve(address.port));
            worker!.once('exit', (code) => reject(new Error(`a cluster worker exited with code ${code}`)));
          }),
      ),
    );
    port = ports[0]!;
    served = Number.NaN; // counted in the workers: the primary reports requests/s only
  } else {
    const app = config.variant.startsWith('express:') ? await expressApp(config) : await mastraApp(config);
    const server = createServer(app).on('request', () => void served++);
    // Cluster workers calling listen(0) all share the port the primary picks.
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
    if (cluster.isWorker) return; // the primary answers the parent
  }
  process.on('message', (message: string) => {
    if (message === 'exit') process.exit(0); // also ends cluster workers (their IPC channel closes)
    const cpu = process.cpuUsage();
    send({ type: 'snapshot', cpu: cpu.user + cpu.system, served });
  });
  send({ type: 'ready', port });
}

main().catch((error: unknown) => {
  send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  setTimeout(() => process.exit(1), 100); // lets the IPC message flush
});
