/**
 * Sections "http" and "mastra": one route served over real HTTP, without auth, with ours and with the peers, in
 * one run.
 *
 * - "http": `GET /hello` on Express 5 (a JSON answer with the user id): no auth; `clerkMastraAuth()` in JWKS mode
 *   (keys fetched once in the warm-up) and with `jwtKey`; `@clerk/express` `clerkMiddleware()` (networkless,
 *   `jwtKey`) followed by `getAuth(req).userId` (401 when null).
 * - "mastra": `GET /api/agents` of the example Mastra mounted in Express by `@mastra/express`: no auth; our
 *   `MastraAuthClerk`; `@mastra/auth-clerk`'s `MastraAuthClerk` (JWKS on loopback, fetched on every request).
 *
 * Method: every server variant runs in its own child process (`bench/http-server.ts`), all started up front and
 * idle while another is measured; the load generator (autocannon, programmatic) runs in this process, as does the
 * test issuer serving the JWKS. Clients reuse their tokens (the target scenario): a pool of distinct valid tokens
 * (1 h lifetime), every connection cycling through the pool. Each variant is checked first (a request with a token
 * answers 200 with the right user, one without answers 401), warmed up once, then measured `rounds` times,
 * interleaved, `seconds` each; the tables show medians. The server's cost per request is its CPU time
 * (`process.cpuUsage()` delta in the child, all threads) divided by the requests it served in the measured window:
 * on a 2-core machine the load generator often limits requests/s before the server does, and CPU per request is
 * what the middleware changes. Only ratios within one run mean anything.
 *
 * Knobs (environment): `BENCH_HTTP_ROUNDS` (5), `BENCH_HTTP_SECONDS` (2), `BENCH_HTTP_WARMUP_SECONDS` (2),
 * `BENCH_HTTP_CONNECTIONS` (32), `BENCH_HTTP_TOKENS` (50), `BENCH_HTTP_PROFILE=<dir>` (every server child runs with
 * `--cpu-prof` and writes its profiles into `<dir>/<variant>/` when it stops; the largest is the main thread's).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon, { type AutocannonRequest } from 'autocannon';
import { createTestIssuer, type TestIssuer } from '../src/testing/index.js';
import type { ChildMessage, ParentMessage, ServerConfig, ServerSnapshot, ServerVariant } from './http-server.js';
import {
  evaluate,
  formatNumber,
  heading,
  median,
  printTable,
  ratioLine,
  spreadPercent,
  type Cell,
  type Check,
  type CheckResult,
  type SectionReport,
} from './lib.js';

export interface HttpSectionOptions {
  /** Measured rounds after the warm-up (default 5, env `BENCH_HTTP_ROUNDS`). */
  rounds?: number;
  /** Seconds of one measurement (default 2, env `BENCH_HTTP_SECONDS`). */
  seconds?: number;
  /** Seconds of the one warm-up run per variant (default 2, env `BENCH_HTTP_WARMUP_SECONDS`). */
  warmupSeconds?: number;
  /** autocannon connections (default 32, env `BENCH_HTTP_CONNECTIONS`). */
  connections?: number;
  /** Distinct valid tokens the clients cycle through (default 50, env `BENCH_HTTP_TOKENS`). */
  tokens?: number;
  out?: (line: string) => void;
}

const envNumber = (name: string): number | undefined => {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : undefined;
};

