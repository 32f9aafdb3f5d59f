/**
 * `npm start` as a user runs it (examples/start.ts in a child process, development mode, a temporary data
 * directory): the printed curl works with a token from `npm run token`, and not without one; tokens survive a
 * restart (the dev issuer's key file); a taken port is one clear line; SIGTERM stops it cleanly.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { demoEnv, freePort, hasStack, killAll, npmToken, runScript, tempDataDir, type Running } from './processes.js';

const READY = /Ctrl-C stops the server\./;
const data = tempDataDir();
afterAll(async () => {
  await killAll();
  data.remove();
});

async function start(port: number): Promise<Running> {
  const server = runScript('examples/start.ts', [], demoEnv({ PORT: String(port), DEMO_DATA_DIR: data.dir }));
  await server.waitFor(READY, 90_000);
  return server;
}

async function post(url: string, body: unknown, token?: string) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { text?: string; error?: string } };
}

describe('npm start (development mode)', () => {
  it('serves the printed curl, with a token from npm run token; survives a restart; reports a taken port', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const first = await start(port);
    const out = first.output();
    expect(out).toContain('DEVELOPMENT MODE');
    expect(out).toContain(`key pair created in ${join(data.dir, 'dev-issuer.json')}`);
    expect(statSync(join(data.dir, 'dev-issuer.json')).mode & 0o777).toBe(0o600);
    expect(out).toContain(`Playground: ${base}/`);

    // The printed curl: its URL, its body, its token, and the lifetime it states.
    const url = out.match(/curl -X POST (\S+) \\/)![1]!;
    expect(url).toBe(`${base}/api/agents/weatherAgent/generate`);
    const body = JSON.parse(out.match(/-d '(.+)'/)![1]!) as { messages: string; memory: { thread: string } };
    expect(body).toEqual({ messages: 'London', memory: { thread: 'curl-london' } });
    const printed = out.match(/Authorization: Bearer ([\w-]+\.[\w-]+\.[\w-]+)/)![1]!;
    const claims = JSON.parse(Buffer.from(printed.split('.')[1]!, 'base64url').toString()) as { exp: number; iat: number };
    const minutes = Number(out.match(/it lives (\d+) minutes/)![1]);
    expect(claims.exp - claims.iat).toBe(minutes * 60);
    expect((await post(url, body, printed)).status).toBe(200);

    // The README's command: an admin of the demo's organization (Acme), who may read /admin/report.
    const token = await npmToken(['--sub', 'user_123', '--org', 'org_acme', '--role', 'admin', '--ttl', '600'], demoEnv({ PORT: String(port), DEMO_DATA_DIR: data.dir }));
    expect(token.code).toBe(0);
    expect(token.stdout.trim()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(token.stderr).toContain('a token for user_123; org org_acme (org:admin)');
    const report = await fetch(`${base}/admin/report`, { headers: { Authorization: `Bearer ${token.stdout.trim()}` } });
    expect(report.status).toBe(200);

    // The printed body, with a thread of user_123's own: a memory thread belongs to the user who started it.
    const own = { ...body, memory: { thread: 'london-user_123' } };
    const answer = await post(url, own, token.stdout.trim());
    expect(answer.status).toBe(200);
    expect(answer.body.text).toContain('London');
    expect((await post(url, body, token.stdout.trim())).status).toBe(403);
    const anonymous = await post(url, own);
    expect(anonymous).toEqual({ status: 401, body: expect.objectContaining({ error: 'token-missing' }) });

    // The playground's development tokens: for this server's own pages only, never through a proxy.
    const devToken = (headers: Record<string, string>) =>
      fetch(`${base}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{"user":"admin"}' });
    expect((await devToken({})).status).toBe(200);
    const proxied: Array<Record<string, string>> = [{ 'x-forwarded-for': '203.0.113.9' }, { 'x-forwarded-host': 'app.example.com' }, { forwarded: 'for=203.0.113.9' }, { via: '1.1 proxy' }, { 'x-real-ip': '203.0.113.9' }, { 'x-forwarded-proto': 'https' }];
    for (const headers of proxied) {
      const res = await devToken(headers);
      expect({ headers, status: res.status, body: await res.json() }).toEqual({ headers, status: 403, body: expect.objectContaining({ error: 'dev-token-forbidden' }) });
    }

    // Public: the health route and the playground; everything else needs a session.
    expect((await fetch(`${base}/health`)).status).toBe(200);
    expect((await fetch(`${base}/`)).headers.get('content-type')).toContain('text/html');
    expect((await fetch(`${base}/playground/main.js`)).status).toBe(200);
    expect((await fetch(`${base}/me`)).status).toBe(401);
    expect((await fetch(`${base}/playground/other.js`)).status).toBe(401);

    // A second server on the same port: one line saying which port and how to pick another, no stack.
    const second = runScript('examples/start.ts', [], demoEnv({ PORT: String(port), DEMO_DATA_DIR: data.dir }));
    const { code } = await second.exited;
    expect(code).not.toBe(0);
    expect(second.stderr().trim().split('\n')).toEqual([`Port ${port} is taken (another npm start?). Pick another: PORT=${port + 1} npm start`]);
    expect(hasStack(second.output())).toBe(false);

    // SIGTERM: a clean stop.
    expect(await first.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(first.output()).toContain('Stopped.');

    // Restarted: the same key file, so the same token still works.
    const again = await start(port);
    expect(again.output()).toContain(`key pair kept in ${join(data.dir, 'dev-issuer.json')}`);
    const later = await post(url, { messages: 'Paris', memory: { thread: 'london-user_123' } }, token.stdout.trim());
    expect(later.status).toBe(200);
    expect(later.body.text).toContain('Paris');
    expect(await again.stop('SIGINT')).toEqual({ code: 0, signal: null });
  }, 180_000);

  it('refuses NODE_ENV=production without Clerk keys, in one line', async () => {
    const server = runScript('examples/start.ts', [], demoEnv({ PORT: String(await freePort()), DEMO_DATA_DIR: data.dir, NODE_ENV: 'production' }));
    expect((await server.exited).code).toBe(1);
    expect(server.stderr().trim()).toMatch(/^NODE_ENV is "production" and no CLERK_\* key is set: the development issuer refuses to run in production\./);
    expect(server.stderr().trim().split('\n')).toHaveLength(1);
  }, 60_000);
});

describe('npm run token', () => {
  const env = () => demoEnv({ DEMO_DATA_DIR: data.dir });

  it('prints the decoded claims with --json', async () => {
    const run = await npmToken(['--sub', 'user_9', '--org', 'org_2', '--role', 'admin', '--perm', 'org:reports:read', '--azp', 'http://localhost:3000', '--pending', '--json'], env());
    expect(run.code).toBe(0);
    const printed = JSON.parse(run.stdout) as { token: string; claims: Record<string, unknown>; header: Record<string, unknown> };
    expect(printed.claims).toMatchObject({
      sub: 'user_9',
      azp: 'http://localhost:3000',
      sts: 'pending',
      v: 2,
      o: { id: 'org_2', rol: 'admin', per: 'read', fpm: '1' },
      fea: 'o:reports',
    });
    expect(printed.header).toMatchObject({ alg: 'RS256', typ: 'JWT' });
    expect(Number(printed.claims.exp) - Number(printed.claims.iat)).toBe(60);
  }, 60_000);

  it('mints expired tokens', async () => {
    const run = await npmToken(['--expired', '--json'], env());
    const { claims } = JSON.parse(run.stdout) as { claims: { exp: number; sub: string } };
    expect(claims.exp).toBeLessThan(Date.now() / 1000);
    expect(claims.sub).toBe('user_member');
  }, 60_000);

  it('answers bad flags with the usage and exit code 2, no stack', async () => {
    for (const args of [['--bogus'], ['--ttl', 'soon'], ['--role', 'admin'], ['--org', 'org_1', '--perm', 'read']]) {
      const run = await npmToken(args, env());
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(run.stderr).toContain('Usage: npm run token -- [options]');
      expect(hasStack(run.stderr)).toBe(false);
      expect(run.stdout).toBe('');
    }
  }, 90_000);

  it('with real Clerk configured, says that tokens come from Clerk’s frontend', async () => {
    const run = await npmToken([], demoEnv({ DEMO_DATA_DIR: data.dir, CLERK_PUBLISHABLE_KEY: 'pk_test_ZXhhbXBsZS5jbGVyay5hY2NvdW50cy5kZXYk' }));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("tokens come from Clerk's frontend");
    expect(run.stderr).toContain('window.Clerk.session.getToken()');
    expect(run.stdout).toBe('');
  }, 60_000);
});
