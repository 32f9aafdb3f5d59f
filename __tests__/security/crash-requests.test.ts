/**
 * Requests that made Mastra's Express adapter throw outside its handler, let through by the middleware: Express 4
 * leaves such a rejection unhandled and the process exits (every user's requests fail); Express 5 answers 500 with its
 * error page, the stack trace included outside production (found by an attacker session of our own).
 * - `TRACE`: `@mastra/express` builds a Web `Request` for every request it authenticates, and the Fetch `Request`
 *   refuses TRACE; its `app.all()` MCP routes (`/mcp/:serverId/mcp`) take every method, with no MCP server configured.
 * - A multipart body: Mastra parses one on any route with a body, its public `/auth` routes included, before the
 *   handler. Its body limits read only `Content-Length` (a chunked body over the limit: its parser's size error
 *   escapes the handler), and a file part that never ends makes its parser emit an error nobody listens to (the
 *   process exits on Express 5 too).
 * The server runs in a process of its own (`__tests__/fixtures/mixed-server.ts`): a test sees whether it survives.
 */
import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createClerkMastraClient } from '../../src/client/index.js';

const SERVER = fileURLToPath(new URL('../fixtures/mixed-server.ts', import.meta.url));
// A test starts up to two server processes, each allowed 30 s to start (a loaded CI machine took over 20 s for two).
jest.setTimeout(90_000);
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});

interface Server {
  port: number;
  token: string;
  /** 'alive', or the exit code once the process has exited. */
  state(): Promise<string | number | null>;
}

