/**
 * `npm run bench`: builds, then measures the package in dist/ against its peers and writes bench/RESULTS.md.
 * `npm run bench -- verify storm` runs only the named sections (verify, http, mastra, storm, cluster).
 *
 * Knobs (environment, defaults in brackets): BENCH_ROUNDS [5], BENCH_SLICE_MS [200] (one in-process measurement),
 * BENCH_TOKENS [5000] (fresh-token pool of "verify"), BENCH_SECONDS [2] (one HTTP run), BENCH_CONNECTIONS [32],
 * BENCH_STORM_REQUESTS [2000] (one storm run). A missed target is reported, never a failure: the exit code is
 * non-zero only when a section crashes.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem, type } from 'node:os';
import { createTestIssuer, type TestIssuer } from '../src/testing/index.js';
import { clusterSection, expressSection, mastraSection, stormSection } from './http.js';
import { fmt, knob, table, targetLine, versionOf, type SectionResult, type Target } from './lib.js';
import { verifySection } from './verify.js';

type Pools = { reused: string[]; fresh: string[] };
/** Tokens that fill a verifier's token cache (its default size) before the "full token cache" contender is timed. */
const FILLERS = 10_000;
const SECTIONS: Record<string, (issuer: TestIssuer, pools: Pools) => Promise<SectionResult>> = {
  verify: (issuer, pools) => verifySection(issuer, pools.fresh.slice(0, knob('BENCH_TOKENS', 5000)), pools.fresh.slice(knob('BENCH_TOKENS', 5000), knob('BENCH_TOKENS', 5000) + FILLERS)),
  http: (issuer, pools) => expressSection(issuer, pools.reused),
  mastra: (issuer, pools) => mastraSection(issuer, pools.reused),
  storm: (issuer, pools) => stormSection(issuer, pools.fresh),
  cluster: (issuer, pools) => clusterSection(issuer, pools.reused),
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = wanted.filter((name) => !(name in SECTIONS));
if (unknown.length > 0) {
  console.error(`bench: unknown section(s) ${unknown.join(', ')}; known: ${Object.keys(SECTIONS).join(', ')}`);
  process.exit(2);
}
const selected = Object.keys(SECTIONS).filter((name) => wanted.length === 0 || wanted.includes(name));

const started = performance.now();
const loadBefore = loadavg();
const issuer = await createTestIssuer();
const mint = async (count: number, prefix: string): Promise<string[]> => {
  const tokens: string[] = [];
  while (tokens.length < count) {
    const batch = Array.from({ length: Math.min(500, count - tokens.length) }, (_, k) => issuer.mintToken({}, { userId: `${prefix}${tokens.length + k}`, expiresInSeconds: 3600 }));
    tokens.push(...(await Promise.all(batch)));
  }
  return tokens;
};
// The fresh pool serves "verify" (each measurement a new verifier; after its tokens, the ones that fill a token cache)
// and "storm" (a disjoint slice per run).
const stormNeed = selected.includes('storm') ? (knob('BENCH_ROUNDS', 5) + 1) * (knob('BENCH_STORM_REQUESTS', 2000) + 4 * knob('BENCH_CONNECTIONS', 32)) : 0;
const freshNeed = Math.max(selected.includes('verify') ? knob('BENCH_TOKENS', 5000) + FILLERS : 0, stormNeed);
const pools: Pools = { reused: await mint(50, 'user_reused_'), fresh: await mint(freshNeed, 'user_') };
console.error(`bench: ${fmt(pools.fresh.length + 50)} tokens minted in ${fmt((performance.now() - started) / 1000)} s; sections: ${selected.join(', ')}`);

const results: SectionResult[] = [];
let crashed = false;
for (const name of selected) {
  const sectionStart = performance.now();
  try {
    const result = await SECTIONS[name]!(issuer, pools);
    result.lines.push('', `_Section ${name}: ${fmt((performance.now() - sectionStart) / 1000, 0)} s._`);
    results.push(result);
    console.log(`\n${result.lines.join('\n')}`);
  } catch (error) {
    crashed = true;
    console.error(error);
    results.push({ lines: [`## ${name}: CRASHED`, '', '```', String(error instanceof Error ? error.message : error), '```'], targets: [] });
  }
}
await issuer.close();

const targets: Target[] = results.flatMap((r) => r.targets);
const cpu = cpus();
const seconds = (performance.now() - started) / 1000;
const versions = ['.', 'jose', '@clerk/backend', '@clerk/express', '@mastra/core', '@mastra/auth-clerk', '@mastra/express', 'express', 'fast-jwt', 'autocannon'];
const md = [
  '# clerk-mastra-auth benchmark results',
  '',
  `Written by \`npm run bench${wanted.length ? ` -- ${wanted.join(' ')}` : ''}\` on ${new Date().toISOString()}, in ${fmt(seconds, 0)} s. Sections: ${selected.join(', ')}.`,
  `Knobs: ${['BENCH_ROUNDS', 'BENCH_SLICE_MS', 'BENCH_TOKENS', 'BENCH_SECONDS', 'BENCH_CONNECTIONS', 'BENCH_STORM_REQUESTS'].map((k) => `${k}=${process.env[k] ?? 'default'}`).join(', ')}.`,
  '',
  '## Machine and versions',
  '',
  ...table(
    ['what', 'value'],
    [
      ['CPU', `${cpu[0]?.model.trim() ?? '?'}, ${cpu.length} cores`],
      ['memory', `${fmt(totalmem() / 2 ** 30, 1)} GiB`],
      ['system', `${type()} ${release()}`],
      ['load average (1 min) before / after', `${fmt(loadBefore[0]!)} / ${fmt(loadavg()[0]!)}`],
      ['Node', `${process.version} (V8 ${process.versions.v8}, UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'})`],
      ...versions.map((name) => [name === '.' ? 'clerk-mastra-auth (dist/)' : name, versionOf(name)]),
    ],
  ),
  '',
  '## How to read these numbers',
  '',
  '- Compare within one run only: every ratio is between contenders measured in the same run, in interleaved rounds, so a slow',
  '  or busy machine moves them all. Absolute figures depend on the machine above and on whatever else ran on it.',
  '- Each figure is the median of the rounds, with the min–max range in brackets: a wide range, or a load average above the',
  '  number of cores, means noise; run again on a quiet machine before reading a small difference.',
  '- CPU µs per operation (process.cpuUsage, all threads) is steadier than a rate: time spent waiting for a core is not counted.',
  '  Main-thread CPU µs (Linux) is the work that blocks the event loop; WebCrypto (jose) runs each signature check on a libuv',
  '  threadpool thread. In the HTTP sections, server CPU is that of the server process alone, while requests/s also depends on',
  '  the load generator, which shares the machine.',
  '- Columns headed "x <contender>" are ratios of rates (verifications/s, requests/s) against that contender: above 1 is',
  '  faster, below 1 slower. Targets on CPU are ratios of CPU per operation: below 1 is cheaper.',
  '- A target prints PASS or MISS and never fails the run. A MISS is a goal not met in this run; the README ("Speed") says',
  '  which goals this machine has never met and why.',
  '',
  '## Targets',
  '',
  ...(targets.length ? targets.map(targetLine) : ['(none in the selected sections)']),
  '',
  ...results.flatMap((r) => [...r.lines, '']),
];
// Only a run of every section replaces the report; a run of some writes beside it (not committed).
const report = wanted.length === 0 || selected.length === Object.keys(SECTIONS).length ? 'RESULTS.md' : 'RESULTS.partial.md';
writeFileSync(new URL(report, import.meta.url), md.join('\n'));
console.log(`\n## Targets\n\n${targets.map(targetLine).join('\n')}\n\nbench: wrote bench/${report} (${fmt(seconds, 0)} s)`);
if (crashed) process.exitCode = 1;
