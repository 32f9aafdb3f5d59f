/**
 * `npm start`: serves the mixed app (./app.ts: Express routes and Mastra under `/api`, one `createClerkAuth()`) on
 * `PORT` (default 4111) at 127.0.0.1, with the playground at `/` and a public `/health`.
 *
 * - No `CLERK_*` key variable: development mode. The embedded development issuer (./dev-issuer.ts) stands in for a
 *   Clerk development instance; its key pair is kept in `<DEMO_DATA_DIR or data>/dev-issuer.json` so tokens survive
 *   restarts. `POST /dev/token` gives the playground its tokens. Refused under `NODE_ENV=production`.
 * - `CLERK_PUBLISHABLE_KEY` (optionally `CLERK_SECRET_KEY`, `CLERK_JWKS_URI`, `CLERK_JWT_KEY`) set: the same app
 *   protected by real Clerk; it says which key source it uses, never a key.
 *
 * `npm run tour` is the scripted walk through the same app (./tour.ts). `--serve`, the old spelling of serving
 * (`npm start -- --serve`), is accepted: serving is what `npm start` does now.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import express, { type Request, type Response } from 'express';
import { ClerkAuthConfigError, type ClerkAuthOptions } from '../src/index.js';
import { cookieSuffixOf, resolveOptions } from '../src/core/options.js';
import { createApp } from './app.js';
import { clerkVariablesSet, dataDirOf, DemoError, DEV_USERS, loadDevIssuer, refuseProduction, type DevIssuer } from './dev-issuer.js';
import { createStorage } from './mastra/index.js';
import { buildPlayground } from './playground/index.js';

const env = process.env;
const HOST = '127.0.0.1';
// `--serve` is accepted and changes nothing; there are no other flags.
const unknown = process.argv.slice(2).filter((arg) => arg !== '--serve');
const cleanups: Array<() => Promise<void> | void> = [];

/** Prints one line and exits: the way every expected failure ends, never with a stack. */
function die(message: string, code = 1): never {
  console.error(message);
  process.exit(code);
}

function portOf(value: string | undefined): number {
  if (value === undefined || value === '') return 4111;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) die(`PORT must be a port number (1-65535), not "${value}".`);
  return port;
}

if (unknown.length > 0) die(`Unknown argument ${unknown[0]}: npm start takes no flags; set PORT, CLERK_* or DEMO_DATA_DIR instead.`, 2);

const port = portOf(env.PORT);
const base = `http://${HOST}:${port}`;
const clerkVariables = clerkVariablesSet(env);
const dev = clerkVariables.length === 0;
if (dev && env.NODE_ENV === 'production') {
  try {
    refuseProduction(env);
  } catch (error) {
    die((error as Error).message);
  }
}

// Bind the port first: a taken port is reported at once, before anything slow starts. Requests that arrive while
// the app is being built get a 503.
let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
  res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
  res.end('{"error":"starting","message":"The demo server is starting."}');
};
const server = createServer((req, res) => handler(req, res));
await new Promise<void>((resolve) => {
  server.once('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EADDRINUSE') die(`Port ${port} is taken (another npm start?). Pick another: PORT=${port + 1 > 65535 ? 4112 : port + 1} npm start`);
    if (error.code === 'EACCES') die(`Port ${port} needs privileges this user lacks. Pick another: PORT=4112 npm start`);
    die(`Cannot listen on ${HOST}:${port}: ${error.message}`);
  });
  server.listen(port, HOST, () => resolve());
});
cleanups.push(
  () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
);

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping the demo server...`);
  // Whatever hangs, the process ends within 3 s.
  setTimeout(() => process.exit(0), 3000).unref();
  for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
  console.log('Stopped.');
  process.exit(0);
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));

const log = (line: string) => console.log(`  log: ${line}`);

/** Headers a reverse proxy adds: a request carrying one came from elsewhere, whatever its Host says. */
const PROXY_HEADERS = ['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip', 'via'];

/** The `POST /dev/token` route: Clerk's frontend `getToken()` for the playground, development mode only. */
function devTokenRoute(issuer: DevIssuer | undefined) {
  const router = express.Router();
  const ownHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  router.post('/dev/token', express.json({ limit: '1kb' }), async (req: Request, res: Response) => {
    res.set('cache-control', 'no-store');
    if (!issuer) {
      res.status(404).json({
        error: 'dev-mode-only',
        message: "This server uses real Clerk: tokens come from Clerk's frontend, getToken() (window.Clerk.session.getToken()).",
      });
      return;
    }
    // The demo's own pages only: a page of another site (or a DNS-rebound name) gets nothing, nor a request passed on
    // by a proxy (which often keeps this server's own Host): development tokens are for this machine.
    const host = req.headers.host ?? '';
    const origin = req.headers.origin;
    const proxied = PROXY_HEADERS.some((name) => req.headers[name] !== undefined);
    if (!ownHosts.has(host) || (origin !== undefined && origin !== `http://${host}`) || proxied) {
      res.status(403).json({ error: 'dev-token-forbidden', message: 'Development tokens are for pages of this server only.' });
      return;
    }
    const name = (req.body as { user?: unknown } | undefined)?.user;
    if (!req.is('application/json') || typeof name !== 'string' || !Object.hasOwn(DEV_USERS, name)) {
      res.status(400).json({ error: 'request-invalid', message: `Send JSON { "user": one of ${Object.keys(DEV_USERS).join(', ')} }.` });
      return;
    }
    const user = DEV_USERS[name as keyof typeof DEV_USERS];
    const minted = await issuer.mint({ userId: user.userId, org: user.org, azp: `http://${host}`, expiresInSeconds: 60 });
    res.json({ token: minted.token, claims: minted.claims, expiresAt: minted.expiresAt.toISOString() });
  });
  return router;
}

