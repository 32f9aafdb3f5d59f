/**
 * Child processes for the demo tests: `tsx examples/<script>.ts` and `npm run -s token`, each in a process group of
 * its own so that a test can always kill it (tsx runs the script in a child process of its own), a free port, and a
 * temporary data directory (`DEMO_DATA_DIR`: the dev issuer's key file and the LibSQL database).
 */
import { freePort } from '../support/http.js';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// One process, tsx as a loader: signals reach the demo itself (the tsx CLI relays them to a child process and, on a
// busy machine, may give up waiting and kill it), as with `npm start` (`node --import tsx examples/start.ts`).
const TSX_LOADER = ['--import', 'tsx'];

/** The environment of a demo child: no real Clerk, no production, no inherited Jest flags. */
export function demoEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '', NODE_ENV: 'development' };
  for (const name of Object.keys(env)) if (name.startsWith('CLERK_') || name === 'DATABASE_URL' || name === 'PORT') delete env[name];
  return { ...env, ...extra };
}

export interface Running {
  readonly child: ChildProcess;
  /** stdout and stderr so far, interleaved as received. */
  output(): string;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in the output; rejects when the process exits first or on timeout. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` to the process group, then SIGKILL after `graceMs` if it is still there. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<Running>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // already gone
  }
}

/** Starts `tsx <script> ...args` in its own process group. */
export function runScript(script: string, args: string[], env: NodeJS.ProcessEnv): Running {
  const child = spawn(process.execPath, [...TSX_LOADER, script, ...args], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let all = '';
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  const notify = () => listeners.forEach((listener) => listener());
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    all += chunk;
    out += chunk;
    notify();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    all += chunk;
    err += chunk;
    notify();
  });
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      done = true;
      running.delete(handle);
      notify();
      resolve({ code, signal });
    });
  });
  const handle: Running = {
    child,
    output: () => all,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = all.match(pattern);
          if (match) finish(() => resolve(match));
          else if (done) finish(() => reject(new Error(`exited before printing ${pattern}:\n${all}`)));
        };
        const timer = setTimeout(() => finish(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${all}`))), timeoutMs);
        const finish = (then: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          then();
        };
        listeners.add(check);
        check();
      });
    },
    async stop(signal = 'SIGTERM', graceMs = 5_000) {
      if (!done) {
        killGroup(child, signal);
        const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      return exited;
    },
  };
  running.add(handle);
  return handle;
}

/** Kills every child still running (for `afterAll`, whatever happened in the tests). */
export async function killAll(): Promise<void> {
  await Promise.all([...running].map((r) => r.stop('SIGKILL')));
}

/** `npm run -s token -- ...args`: { code, stdout, stderr }. */
export function npmToken(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npm', ['run', '-s', 'token', '--', ...args], { env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}


/** A temporary data directory, and its removal. */
export function tempDataDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'clerk-mastra-demo-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** True when the text contains a stack trace. */
export const hasStack = (text: string): boolean => /^\s+at .+(:\d+:\d+\)?|\(native\))$/m.test(text);

export { freePort };
