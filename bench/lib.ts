/**
 * Measuring helpers shared by every bench section: a GC hook, a pool runner (N operations in flight), medians
 * over interleaved rounds, a table printer and target-ratio lines with PASS/MISS.
 *
 * The machines this runs on are noisy and have 2 cores: only ratios measured within one run mean anything.
 * A MISS is a report, never a failure: nothing here sets the exit code.
 */
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// ---------------------------------------------------------------------------------------------------------------
// Garbage collection between measurements
// ---------------------------------------------------------------------------------------------------------------

type GcFunction = () => void;

function findGc(): GcFunction | undefined {
  const existing = (globalThis as { gc?: unknown }).gc;
  if (typeof existing === 'function') return existing as GcFunction;
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    if (typeof gc === 'function') return gc as GcFunction;
  } catch {
    // fall through: measurements run without a GC between them
  }
  return undefined;
}

const gc = findGc();

/** Whether {@link collectGarbage} really collects. */
export const gcAvailable = gc !== undefined;

/** `global.gc`, exposed at run time so `tsx bench/index.ts` needs no `--expose-gc`; a no-op if that fails. */
export const collectGarbage: GcFunction = gc ?? (() => undefined);

// ---------------------------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------------------------

/** Median of a non-empty list (mean of the two middle values for an even length). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Half the min-max range relative to the median, in percent: a crude, honest noise figure for a few rounds. */
export function spreadPercent(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const m = median(values);
  return m > 0 ? ((Math.max(...values) - Math.min(...values)) / 2 / m) * 100 : 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Runners
// ---------------------------------------------------------------------------------------------------------------

/** One operation; `i` is the operation index (0, 1, 2, ...), e.g. an index into a pool of pre-minted tokens. */
export type Operation = (i: number) => unknown;

export interface RunLimits {
  /** Stop after this many operations (e.g. the size of a token pool whose tokens may be used once each). */
  maxOps: number;
  /** ...or once this many milliseconds have passed, whichever comes first. */
  maxMs: number;
}

export interface RunResult {
  ops: number;
  ms: number;
  opsPerSec: number;
  /**
   * CPU time of the whole process (every thread: main, libuv threadpool, GC helpers) per operation, in µs, from
   * `process.cpuUsage()`. Less sensitive to other processes than ops/s: time spent descheduled is not counted.
   */
  cpuMicrosPerOp: number;
  /** Time the main thread was busy (event-loop utilization, active part) per operation, in µs. */
  mainMicrosPerOp: number;
}

/** Wall time, process CPU and main-thread busy time, started together and read as one result. */
class Meter {
  private readonly start = performance.now();
  private readonly cpu = process.cpuUsage();
  private readonly elu = performance.eventLoopUtilization();

  get deadlineBase(): number {
    return this.start;
  }

  result(ops: number): RunResult {
    const ms = performance.now() - this.start;
    const cpu = process.cpuUsage(this.cpu);
    const elu = performance.eventLoopUtilization(this.elu);
    return {
      ops,
      ms,
      opsPerSec: (ops / ms) * 1000,
      cpuMicrosPerOp: (cpu.user + cpu.system) / ops,
      mainMicrosPerOp: (elu.active * 1000) / ops,
    };
  }
}

/** Deadline is checked every `CHECK_EVERY` operations per worker: `performance.now()` is not free for sub-µs ops. */
const CHECK_EVERY = 16;

/**
 * Runs `op` with `concurrency` operations in flight: `concurrency` async workers pull the next index from a shared
 * counter until `maxOps` or `maxMs` is reached. Results are awaited and dropped (never collected in an array);
 * a rejection fails the whole run.
 */
export async function runPool(op: Operation, concurrency: number, limits: RunLimits): Promise<RunResult> {
  let next = 0;
  let done = 0;
  let stop = false;
  const meter = new Meter();
  const deadline = meter.deadlineBase + limits.maxMs;
  const worker = async (): Promise<void> => {
    let sinceCheck = 0;
    while (!stop) {
      const i = next++;
      if (i >= limits.maxOps) {
        stop = true;
        break;
      }
      await op(i);
      done++;
      if (++sinceCheck === CHECK_EVERY) {
        sinceCheck = 0;
        if (performance.now() >= deadline) stop = true;
      }
    }
  };
  const workers: Promise<void>[] = [];
  for (let w = 0; w < concurrency; w++) workers.push(worker());
  await Promise.all(workers);
  return meter.result(done);
}

/** Runs a synchronous `op` in a plain loop (no promises at all), with the same limits as {@link runPool}. */
export function runSync(op: (i: number) => unknown, limits: RunLimits): RunResult {
  const meter = new Meter();
  const deadline = meter.deadlineBase + limits.maxMs;
  let i = 0;
  while (i < limits.maxOps) {
    op(i);
    i++;
    if ((i & (CHECK_EVERY - 1)) === 0 && performance.now() >= deadline) break;
  }
  return meter.result(i);
}

/** How one contender is run in one mode (column). */
export interface Mode {
  /** Column label, e.g. `'32 in flight'`. */
  label: string;
  /** Operations in flight for {@link runPool}. */
  concurrency: number;
}

export interface Contender {
  name: string;
  /** Optional note shown under the table (what exactly is measured). */
  note?: string;
  /**
   * Called before every measurement, outside the timed region: builds what the measurement runs (e.g. a fresh
   * verifier with an empty token cache, warmed up) and returns the operation and its limits.
   * `sync: true` operations are run by {@link runSync} whatever the mode's concurrency.
   */
  prepare(mode: Mode): Promise<{ op: Operation; limits: RunLimits; sync?: boolean }>;
}

export interface Measured {
  name: string;
  note?: string;
  /** The result of every round, per mode label. */
  samples: Map<string, RunResult[]>;
}

export interface RoundsOptions {
  rounds: number;
  modes: readonly Mode[];
  /** Called after each round, e.g. to print progress. */
  onRound?: (round: number) => void;
}

/**
 * Measures every contender in every mode, `rounds` times, interleaved: each round runs each contender once per
 * mode, starting from a different contender every round, so slow drift of the machine spreads over everyone.
 * A GC runs before each measurement.
 */
export async function measureRounds(contenders: readonly Contender[], options: RoundsOptions): Promise<Measured[]> {
  const results: Measured[] = contenders.map((c) => ({
    name: c.name,
    note: c.note,
    samples: new Map(options.modes.map((m) => [m.label, [] as RunResult[]])),
  }));
  for (let round = 0; round < options.rounds; round++) {
    for (let k = 0; k < contenders.length; k++) {
      const index = (k + round) % contenders.length;
      const contender = contenders[index]!;
      for (const mode of options.modes) {
        const { op, limits, sync } = await contender.prepare(mode);
        collectGarbage();
        const result = sync ? runSync(op, limits) : await runPool(op, mode.concurrency, limits);
        results[index]!.samples.get(mode.label)!.push(result);
      }
    }
    options.onRound?.(round);
  }
  return results;
}

export type Metric = 'opsPerSec' | 'cpuMicrosPerOp' | 'mainMicrosPerOp';

/** One metric of every round of a contender in a mode. */
export function samplesOf(measured: readonly Measured[], name: string, mode: string, metric: Metric = 'opsPerSec'): number[] {
  const m = measured.find((r) => r.name === name);
  if (!m) throw new Error(`bench: no contender named "${name}"`);
  return (m.samples.get(mode) ?? []).map((r) => r[metric]);
}

/** Median of one metric (default ops/s) of a contender in a mode. */
export function medianOf(measured: readonly Measured[], name: string, mode: string, metric: Metric = 'opsPerSec'): number {
  return median(samplesOf(measured, name, mode, metric));
}

// ---------------------------------------------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------------------------------------------

/** `12345.6` -> `"12,346"`; small values keep some decimals. */
export function formatNumber(value: number, decimals?: number): string {
  if (!Number.isFinite(value)) return String(value);
  const d = decimals ?? (Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2);
  return value.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

/** Microseconds per operation from ops/s. */
export function microsPerOp(opsPerSec: number): number {
  return 1e6 / opsPerSec;
}

export type Cell = string | number;

/**
 * Prints a plain-text table: the first column left-aligned, the others right-aligned; numbers are formatted with
 * {@link formatNumber}. Reusable for any section (ops/s, requests/s, CPU µs per request...).
 */
export function printTable(headers: readonly string[], rows: readonly (readonly Cell[])[], out: (line: string) => void = console.log): void {
  const text = rows.map((row) => row.map((cell) => (typeof cell === 'number' ? formatNumber(cell) : cell)));
  const widths = headers.map((h, c) => Math.max(h.length, ...text.map((row) => (row[c] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  out(line(headers));
  out(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of text) out(line(row));
}

/**
 * The table of a {@link measureRounds} result, per mode: median ops/s, its spread, and the median CPU µs per
 * operation (whole process) and main-thread busy µs per operation.
 */
export function printMeasured(measured: readonly Measured[], modes: readonly Mode[], out: (line: string) => void = console.log): void {
  const headers = ['contender'];
  for (const mode of modes) headers.push(`${mode.label}: ops/s`, '±%', 'cpu µs/op', 'main µs/op');
  const rows = measured.map((m) => {
    const row: Cell[] = [m.name];
    for (const mode of modes) {
      const ops = samplesOf(measured, m.name, mode.label, 'opsPerSec');
      row.push(
        median(ops),
        `${formatNumber(spreadPercent(ops), 0)}%`,
        formatNumber(medianOf(measured, m.name, mode.label, 'cpuMicrosPerOp'), 2),
        formatNumber(medianOf(measured, m.name, mode.label, 'mainMicrosPerOp'), 2),
      );
    }
    return row;
  });
  printTable(headers, rows, out);
  const notes = measured.filter((m) => m.note);
  if (notes.length > 0) {
    out('');
    for (const m of notes) out(`  ${m.name}: ${m.note}`);
  }
}

/** One target: `numerator / denominator` compared with `target`. */
export interface Check {
  label: string;
  numerator: number;
  denominator: number;
  /** `'>='`: the ratio must be at least `target`; `'<='`: at most. */
  op: '>=' | '<=';
  target: number;
  /** Informational checks are printed with INFO instead of MISS when they fail. */
  informational?: boolean;
}

export interface CheckResult extends Check {
  ratio: number;
  pass: boolean;
}

export function evaluate(check: Check): CheckResult {
  const ratio = check.numerator / check.denominator;
  const pass = check.op === '>=' ? ratio >= check.target : ratio <= check.target;
  return { ...check, ratio, pass };
}

/** `PASS  ours fresh / clerk = 3.12x  (target >= 3x)`; informational checks print `info`. Never throws, never sets the exit code. */
export function ratioLine(check: Check, out: (line: string) => void = console.log): CheckResult {
  const result = evaluate(check);
  const verdict = check.informational ? 'info' : result.pass ? 'PASS' : 'MISS';
  const ratio = result.ratio >= 100 ? formatNumber(result.ratio, 0) : formatNumber(result.ratio, 2);
  const met = check.informational ? (result.pass ? ', met' : ', not met') : '';
  out(`  ${verdict}  ${check.label} = ${ratio}x  (${check.informational ? 'reference' : 'target'} ${check.op} ${check.target}x${met})`);
  return result;
}

/** A section's heading. */
export function heading(title: string, out: (line: string) => void = console.log): void {
  out('');
  out(`== ${title} ${'='.repeat(Math.max(0, 100 - title.length - 4))}`);
}

/** What a section hands back to `bench/index.ts` for the final summary. */
export interface SectionReport {
  title: string;
  checks: CheckResult[];
}
