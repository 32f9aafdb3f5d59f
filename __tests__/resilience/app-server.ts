/**
 * The app side of the resilience run (`npm run test:resilience`, driver: `./run.ts`): the example app of
 * `examples/app.ts` (Express routes and Mastra under `/api`, one `createClerkAuth()`), listening on 127.0.0.1 in its
 * own process, so its RSS, its event loop and its unhandled rejections are its own.
 *
 * Not a Jest file (no `.test.ts`): plain `npm test` never runs it. Started by the driver with
 * `fork(..., { execArgv: ['--import', 'tsx'] })` and its configuration in `RESILIENCE_APP` (JSON, {@link AppConfig}).
 * IPC:
 * - child -> parent `{ type: 'ready', port }` once listening, or `{ type: 'error', message }`;
 * - parent -> child `{ type: 'stats', id }`, answered with `{ type: 'stats', id, stats }` ({@link AppStats});
 * - parent -> child `{ type: 'exit' }`: closes the server and exits. The child also exits when the IPC channel closes.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../examples/app.js';
import type { ClerkAuthOptions, JwksOptions } from '../../src/index.js';

export interface AppConfig {
  authOptions: { publishableKey: string; jwksUri: string; issuer: string; authorizedParties: string[] };
  jwks: JwksOptions;
  /** Substrings that must never appear in a log line (the random-kid prefix; every token starts with `eyJ`). */
  secrets: string[];
}

export interface AppStats {
  rss: number;
  peakRss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** Whether a full garbage collection ran just before (`gc: true` and the child runs with --expose-gc). */
  collected: boolean;
  /** Log lines by level. */
  logs: Record<'debug' | 'info' | 'warn' | 'error', number>;
  /** Up to 20 distinct warn/error lines. */
  samples: string[];
  /** Log lines that contained a token or a kid sent by the load generator. */
  leaks: string[];
  unhandledRejections: string[];
  uncaughtExceptions: string[];
  /** Responses the app finished, by status (Node's own 431s never reach the app). */
  statuses: Record<string, number>;
}

export type AppParentMessage = { type: 'stats'; id: number; gc?: boolean } | { type: 'exit' };
export type AppChildMessage =
  | { type: 'ready'; port: number }
  | { type: 'error'; message: string }
  | { type: 'stats'; id: number; stats: AppStats };

const config = JSON.parse(process.env.RESILIENCE_APP ?? 'null') as AppConfig | null;
const send = (message: AppChildMessage): void => {
  process.send?.(message);
};

const unhandledRejections: string[] = [];
const uncaughtExceptions: string[] = [];
process.on('unhandledRejection', (reason) => {
  if (unhandledRejections.length < 20) unhandledRejections.push(String((reason as Error)?.stack ?? reason).slice(0, 500));
});
process.on('uncaughtException', (error) => {
  if (uncaughtExceptions.length < 20) uncaughtExceptions.push(String(error?.stack ?? error).slice(0, 500));
});

const logs = { debug: 0, info: 0, warn: 0, error: 0 };
const samples = new Set<string>();
const leaks: string[] = [];
const capture =
  (level: keyof typeof logs) =>
  (line: string): void => {
    logs[level] += 1;
    if (config?.secrets.some((secret) => line.includes(secret)) && leaks.length < 10) leaks.push(line.slice(0, 300));
    if (level !== 'debug' && samples.size < 20) samples.add(`${level}: ${line.slice(0, 300)}`);
  };

let peakRss = process.memoryUsage.rss();
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 100);
sampler.unref();

const statuses: Record<string, number> = {};

async function main(): Promise<void> {
  if (!config) throw new Error('RESILIENCE_APP is not set');
  const options: ClerkAuthOptions = {
    ...config.authOptions,
    env: {},
    logger: { debug: capture('debug'), info: capture('info'), warn: capture('warn'), error: capture('error') },
    jwks: config.jwks,
  };
  const { app } = await createApp(options);
  const server = createServer(app);
  server.on('request', (_req, res) => {
    res.on('finish', () => {
      statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });

  const exit = (): void => {
    clearInterval(sampler);
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('message', (message: AppParentMessage) => {
    if (message.type === 'exit') exit();
    if (message.type === 'stats') {
      const gc = (globalThis as { gc?: () => void }).gc;
      const collected = message.gc === true && typeof gc === 'function';
      if (collected) gc!();
      const memory = process.memoryUsage();
      peakRss = Math.max(peakRss, memory.rss);
      send({
        type: 'stats',
        id: message.id,
        stats: {
          rss: memory.rss,
          peakRss,
          heapUsed: memory.heapUsed,
          heapTotal: memory.heapTotal,
          external: memory.external,
          arrayBuffers: memory.arrayBuffers,
          collected,
          logs: { ...logs },
          samples: [...samples],
          leaks: [...leaks],
          unhandledRejections: [...unhandledRejections],
          uncaughtExceptions: [...uncaughtExceptions],
          statuses: { ...statuses },
        },
      });
    }
  });
  process.on('disconnect', exit);
  send({ type: 'ready', port: (server.address() as AddressInfo).port });
}

main().catch((error: unknown) => {
  send({ type: 'error', message: String((error as Error)?.stack ?? error) });
  process.exit(1);
});
