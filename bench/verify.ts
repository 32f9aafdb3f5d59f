/**
 * Section "verify": verifications per second of one Clerk session token, ours against the peers, in one run.
 *
 * Contenders (all on tokens of the same local test issuer, RSA-2048 / RS256):
 * - ours on fresh tokens: every token verified once (a pool of distinct pre-minted tokens, a new verifier with an
 *   empty token cache for every measurement), with the PEM key (`jwtKey`) and with the JWKS (key set cached);
 * - ours on one repeated token: served from the verified-token cache;
 * - `@clerk/backend` `verifyToken(token, { jwtKey })` on the same fresh tokens;
 * - jose `jwtVerify` alone with a pre-imported key on the same fresh tokens;
 * - `node:crypto` `verify` RS256 on one token, pre-decoded: the physical floor of one signature check.
 *
 * Method: each contender runs with 32 verifications in flight and one at a time, for at most `maxOps` operations or
 * a time slice, several rounds interleaving the contenders; the table shows the median per contender.
 */
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { cpus } from 'node:os';
import { verifyToken as clerkVerifyToken } from '@clerk/backend';
import { importSPKI, jwtVerify } from 'jose';
import type { ClerkAuth } from '../src/index.js';
import { pkg } from './package.js';

const { createClerkAuth } = pkg;
import { createTestIssuer, type TestIssuer } from '../src/testing/index.js';
import {
  gcAvailable,
  heading,
  measureRounds,
  medianOf,
  printMeasured,
  ratioLine,
  type Check,
  type CheckResult,
  type Contender,
  type Mode,
  type SectionReport,
} from './lib.js';

export interface VerifySectionOptions {
  /** Rounds after the warm-up (default 7, env `BENCH_ROUNDS`). */
  rounds?: number;
  /** Time slice of one measurement in ms (default 300, env `BENCH_SLICE_MS`). */
  sliceMs?: number;
  /** Distinct fresh tokens minted up front (default 6000, env `BENCH_TOKENS`). */
  tokens?: number;
  out?: (line: string) => void;
}

const envNumber = (name: string): number | undefined => {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : undefined;
};

export const MODES: readonly Mode[] = [
  { label: '32 in flight', concurrency: 32 },
  { label: '1 at a time', concurrency: 1 },
];

const NAMES = {
  oursPem: 'ours fresh (jwtKey)',
  oursJwks: 'ours fresh (JWKS, keys cached)',
  oursRepeated: 'ours repeated token (cache)',
  clerk: '@clerk/backend verifyToken',
  jose: 'jose jwtVerify (key imported)',
  cryptoSync: 'node:crypto verify (sync)',
  cryptoAsync: 'node:crypto verify (threadpool)',
} as const;

/** Many cheap, distinct tokens; the RSA key pair (the slow part) is generated once by the issuer. */
async function mintPool(issuer: TestIssuer, count: number): Promise<string[]> {
  const batch = 500;
  const tokens: string[] = [];
  for (let start = 0; start < count; start += batch) {
    const minted = await Promise.all(
      Array.from({ length: Math.min(batch, count - start) }, (_, k) =>
        issuer.mintToken({}, { userId: `user_${start + k}`, expiresInSeconds: 3600 }),
      ),
    );
    tokens.push(...minted);
  }
  if (new Set(tokens).size !== tokens.length) throw new Error('bench: minted tokens are not distinct');
  return tokens;
}

function expectSub(what: string, sub: unknown, expected: string): void {
  if (sub !== expected) throw new Error(`bench: ${what} returned sub ${String(sub)}, expected ${expected}`);
}

