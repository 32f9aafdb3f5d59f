/**
 * The client in a real browser (Chromium): the token goes to the API's origin only, under the browser's own rules for
 * what the Node suites can only imitate: relative URLs and a page's `<base href>`, fetch's redirects (a cross-origin
 * hop, a 307 that keeps a POST's body), CORS preflights, `Request` objects the page builds, abort. Three servers on
 * 127.0.0.1: the page's, the API's (CORS for the page), and another origin that records everything it is sent.
 * `src/client/index.ts` and `@mastra/client-js` are bundled with esbuild, as the playground bundles them.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, chromiumPath, hasChromium } from '../support/chromium.js';

interface Site { base: string; seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders }>; server: Server }

/** A server that records each request and answers CORS for `allowOrigin`; `?to=` redirects (`&status=`, default 302). */
async function site(handle?: (url: URL, res: import('node:http').ServerResponse) => boolean, allowOrigin = () => '*'): Promise<Site> {
  const seen: Site['seen'] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const cors = { 'access-control-allow-origin': allowOrigin(), 'access-control-allow-headers': req.headers['access-control-request-headers'] ?? '', 'access-control-allow-methods': 'GET, POST' };
    const url = new URL(req.url ?? '/', 'http://x');
    req.resume();
    if (req.method === 'OPTIONS') return void res.writeHead(204, cors).end();
    const to = url.searchParams.get('to');
    if (to) return void res.writeHead(Number(url.searchParams.get('status') ?? 302), { ...cors, location: to }).end();
    if (handle?.(url, res)) return;
    res.writeHead(200, { ...cors, 'content-type': 'application/json' }).end(JSON.stringify({ authorization: req.headers.authorization ?? null }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { base: `http://127.0.0.1:${(server.address() as { port: number }).port}`, seen, server };
}

const browserTests = hasChromium('the client in a real browser');

(browserTests ? describe : describe.skip)('the client in a real browser', () => {
  let page: Site; let api: Site; let other: Site;
  let browser: Browser; let tab: Page;
  let bundle: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    const client = fileURLToPath(new URL('../../src/client/index.ts', import.meta.url));
    const built = await build({
      stdin: { contents: `export * from ${JSON.stringify(client)};`, resolveDir: process.cwd(), loader: 'ts' },
      bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false, logLevel: 'silent',
    });
    bundle = built.outputFiles[0]!.text;
    other = await site();
    page = await site((url, res) => {
      if (url.pathname === '/client.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle), true;
      if (url.pathname.startsWith('/app')) {
        // `?base=` gives the page a <base href> (a page's relative URLs then resolve there).
        const base = url.searchParams.get('base');
        const html = `<!doctype html>${base ? `<base href="${base}">` : ''}<script type="module">import * as lib from '${page.base}/client.js'; window.lib = lib; document.body.dataset.ready = 'true';</script><body></body>`;
        return void res.writeHead(200, { 'content-type': 'text/html' }).end(html), true;
      }
      return false;
    });
    api = await site((url, res) => {
      if (url.pathname !== '/api/agents') return false;
      res.writeHead(200, { 'access-control-allow-origin': page.base, 'content-type': 'application/json' }).end('{}');
      return true;
    }, () => page.base);
    browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS });
    tab = await browser.newPage();
    tab.on('pageerror', (error) => pageErrors.push(error.message));
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    for (const s of [page, api, other]) if (s) await new Promise((r) => s.server.close(r));
  });

  async function open(path = '/app/'): Promise<void> {
    await tab.goto(`${page.base}${path}`);
    await tab.waitForSelector('body[data-ready="true"]', { state: 'attached' });
  }
  /** What `site` was sent: its requests' method, path and Authorization (and a preflight's asked-for headers). */
  function sent(s: Site) {
    return s.seen.splice(0).map((r) => [r.method, r.url, r.headers.authorization ?? r.headers['access-control-request-headers'] ?? null].join(' '));
  }

  it('the API origin gets a fresh token on each request; another origin, and a redirect to it, get none', async () => {
    await open();
    const results = await tab.evaluate(async ({ apiBase, otherBase }) => {
      const w = window as unknown as { lib: typeof import('../../src/client/index.js') };
      let n = 0;
      const clerkFetch = w.lib.withClerkToken(async () => `tok${++n}`, { origin: apiBase });
      const out: unknown[] = [];
      out.push(await (await clerkFetch(`${apiBase}/echo`)).json());
      out.push(await (await clerkFetch(new URL('/echo', apiBase))).json());
      out.push(await (await clerkFetch(`${otherBase}/echo`)).json());
      for (const status of ['302', '307']) {
        const to = encodeURIComponent(`${otherBase}/landed-${status}`);
        out.push(await clerkFetch(`${apiBase}/hop?status=${status}&to=${to}`, { method: 'POST', body: 'x' }).then((r) => r.status, (e: Error) => e.name));
      }
      return out;
    }, { apiBase: api.base, otherBase: other.base });
    expect(results).toEqual([{ authorization: 'Bearer tok1' }, { authorization: 'Bearer tok2' }, { authorization: null }, 200, 200]);
    // The browser drops Authorization on a cross-origin redirect (the fetch standard): nothing of it reaches the other
    // origin, not even in a preflight's list of headers.
    expect(sent(other)).toEqual(['GET /echo ', 'GET /landed-302 ', 'POST /landed-307 ']); // a 302 makes a POST a GET
    expect(sent(api).filter((line) => !line.startsWith('OPTIONS'))).toEqual([
      'GET /echo Bearer tok1', 'GET /echo Bearer tok2', 'POST /hop?status=302&to=' + encodeURIComponent(`${other.base}/landed-302`) + ' Bearer tok3',
      'POST /hop?status=307&to=' + encodeURIComponent(`${other.base}/landed-307`) + ' Bearer tok4',
    ]);
  });

  it("a page's <base href> on another origin: relative requests go there without the token", async () => {
    await open(`/app/?base=${encodeURIComponent(`${other.base}/`)}`);
    const results = await tab.evaluate(async ({ apiBase }) => {
      const w = window as unknown as { lib: typeof import('../../src/client/index.js') };
      const clerkFetch = w.lib.withClerkToken(() => 'tok', { origin: apiBase });
      const request = new Request('relative-request');
      return [await (await clerkFetch('relative')).json(), await (await clerkFetch(request)).json(), request.url];
    }, { apiBase: api.base });
    expect(results).toEqual([{ authorization: null }, { authorization: null }, `${other.base}/relative-request`]);
    expect(sent(other)).toEqual(['GET /relative ', 'GET /relative-request ']);
  });

  it("a Request the page built: its own Authorization is replaced by the fresh token, and signed out it goes without", async () => {
    await open();
    const results = await tab.evaluate(async ({ apiBase }) => {
      const w = window as unknown as { lib: typeof import('../../src/client/index.js') };
      let token: string | null = 'fresh';
      const clerkFetch = w.lib.withClerkToken(() => token, { origin: apiBase });
      const stale = () => new Request(`${apiBase}/echo`, { headers: { authorization: 'Bearer stale', 'x-app': '1' } });
      const out = [await (await clerkFetch(stale())).json()];
      token = null;
      out.push(await (await clerkFetch(stale())).json());
      return out;
    }, { apiBase: api.base });
    expect(results).toEqual([{ authorization: 'Bearer fresh' }, { authorization: null }]);
    api.seen.splice(0);
  });

  it("a 'no-cors' request to the API is a TypeError (the browser would drop the token silently); elsewhere it goes as written", async () => {
    await open();
    const results = await tab.evaluate(async ({ apiBase, otherBase }) => {
      const w = window as unknown as { lib: typeof import('../../src/client/index.js') };
      let calls = 0;
      const clerkFetch = w.lib.withClerkToken(() => `tok${++calls}`, { origin: apiBase });
      const outcome = (p: Promise<Response>) => p.then((r) => r.type, (e: Error) => `${e.name}: ${e.message}`);
      return [
        await outcome(clerkFetch(`${apiBase}/nocors`, { mode: 'no-cors' })),
        await outcome(clerkFetch(new Request(`${apiBase}/nocors-request`, { mode: 'no-cors' }))),
        await outcome(clerkFetch(`${otherBase}/nocors`, { mode: 'no-cors' })),
        calls,
      ];
    }, { apiBase: api.base, otherBase: other.base });
    const refused = "TypeError: withClerkToken: a request in mode 'no-cors' cannot carry the token (the browser drops Authorization); use mode 'cors'";
    expect(results).toEqual([refused, refused, 'opaque', 0]);
    expect(sent(api)).toEqual([]);
    expect(sent(other)).toEqual(['GET /nocors ']);
  });

  it('an aborted request rejects with AbortError while getToken() is pending, and sends nothing', async () => {
    await open();
    const outcome = await tab.evaluate(async ({ apiBase }) => {
      const w = window as unknown as { lib: typeof import('../../src/client/index.js') };
      const clerkFetch = w.lib.withClerkToken(() => new Promise<string>(() => {}), { origin: apiBase });
      const controller = new AbortController();
      const pending = clerkFetch(`${apiBase}/never`, { signal: controller.signal }).then(() => 'resolved', (e: Error) => e.name);
      setTimeout(() => controller.abort(), 50);
      return pending;
    }, { apiBase: api.base });
    expect(outcome).toBe('AbortError');
    expect(sent(api)).toEqual([]);
  });

  it('createClerkMastraClient: MastraClient requests to its baseUrl carry the token, through a CORS preflight', async () => {
    await open();
    const agents = await tab.evaluate(async ({ apiBase }) => {
      const w = window as unknown as { lib: typeof import('../../src/client/index.js') };
      const client = w.lib.createClerkMastraClient({ baseUrl: apiBase, getToken: async () => 'tok-mastra', retries: 0 });
      return client.listAgents();
    }, { apiBase: api.base });
    expect(agents).toEqual({});
    expect(sent(api)).toEqual(['OPTIONS /api/agents authorization', 'GET /api/agents Bearer tok-mastra']);
    expect(pageErrors).toEqual([]);
  });
});
