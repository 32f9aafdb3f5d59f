/**
 * The testing kit in plain Node, outside Jest: it works, and after close() no server, socket or timer is left, so
 * the process exits by itself (what Jest's --detectOpenHandles would otherwise report).
 */
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';

describe('clerk-mastra-auth/testing in plain Node', () => {
  it('verifies a minted token and exits on its own after close()', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', '__tests__/fixtures/plain-node-issuer.ts'], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    expect(run.error).toBeUndefined(); // a process that hangs is killed at the timeout and reported here
    expect(run.status).toBe(0);
    const report = JSON.parse(run.stdout.trim().split('\n').pop()!);
    expect(report.sub).toBe('user_plain');
    // The issuer's server and timers are gone right after close(); the exit itself proves nothing else was left.
    expect(report.resources.filter((r: string) => /TCPServerWrap|Timeout/.test(r))).toEqual([]);
  });
});