export async function section(options: VerifySectionOptions = {}): Promise<SectionReport> {
  const out = options.out ?? console.log;
  const rounds = options.rounds ?? envNumber('BENCH_ROUNDS') ?? 7;
  const sliceMs = options.sliceMs ?? envNumber('BENCH_SLICE_MS') ?? 300;
  const tokenCount = options.tokens ?? envNumber('BENCH_TOKENS') ?? 6000;
  const title = 'verify: verifications per second, ours vs the peers';
  heading(title, out);

  const setupStart = performance.now();
  const issuer = await createTestIssuer();
  try {
    const tokens = await mintPool(issuer, tokenCount);
    const warmToken = await issuer.mintToken({}, { userId: 'user_warm', expiresInSeconds: 3600 });
    const repeatedToken = await issuer.mintToken({}, { userId: 'user_repeated', expiresInSeconds: 3600 });
    const jwtKey = issuer.jwtKey;

    // Peers' fixed inputs, built outside any timed region.
    const clerkOptions = { jwtKey };
    const joseKey = await importSPKI(jwtKey, 'RS256');
    const joseOptions = { algorithms: ['RS256'] };
    const publicKeyObject = createPublicKey(jwtKey);
    const lastDot = repeatedToken.lastIndexOf('.');
    const signingInput = Buffer.from(repeatedToken.slice(0, lastDot));
    const signature = Buffer.from(repeatedToken.slice(lastDot + 1), 'base64url');

    const newOursPem = async (): Promise<ClerkAuth> => {
      const auth = createClerkAuth({ jwtKey, env: {}, logger: false });
      expectSub('ours (jwtKey)', (await auth.verify(warmToken)).sub, 'user_warm');
      return auth;
    };
    const newOursJwks = async (): Promise<ClerkAuth> => {
      const auth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false });
      // The warm-up fetches the key set; the timed run uses the cached keys.
      expectSub('ours (JWKS)', (await auth.verify(warmToken)).sub, 'user_warm');
      return auth;
    };

    // Sanity: every contender accepts the tokens and returns the right subject, before anything is timed.
    const last = tokens.length - 1;
    expectSub('ours (jwtKey)', (await (await newOursPem()).verify(tokens[last]!)).sub, `user_${last}`);
    expectSub('ours (JWKS)', (await (await newOursJwks()).verify(tokens[last]!)).sub, `user_${last}`);
    expectSub('@clerk/backend', (await clerkVerifyToken(tokens[last]!, clerkOptions)).sub, `user_${last}`);
    expectSub('jose', (await jwtVerify(tokens[last]!, joseKey, joseOptions)).payload.sub, `user_${last}`);
    if (!cryptoVerify('RSA-SHA256', signingInput, publicKeyObject, signature)) throw new Error('bench: node:crypto verify failed');

    const repeated = await newOursPem();
    expectSub('ours (repeated)', (await repeated.verify(repeatedToken)).sub, 'user_repeated');

    const fresh = { maxOps: tokens.length, maxMs: sliceMs };
    const many = { maxOps: 50_000_000, maxMs: sliceMs };

    const contenders: Contender[] = [
      {
        name: NAMES.oursPem,
        note: 'createClerkAuth({ jwtKey }), a new verifier (empty token cache) per measurement, each token once',
        async prepare() {
          const auth = await newOursPem();
          return { op: (i) => auth.verify(tokens[i]!), limits: fresh };
        },
      },
      {
        name: NAMES.oursJwks,
        note: 'createClerkAuth(issuer.authOptions): JWKS fetched in the warm-up, also checks iss and azp',
        async prepare() {
          const auth = await newOursJwks();
          return { op: (i) => auth.verify(tokens[i]!), limits: fresh };
        },
      },
      {
        name: NAMES.oursRepeated,
        note: 'one token verified again and again: served from the verified-token cache',
        async prepare() {
          return { op: () => repeated.verify(repeatedToken), limits: many };
        },
      },
      {
        name: NAMES.clerk,
        note: "verifyToken(token, { jwtKey }) from '@clerk/backend' 3.x, on the same fresh tokens",
        async prepare() {
          return { op: (i) => clerkVerifyToken(tokens[i]!, clerkOptions), limits: fresh };
        },
      },
      {
        name: NAMES.jose,
        note: "jwtVerify(token, await importSPKI(pem), { algorithms: ['RS256'] }), on the same fresh tokens",
        async prepare() {
          return { op: (i) => jwtVerify(tokens[i]!, joseKey, joseOptions), limits: fresh };
        },
      },
      {
        name: NAMES.cryptoSync,
        note: "crypto.verify('RSA-SHA256', input, KeyObject, sig) on one pre-decoded token, a plain loop: one core",
        async prepare() {
          return {
            sync: true,
            op: () => {
              if (!cryptoVerify('RSA-SHA256', signingInput, publicKeyObject, signature)) throw new Error('bench: bad signature');
            },
            limits: many,
          };
        },
      },
      {
        name: NAMES.cryptoAsync,
        note: 'the same with a callback (libuv threadpool, like WebCrypto): both cores when many are in flight',
        async prepare() {
          const op = (): Promise<void> =>
            new Promise<void>((resolve, reject) => {
              cryptoVerify('RSA-SHA256', signingInput, publicKeyObject, signature, (error, ok) => {
                if (error || !ok) reject(error ?? new Error('bench: bad signature'));
                else resolve();
              });
            });
          return { op, limits: many };
        },
      },
    ];

    out(
      `node ${process.version}, ${cpus().length} cpus (${cpus()[0]?.model.trim() ?? '?'}), UV_THREADPOOL_SIZE=${
        process.env.UV_THREADPOOL_SIZE ?? '4 (default)'
      }`,
    );
    out(
      `${tokens.length} fresh tokens (${tokens[0]!.length} chars), ${rounds} rounds + 1 warm-up, slice ${sliceMs} ms or ` +
        `the whole pool, GC before each measurement (${gcAvailable ? 'on' : 'not available'}); ` +
        `setup ${Math.round(performance.now() - setupStart)} ms`,
    );

    const benchStart = performance.now();
    await measureRounds(contenders, { rounds: 1, modes: MODES }); // warm-up, discarded
    const measured = await measureRounds(contenders, {
      rounds,
      modes: MODES,
      // Progress only on a terminal; a log file gets the table alone.
      onRound: process.stdout.isTTY ? (round) => process.stdout.write(`\r  round ${round + 1}/${rounds} done`) : undefined,
    });
    if (process.stdout.isTTY) process.stdout.write('\r\x1b[K');
    out(`measured in ${((performance.now() - benchStart) / 1000).toFixed(1)} s (median of ${rounds} rounds; ±% = half the min-max range)`);
    out('');
    printMeasured(measured, MODES, out);

    const checks: CheckResult[] = [];
    for (const mode of MODES) {
      const m = (name: string): number => medianOf(measured, name, mode.label);
      const cpu = (name: string): number => medianOf(measured, name, mode.label, 'cpuMicrosPerOp');
      out('');
      out(`targets, ${mode.label}:`);
      const list: Check[] = [
        { label: 'ours fresh (jwtKey) / Clerk verifyToken', numerator: m(NAMES.oursPem), denominator: m(NAMES.clerk), op: '>=', target: 3 },
        {
          label: 'ours fresh (jwtKey) / Clerk verifyToken (realistic floor)',
          numerator: m(NAMES.oursPem),
          denominator: m(NAMES.clerk),
          op: '>=',
          target: 2,
        },
        { label: 'bare jose / ours fresh (jwtKey)', numerator: m(NAMES.jose), denominator: m(NAMES.oursPem), op: '<=', target: 1.3 },
        {
          label: 'ours repeated / node:crypto RS256 (sync)',
          numerator: m(NAMES.oursRepeated),
          denominator: m(NAMES.cryptoSync),
          op: '>=',
          target: 10,
        },
        {
          label: 'bare jose / ours fresh (JWKS)',
          numerator: m(NAMES.jose),
          denominator: m(NAMES.oursJwks),
          op: '<=',
          target: 1.3,
          informational: true,
        },
        {
          label: 'CPU µs per verification: ours fresh (jwtKey) / bare jose',
          numerator: cpu(NAMES.oursPem),
          denominator: cpu(NAMES.jose),
          op: '<=',
          target: 1.3,
          informational: true,
        },
        {
          label: 'CPU µs per verification: Clerk verifyToken / ours fresh (jwtKey)',
          numerator: cpu(NAMES.clerk),
          denominator: cpu(NAMES.oursPem),
          op: '>=',
          target: 2,
          informational: true,
        },
        {
          label: 'jose / Clerk verifyToken (what jose allows)',
          numerator: m(NAMES.jose),
          denominator: m(NAMES.clerk),
          op: '>=',
          target: 3,
          informational: true,
        },
      ];
      for (const check of list) {
        const result = ratioLine({ ...check, label: `[${mode.label}] ${check.label}` }, out);
        checks.push(result);
      }
    }
    return { title, checks };
  } finally {
    await issuer.close();
  }
}
