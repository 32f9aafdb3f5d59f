/**
 * Section "verify": one Clerk session token verified in-process, ours against the peers and the floors, at 1 and 32
 * verifications in flight. Also fast-jwt (node:crypto based) against jose on the same fresh tokens.
 *
 * Fresh contenders verify each token of a pre-minted pool once (ours: a new verifier per measurement, its token cache
 * empty, or first filled with other tokens, as in a long-running server); each measurement runs for `BENCH_SLICE_MS`
 * or the whole pool, after a GC, in interleaved rounds.
 */
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { verifyToken as clerkVerifyToken } from '@clerk/backend';
import { createVerifier } from 'fast-jwt';
import { importSPKI, jwtVerify } from 'jose';
import type { TestIssuer } from '../src/testing/index.js';
import { collectGarbage, fmt, fmtStat, interleaved, knob, ratio, runPool, stat, table, type RunResult, type SectionResult } from './lib.js';
import { loadPkg } from './package.js';

interface Contender {
  name: string;
  note: string;
  /** Built before each measurement, outside the timed region: the operation, and whether each token is used once. */
  prepare(): Promise<{ op: (i: number) => unknown; fresh: boolean }>;
}

const OURS_PEM = 'ours fresh (jwtKey)';
const REPEATED = 'ours repeated (token cache)';
const JOSE = 'jose jwtVerify (cached key)';
const CLERK = '@clerk/backend verifyToken (jwtKey)';
const RAW = 'node:crypto RS256 verify';
const FAST_JWT = 'fast-jwt createVerifier (PEM)';
const MODES = [1, 32] as const;

