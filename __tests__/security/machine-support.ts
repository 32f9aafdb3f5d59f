/**
 * Helpers of `machine-attacks.test.ts`: a programmable stand-in for Clerk's Backend API (so a test can make it answer
 * what the testing kit's fake cannot: a 408, a 200 of another type, requests that hang and stay open), a raw HTTP
 * request (duplicated headers), a log capture, and a refusal assertion for several acceptable codes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { expect } from '@jest/globals';
import { ClerkAuthError, type ClerkAuthErrorCode } from '../../src/index.js';

/** What the stand-in answers one verify request with; `hold`: never answer (the socket stays open until close). */
export type FakeAnswer = { status: number; json?: unknown; text?: string; contentType?: string; delayMs?: number } | 'hold';

export interface FakeBackendApi {
  /** The `apiUrl` to configure. */
  readonly url: string;
  /** Requests received, by path. */
  readonly paths: string[];
  /** Requests received so far. */
  readonly total: number;
  /** Requests whose socket is still open (held, or being answered). */
  readonly open: number;
  /** Changes the answer of the next requests. */
  answer(handler: (path: string, body: Record<string, unknown>) => FakeAnswer): void;
  close(): Promise<void>;
}

/** A Backend API on 127.0.0.1 that answers each verify request with what `handler` says. */
export async function fakeBackendApi(handler: (path: string, body: Record<string, unknown>) => FakeAnswer): Promise<FakeBackendApi> {
  let current = handler;
  const paths: string[] = [];
  let open = 0;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    open += 1;
    let closed = false;
    const done = () => {
      if (!closed) {
        closed = true;
        open -= 1;
      }
    };
    res.on('close', done);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname.replace(/^\/v1/, '');
      paths.push(path);
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      } catch {
        body = {};
      }
      const answer = current(path, body);
      if (answer === 'hold') return;
      const text = answer.text ?? JSON.stringify(answer.json ?? {});
      const send = () => {
        if (res.destroyed) return;
        res.writeHead(answer.status, { 'content-type': answer.contentType ?? 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      if (answer.delayMs) setTimeout(send, answer.delayMs);
      else send();
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    paths,
    get total() {
      return paths.length;
    },
    get open() {
      return open;
    },
    answer(next) {
      current = next;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Clerk's JSON of a verified API key (`APIKey.fromJSON` reads it), with overrides. */
export function apiKeyJson(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Date.now();
  return {
    object: 'api_key',
    type: 'api_key',
    id: 'ak_id_0123456789abcdef',
    name: 'ci',
    subject: 'user_owner',
    scopes: ['read'],
    claims: null,
    revoked: false,
    revocation_reason: null,
    expired: false,
    expiration: null,
    created_by: 'user_owner',
    description: null,
    last_used_at: null,
    created_at: now,
    updated_at: now,
    ...overrides,
  };
}

/** Clerk's JSON of a verified opaque M2M token, with overrides. */
export function m2mJson(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Date.now();
  return {
    object: 'machine_to_machine_token',
    id: 'mt_id_0123456789abcdef',
    subject: 'mch_worker',
    scopes: ['mch_api'],
    claims: null,
    revoked: false,
    revocation_reason: null,
    expired: false,
    expiration: now + 3_600_000,
    created_at: now,
    updated_at: now,
    ...overrides,
  };
}

/** A random-looking opaque token with Clerk's prefix. */
export function randomOpaque(prefix: 'ak_' | 'mt_' | 'oat_', i: number): string {
  return `${prefix}attacker${i.toString(36)}${Math.random().toString(36).slice(2)}xxxxxxxx`;
}

/** One request written byte for byte on a fresh socket (duplicated headers stay duplicated). */
export function rawHttp(port: number, head: string): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const split = data.indexOf('\r\n\r\n');
      const lines = data.slice(0, split).split('\r\n');
      const status = Number(lines[0]!.split(' ')[1]);
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status, headers, body: data.slice(split + 4) });
    });
    socket.write(head.endsWith('\r\n\r\n') ? head : `${head}\r\n\r\n`);
  });
}

/** A logger that keeps every line, at every level. */
export function captureLogs(): { lines: string[]; logger: (line: string) => void } {
  const lines: string[] = [];
  return { lines, logger: (line: string) => lines.push(String(line)) };
}

/**
 * A refusal with one of `codes`: the status, `{ error, message }`, and exactly the `WWW-Authenticate` the library gives
 * that code and message (a 503: `Retry-After`, no challenge).
 */
export function expectRefusedWith(
  res: { status: number; headers: Record<string, unknown>; body: unknown },
  status: number,
  codes: readonly ClerkAuthErrorCode[],
  extraChallenge?: string,
): void {
  const body = (typeof res.body === 'string' ? JSON.parse(res.body || 'null') : res.body) as { error?: string; message?: string } | null;
  expect({ status: res.status, codeAllowed: codes.includes(body?.error as ClerkAuthErrorCode) }).toEqual({ status, codeAllowed: true });
  const expected = new ClerkAuthError(body!.error as ClerkAuthErrorCode, { message: body!.message, realm: 'api' }).headers;
  const header = (name: string) => {
    const value = res.headers[name] ?? res.headers[name.toLowerCase()];
    return Array.isArray(value) ? value.join(', ') : (value as string | undefined);
  };
  if (status === 503) {
    expect(header('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(header('www-authenticate')).toBeUndefined();
  } else {
    const want = expected['WWW-Authenticate'];
    expect(header('www-authenticate')).toBe(extraChallenge ? `${want}, ${extraChallenge}` : want);
  }
}
