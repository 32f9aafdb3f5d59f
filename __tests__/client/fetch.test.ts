/**
 * `withClerkToken` sends the Clerk session token to the API it is for, and to no other site: an app that uses the
 * wrapped `fetch` for everything (a third-party API, an analytics call) must not hand its users' tokens out. Two real
 * servers on 127.0.0.1, on two ports (two origins): the API, and a third party that records what it receives.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createClerkMastraClient, withClerkToken } from '../../src/client/index.js';

interface Recorder {
  base: string;
  seen: IncomingHttpHeaders[];
  server: Server;
}

/** A server that records each request's headers; `/redirect?to=` answers 307 there. */
async function recorder(): Promise<Recorder> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    const to = new URL(req.url ?? '/', 'http://x').searchParams.get('to');
    if (to) res.writeHead(307, { location: to }).end();
    else res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { base: `http://127.0.0.1:${(server.address() as { port: number }).port}`, seen, server };
}

const TOKEN = 'header.payload.signature';
const getToken = () => TOKEN;
let api: Recorder;
let thirdParty: Recorder;

beforeAll(async () => {
  [api, thirdParty] = await Promise.all([recorder(), recorder()]);
});
afterAll(async () => {
  for (const { server } of [api, thirdParty]) await new Promise((resolve) => server.close(resolve));
});

/** The Authorization header of the last request `target` received. */
const lastAuthorization = (target: Recorder) => target.seen.at(-1)?.authorization;

describe('withClerkToken', () => {
  it("sends the token to the API's origin, as a string, a URL or a Request, and to no other origin", async () => {
    const clerkFetch = withClerkToken(getToken, { origin: api.base });
    for (const input of [`${api.base}/agents`, new URL(`${api.base}/agents`), new Request(`${api.base}/agents`)]) {
      await clerkFetch(input);
      expect(lastAuthorization(api)).toBe(`Bearer ${TOKEN}`);
    }
    for (const input of [`${thirdParty.base}/collect`, new URL(`${thirdParty.base}/collect`), new Request(`${thirdParty.base}/collect`)]) {
      await clerkFetch(input);
      expect(lastAuthorization(thirdParty)).toBeUndefined();
    }
  });

  it("leaves another site's request as the app wrote it (its own Authorization included)", async () => {
    const clerkFetch = withClerkToken(getToken, { origin: api.base });
    await clerkFetch(`${thirdParty.base}/v1/things`, { headers: { authorization: 'Bearer their-own-key', 'x-app': '1' } });
    expect(thirdParty.seen.at(-1)).toMatchObject({ authorization: 'Bearer their-own-key', 'x-app': '1' });
  });

  it('takes several origins, given as origins or base URLs', async () => {
    const clerkFetch = withClerkToken(getToken, { origin: [`${api.base}/api/`, thirdParty.base] });
    await clerkFetch(`${api.base}/api/agents`);
    await clerkFetch(`${thirdParty.base}/api/agents`);
    expect([lastAuthorization(api), lastAuthorization(thirdParty)]).toEqual([`Bearer ${TOKEN}`, `Bearer ${TOKEN}`]);
  });

  it("a redirect from the API to another origin does not carry the token (fetch drops it; the token's origin is checked first)", async () => {
    const clerkFetch = withClerkToken(getToken, { origin: api.base });
    const res = await clerkFetch(`${api.base}/redirect?to=${encodeURIComponent(`${thirdParty.base}/landed`)}`);
    expect(res.status).toBe(200);
    expect(lastAuthorization(api)).toBe(`Bearer ${TOKEN}`);
    expect(thirdParty.seen.at(-1)).not.toHaveProperty('authorization');
  });

  it('judges and sends the same URL: one the app changes while getToken() runs, or an object whose url is not its string form', async () => {
    const clerkFetch = withClerkToken(async () => TOKEN, { origin: api.base });
    const url = new URL(`${api.base}/agents`);
    const first = clerkFetch(url); // fetch(url) reads the URL now
    url.href = `${thirdParty.base}/collect`; // the app reuses its URL object for its next call
    const second = clerkFetch(url);
    await Promise.all([first, second]);
    expect([api.seen.at(-1)?.authorization, thirdParty.seen.at(-1)?.authorization]).toEqual([`Bearer ${TOKEN}`, undefined]);
    // Not a Request: fetch reads it as its string form, and so is it judged.
    const odd = { url: `${api.base}/agents`, toString: () => `${thirdParty.base}/collect` };
    await clerkFetch(odd as unknown as Request);
    expect(thirdParty.seen.at(-1)?.authorization).toBeUndefined();
  });

  it('outside a browser (no page origin to default to), it needs the origin: a TypeError at creation, not a silent 401', () => {
    expect(() => withClerkToken(getToken)).toThrow(new TypeError('withClerkToken: "origin" must name the API the token is for (its origin or base URL); only a browser page has one to default to'));
    for (const origin of ['not a url', 'file:///etc/passwd', '']) {
      expect(() => withClerkToken(getToken, { origin })).toThrow(TypeError);
    }
  });

  it('sends no Authorization when signed out (getToken answers null), replacing one the app set', async () => {
    const clerkFetch = withClerkToken(() => null, { origin: api.base });
    await clerkFetch(`${api.base}/agents`, { headers: { authorization: 'Bearer stale' } });
    expect(lastAuthorization(api)).toBeUndefined();
  });
});