export async function verifySection(issuer: TestIssuer, tokens: readonly string[], fillers: readonly string[]): Promise<SectionResult> {
  const rounds = knob('BENCH_ROUNDS', 5);
  const sliceMs = knob('BENCH_SLICE_MS', 200);
  const { jwtKey } = issuer;
  const warm = await issuer.mintToken({}, { userId: 'user_warm' });
  const repeatedToken = await issuer.mintToken({}, { userId: 'user_repeated' });
  const joseKey = await importSPKI(jwtKey, 'RS256');
  const publicKey = createPublicKey(jwtKey);
  const dot = repeatedToken.lastIndexOf('.');
  const signingInput = Buffer.from(repeatedToken.slice(0, dot));
  const signature = Buffer.from(repeatedToken.slice(dot + 1), 'base64url');
  // The checks of ours that fast-jwt can express (no audience is configured here, so no allowedAud).
  const fastVerify = createVerifier({ key: jwtKey, algorithms: ['RS256'], allowedIss: issuer.issuer, clockTolerance: 5_000 });

  const ours = async (options: object): Promise<(token: string) => Promise<{ sub: string }>> => {
    const auth = (await loadPkg()).createClerkAuth({ ...options, env: {}, logger: false });
    await auth.verify(warm); // JWKS: fetches the key set once
    return (token) => auth.verify(token);
  };
  const repeated = await ours({ jwtKey });

  // Machine tokens, through the request flow the adapters use (`authenticate`): a JWT-format M2M token is served from
  // the verified-token cache like a session; an opaque one costs one Backend API call per cache period (10 s).
  const pkg = await loadPkg();
  const m2mJwt = await issuer.mintM2MToken({ machineId: 'mch_bench' });
  const opaque = await issuer.createOpaqueM2MToken({ machineId: 'mch_bench' });
  const machineAuth = pkg.createClerkAuth({ jwtKey, secretKey: issuer.secretKey, apiUrl: issuer.apiUrl, acceptsToken: 'm2m_token', env: {}, logger: false });
  const headersOf = (token: string) => ({ authorization: [`Bearer ${token}`], cookie: undefined });
  const m2mHeaders = headersOf(m2mJwt);
  const opaqueHeaders = headersOf(opaque);
  await machineAuth.authenticate(m2mHeaders);
  await machineAuth.authenticate(opaqueHeaders);
  const callsBefore = issuer.backendApiCalls();
  const opaqueStarted = performance.now();
  const fresh = async (options: object) => {
    const verify = await ours(options);
    return { op: (i: number) => verify(tokens[i]!), fresh: true };
  };

  const contenders: Contender[] = [
    { name: OURS_PEM, note: 'createClerkAuth({ jwtKey })', prepare: () => fresh({ jwtKey }) },
    {
      name: 'ours fresh, full token cache (jwtKey)',
      note: `createClerkAuth({ jwtKey }) whose token cache first takes ${fmt(fillers.length)} other tokens (its default size): a long-running server, where each new token evicts the oldest`,
      prepare: async () => {
        const verify = await ours({ jwtKey });
        for (let i = 0; i < fillers.length; i += 500) await Promise.all(fillers.slice(i, i + 500).map(verify));
        return { op: (i: number) => verify(tokens[i]!), fresh: true };
      },
    },
    { name: 'ours fresh (JWKS)', note: 'createClerkAuth(issuer.authOptions): key set fetched before timing; also checks iss and azp', prepare: () => fresh(issuer.authOptions) },
    { name: REPEATED, note: 'one token again and again, served from the verified-token cache', prepare: async () => ({ op: () => repeated(repeatedToken), fresh: false }) },
    { name: JOSE, note: "jwtVerify(token, await importSPKI(pem), { algorithms: ['RS256'] }): no claim checks", prepare: async () => ({ op: (i) => jwtVerify(tokens[i]!, joseKey, { algorithms: ['RS256'] }), fresh: true }) },
    { name: CLERK, note: "verifyToken(token, { jwtKey }) from '@clerk/backend', networkless", prepare: async () => ({ op: (i) => clerkVerifyToken(tokens[i]!, { jwtKey }), fresh: true }) },
    { name: 'ours repeated M2M JWT (token cache)', note: "createClerkAuth({ jwtKey, acceptsToken: 'm2m_token' }).authenticate(headers): one M2M JWT again and again", prepare: async () => ({ op: () => machineAuth.authenticate(m2mHeaders), fresh: false }) },
    { name: 'ours repeated opaque M2M token (Backend API answer cached)', note: 'the same, one opaque mt_ token, verified by the testing kit\'s Backend API and then served from the answer cache', prepare: async () => ({ op: () => machineAuth.authenticate(opaqueHeaders), fresh: false }) },
    { name: RAW, note: "crypto.verify('RSA-SHA256', input, KeyObject, sig) on one pre-decoded token, synchronous: the floor of one signature check", prepare: async () => ({ op: () => cryptoVerify('RSA-SHA256', signingInput, publicKey, signature) || raise('bench: the raw signature check failed'), fresh: false }) },
    { name: FAST_JWT, note: `createVerifier({ key: pem, algorithms: ['RS256'], allowedIss, clockTolerance: 5000 }) from fast-jwt (synchronous)`, prepare: async () => ({ op: (i) => fastVerify(tokens[i]!), fresh: true }) },
  ];
  // Every contender accepts the pool's tokens, before anything is timed.
  const last = tokens.length - 1;
  for (const c of contenders) {
    const { op, fresh: isFresh } = await c.prepare();
    const result = (await op(last)) as { sub?: unknown; payload?: { sub?: unknown } };
    const sub = result.payload?.sub ?? result.sub;
    if (isFresh && sub !== `user_${last}`) throw new Error(`bench: ${c.name} returned sub ${String(sub)} for user_${last}`);
  }

  const items = MODES.flatMap((concurrency) => contenders.map((contender) => ({ contender, concurrency })));
  const results = await interleaved(items, rounds, 1, async ({ contender, concurrency }) => {
    const { op, fresh: isFresh } = await contender.prepare();
    collectGarbage();
    return runPool(op, concurrency, isFresh ? tokens.length : 1e9, sliceMs);
  });
  const of = (name: string, concurrency: number, key: keyof RunResult) =>
    stat(results.get(items.find((i) => i.contender.name === name && i.concurrency === concurrency)!)!.map((r) => r[key]));
  const m = (name: string, concurrency: number, key: keyof RunResult): number => of(name, concurrency, key).median;

  const lines = [
    '## verify: one token verified in-process',
    '',
    `${tokens.length} distinct fresh tokens (RS256, RSA-2048, ${tokens[0]!.length} chars); ${rounds} rounds after a discarded warm-up round, ` +
      `${sliceMs} ms or the whole pool per measurement, GC before each. Each cell: median (min–max) over the rounds.`,
  ];
  for (const n of MODES) {
    lines.push('', `### ${n} in flight`, '');
    lines.push(
      ...table(
        ['contender', 'verifications/s', 'x jose', 'CPU µs/verification', 'main-thread CPU µs/verification'],
        contenders.map((c) => [
          c.name,
          fmtStat(of(c.name, n, 'opsPerSec')),
          ratio(m(c.name, n, 'opsPerSec') / m(JOSE, n, 'opsPerSec')),
          fmtStat(of(c.name, n, 'cpuMicros')),
          fmtStat(of(c.name, n, 'mainCpuMicros')),
        ]),
      ),
    );
  }
  lines.push('', ...contenders.map((c) => `- ${c.name}: ${c.note}`));
  const opaqueSeconds = (performance.now() - opaqueStarted) / 1000;
  lines.push(
    '',
    `Opaque M2M token: ${fmt(issuer.backendApiCalls() - callsBefore, 0)} Backend API calls in the ${fmt(opaqueSeconds, 0)} s of this section ` +
      `(one per 10 s cache period at most, whatever the request rate).`,
  );
  lines.push('', `Ours fresh (jwtKey) at 32 in flight: ${ratio(m(OURS_PEM, 32, 'opsPerSec') / m(CLERK, 32, 'opsPerSec'))} @clerk/backend verifyToken, ${ratio(m(OURS_PEM, 32, 'opsPerSec') / m(JOSE, 32, 'opsPerSec'))} bare jose.`);

  // fast-jwt against jose, same tokens.
  const fj = (n: number, key: keyof RunResult): number => m(FAST_JWT, n, key) / m(JOSE, n, key);
  lines.push(
    '',
    '### fast-jwt against jose (same fresh tokens)',
    '',
    `fast-jwt / jose: verifications/s ${ratio(fj(1, 'opsPerSec'))} at 1 in flight, ${ratio(fj(32, 'opsPerSec'))} at 32; ` +
      `CPU µs/verification ${ratio(fj(1, 'cpuMicros'))} and ${ratio(fj(32, 'cpuMicros'))}; main-thread CPU µs/verification ${ratio(fj(1, 'mainCpuMicros'))} and ${ratio(fj(32, 'mainCpuMicros'))}.`,
    '',
    `fast-jwt checks the signature with node:crypto, synchronously, on the main thread (the raw check alone: ${fmt(m(RAW, 1, 'cpuMicros'))} µs); jose uses ` +
      'WebCrypto, whose job goes through the libuv threadpool; the token cache answers reused tokens with no signature check at all. ' +
      'Measured, not adopted: jose stays the one JOSE implementation, and no signature check is hand-written (see the README, "Speed").',
  );

  const targets = [
    { label: 'fresh token, 32 in flight: main-thread CPU µs/verification, ours (jwtKey) / bare jose', value: m(OURS_PEM, 32, 'mainCpuMicros') / m(JOSE, 32, 'mainCpuMicros'), op: '<=', limit: 1.1, unit: 'x' },
    { label: 'fresh token, 32 in flight: CPU µs/verification, ours (jwtKey) / bare jose', value: m(OURS_PEM, 32, 'cpuMicros') / m(JOSE, 32, 'cpuMicros'), op: '<=', limit: 1.2, unit: 'x' },
    { label: 'fresh token, 32 in flight: verifications/s, ours (jwtKey) / @clerk/backend verifyToken', value: m(OURS_PEM, 32, 'opsPerSec') / m(CLERK, 32, 'opsPerSec'), op: '>=', limit: 2.5, unit: 'x' },
    { label: 'repeated token, 32 in flight: verifications/s, ours / a raw RS256 check', value: m(REPEATED, 32, 'opsPerSec') / m(RAW, 32, 'opsPerSec'), op: '>=', limit: 100, unit: 'x' },
  ] as const;
  return { lines, targets: [...targets] };
}

function raise(message: string): never {
  throw new Error(message);
}