const SERVER_SCRIPT = fileURLToPath(new URL('./http-server.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A variant failed its pre-flight check or did not start: the section is aborted with this message. */
class SetupError extends Error {}

// ---------------------------------------------------------------------------------------------------------------
// Server child processes
// ---------------------------------------------------------------------------------------------------------------

interface VariantSpec {
  variant: ServerVariant;
  /** Row label. */
  name: string;
  note: string;
  /** Answers 401 without a token (every variant but "no auth"). */
  auth: boolean;
  /** The body carries `userId`, checked against the token's subject. */
  userIdInBody: boolean;
}

const OUTPUT_TAIL = 16_384;

class ServerProcess {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (s: ServerSnapshot) => void; reject: (e: Error) => void }>();
  private output = '';
  private exited = false;
  /** Requests served at the last snapshot (reported with the profiles). */
  served = 0;

  private constructor(
    readonly spec: VariantSpec,
    private readonly child: ChildProcess,
  ) {
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString('utf8')).slice(-OUTPUT_TAIL);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('message', (message: ChildMessage) => {
      if (message.type !== 'snapshot') return;
      const waiter = this.waiting.get(message.id);
      this.waiting.delete(message.id);
      this.served = message.snapshot.served;
      waiter?.resolve(message.snapshot);
    });
    child.on('exit', (code, signal) => {
      this.exited = true;
      const error = new Error(`bench: server ${spec.name} exited (code ${code}, signal ${signal})\n${this.output}`);
      for (const waiter of this.waiting.values()) waiter.reject(error);
      this.waiting.clear();
    });
  }

  port = 0;

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Forks `bench/http-server.ts` under tsx and resolves once it listens. */
  static start(spec: VariantSpec, config: ServerConfig, profileDir: string | undefined): Promise<ServerProcess> {
    const execArgv = ['--import', 'tsx'];
    if (profileDir) {
      // One directory per variant: tsx's loader thread writes a profile of its own next to the main thread's.
      execArgv.push('--cpu-prof', `--cpu-prof-dir=${join(profileDir, spec.variant.replace(':', '-'))}`);
    }
    const child = fork(SERVER_SCRIPT, [], {
      cwd: REPO_ROOT,
      execArgv,
      env: { ...process.env, BENCH_HTTP_SERVER: JSON.stringify(config) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const server = new ServerProcess(spec, child);
    return new Promise<ServerProcess>((resolve, reject) => {
      const fail = (message: string): void => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        void server.stop();
        reject(new SetupError(`${spec.name}: the server did not start: ${message}\n${server.output}`.trimEnd()));
      };
      const timer = setTimeout(() => fail('no "ready" within 60 s'), 60_000);
      const onMessage = (message: ChildMessage): void => {
        if (message.type === 'ready') {
          clearTimeout(timer);
          child.off('message', onMessage);
          child.off('exit', onExit);
          server.port = message.port;
          resolve(server);
        } else if (message.type === 'error') fail(message.message);
      };
      const onExit = (code: number | null): void => fail(`exited with code ${code}`);
      child.on('message', onMessage);
      child.on('exit', onExit);
    });
  }

  /** The child's cumulative CPU time and requests served. */
  snapshot(): Promise<ServerSnapshot> {
    if (this.exited) return Promise.reject(new Error(`bench: server ${this.spec.name} is not running\n${this.output}`));
    const id = this.nextId++;
    return new Promise<ServerSnapshot>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.child.send({ type: 'snapshot', id } satisfies ParentMessage);
    });
  }

  /** Asks the child to exit (it writes its `--cpu-prof` profile then); kills it after 5 s. */
  async stop(): Promise<void> {
    if (this.exited || this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    try {
      if (this.child.connected) this.child.send({ type: 'exit' } satisfies ParentMessage);
    } catch {
      // the channel is gone: the kill below ends it
    }
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Pre-flight checks
// ---------------------------------------------------------------------------------------------------------------

/** One plain request on a fresh connection (no agent, nothing left open). */
function get(port: number, path: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, agent: false, headers: token ? { authorization: `Bearer ${token}` } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

function userIdOf(body: string): unknown {
  try {
    return (JSON.parse(body) as { userId?: unknown }).userId;
  } catch {
    return undefined;
  }
}

/** With a token: 200 (and the token's user); without: 401 for the auth variants. Returns the body with a token. */
async function preflight(server: ServerProcess, path: string, tokens: { check: string; pool: string; poolUser: string }): Promise<string> {
  const { spec, port } = server;
  const short = (body: string): string => (body.length > 200 ? `${body.slice(0, 200)}...` : body);
  for (const [token, user] of [
    [tokens.check, 'user_check'],
    [tokens.pool, tokens.poolUser],
  ] as const) {
    const { status, body } = await get(port, path, token);
    if (status !== 200) {
      throw new SetupError(`${spec.name}: GET ${path} with a valid token (${user}) answered ${status} ${short(body)}, expected 200`);
    }
    if (spec.userIdInBody && userIdOf(body) !== user) {
      throw new SetupError(`${spec.name}: GET ${path} with a valid token answered userId ${String(userIdOf(body))}, expected ${user}`);
    }
  }
  const anonymous = await get(port, path);
  const expected = spec.auth ? 401 : 200;
  if (anonymous.status !== expected) {
    throw new SetupError(`${spec.name}: GET ${path} without a token answered ${anonymous.status} ${short(anonymous.body)}, expected ${expected}`);
  }
  return (await get(port, path, tokens.check)).body;
}

// ---------------------------------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------------------------------

interface Sample {
  /** Responses per second seen by autocannon. */
  rps: number;
  /** Server process CPU µs (user + system, all threads) per request served in the window. */
  cpuPerReq: number;
  p99: number;
  non2xx: number;
  errors: number;
  jwksPerReq: number;
}

interface RunSettings {
  path: string;
  connections: number;
  tokens: readonly string[];
  issuer: TestIssuer;
}

/** A fresh request list per run (autocannon writes prebuilt buffers into it): every connection cycles the pool. */
function requestsFor(settings: RunSettings): AutocannonRequest[] {
  return settings.tokens.map((token) => ({ method: 'GET', path: settings.path, headers: { authorization: `Bearer ${token}` } }));
}

async function measure(server: ServerProcess, seconds: number, settings: RunSettings): Promise<Sample> {
  settings.issuer.resetJwksFetchCount();
  const before = await server.snapshot();
  const result = await autocannon({
    url: `http://127.0.0.1:${server.port}`,
    connections: settings.connections,
    duration: seconds,
    requests: requestsFor(settings),
  });
  const after = await server.snapshot();
  const jwksFetches = settings.issuer.jwksFetchCount;
  const served = Math.max(1, after.served - before.served);
  return {
    rps: result.requests.total / result.duration,
    cpuPerReq: (after.user + after.system - before.user - before.system) / served,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    jwksPerReq: jwksFetches / served,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// One section
// ---------------------------------------------------------------------------------------------------------------

interface SectionDef {
  title: string;
  path: string;
  variants: readonly VariantSpec[];
  /** The bodies of every variant with a token must be identical (same work behind the auth step). */
  sameBody: boolean;
  /** Targets from the per-variant medians. */
  checks(req: (name: string) => number, cpu: (name: string) => number): Check[];
  /** Extra lines after the table (e.g. the auth overhead per request). */
  footer?(cpu: (name: string) => number, out: (line: string) => void): void;
}

async function runSection(def: SectionDef, options: HttpSectionOptions): Promise<SectionReport> {
  const out = options.out ?? console.log;
  const rounds = options.rounds ?? envNumber('BENCH_HTTP_ROUNDS') ?? 5;
  const seconds = options.seconds ?? envNumber('BENCH_HTTP_SECONDS') ?? 2;
  const warmupSeconds = options.warmupSeconds ?? envNumber('BENCH_HTTP_WARMUP_SECONDS') ?? 2;
  const connections = options.connections ?? envNumber('BENCH_HTTP_CONNECTIONS') ?? 32;
  const tokenCount = Math.round(options.tokens ?? envNumber('BENCH_HTTP_TOKENS') ?? 50);
  const profileDir = process.env.BENCH_HTTP_PROFILE || undefined;
  const { title } = def;
  heading(title, out);

  const sectionStart = performance.now();
  const issuer = await createTestIssuer();
  const servers: ServerProcess[] = [];
  try {
    const tokens = await Promise.all(
      Array.from({ length: tokenCount }, (_, i) => issuer.mintToken({}, { userId: `user_${i}`, expiresInSeconds: 3600 })),
    );
    const checkToken = await issuer.mintToken({}, { userId: 'user_check', expiresInSeconds: 3600 });
    const base = {
      authOptions: issuer.authOptions,
      jwksUri: issuer.jwksUri,
      jwtKey: issuer.jwtKey,
      publishableKey: issuer.publishableKey,
      secretKey: issuer.secretKey,
      authorizedParty: issuer.authorizedParty,
    };

    // All servers start together (tsx compiles each on its own); they idle while another one is measured.
    const started = await Promise.allSettled(def.variants.map((spec) => ServerProcess.start(spec, { ...base, variant: spec.variant }, profileDir)));
    for (const s of started) if (s.status === 'fulfilled') servers.push(s.value);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    const setupMs = performance.now() - sectionStart;

    // Pre-flight, before anything is timed: every variant answers 200 with the token's user, 401 without a token.
    const last = tokens.length - 1;
    const bodies = new Map<string, string>();
    for (const server of servers) {
      bodies.set(server.spec.name, await preflight(server, def.path, { check: checkToken, pool: tokens[last]!, poolUser: `user_${last}` }));
    }
    const reference = bodies.get(def.variants[0]!.name)!;
    const differing = def.sameBody ? [...bodies].filter(([, body]) => body !== reference).map(([name]) => name) : [];

    out(
      `node ${process.version}, ${cpus().length} cpus (${cpus()[0]?.model.trim() ?? '?'}); GET ${def.path}, one child process per ` +
        `server variant (pids ${servers.map((s) => s.pid).join(', ')}), autocannon and the JWKS issuer in this process`,
    );
    out(
      `${connections} connections cycling ${tokens.length} valid tokens (1 h lifetime, reused), ${rounds} rounds x ${seconds} s ` +
        `after a ${warmupSeconds} s warm-up per variant, interleaved; setup ${Math.round(setupMs)} ms` +
        (profileDir ? `; servers profiled into ${profileDir}` : ''),
    );
    if (differing.length > 0) out(`  WARNING: the body with a token differs from ${def.variants[0]!.name}'s for: ${differing.join(', ')}`);

    const settings: RunSettings = { path: def.path, connections, tokens, issuer };
    const benchStart = performance.now();
    // Warm-up: JIT, connection handling, and for ours the one JWKS fetch and the token cache. Discarded.
    for (const server of servers) await measure(server, warmupSeconds, settings);

    const samples = new Map<string, Sample[]>(def.variants.map((v) => [v.name, []]));
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < servers.length; k++) {
        const server = servers[(k + round) % servers.length]!;
        samples.get(server.spec.name)!.push(await measure(server, seconds, settings));
      }
      if (process.stdout.isTTY) process.stdout.write(`\r  round ${round + 1}/${rounds} done`);
    }
    if (process.stdout.isTTY) process.stdout.write('\r\x1b[K');
    out(`measured in ${((performance.now() - benchStart) / 1000).toFixed(1)} s (median of ${rounds} rounds; ±% = half the min-max range)`);
    out('');

    const of = (name: string, key: keyof Sample): number[] => samples.get(name)!.map((s) => s[key]);
    const req = (name: string): number => median(of(name, 'rps'));
    const cpu = (name: string): number => median(of(name, 'cpuPerReq'));
    const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
    const rows: Cell[][] = def.variants.map((v) => [
      v.name,
      req(v.name),
      `${formatNumber(spreadPercent(of(v.name, 'rps')), 0)}%`,
      formatNumber(cpu(v.name), 1),
      `${formatNumber(spreadPercent(of(v.name, 'cpuPerReq')), 0)}%`,
      formatNumber(median(of(v.name, 'p99')), 1),
      sum(of(v.name, 'non2xx')).toString(),
      sum(of(v.name, 'errors')).toString(),
      formatNumber(median(of(v.name, 'jwksPerReq')), 3),
    ]);
    printTable(
      ['variant', 'req/s', '±%', 'server CPU µs/req', '±%', 'p99 ms', 'non-2xx', 'errors', 'JWKS fetches/req'],
      rows,
      out,
    );
    out('');
    for (const v of def.variants) out(`  ${v.name}: ${v.note}`);
    for (const v of def.variants) {
      const non2xx = sum(of(v.name, 'non2xx'));
      const errors = sum(of(v.name, 'errors'));
      if (non2xx > 0 || errors > 0) {
        out(`  WARNING: ${v.name} had ${non2xx} non-2xx responses and ${errors} errors/timeouts in the measured runs: its figures are not comparable`);
      }
    }
    def.footer?.(cpu, out);

    out('');
    out('targets:');
    // The same checks on each round alone (the variants of one round ran within seconds of each other): how
    // stable a verdict is on this machine.
    const perRound = Array.from({ length: rounds }, (_, r) =>
      def.checks(
        (name) => samples.get(name)![r]!.rps,
        (name) => samples.get(name)![r]!.cpuPerReq,
      ),
    );
    const checks: CheckResult[] = def.checks(req, cpu).map((check, i) => {
      const result = ratioLine(check, out);
      const ratios = perRound.map((list) => evaluate(list[i]!).ratio);
      out(`          per round: ${ratios.map((ratio) => `${formatNumber(ratio, 2)}x`).join(', ')}`);
      return result;
    });
    out(`section ${((performance.now() - sectionStart) / 1000).toFixed(1)} s`);
    return { title, checks };
  } catch (error) {
    if (!(error instanceof SetupError)) throw error;
    out('');
    out(`ABORTED: ${error.message}`);
    process.exitCode = 1;
    return {
      title,
      checks: [evaluate({ label: 'section aborted (a variant failed its pre-flight check, see above)', numerator: 0, denominator: 1, op: '>=', target: 1 })],
    };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await issuer.close();
    if (profileDir) {
      for (const s of servers) out(`  profile: ${join(profileDir, s.spec.variant.replace(':', '-'))}/ (${s.served} requests served in all)`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The two sections
// ---------------------------------------------------------------------------------------------------------------

const EXPRESS = {
  none: 'no auth',
  ours: 'ours clerkMastraAuth (JWKS)',
  oursPem: 'ours clerkMastraAuth (jwtKey)',
  clerk: '@clerk/express clerkMiddleware',
} as const;

const overhead = (cpu: (name: string) => number, none: string, names: readonly string[], out: (line: string) => void): void => {
  out('');
  out(
    `auth cost per request (server CPU µs/req minus "${none}"): ` +
      names.map((name) => `${name} ${formatNumber(cpu(name) - cpu(none), 1)} µs`).join(', '),
  );
};

/** Section "http": `GET /hello` on Express, no auth vs ours vs `@clerk/express`. */
export function httpSection(options: HttpSectionOptions = {}): Promise<SectionReport> {
  return runSection(
    {
      title: 'http: Express GET /hello, requests/s and server CPU per request',
      path: '/hello',
      sameBody: false,
      variants: [
        { variant: 'express:none', name: EXPRESS.none, note: "app.get('/hello') alone, answers { hello, userId: null }", auth: false, userIdInBody: false },
        {
          variant: 'express:ours',
          name: EXPRESS.ours,
          note: 'app.use(clerkMastraAuth({ ...issuer.authOptions })) (JWKS fetched in the warm-up, iss and azp checked), route reads getClerkAuth(req).userId',
          auth: true,
          userIdInBody: true,
        },
        {
          variant: 'express:ours-jwtkey',
          name: EXPRESS.oursPem,
          note: 'app.use(clerkMastraAuth({ jwtKey })), networkless, same route',
          auth: true,
          userIdInBody: true,
        },
        {
          variant: 'express:clerk',
          name: EXPRESS.clerk,
          note: 'clerkMiddleware({ publishableKey, secretKey, jwtKey, authorizedParties }) (networkless), route: getAuth(req).userId, 401 when null',
          auth: true,
          userIdInBody: true,
        },
      ],
      checks: (req, cpu) => [
        { label: 'req/s: ours (JWKS) / no auth', numerator: req(EXPRESS.ours), denominator: req(EXPRESS.none), op: '>=', target: 0.8 },
        { label: 'req/s: ours (JWKS) / @clerk/express', numerator: req(EXPRESS.ours), denominator: req(EXPRESS.clerk), op: '>=', target: 2.5 },
        {
          label: 'req/s: ours (jwtKey) / no auth',
          numerator: req(EXPRESS.oursPem),
          denominator: req(EXPRESS.none),
          op: '>=',
          target: 0.8,
          informational: true,
        },
        {
          label: 'req/s: ours (jwtKey) / @clerk/express',
          numerator: req(EXPRESS.oursPem),
          denominator: req(EXPRESS.clerk),
          op: '>=',
          target: 2.5,
          informational: true,
        },
        {
          label: 'server CPU/req: no auth / ours (JWKS)',
          numerator: cpu(EXPRESS.none),
          denominator: cpu(EXPRESS.ours),
          op: '>=',
          target: 0.8,
          informational: true,
        },
        {
          label: 'server CPU/req: @clerk/express / ours (JWKS)',
          numerator: cpu(EXPRESS.clerk),
          denominator: cpu(EXPRESS.ours),
          op: '>=',
          target: 2.5,
          informational: true,
        },
      ],
      footer: (cpu, out) => overhead(cpu, EXPRESS.none, [EXPRESS.ours, EXPRESS.oursPem, EXPRESS.clerk], out),
    },
    options,
  );
}

const MASTRA = {
  none: 'no auth',
  ours: 'ours MastraAuthClerk',
  floor: 'floor: provider doing nothing',
  peer: '@mastra/auth-clerk MastraAuthClerk',
} as const;

/** Section "mastra": `GET /api/agents` of Mastra mounted in Express, no auth vs ours vs `@mastra/auth-clerk`. */
export function mastraSection(options: HttpSectionOptions = {}): Promise<SectionReport> {
  return runSection(
    {
      title: 'mastra: GET /api/agents (Mastra in Express), requests/s and server CPU per request',
      path: '/api/agents',
      sameBody: true,
      variants: [
        {
          variant: 'mastra:none',
          name: MASTRA.none,
          note: 'new Mastra({ agents, tools, workflows }) without server.auth (createMastra minus the provider)',
          auth: false,
          userIdInBody: false,
        },
        {
          variant: 'mastra:ours',
          name: MASTRA.ours,
          note: 'createMastra(new MastraAuthClerk({ ...issuer.authOptions })) from ../src (JWKS fetched in the warm-up)',
          auth: true,
          userIdInBody: false,
        },
        {
          variant: 'mastra:floor',
          name: MASTRA.floor,
          note: "createMastra(a MastraAuthProvider whose authenticateToken returns a fixed user): Mastra's own auth step, the floor of any provider",
          auth: true,
          userIdInBody: false,
        },
        {
          variant: 'mastra:peer',
          name: MASTRA.peer,
          note: "createMastra(new MastraAuthClerk({ jwksUri, secretKey, publishableKey })) from '@mastra/auth-clerk': a JWKS fetch per request (served by this process)",
          auth: true,
          userIdInBody: false,
        },
      ],
      checks: (req, cpu) => [
        { label: 'req/s: ours / @mastra/auth-clerk', numerator: req(MASTRA.ours), denominator: req(MASTRA.peer), op: '>=', target: 2 },
        { label: 'req/s: ours / no auth', numerator: req(MASTRA.ours), denominator: req(MASTRA.none), op: '>=', target: 0.8 },
        {
          label: 'server CPU/req: @mastra/auth-clerk / ours',
          numerator: cpu(MASTRA.peer),
          denominator: cpu(MASTRA.ours),
          op: '>=',
          target: 2,
          informational: true,
        },
        {
          label: 'server CPU/req: no auth / ours',
          numerator: cpu(MASTRA.none),
          denominator: cpu(MASTRA.ours),
          op: '>=',
          target: 0.8,
          informational: true,
        },
        {
          label: 'req/s: ours / floor (a provider doing nothing)',
          numerator: req(MASTRA.ours),
          denominator: req(MASTRA.floor),
          op: '>=',
          target: 0.9,
          informational: true,
        },
      ],
      footer: (cpu, out) => {
        overhead(cpu, MASTRA.none, [MASTRA.ours, MASTRA.floor, MASTRA.peer], out);
        out(`ours above the floor (the verification itself, served from the token cache): ${formatNumber(cpu(MASTRA.ours) - cpu(MASTRA.floor), 1)} µs/req`);
      },
    },
    options,
  );
}
