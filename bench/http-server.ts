/**
 * The server side of the HTTP bench sections (`bench/http.ts`): one variant of one route, in its own process, so
 * the load generator (autocannon, in the parent) never shares the server's event loop or CPU accounting.
 *
 * Started by the parent with `child_process.fork(..., { execArgv: ['--import', 'tsx'] })` and the configuration
 * in the `BENCH_HTTP_SERVER` environment variable (JSON, {@link ServerConfig}). It listens on 127.0.0.1 on an
 * ephemeral port, then speaks over IPC:
 * - child -> parent `{ type: 'ready', port }` once listening, or `{ type: 'error', message }` if the setup failed;
 * - parent -> child `{ type: 'snapshot', id }`, answered with `{ type: 'snapshot', id, snapshot }`: the process's
 *   CPU time and requests served so far (the parent diffs two snapshots around a run);
 * - parent -> child `{ type: 'exit' }`: closes the server and exits (so `--cpu-prof` can write its profile).
 * The child also exits when the IPC channel closes (the parent died).
 */
import { createServer, type Server } from 'node:http';
import type { Express, Request, Response } from 'express';

/** Every server variant the sections measure. */
export const SERVER_VARIANTS = [
  'express:none',
  'express:ours',
  'express:ours-jwtkey',
  'express:clerk',
  'mastra:none',
  'mastra:ours',
  'mastra:floor',
  'mastra:peer',
] as const;
export type ServerVariant = (typeof SERVER_VARIANTS)[number];

/** What the parent hands the child: the variant and the test issuer's public coordinates. */
export interface ServerConfig {
  variant: ServerVariant;
  authOptions: { publishableKey: string; jwksUri: string; issuer: string; authorizedParties: string[] };
  jwksUri: string;
  jwtKey: string;
  publishableKey: string;
  secretKey: string;
  authorizedParty: string;
}

/** Cumulative counters of the child, read twice around a measurement. */
export interface ServerSnapshot {
  /** `process.cpuUsage()`: user and system CPU µs of the whole process (all threads) since start. */
  user: number;
  system: number;
  /** Requests the HTTP server received since start. */
  served: number;
}

export type ParentMessage = { type: 'snapshot'; id: number } | { type: 'exit' };
export type ChildMessage =
  | { type: 'ready'; port: number }
  | { type: 'error'; message: string }
  | { type: 'snapshot'; id: number; snapshot: ServerSnapshot };

/** The body every Express variant answers on `GET /hello`: the same shape, signed in or not. */
function hello(res: Response, userId: string | null): void {
  res.json({ hello: 'world', userId });
}

async function expressApp(config: ServerConfig): Promise<Express> {
  const { default: express } = await import('express');
  const app = express();
  switch (config.variant) {
    case 'express:none': {
      app.get('/hello', (_req: Request, res: Response) => hello(res, null));
      break;
    }
    case 'express:ours':
    case 'express:ours-jwtkey': {
      const { clerkMastraAuth, getClerkAuth } = (await import('./package.js')).pkg;
      const options =
        config.variant === 'express:ours' ? { ...config.authOptions, env: {}, logger: false as const } : { jwtKey: config.jwtKey, env: {}, logger: false as const };
      app.use(clerkMastraAuth(options));
      // The same read as the @clerk/express route below: the user id from the request's AuthObject.
      app.get('/hello', (req: Request, res: Response) => hello(res, getClerkAuth(req).userId));
      break;
    }
    case 'express:clerk': {
      const { clerkMiddleware, getAuth } = await import('@clerk/express');
      app.use(
        clerkMiddleware({
          publishableKey: config.publishableKey,
          secretKey: config.secretKey,
          jwtKey: config.jwtKey,
          authorizedParties: [config.authorizedParty],
        }),
      );
      app.get('/hello', (req: Request, res: Response) => {
        const { userId } = getAuth(req);
        if (userId === null) {
          res.status(401).json({ error: 'unauthenticated' });
          return;
        }
        hello(res, userId);
      });
      break;
    }
    default:
      throw new Error(`http-server: ${config.variant} is not an Express variant`);
  }
  return app;
}

async function mastraApp(config: ServerConfig): Promise<Express> {
  const { default: express } = await import('express');
  const { MastraServer } = await import('@mastra/express');
  const example = await import('../examples/mastra/index.js');
  let mastra;
  switch (config.variant) {
    case 'mastra:none': {
      const { Mastra } = await import('@mastra/core/mastra');
      // createMastra() without `server.auth`: the same agents, tools and workflows, so `/api/agents` answers the same.
      mastra = new Mastra({
        agents: { weatherAgent: example.weatherAgent },
        tools: { weatherTool: example.weatherTool },
        workflows: { weatherWorkflow: example.weatherWorkflow },
        logger: false,
      });
      break;
    }
    case 'mastra:ours': {
      const { MastraAuthClerk } = (await import('./package.js')).pkgMastra;
      mastra = example.createMastra(new MastraAuthClerk({ ...config.authOptions, env: {}, logger: false }));
      break;
    }
    case 'mastra:floor': {
      // What Mastra's own auth step costs with a provider that does no work: any bearer token is "user_floor".
      const { MastraAuthProvider } = await import('@mastra/core/server');
      class TrivialProvider extends MastraAuthProvider<{ sub: string }> {
        constructor() {
          super({ name: 'trivial' });
          this.mapUserToResourceId = (user: { sub: string }) => user.sub;
        }
        override async authenticateToken(token: string): Promise<{ sub: string } | null> {
          return token ? { sub: 'user_floor' } : null;
        }
        override authorizeUser(): boolean {
          return true;
        }
      }
      mastra = example.createMastra(new TrivialProvider());
      break;
    }
    case 'mastra:peer': {
      const { MastraAuthClerk } = await import('@mastra/auth-clerk');
      mastra = example.createMastra(
        new MastraAuthClerk({ jwksUri: config.jwksUri, secretKey: config.secretKey, publishableKey: config.publishableKey }) as never,
      );
      break;
    }
    default:
      throw new Error(`http-server: ${config.variant} is not a Mastra variant`);
  }
  const app = express();
  app.use(express.json());
  await new MastraServer({ app, mastra, prefix: '/api' }).init();
  return app;
}

function send(message: ChildMessage): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  if (!process.send) throw new Error('http-server: start me with child_process.fork (an IPC channel is needed)');
  const raw = process.env.BENCH_HTTP_SERVER;
  if (!raw) throw new Error('http-server: BENCH_HTTP_SERVER (JSON config) is not set');
  const config = JSON.parse(raw) as ServerConfig;
  if (!SERVER_VARIANTS.includes(config.variant)) throw new Error(`http-server: unknown variant ${String(config.variant)}`);

  const app = config.variant.startsWith('express:') ? await expressApp(config) : await mastraApp(config);
  let served = 0;
  const server: Server = createServer(app);
  server.on('request', () => {
    served++;
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('http-server: no TCP address');

  const shutdown = (): void => {
    server.closeAllConnections();
    server.close();
    // process.exit() still writes a `--cpu-prof` profile.
    process.exit(0);
  };
  process.on('disconnect', shutdown);
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'exit') shutdown();
    else if (message.type === 'snapshot') {
      const cpu = process.cpuUsage();
      const snapshot: ServerSnapshot = {
        user: cpu.user,
        system: cpu.system,
        served,
      };
      send({ type: 'snapshot', id: message.id, snapshot });
    }
  });
  send({ type: 'ready', port: address.port });
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  if (process.send) send({ type: 'error', message });
  else console.error(message);
  // Let the IPC message flush before exiting.
  setTimeout(() => process.exit(1), 100);
});
