/**
 * Helpers shared by the bench sections: knobs, statistics, a pool runner measuring rate, process CPU and
 * main-thread CPU, interleaved rounds, and the markdown written to the terminal and to bench/RESULTS.md.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** A positive number from the environment, or the default. */
export function knob(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

export const ROOT = new URL('..', import.meta.url);

/** `global.gc` (`npm run bench` runs with --expose-gc; without it, measurements run without a GC between them). */
export const collectGarbage: () => void = (globalThis as { gc?: () => void }).gc ?? (() => undefined);

export interface Stat {
  median: number;
  min: number;
  max: number;
}

export function stat(values: readonly number[]): Stat {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length === 0 ? Number.NaN : sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0] ?? Number.NaN, max: sorted[sorted.length - 1] ?? Number.NaN };
}

/** `12345.6` -> `12,346`; small values keep decimals. */
export function fmt(value: number, decimals?: number): string {
  if (!Number.isFinite(value)) return '–';
  const d = decimals ?? (Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2);
  return value.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

/** `median (min–max)`. */
export function fmtStat(s: Stat, decimals?: number): string {
  return `${fmt(s.median, decimals)} (${fmt(s.min, decimals)}–${fmt(s.max, decimals)})`;
}

export const ratio = (value: number): string => (Number.isFinite(value) ? `${fmt(value, value >= 100 ? 0 : 2)}x` : '–');

/** One measurement of an operation run for a while. */
export interface RunResult {
  opsPerSec: number;
  /** Process CPU (every thread: main, libuv threadpool, GC helpers) per operation, µs, from `process.cpuUsage()`. */
  cpuMicros: number;
  /** Main-thread CPU per operation, µs: the work that blocks the event loop (Linux only; NaN elsewhere). */
  mainCpuMicros: number;
}

/** The main thread's CPU time so far, ns, from Linux's scheduler statistics (NaN where there are none). */
function mainThreadNs(): number {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return Number.NaN;
  }
}

/**
 * Runs `op(i)` with `concurrency` operations in flight (async workers sharing one counter) until `maxOps`
 * operations or `maxMs` have passed; results are awaited and dropped. A rejection fails the run.
 */
export async function runPool(op: (i: number) => unknown, concurrency: number, maxOps: number, maxMs: number): Promise<RunResult> {
  const mainBefore = mainThreadNs();
  const start = performance.now();
  const cpu = process.cpuUsage();
  const deadline = start + maxMs;
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < maxOps) {
      await op(next++);
      // performance.now() is not free next to a sub-µs operation: the deadline is read every 16 operations.
      if ((++done & 15) === 0 && performance.now() >= deadline) next = maxOps;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const ms = performance.now() - start;
  const used = process.cpuUsage(cpu);
  const mainNs = mainThreadNs() - mainBefore;
  return {
    opsPerSec: (done / ms) * 1000,
    cpuMicros: (used.user + used.system) / done,
    mainCpuMicros: mainNs / 1000 / done,
  };
}

/**
 * `rounds` rounds over `items`, each round starting one item later, so a slow drift of the machine spreads over
 * everyone; the first `warmup` rounds are discarded. Returns every kept result per item.
 */
export async function interleaved<T, R>(items: readonly T[], rounds: number, warmup: number, run: (item: T) => Promise<R>): Promise<Map<T, R[]>> {
  const results = new Map<T, R[]>(items.map((item) => [item, []]));
  for (let round = 0; round < warmup + rounds; round++) {
    for (let k = 0; k < items.length; k++) {
      const item = items[(k + round) % items.length]!;
      const result = await run(item);
      if (round >= warmup) results.get(item)!.push(result);
    }
    if (process.stderr.isTTY) process.stderr.write(`\r  round ${round + 1}/${warmup + rounds}\x1b[K${round + 1 === warmup + rounds ? '\r\x1b[K' : ''}`);
  }
  return results;
}

/** A markdown table. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string[] {
  return [`| ${headers.join(' | ')} |`, `|${headers.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

/** A target: printed PASS or MISS, never a failure. */
export interface Target {
  label: string;
  value: number;
  op: '>=' | '<=';
  limit: number;
  /** `'x'` for a ratio, else a unit such as `µs`. */
  unit: string;
}

export function targetLine(t: Target): string {
  const pass = t.op === '>=' ? t.value >= t.limit : t.value <= t.limit;
  const shown = t.unit === 'x' ? ratio(t.value) : `${fmt(t.value)} ${t.unit}`;
  return `- ${Number.isFinite(t.value) ? (pass ? 'PASS' : 'MISS') : 'n/a '}  ${t.label}: ${shown} (target ${t.op} ${t.limit}${t.unit === 'x' ? 'x' : ` ${t.unit}`})`;
}

/** What a section hands back: its markdown (title first) and its targets. */
export interface SectionResult {
  lines: string[];
  targets: Target[];
}

/** The version of an installed package (or of ours with `'.'`). */
export function versionOf(name: string): string {
  const path = name === '.' ? 'package.json' : `node_modules/${name}/package.json`;
  try {
    return (JSON.parse(readFileSync(new URL(path, ROOT), 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}
