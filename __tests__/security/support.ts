/**
 * Helpers of the HTTP seam tests: raw requests over a real socket (any target, any Host, any method and body), and
 * the shapes of the answers both adapters give.
 */
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from '@jest/globals';
import express from 'express';
import express4 from 'express4';
import type { Mastra } from '@mastra/core/mastra';
import { createStep, createWorkflow } from '@mastra/core/workflows';
import { MastraServer } from '@mastra/express';
import { z } from 'zod';
import { clerkMastraAuth, type ClerkAuth } from '../../src/index.js';
import { listen } from '../support/http.js';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One request with a raw target and raw headers (Host included when given): nothing normalizes the target, as a
 * client that is not a browser can send it. A fresh connection per request, closed after the answer.
 */
export function raw(
  port: number,
  method: string,
  target: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const all: Record<string, string> = { Connection: 'close', ...headers };
    if (body !== undefined) {
      all['Content-Type'] ??= 'application/json';
      all['Content-Length'] = String(Buffer.byteLength(body));
    }
    const req = httpRequest(
      { host: '127.0.0.1', port, path: target, method, headers: all, setHost: !('Host' in headers), agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(new Error(`timeout: ${method} ${target}`)));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** The `error` field of a JSON body, or the raw body when it is not JSON. */
export function errorOf(res: RawResponse): unknown {
  try {
    return (JSON.parse(res.body) as { error?: unknown }).error;
  } catch {
    return res.body;
  }
}

/** Our challenge for a code with a bearer error (`invalid_token`, `invalid_request`, `insufficient_scope`). */
export const challenge = (bearerError: string, description: string, realm = 'api'): string =>
  `Bearer realm="${realm}", error="${bearerError}", error_description="${description}"`;

export const ACCESS_DENIED_CHALLENGE = challenge(
  'insufficient_scope',
  'The signed-in user is not allowed to access this resource.',
);
/** A multipart body on a Mastra route that takes JSON: refused before the policy (Mastra would parse it itself). */
export const MULTIPART_CHALLENGE = challenge(
  'invalid_request',
  "Mastra's routes take JSON bodies: only its voice transcription (POST /agents/:agentId/voice/listen) takes a multipart one.",
);
/** A body the policy could not see (not parsed as JSON before the middleware): refused, saying why. */
export const UNREAD_BODY_CHALLENGE = challenge(
  'insufficient_scope',
  'The request body could not be checked: send it as JSON (Content-Type: application/json).',
);
export const TYPE_MISMATCH_CHALLENGE = challenge('invalid_token', 'This kind of token is not accepted here.');
export const SIGNED_OUT_CHALLENGE = challenge(
  'invalid_token',
  'The session cookie belongs to a signed-out or refreshed session.',
);
export const HOST_CHALLENGE = challenge('invalid_request', 'The Host header is not a host name.');
export const PROTOCOL_CHALLENGE = challenge(
  'invalid_request',
  'The forwarded protocol (X-Forwarded-Proto) does not make a URL.',
);
export const FORWARDED_HOST_CHALLENGE = challenge(
  'invalid_request',
  'A forwarded host (X-Forwarded-Host, X-Mastra-Public-Host) is not a host name.',
);
export const DIFFERENT_USERS_CHALLENGE = challenge(
  'invalid_request',
  'The request has session cookies of different users.',
);

/** Our answer: status, `{ error: code }` and (when given) the exact `WWW-Authenticate`. */
export function expectOurs(res: RawResponse, status: number, code: string, wwwAuthenticate?: string, label = ''): void {
  expect({ label, status: res.status, error: errorOf(res) }).toEqual({ label, status, error: code });
  if (wwwAuthenticate !== undefined) expect({ label, challenge: res.headers['www-authenticate'] }).toEqual({ label, challenge: wwwAuthenticate });
}

/** Mastra's own answer when the provider stands alone: exact status and body. */
export function expectMastra(res: RawResponse, status: 401 | 403, label = ''): void {
  const body = status === 401 ? { error: 'Invalid or expired token' } : { error: 'Access denied' };
  let parsed: unknown = res.body;
  try {
    parsed = JSON.parse(res.body);
  } catch {
    // kept raw: the assertion shows it
  }
  expect({ label, status: res.status, body: parsed }).toEqual({ label, status, body });
}

/** No stack trace and no error name leak in a body. */
export function expectNoStack(res: RawResponse, label = ''): void {
  expect({ label, stack: /\n\s+at |^\s*at \S+ \(|Error:/m.test(res.body) }).toEqual({ label, stack: false });
}

/**
 * A request over fetch() with a bearer token and, when given, a JSON body; the answer's text, its JSON (undefined when
 * it is none, such as a stream) and the JSON's `error`.
 */
export async function callJson(
  base: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; text: string; json: any; error: unknown }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, error: json?.error };
}

/**
 * `mastra` served under `/api`:
 * - `mixed`: by `@mastra/express` in a listening Express 4 or 5 app with `express.json()`, behind
 *   `clerkMastraAuth({ clerkAuth })`;
 * - `standalone`: the same without the middleware (the provider alone);
 * - `hono`: by Mastra's own Hono server with the provider alone, as `mastra dev` and `mastra start` run it
 *   (`createNodeServer` of `@mastra/deployer/server`), on 127.0.0.1 and a free port.
 */
export async function serveMastra(
  mastra: Mastra,
  { mode, framework = 5, clerkAuth }: { mode: 'mixed' | 'standalone' | 'hono'; framework?: 4 | 5; clerkAuth: ClerkAuth },
): Promise<{ base: string; close: () => Promise<void> }> {
  if (mode === 'hono') return serveHono(mastra);
  const frameworkOf = framework === 4 ? express4 : express;
  const app = frameworkOf();
  app.use(frameworkOf.json());
  if (mode === 'mixed') app.use(clerkMastraAuth({ clerkAuth }));
  await new MastraServer({ app: app as never, mastra, prefix: '/api' }).init();
  return listen(app);
}

/** `mastra` on Mastra's own Hono server, as `mastra start` runs it (`mastra dev` adds Studio's files and a watcher). */
async function serveHono(mastra: Mastra): Promise<{ base: string; close: () => Promise<void> }> {
  const { createNodeServer } = await import('@mastra/deployer/server');
  // The server options live on the Mastra: a free port on 127.0.0.1, and no SIGINT/SIGTERM handlers in the test process.
  Object.assign(mastra.getServer() ?? {}, { port: 0, host: '127.0.0.1', handleShutdownSignals: false });
  const server = (await createNodeServer(mastra, { tools: {} } as never)) as unknown as Server;
  if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Workflow `shared`, which every user may run: step `one` passes its input on; step `two` suspends when the input asks
 * (`pause`, until resumed with `{ ok: true }`), waits when it asks (`hold`) until `holdWith` lets it go (if given), and
 * returns Alice's secret to a run whose input says `who: 'alice'`.
 */
export function sharedWorkflow(holdWith?: (release: () => void) => void) {
  const io = z.object({ secret: z.string().optional(), hold: z.boolean().optional(), pause: z.boolean().optional(), who: z.string().optional() });
  return createWorkflow({ id: 'shared', inputSchema: io, outputSchema: io })
    .then(createStep({ id: 'one', inputSchema: io, outputSchema: io, execute: async ({ inputData }) => ({ ...inputData }) }))
    .then(
      createStep({
        id: 'two',
        inputSchema: io,
        outputSchema: io,
        resumeSchema: z.object({ ok: z.boolean() }),
        execute: async ({ inputData, resumeData, suspend }) => {
          if (inputData.pause && !resumeData) return (await suspend({})) as never;
          if (inputData.hold && holdWith) await new Promise<void>((resolve) => holdWith(resolve));
          return { ...inputData, secret: inputData.who === 'alice' ? 'alice-step-two-secret' : 'bob-value' };
        },
      }),
    )
    .commit();
}

/**
 * A workflow stream started with `token` (`POST url`, JSON `body`), read until its text includes `marker` (200 first):
 * the reader, to drain once the run is let go.
 */
export async function streamUntil(url: string, token: string, body: unknown, marker: string): Promise<ReadableStreamDefaultReader<Uint8Array>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let seen = '';
  while (!seen.includes(marker)) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`the stream ended before ${marker}: ${seen}`);
    seen += decoder.decode(value, { stream: true });
  }
  return reader;
}