/** Where the keys come from, in words; never the key itself. */
function keySourceOf(options: { kind: 'pem' } | { kind: 'jwks'; url: URL; headers?: Record<string, string> }): string {
  if (options.kind === 'pem') return 'CLERK_JWT_KEY (a PEM public key: networkless, no fetch)';
  if (options.headers) return `CLERK_SECRET_KEY (the Backend API's JWKS, ${options.url.origin}${options.url.pathname})`;
  // Origin and path only: whatever else a URL carries stays off the screen and the playground page.
  const where = `${options.url.origin}${options.url.pathname}`;
  if ((env.CLERK_JWKS_URI ?? '').trim()) return `CLERK_JWKS_URI (${where})`;
  return `CLERK_PUBLISHABLE_KEY (the JWKS of its Frontend API, ${where})`;
}

try {
  let issuer: DevIssuer | undefined;
  let options: ClerkAuthOptions;
  let keys: string;
  const lines: string[] = [];
  if (dev) {
    issuer = await loadDevIssuer({ dir: dataDirOf(env), env });
    cleanups.push(issuer.close);
    options = {
      publishableKey: issuer.publishableKey,
      jwksUri: issuer.jwksUri,
      issuer: issuer.issuer,
      // The playground's origins: a token asked for by another page (azp) is refused.
      authorizedParties: [base, `http://localhost:${port}`],
      logger: log,
      env: {},
    };
    keys = `the development issuer's JWKS, ${issuer.jwksUri}`;
    lines.push(
      'clerk-mastra-auth demo: DEVELOPMENT MODE (no CLERK_* variables set). Not for production.',
      `  An embedded development issuer stands in for a Clerk development instance: issuer ${issuer.issuer} (local only),`,
      `  JWKS ${issuer.jwksUri}, key pair ${issuer.created ? 'created in' : 'kept in'} ${issuer.keyFile} (git-ignored; tokens survive restarts).`,
    );
  } else {
    options = { logger: log };
    // Validated here (a bad key configuration ends in one line); the app validates it again, the same way.
    const resolved = resolveOptions(options);
    keys = keySourceOf(resolved.keySource);
    const parties = resolved.authorizedParties;
    lines.push(
      `clerk-mastra-auth demo: CLERK MODE (${clerkVariables.join(', ')} set): real Clerk session tokens only.`,
      `  Keys: ${keys}.`,
      `  Issuer: ${resolved.issuers?.join(', ') ?? '(not checked: set CLERK_PUBLISHABLE_KEY)'}; authorized parties: ${parties?.join(', ') ?? '(not checked: set CLERK_AUTHORIZED_PARTIES)'}.`,
    );
  }

  const storage = await createStorage(env);
  const publishableKey = issuer?.publishableKey ?? (env.CLERK_PUBLISHABLE_KEY ?? '').trim();
  const playground = await buildPlayground({
    mode: dev ? 'development' : 'clerk',
    users: Object.entries(DEV_USERS).map(([name, user]) => ({ name, label: user.label, userId: user.userId })),
    keys,
    cookieSuffix: publishableKey ? cookieSuffixOf(publishableKey) : undefined,
  });
  const { app } = await createApp(options, { storage, playground, publicRoutes: devTokenRoute(issuer) });
  handler = app;

  const agentUrl = `${base}/api/agents/weatherAgent/generate`;
  const body = `'{"messages": "London", "memory": {"thread": "curl-london"}}'`;
  lines.push('', `Serving on ${base} (127.0.0.1 only)`, `  Playground: ${base}/`, `  Health:     ${base}/health`, '');
  if (issuer) {
    const member = DEV_USERS.member;
    const minted = await issuer.mint({ userId: member.userId, org: member.org, azp: base, expiresInSeconds: 600 });
    const lifetime = Number(minted.claims.exp) - Number(minted.claims.iat);
    const until = minted.expiresAt.toLocaleTimeString('en-GB');
    lines.push(
      `The weather agent, as ${member.userId} (a development token: it lives ${lifetime / 60} minutes, until ${until};`,
      `Clerk's own live 60 s. \`npm run token\` makes fresh ones):`,
      `  curl -X POST ${agentUrl} \\`,
      `    -H "Content-Type: application/json" \\`,
      `    -H "Authorization: Bearer ${minted.token}" \\`,
      `    -d ${body}`,
      "(A memory thread is its first user's: with another user's token, name another thread; reusing it is a 403.)",
      '',
      'An Express route, same token:',
      `  curl ${base}/me -H "Authorization: Bearer ${minted.token}"`,
    );
  } else {
    lines.push(
      "Tokens come from Clerk's frontend: in your signed-in app, `await window.Clerk.session.getToken()` (React:",
      '`useAuth().getToken()`); they live 60 s. `npm run token` explains. Then:',
      "  TOKEN='paste a session token here'",
      `  curl -X POST ${agentUrl} \\`,
      `    -H "Content-Type: application/json" -H "Authorization: Bearer $TOKEN" \\`,
      `    -d ${body}`,
      `  curl ${base}/me -H "Authorization: Bearer $TOKEN"`,
    );
  }
  lines.push('', 'Ctrl-C stops the server.');
  console.log(lines.join('\n'));
} catch (error) {
  if (error instanceof DemoError || error instanceof ClerkAuthConfigError) die(error.message);
  throw error;
}
