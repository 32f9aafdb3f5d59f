/**
 * The client's token fetch against what an attacker session tried (two real servers on two ports of 127.0.0.1): an
 * aborted request is not held by getToken(); an origin without a scheme is refused rather than read as the page's; a
 * token that is no string is refused; headers merge as fetch merges them; errors name the function called. The
 * session found no way for the token to reach another origin (the last test: redirects, userinfo, ports, schemes).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createClerkMastraClient, withClerkToken } from '../../src/client/index.js';

interface Recorder { base: string; seen: Array<{ url: string; headers: IncomingHttpHeaders }>; server: Server }
async function recorder(): Promise<Recorder> {
  const seen: Recorder['seen'] = [];
  const server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    const to = new URL(req.url ?? '/', 'http://x').searchParams.get('to');
    if (to) res.writeHead(307, { location: to }).end();
    else res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { base: `http://127.0.0.1:${(server.address() as { port: number }).port}`, seen, server };
}
let api: Recorder; let other: Recorder;
beforeAll(async () => { [api, other] = await Promise.all([recorder(), recorder()]); });
afterAll(async () => { for (const { server } of [api, other]) await new Promise((r) => server.close(r)); });

async function inPage<T>(href: string, body: () => Promise<T> | T): Promise<T> {
  const g = globalThis as { location?: unknown; document?: unknown };
  const saved = { location: g.location, document: g.document };
  g.location = new URL(href); g.document = { baseURI: href };
  try { return await body(); } finally { g.location = saved.location; g.document = saved.document; }
}

describe('withClerkToken and createClerkMastraClient, as an attacker session tried them', () => {
  it('an aborted request rejects at once, without waiting for (or calling) getToken, as fetch does', async () => {
    let calls = 0;
    const clerkFetch = withClerkToken(() => { calls++; return new Promise<string>(() => {}); }, { origin: api.base });
    const ac = new AbortController(); ac.abort();
    const outcome = await Promise.race([
      clerkFetch(`${api.base}/x`, { signal: ac.signal }).then(() => 'resolved', (e: Error) => e.name),
      new Promise((r) => setTimeout(() => r('still pending after 1s'), 1000)),
    ]);
    expect({ outcome, calls }).toEqual({ outcome: 'AbortError', calls: 0 });
  });

  it('in a page, an origin without a scheme ("agents.example.com", "*") is a TypeError, not the page origin', async () => {
    await inPage(`${other.base}/app/`, () => {
      expect(() => withClerkToken(() => 't', { origin: 'agents.example.com' })).toThrow(TypeError);
      expect(() => withClerkToken(() => 't', { origin: '*' })).toThrow(TypeError);
    });
  });

  it('in a page, createClerkMastraClient({ baseUrl: "localhost:4111" }) throws and sends nothing', async () => {
    const seen: string[] = [];
    await inPage(`${other.base}/app/`, async () => {
      let threw = false;
      try {
        const client = createClerkMastraClient({ baseUrl: 'localhost:4111', getToken: () => 'tok', retries: 0,
          fetch: async (input, init) => { seen.push(`${String(input)} ${new Headers(init?.headers).get('authorization')}`); return new Response('{}'); } });
        await client.listAgents();
      } catch { threw = true; }
      expect({ threw, seen }).toEqual({ threw: true, seen: [] });
    });
  });

  it('a token that is no string is a TypeError, never "Bearer [object Object]"', async () => {
    const clerkFetch = withClerkToken((() => ({ jwt: 'x' })) as never, { origin: api.base });
    let err: unknown;
    await clerkFetch(`${api.base}/obj`).catch((e) => { err = e; });
    expect({ err: err instanceof TypeError, auth: api.seen.at(-1)?.headers.authorization }).toEqual({ err: true, auth: undefined });
  });

  it('a Request and init.headers: init replaces the Request headers, as in fetch', async () => {
    const clerkFetch = withClerkToken(() => 'tok', { origin: api.base });
    const req = new Request(`${api.base}/merge`, { headers: { 'x-secret': 's1' } });
    await clerkFetch(req, { headers: { 'x-b': '1' } });
    const viaWrapper = api.seen.at(-1)?.headers['x-secret'];
    await fetch(new Request(`${api.base}/merge`, { headers: { 'x-secret': 's1' } }), { headers: { 'x-b': '1' } });
    const viaFetch = api.seen.at(-1)?.headers['x-secret'];
    expect(viaWrapper).toBe(viaFetch);
  });

  it('a getToken that is no function: the message names the function called', () => {
    expect(() => withClerkToken(undefined as never, { origin: api.base })).toThrow(/^withClerkToken/);
    expect(() => createClerkMastraClient({ baseUrl: api.base, getToken: undefined as never })).toThrow(/^createClerkMastraClient/);
  });

  // ---- probes expected to hold ----
  it('holds: redirects, userinfo, ports, schemes, trailing dot, case, MastraClient headers', async () => {
    const f = withClerkToken(() => 'tok', { origin: `${api.base}/prefix/` });
    await f(new Request(`${api.base}/r?to=${encodeURIComponent(`${other.base}/landed`)}`, { headers: { authorization: 'Bearer x' } }));
    expect(other.seen.at(-1)?.headers.authorization).toBeUndefined();
    await f(`${api.base}/r?to=${encodeURIComponent(`${api.base}/same`)}`);
    expect(api.seen.at(-1)).toMatchObject({ url: '/same', headers: { authorization: 'Bearer tok' } });
    await f(`${api.base.replace('http://', 'http://127.0.0.1:' + api.base.split(':')[2] + '@')}/`.replace(/@.*/, '@') + other.base.slice(7) + '/ui').catch(() => undefined);
    const host = api.base.slice(7);
    await f(`http://${host}@${other.base.slice(7)}/ui2`).catch(() => undefined);
    expect(other.seen.filter((s) => s.headers.authorization).length).toBe(0);
    await f(`http://LOCALHOST:${api.base.split(':')[2]}/lh`).catch(() => undefined);
    expect(api.seen.at(-1)?.headers.authorization).not.toBe('Bearer tok');
    await f(`HTTP://127.0.0.1:${api.base.split(':')[2]}/upper`);
    expect(api.seen.at(-1)?.headers.authorization).toBe('Bearer tok');
    await f(`http://127.1:${api.base.split(':')[2]}/short`);
    expect(api.seen.at(-1)?.headers.authorization).toBe('Bearer tok');
    const client = createClerkMastraClient({ baseUrl: `${api.base}/mastra`, apiPrefix: '@evil', getToken: () => 'tok2', retries: 0, headers: { Authorization: 'Bearer service' } });
    await client.listAgents().catch(() => undefined);
    expect(api.seen.at(-1)).toMatchObject({ url: '/mastra/@evil/agents', headers: { authorization: 'Bearer tok2' } });
    // concurrency: each request awaits its own token
    let n = 0;
    const g = withClerkToken(async () => { const i = ++n; await new Promise((r) => setTimeout(r, 20 - i)); return `t${i}`; }, { origin: api.base });
    await Promise.all(Array.from({ length: 10 }, (_, i) => g(`${api.base}/c${i}`)));
    const tokens = api.seen.filter((s) => s.url.startsWith('/c')).map((s) => s.headers.authorization).sort();
    expect(new Set(tokens).size).toBe(10);
  });
});
