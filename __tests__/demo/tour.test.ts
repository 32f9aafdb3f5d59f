/**
 * `npm run tour` (examples/tour.ts), the scripted walk through the mixed app, runs as a user runs it and says what
 * the README promises: each line's status.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { demoEnv, hasStack, killAll, runScript, tempDataDir } from './processes.js';

const data = tempDataDir();
afterAll(async () => {
  await killAll();
  data.remove();
});

describe('npm run tour', () => {
  it('walks through the app and exits 0', async () => {
    const tour = runScript('examples/tour.ts', [], demoEnv({ DEMO_DATA_DIR: data.dir }));
    const timer = setTimeout(() => void tour.stop('SIGKILL'), 90_000);
    const { code } = await tour.exited;
    clearTimeout(timer);
    const out = tour.output();
    expect(code).toBe(0);
    expect(hasStack(out)).toBe(false);
    const expected: Array<[string, string]> = [
      ['signed-in user, Express route', 'GET /me -> 200'],
      ['signed-in user, Mastra agent', 'POST /api/agents/weatherAgent/generate -> 200 {"text":"Weather in London'],
      ['no token, Mastra agent', 'POST /api/agents/weatherAgent/generate -> 401 {"error":"token-missing"'],
      ['expired token, Express route', 'GET /me -> 401 {"error":"token-expired"'],
      ['token from another origin (azp)', 'GET /api/agents -> 401 {"error":"token-invalid-authorized-parties"'],
      ['forged signature', 'GET /api/agents -> 401 {"error":"token-invalid-signature"'],
      ['policy: /admin needs an org admin', 'GET /admin/report -> 403 {"error":"access-denied"'],
      ['policy: org admin', 'GET /admin/report -> 200'],
      ['policy: banned user, Mastra route', 'GET /api/agents -> 403 {"error":"access-denied"'],
    ];
    const lines = out.split('\n');
    for (const [label, result] of expected) {
      const line = lines.find((l) => l.startsWith(label));
      expect({ label, line: line?.slice(label.length).trim().startsWith(result) ? result : line }).toEqual({ label, line: result });
    }
    expect(out).toMatch(/MastraClient with a fresh token per request: agents weatherAgent; "Weather in Tokyo: sunny, 21°C."; tokens fetched: 2/);
  }, 120_000);
});