describe('withClerkToken in a page (location and document.baseURI as a browser has them)', () => {
  /** Runs `body` with `globalThis.location` and `document` of a page at `href` whose base URL is `baseURI`. */
  async function inPage(href: string, baseURI: string, body: () => Promise<void>): Promise<void> {
    const g = globalThis as { location?: unknown; document?: unknown };
    const saved = { location: g.location, document: g.document };
    g.location = new URL(href);
    g.document = { baseURI };
    try {
      await body();
    } finally {
      g.location = saved.location;
      g.document = saved.document;
    }
  }

  it("defaults to the page's origin, and resolves relative URLs as fetch does (against the document's base URL)", async () => {
    await inPage(`${api.base}/app/`, `${api.base}/app/`, async () => {
      const clerkFetch = withClerkToken(getToken, { fetch: (input, init) => fetch(new URL(String(input), `${api.base}/app/`), init) });
      await clerkFetch('agents');
      expect(lastAuthorization(api)).toBe(`Bearer ${TOKEN}`);
    });
    // A <base href> pointing elsewhere: a relative URL goes there, so it gets no token.
    await inPage(`${api.base}/app/`, `${thirdParty.base}/`, async () => {
      const clerkFetch = withClerkToken(getToken, { fetch: (input, init) => fetch(new URL(String(input), `${thirdParty.base}/`), init) });
      await clerkFetch('collect');
      expect(lastAuthorization(thirdParty)).toBeUndefined();
    });
  });

  it('createClerkMastraClient without a baseUrl says so, naming its own option', () => {
    expect(() => createClerkMastraClient({ getToken } as never)).toThrow(/createClerkMastraClient: "baseUrl" must be the URL of the Mastra server/);
    // Outside a page, '' or a URL that is not http(s) is no origin either: the message names baseUrl, not withClerkToken's option.
    for (const baseUrl of ['', 'ftp://agents.example.com', 'not a url']) {
      expect(() => createClerkMastraClient({ baseUrl, getToken })).toThrow(/^createClerkMastraClient: "baseUrl" must be the URL of the Mastra server/);
    }
  });

  it("createClerkMastraClient's baseUrl '' (the page's own origin, relative requests) is that origin", async () => {
    await inPage(`${api.base}/`, `${api.base}/`, async () => {
      const seen: Array<[string, string | null]> = [];
      const client = createClerkMastraClient({
        baseUrl: '',
        getToken,
        retries: 0,
        fetch: async (input, init) => {
          seen.push([String(input instanceof Request ? input.url : input), new Headers(input instanceof Request ? input.headers : init?.headers).get('authorization')]);
          return new Response('{}', { headers: { 'content-type': 'application/json' } });
        },
      });
      await client.listAgents();
      expect(seen).toEqual([[`${api.base}/api/agents`, `Bearer ${TOKEN}`]]);
    });
  });

  it('an object that is no Request of this realm is read as fetch reads it (new Request), not by a url field fetch ignores', async () => {
    await inPage(`${api.base}/`, `${api.base}/`, async () => {
      const seen: Array<string | null> = [];
      const clerkFetch = withClerkToken(getToken, {
        fetch: async (_input, init) => {
          seen.push(new Headers(init?.headers).get('authorization'));
          return new Response('{}');
        },
      });
      const foreign = { url: `${thirdParty.base}/collect`, headers: new Headers(), method: 'GET' };
      await clerkFetch(foreign as unknown as Request);
      expect(seen).toEqual([null]);
    });
  });

  it('the older call form withClerkToken(getToken, fetch) is a TypeError that names the new one, not a silently ignored fetch', () => {
    expect(() => withClerkToken(getToken, fetch as never)).toThrow(
      new TypeError('withClerkToken: the second argument is an options object: withClerkToken(getToken, { origin, fetch })'),
    );
  });
});

describe('createClerkMastraClient', () => {
  it("sends the token to its baseUrl's origin only", async () => {
    const client = createClerkMastraClient({ baseUrl: api.base, getToken, retries: 0 });
    await client.listAgents().catch(() => undefined);
    expect(lastAuthorization(api)).toBe(`Bearer ${TOKEN}`);
  });
});
