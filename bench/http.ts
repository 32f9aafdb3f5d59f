/**
 * The HTTP sections: a route served over real HTTP by one child process per variant (bench/http-server.ts), all
 * started up front and idle while another is measured; autocannon (the load generator) and the test issuer serving
 * the JWKS run in this process. Each variant is checked first (200 and the token's user with a token, 401 without),
 * warmed up by one discarded round, then measured in interleaved rounds. Server CPU per request is the child's
 * `process.cpuUsage()` delta over the requests it served in the window.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import type { TestIssuer } from '../src/testing/index.js';
import type { ChildMessage, ServerConfig, Variant } from './http-server.js';
import { fmt, fmtStat, interleaved, knob, ratio, stat, table, type SectionResult, type Stat, type Target } from './lib.js';

interface ServerProcess {
  port: number;
  /** The child's cumulative CPU µs and requests served. */
  snapshot(): Promise<{ cpu: number; served: number }>;
  stop(): void;
}

async function startServer(config: ServerConfig): Promise<ServerProcess> {
  const child = fork(fileURLToPath(new URL('./http-server.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, BENCH_HTTP_SERVER: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  for (const stream of [child.stdout!, child.stderr!]) stream.on('data', (chunk: Buffer) => void (output = (output + chunk.toString()).slice(-8192)));
  const port = await new Promise<number>((resolve, reject) => {
    setTimeout(() => reject(new Error('no "ready" within 60 s')), 60_000).unref();
    child.on('message', (m: ChildMessage) => (m.type === 'ready' ? resolve(m.port) : m.type === 'error' && reject(new Error(m.message))));
    child.on('exit', (code) => reject(new Error(`exited with code ${code}`)));
  }).catch((error: Error) => {
    child.kill();
    throw new Error(`bench: server ${config.variant} did not start: ${error.message}\n${output}`);
  }).finally(() => child.removeAllListeners('message'));
  return {
    port,
    snapshot: () =>
      new Promise((resolve, reject) => {
        child.once('message', (m: ChildMessage) => (m.type === 'snapshot' ? resolve(m) : reject(new Error('bench: unexpected message'))));
        child.send('snapshot');
      }),
    stop() {
      if (child.connected) child.send('exit');
      setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
    },
  };
}

/** One request, for the checks before measuring. */
async function get(port: number, path: string, token?: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: await res.text() };
}

interface Contender {
  name: string;
  note: string;
  variant: Variant;
  workers?: number;
}

interface Sample {
  rps: number;
  cpuPerReq: number;
  p99: number;
  bad: number;
  jwksPerReq: number;
}

/** Reused tokens (a pool every connection cycles through) for `seconds`, or a storm: `amount` requests, each token once. */
type Load = { kind: 'reused'; tokens: readonly string[] } | { kind: 'storm'; tokens: readonly string[]; amount: number };

async function measure(server: ServerProcess, issuer: TestIssuer, path: string, load: Load, run: number): Promise<Sample> {
  const connections = knob('BENCH_CONNECTIONS', 32);
  let requests: autocannon.Request[];
  if (load.kind === 'reused') {
    requests = load.tokens.map((token) => ({ method: 'GET', path, headers: { authorization: `Bearer ${token}` } }));
  } else {
    // Run k of a variant takes slice k of the pool: a server never sees a token twice.
    const size = load.amount + 4 * connections;
    let next = run * size;
    const end = next + size; // past it, requests go without a token and count as non-2xx
    const setupRequest = (req: autocannon.Request): autocannon.Request => ({ ...req, headers: next < end ? { authorization: `Bearer ${load.tokens[next++]}` } : {} });
    requests = [{ method: 'GET', path, setupRequest }];
  }
  issuer.resetJwksFetchCount();
  const before = await server.snapshot();
  const duration = knob('BENCH_SECONDS', 2);
  // autocannon notices the end of a run at its next sample tick: 10 ms ticks keep `duration` exact enough.
  const until = load.kind === 'storm' ? { amount: load.amount } : { duration };
  const result = await autocannon({ url: `http://127.0.0.1:${server.port}`, connections, requests, sampleInt: 10, ...until });
  const after = await server.snapshot();
  const served = after.served - before.served;
  return {
    rps: result.requests.total / result.duration,
    cpuPerReq: (after.cpu - before.cpu) / served,
    p99: result.latency.p99,
    bad: result.non2xx + result.errors + result.timeouts,
    jwksPerReq: issuer.jwksFetchCount / served,
  };
}

/** Starts every variant, checks them, runs the rounds, stops them; the samples per variant name. */
async function runVariants(issuer: TestIssuer, path: string, variants: readonly Contender[], load: Load): Promise<Map<string, Sample[]>> {
  const base = { authOptions: issuer.authOptions, jwtKey: issuer.jwtKey, secretKey: issuer.secretKey };
  const started = await Promise.allSettled(variants.map((v) => startServer({ ...base, variant: v.variant, workers: v.workers })));
  const servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  try {
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    const check = await issuer.mintToken({}, { userId: 'user_check' });
    const bodies = new Set<string>();
    for (const [i, v] of variants.entries()) {
      const ok = await get(servers[i]!.port, path, check);
      const anonymous = await get(servers[i]!.port, path);
      const userId = path === '/hello' ? (JSON.parse(ok.body) as { userId: unknown }).userId : undefined;
      const auth = !/:(none|floor|floor-loaded)$/.test(v.variant); // a floor checks nothing, so lets everyone in
      if (ok.status !== 200 || (auth && path === '/hello' && userId !== 'user_check') || anonymous.status !== (auth ? 401 : 200)) {
        throw new Error(`bench: ${v.name} answered ${ok.status} ${ok.body.slice(0, 200)} with a token, ${anonymous.status} without`);
      }
      if (path !== '/hello') bodies.add(ok.body);
    }
    if (bodies.size > 1) throw new Error(`bench: the variants of ${path} answer different bodies`);
    const runs = new Map<number, number>();
    return await interleaved(variants.map((_, i) => i), knob('BENCH_ROUNDS', 5), 1, async (i) => {
      runs.set(i, (runs.get(i) ?? 0) + 1);
      return measure(servers[i]!, issuer, path, load, runs.get(i)! - 1);
    }).then((m) => new Map([...m].map(([i, samples]) => [variants[i]!.name, samples])));
  } finally {
    for (const s of servers) s.stop();
  }
}

/** Server CPU per request over `noAuth`'s, round by round (rounds are interleaved, so a burst of load hits both alike). */
function authCost(samples: Map<string, Sample[]>, name: string, noAuth: string): Stat {
  const base = samples.get(noAuth)!;
  return stat(samples.get(name)!.map((s, r) => s.cpuPerReq - base[r]!.cpuPerReq));
}

/** The table of a section: medians (min–max) and ratios against `reference`, the auth cost against `noAuth`. */
function report(variants: readonly Contender[], samples: Map<string, Sample[]>, reference: string, noAuth?: string, [ours, peer] = variants.slice(1).map((v) => v.name)): string[] {
  const of = (name: string, key: keyof Sample): number[] => samples.get(name)!.map((s) => s[key]);
  const med = (name: string, key: keyof Sample): number => stat(of(name, key)).median;
  const cost = (name: string): Stat => authCost(samples, name, noAuth!);
  // A cluster primary does not count requests: no CPU per request then.
  const cpu = variants.every((v) => of(v.name, 'cpuPerReq').every(Number.isFinite));
  const rows = variants.map((v) => [
    v.name,
    fmtStat(stat(of(v.name, 'rps'))),
    ratio(med(v.name, 'rps') / med(reference, 'rps')),
    ...(cpu ? [fmtStat(stat(of(v.name, 'cpuPerReq')), 1)] : []),
    ...(noAuth ? [v.name === noAuth ? '–' : fmtStat(cost(v.name), 1)] : []),
    fmt(med(v.name, 'p99'), 1),
    String(of(v.name, 'bad').reduce((a, b) => a + b, 0)),
  ]);
  const headers = ['variant', 'requests/s', `x ${reference}`, ...(cpu ? ['server CPU µs/request'] : []), ...(noAuth ? ['auth cost µs/request'] : []), 'p99 ms', 'non-2xx + errors'];
  const lines = [...table(headers, rows), '', ...variants.map((v) => `- ${v.name}: ${v.note}`)];
  if (noAuth && ours && peer) {
    const c = (name: string): string => fmt(cost(name).median, 1);
    lines.push(`- ${ours} against ${peer}: ${ratio(med(ours, 'rps') / med(peer, 'rps'))} the requests/s; auth cost ${c(ours)} µs against ${c(peer)} µs per request.`);
  }
  for (const v of variants) if (of(v.name, 'bad').some((b) => b > 0)) lines.push(`- WARNING: ${v.name} had non-2xx responses or errors: its figures are not comparable.`);
  return lines;
}

/** Runs the contenders and writes a section: title, method, table; `med` reads the medians. */
async function section(issuer: TestIssuer, title: string, path: string, contenders: readonly Contender[], load: Load, reference = NONE, noAuth: string | null = NONE) {
  const samples = await runVariants(issuer, path, contenders, load);
  const med = (name: string, key: keyof Sample): number => stat(samples.get(name)!.map((s) => s[key])).median;
  const cost = (name: string): number => authCost(samples, name, NONE).median;
  const loadText =
    load.kind === 'reused'
      ? `cycling ${load.tokens.length} valid tokens for ${knob('BENCH_SECONDS', 2)} s per run`
      : `${fmt(load.amount)} requests per run, each with its own pre-minted token (a disjoint slice of a ${fmt(load.tokens.length)}-token pool per run, the same slice for every variant)`;
  const method =
    `${knob('BENCH_CONNECTIONS', 32)} connections, ${loadText}; ${knob('BENCH_ROUNDS', 5)} rounds after a discarded warm-up round, interleaved. ` +
    'Each cell: median (min–max) over the rounds; ratios are of medians; auth cost = server CPU/request minus no auth, round by round.';
  return { lines: [`## ${title}`, '', method, '', ...report(contenders, samples, reference, noAuth ?? undefined)], med, cost, samples };
}

const NONE = 'no auth';
const OURS = 'ours clerkMastraAuth';
const CLERK = '@clerk/express clerkMiddleware';
const EXPRESS: Contender[] = [
  { name: NONE, variant: 'express:none', note: "app.get('/hello') alone, answers { hello, userId: null }" },
  { name: OURS, variant: 'express:ours', note: 'app.use(clerkMastraAuth(issuer.authOptions)): JWKS fetched once, iss and azp checked; the route reads getClerkAuth(req).userId' },
  { name: CLERK, variant: 'express:clerk', note: 'clerkMiddleware({ publishableKey, secretKey, jwtKey, authorizedParties }) (networkless); the route reads getAuth(req).userId' },
];

/** Auth that checks nothing: what the framework costs before any verification (last, so ours and the peer stay [1], [2]). */
const FLOOR = 'floor: sets req.auth, verifies nothing';
const LOADED = 'floor, package loaded';
const EXPRESS_HTTP: Contender[] = [
  ...EXPRESS,
  { name: FLOOR, variant: 'express:floor', note: 'app.use((req, res, next) => { req.auth = fn; next(); }): the one request property ours adds, nothing verified' },
  { name: LOADED, variant: 'express:floor-loaded', note: 'the floor in a process that has also loaded this package (one clerkMastraAuth() built, never called)' },
];

/** (b) Express `GET /hello`, clients reusing their tokens. */
export async function expressSection(issuer: TestIssuer, reused: readonly string[]): Promise<SectionResult> {
  const { lines, med, cost, samples } = await section(issuer, 'http: Express GET /hello, tokens reused', '/hello', EXPRESS_HTTP, { kind: 'reused', tokens: reused });
  const over = (name: string, base: string): string => fmtStat(authCost(samples, name, base), 1);
  lines.push(
    `- Where ours' auth cost goes, round by round: carrying the loaded modules (${LOADED} minus ${FLOOR}) ${over(LOADED, FLOOR)} µs; ` +
      `the per-request work (ours minus ${LOADED}) ${over(OURS, LOADED)} µs.`,
  );
  const targets: Target[] = [
    { label: 'Express, reused token: auth cost of ours (server CPU/request minus no auth, median of the rounds)', value: cost(OURS), op: '<=', limit: 5, unit: 'µs' },
    { label: 'Express, reused token: requests/s, ours / no auth', value: med(OURS, 'rps') / med(NONE, 'rps'), op: '>=', limit: 0.95, unit: 'x' },
    { label: 'Express, reused token: requests/s, ours / @clerk/express', value: med(OURS, 'rps') / med(CLERK, 'rps'), op: '>=', limit: 4, unit: 'x' },
  ];
  return { lines, targets };
}

/** (c) Mastra `GET /api/agents` mounted in Express by @mastra/express. */
export async function mastraSection(issuer: TestIssuer, reused: readonly string[]): Promise<SectionResult> {
  const [MASTRA_OURS, PEER] = ['ours MastraAuthClerk', '@mastra/auth-clerk MastraAuthClerk'];
  const variants: Contender[] = [
    { name: NONE, variant: 'mastra:none', note: 'new Mastra({ agents, tools, workflows }) without server.auth' },
    { name: MASTRA_OURS, variant: 'mastra:ours', note: 'createMastra(new MastraAuthClerk(issuer.authOptions)): JWKS fetched once' },
    { name: PEER, variant: 'mastra:peer', note: "createMastra(new MastraAuthClerk({ jwksUri, secretKey, publishableKey })) from '@mastra/auth-clerk': fetches the JWKS (served on loopback by the bench process) on every request" },
    { name: 'floor: accepts everyone, verifies nothing', variant: 'mastra:floor', note: "createMastra(a MastraAuthProvider whose authenticateToken returns one fixed user): Mastra's own auth pipeline (path patterns, a Web Request built per request, request context) with no verification" },
  ];
  const { lines, med } = await section(issuer, 'mastra: GET /api/agents (Mastra in Express), tokens reused', '/api/agents', variants, { kind: 'reused', tokens: reused });
  lines.push(`- JWKS fetches per request: ${variants.map((v) => `${v.name} ${fmt(med(v.name, 'jwksPerReq'), 2)}`).join(', ')}.`);
  const targets: Target[] = [
    { label: 'Mastra route: requests/s, ours / no auth', value: med(MASTRA_OURS, 'rps') / med(NONE, 'rps'), op: '>=', limit: 0.95, unit: 'x' },
    { label: 'Mastra route: requests/s, ours / @mastra/auth-clerk', value: med(MASTRA_OURS, 'rps') / med(PEER, 'rps'), op: '>=', limit: 2, unit: 'x' },
  ];
  return { lines, targets };
}

/** (d) A login storm: every request carries a token the server has never seen. */
export async function stormSection(issuer: TestIssuer, fresh: readonly string[]): Promise<SectionResult> {
  const load: Load = { kind: 'storm', tokens: fresh, amount: knob('BENCH_STORM_REQUESTS', 2000) };
  return { lines: (await section(issuer, 'storm: Express GET /hello, every request a never-seen token', '/hello', EXPRESS, load)).lines, targets: [] };
}

/** (e) Ours under node:cluster, 1 and 2 workers. */
export async function clusterSection(issuer: TestIssuer, reused: readonly string[]): Promise<SectionResult> {
  const variants: Contender[] = [1, 2].map((workers) => ({
    name: `ours, ${workers} worker${workers > 1 ? 's' : ''}`,
    variant: 'express:ours',
    workers,
    note: `the Express app of "http" (ours) in ${workers} node:cluster worker process(es), each with its own JWKS and token caches`,
  }));
  const { lines } = await section(issuer, 'cluster: ours under node:cluster, tokens reused', '/hello', variants, { kind: 'reused', tokens: reused }, variants[0]!.name, null);
  lines.push(
    '',
    'The load generator (autocannon) runs on the same machine and competes with the workers for the same cores: on a 2-core machine, 2 workers ' +
      'plus the generator need more than 2 cores, so requests/s cannot double and may even drop. Run the generator elsewhere to see the scaling of the server alone.',
  );
  return { lines, targets: [] };
}