async function start(version: '4' | '5', mode: 'optional' | 'required', sharing: 'shared' | 'unshared' = 'shared', nodeFlags: string[] = []): Promise<Server> {
  const env = { ...process.env, NODE_OPTIONS: '', NODE_ENV: 'development' };
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', SERVER, version, mode, sharing], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr!.resume();
  let exit: number | null | undefined;
  child.once('exit', (code) => (exit = code));
  const deadline = Date.now() + 30_000;
  while (!/TOKEN \S+/.test(out)) {
    if (exit !== undefined || Date.now() > deadline) throw new Error(`the server did not start: ${out}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const port = Number(/PORT (\d+)/.exec(out)![1]);
  const token = /TOKEN (\S+)/.exec(out)![1]!;
  return {
    port,
    token,
    async state() {
      // A request after the attack answers, and the process is still there a moment later.
      const health = await send(port, 'GET', '/health', { authorization: `Bearer ${token}` });
      await new Promise((resolve) => setTimeout(resolve, 200));
      return exit !== undefined ? exit : 'status' in health && health.status === 200 ? 'alive' : `health: ${JSON.stringify(health)}`;
    },
  };
}

type Answer = { status: number; headers: Record<string, string | string[] | undefined>; body: string } | { error: string };

function send(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: Buffer): Promise<Answer> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', (error) => resolve({ error: error.message }));
    req.end(body);
  });
}

function expectRefused(answer: Answer, message: string): void {
  // A connection error (the process died) or an HTML error page shows as it is.
  const got = 'status' in answer ? [answer.status, answer.body.startsWith('{') ? JSON.parse(answer.body) : answer.body] : [answer.error];
  expect(got).toEqual([400, { error: 'request-invalid', message }]);
  if ('status' in answer) {
    expect(answer.headers['www-authenticate']).toBe(`Bearer realm="api", error="invalid_request", error_description="${message}"`);
  }
}

const TRACE_REFUSED = 'The request method TRACE is not served.';
const NOT_MULTIPART = "Mastra's routes take JSON bodies: only its voice transcription (POST /agents/:agentId/voice/listen) takes a multipart one.";
/** A multipart body whose file part never ends (no closing boundary), sent with its true length. */
const UNTERMINATED = Buffer.from('--b0undary\r\nContent-Disposition: form-data; name="audio"; filename="a"\r\n\r\nabc');
const LENGTHLESS = "A multipart body must say its length (Content-Length): Mastra's body limits read only that.";

/** A multipart body of one file of `size` bytes. */
function multipart(size: number): { body: Buffer; type: string } {
  const boundary = 'b0undary';
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="audio"; filename="a"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    Buffer.alloc(size, 97),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { body, type: `multipart/form-data; boundary=${boundary}` };
}

describe.each(['4', '5'] as const)('Express %s', (version) => {
  it('TRACE is refused before any route, signed out (optional) or signed in, and the server stays up', async () => {
    for (const mode of ['optional', 'required'] as const) {
      const server = await start(version, mode);
      for (const path of ['/api/mcp/any/mcp', '/api/mcp/any/sse', '/api/agents', '/health']) {
        expectRefused(await send(server.port, 'TRACE', path), TRACE_REFUSED);
        expectRefused(await send(server.port, 'TRACE', path, { authorization: `Bearer ${server.token}` }), TRACE_REFUSED);
      }
      expect([mode, await server.state()]).toEqual([mode, 'alive']);
    }
  });

  it("a multipart body to a Mastra route that takes JSON is refused, signed in or not, and the server stays up", async () => {
    // Mastra parses a multipart body on any route with a body, before its handler and, on its public /auth routes,
    // without authentication: a file part that never ends made busboy emit an error nobody listens to (the process
    // exited on Express 4 and 5), and a chunked one over the body limit a rejection nobody handles (Express 4).
    const server = await start(version, 'optional');
    const auth = { authorization: `Bearer ${server.token}` };
    const { body, type } = multipart(300 * 1024); // over the 256 KiB limit of POST /observability/traces/query
    const framings: Array<Record<string, string>> = [
      { 'content-type': type, 'transfer-encoding': 'chunked' },
      { 'content-type': type, 'content-length': String(body.length) },
    ];
    for (const path of ['/api/observability/traces/query', '/api/observability/traces/delete', '/api/agents/any/generate']) {
      for (const framing of framings) expectRefused(await send(server.port, 'POST', path, { ...auth, ...framing }, body), NOT_MULTIPART);
      const unterminated = { ...auth, 'content-type': type, 'content-length': String(UNTERMINATED.length) };
      expectRefused(await send(server.port, 'POST', path, unterminated, UNTERMINATED), NOT_MULTIPART);
    }
    // Mastra's adapter parses one for PUT, PATCH and DELETE routes too.
    for (const [method, path] of [
      ['DELETE', '/api/memory/threads/t1'],
      ['PATCH', '/api/memory/threads/t1'],
      ['PUT', '/api/agent-controller/c1/sessions/user_x/state'],
    ] as const) {
      const unterminated = { ...auth, 'content-type': type, 'content-length': String(UNTERMINATED.length) };
      expectRefused(await send(server.port, method, path, unterminated, UNTERMINATED), NOT_MULTIPART);
    }
    // Mastra's public routes, anonymous (optional: true lets the request through signed out).
    for (const path of ['/api/auth/logout', '/api/auth/refresh', '/api/auth/credentials/sign-in']) {
      expectRefused(await send(server.port, 'POST', path, { 'content-type': type, 'content-length': String(UNTERMINATED.length) }, UNTERMINATED), NOT_MULTIPART);
      expectRefused(await send(server.port, 'POST', path, { 'content-type': type, 'transfer-encoding': 'chunked' }, body), NOT_MULTIPART);
    }
    expect(await server.state()).toBe('alive');
  });

  it('a chunked multipart body is refused with a middleware that does not share the provider\'s object too', async () => {
    // Copied apart, the README's Express and Mastra sections build two objects: the middleware then knows no Mastra
    // route, and a chunked body over the limit to Mastra's public /auth/refresh made Express 4 exit, from anyone.
    const server = await start(version, 'optional', 'unshared');
    const { body, type } = multipart(100 * 1024);
    const chunked = { 'content-type': type, 'transfer-encoding': 'chunked' };
    expectRefused(await send(server.port, 'POST', '/api/auth/refresh', chunked, body), LENGTHLESS);
    expectRefused(await send(server.port, 'POST', '/api/agents/any/generate', { authorization: `Bearer ${server.token}`, ...chunked }, body), LENGTHLESS);
    expect(await server.state()).toBe('alive');
  });

  it("with Node's lenient parser, a Content-Length next to Transfer-Encoding is no length", async () => {
    // --insecure-http-parser accepts both headers and reads the body as chunked, while Mastra's limit reads the
    // Content-Length: a small one let a chunked body over the limit through to the parser (found by an attacker).
    const server = await start(version, 'optional', 'shared', ['--insecure-http-parser']);
    const { body, type } = multipart(100 * 1024);
    const chunked = Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
    const head =
      `POST /hooks/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${type}\r\nContent-Length: 10\r\n` +
      'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n';
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(server.port, '127.0.0.1', () => socket.end(Buffer.concat([Buffer.from(head), chunked])));
      let text = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      socket.on('close', () => resolve(text));
      socket.on('error', (error) => resolve(`error: ${error.message}`));
    });
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(answer).toContain(JSON.stringify({ error: 'request-invalid', message: LENGTHLESS }));
    expect(await server.state()).toBe('alive');
  });

  it('a multipart body must say its length on every route: Mastra custom routes parse one anywhere', async () => {
    // `createRoute` routes go through Mastra's body parsing at paths of the app's choosing, which no route table
    // knows: a chunked body over the limit made Express 4 exit, from anyone on a public one.
    const server = await start(version, 'optional');
    const auth = { authorization: `Bearer ${server.token}` };
    const { body, type } = multipart(100 * 1024); // over the 64 KiB limit
    const chunked = { 'content-type': type, 'transfer-encoding': 'chunked' };
    expectRefused(await send(server.port, 'POST', '/hooks/ingest', chunked, body), LENGTHLESS);
    expectRefused(await send(server.port, 'POST', '/custom/upload', { ...auth, ...chunked }, body), LENGTHLESS);
    expectRefused(await send(server.port, 'POST', '/upload', { ...auth, ...chunked }, body), LENGTHLESS);
    // With its length: Mastra's limit answers (413), and the app's own route takes the upload.
    const sized = { 'content-type': type, 'content-length': String(body.length) };
    const custom = await send(server.port, 'POST', '/hooks/ingest', sized, body);
    expect('status' in custom && custom.status).toBe(413);
    const own = await send(server.port, 'POST', '/upload', { ...auth, ...sized }, body);
    expect('status' in own && [own.status, JSON.parse(own.body)]).toEqual([200, { bytes: body.length }]);
    // A file part that never ends, with its length, on a custom route: the parser's error is Mastra's 400.
    const broken = await send(server.port, 'POST', '/hooks/ingest', { 'content-type': type, 'content-length': String(UNTERMINATED.length) }, UNTERMINATED);
    expect('status' in broken ? broken.status : broken.error).toBe(400);
    expect(await server.state()).toBe('alive');
  });

  it('voice transcription takes a multipart body with its length; a broken one is a 400, and the server stays up', async () => {
    const server = await start(version, 'required');
    const auth = { authorization: `Bearer ${server.token}` };
    const { body, type } = multipart(1024);
    for (const path of ['/api/agents/any/voice/listen', '/api/agents/any/listen']) {
      expectRefused(await send(server.port, 'POST', path, { ...auth, 'content-type': type, 'transfer-encoding': 'chunked' }, body), LENGTHLESS);
      // A file part that never ends: busboy's error reaches Mastra, which answers its 400.
      const broken = await send(server.port, 'POST', path, { ...auth, 'content-type': type, 'content-length': String(UNTERMINATED.length) }, UNTERMINATED);
      expect([path, 'status' in broken ? broken.status : broken.error]).toEqual([path, 400]);
      // A whole one reaches the route (no agent 'any' here: Mastra's 404).
      const whole = await send(server.port, 'POST', path, { ...auth, 'content-type': type, 'content-length': String(body.length) }, body);
      expect([path, 'status' in whole ? whole.status : whole.error]).toEqual([path, 404]);
    }
    // @mastra/client-js sends the audio as FormData, with its length: it reaches the route.
    const client = createClerkMastraClient({ baseUrl: `http://127.0.0.1:${server.port}`, getToken: () => server.token, retries: 0 });
    const listened = await client.getAgent('any').voice.listen(new Blob([Buffer.alloc(512, 1)]), { filetype: 'wav' }).then(
      () => 'answered',
      (error: Error) => error.message,
    );
    expect(listened).toMatch(/\b404\b/);
    expect(await server.state()).toBe('alive');
  });
});
