/**
 * A PostgreSQL database for tests: `DATABASE_URL` when set, else a throwaway cluster (initdb in a temp dir, a
 * `postgres` server on 127.0.0.1 and a free port, run as the `postgres` user), removed by `stop()`.
 *
 * When neither is possible (not root, no PostgreSQL server programs, no `postgres` user) it returns `{ skip }`;
 * `failOrSkip()` turns that into a failure when `process.env.CI` is set: CI must run the PostgreSQL tests.
 */
import { freePort } from './http.js';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Postgres {
  /** `postgres://postgres@127.0.0.1:<port>/<db>` (or DATABASE_URL). */
  url: string;
  /** Stops the server and removes its directory (a no-op for DATABASE_URL). */
  stop(): Promise<void>;
  /** Milliseconds spent by initdb, the server start and createdb (0 for DATABASE_URL). */
  timings: { initdb: number; start: number; createdb: number; total: number };
}

/** Bounds of every wait, in milliseconds. */
const START_TIMEOUT_MS = 30_000;
const COMMAND_TIMEOUT_MS = 60_000;


async function whyNot(): Promise<{ bindir: string; uid: number; gid: number } | { skip: string }> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return { skip: 'not root: cannot run initdb/postgres as the postgres user (set DATABASE_URL instead)' };
  }
  let bindir: string;
  try {
    bindir = (await run('pg_config', ['--bindir'], { timeout: 10_000 })).stdout.trim();
  } catch {
    return { skip: 'pg_config not found: no PostgreSQL server programs (set DATABASE_URL instead)' };
  }
  try {
    const [uid, gid] = await Promise.all([
      run('id', ['-u', 'postgres'], { timeout: 10_000 }),
      run('id', ['-g', 'postgres'], { timeout: 10_000 }),
    ]);
    return { bindir, uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch {
    return { skip: 'no "postgres" system user to run the server as' };
  }
}

/** Waits until the server accepts connections (pg_isready), the process exits, or the bound passes. */
async function waitReady(bindir: string, port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`postgres exited (${child.exitCode ?? child.signalCode}) before accepting connections:\n${output()}`);
    }
    try {
      await run(`${bindir}/pg_isready`, ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-t', '1'], { timeout: 5_000 });
      return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`postgres did not accept connections within ${START_TIMEOUT_MS} ms:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The postmaster's pid, from its postmaster.pid file (runuser does not forward SIGINT to it). */
async function postmasterPid(data: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(join(data, 'postmaster.pid'), 'utf8')).split('\n')[0] ?? '', 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

/** Fast shutdown of the postmaster (SIGINT), then waits for runuser to exit; SIGKILL for both after 10 s. */
async function stopChild(child: ChildProcess, data: string): Promise<void> {
  const pid = await postmasterPid(data);
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    if (pid) signal(pid, 'SIGINT');
    else child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (pid) signal(pid, 'SIGKILL');
      child.kill('SIGKILL');
    }, 10_000);
    await exited;
    clearTimeout(timer);
  } else if (pid) {
    signal(pid, 'SIGKILL');
  }
  child.stdout?.destroy();
  child.stderr?.destroy();
}

export async function startPostgres(): Promise<Postgres | { skip: string }> {
  if (process.env.DATABASE_URL) {
    return { url: process.env.DATABASE_URL, stop: async () => {}, timings: { initdb: 0, start: 0, createdb: 0, total: 0 } };
  }
  const env = await whyNot();
  if ('skip' in env) return env;
  const { bindir, uid, gid } = env;

  const t0 = Date.now();
  const dir = await mkdtemp(join(tmpdir(), 'cma-pg-'));
  let child: ChildProcess | undefined;
  try {
    await chown(dir, uid, gid);
    const data = join(dir, 'data');
    await run('runuser', ['-u', 'postgres', '--', `${bindir}/initdb`, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync', '-D', data], {
      timeout: COMMAND_TIMEOUT_MS,
    });
    const t1 = Date.now();

    const port = await freePort();
    let output = '';
    child = spawn(
      'runuser',
      // fsync off: a throwaway cluster; crash safety is not what the tests measure.
      ['-u', 'postgres', '--', `${bindir}/postgres`, '-D', data, '-h', '127.0.0.1', '-p', String(port), '-k', dir, '-c', 'fsync=off'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await waitReady(bindir, port, child, () => output);
    const t2 = Date.now();

    const database = 'cma_test';
    await run(`${bindir}/createdb`, ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', database], { timeout: COMMAND_TIMEOUT_MS });
    const t3 = Date.now();

    const server = child;
    let stopped = false;
    return {
      url: `postgres://postgres@127.0.0.1:${port}/${database}`,
      timings: { initdb: t1 - t0, start: t2 - t1, createdb: t3 - t2, total: t3 - t0 },
      async stop() {
        if (stopped) return;
        stopped = true;
        await stopChild(server, data);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    if (child) await stopChild(child, join(dir, 'data'));
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * The skip reason, or a thrown error when `process.env.CI` is set (CI must run the PostgreSQL tests).
 */
export function failOrSkip(result: Postgres | { skip: string }): string | undefined {
  if (!('skip' in result)) return undefined;
  if (process.env.CI) throw new Error(`PostgreSQL tests cannot be skipped in CI: ${result.skip}`);
  return result.skip;
}
