import { createServer } from 'node:net';
import { request as httpRequest, type Agent, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens on an ephemeral port of 127.0.0.1; `close()` also ends kept-alive connections. */
export async function listen(app: { listen(port: number, host: string): Server }): Promise<{
  port: number;
  base: string;
  close: () => Promise<void>;
}> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    base: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A GET with a raw request target and headers (Host included), as a client that is not a browser can send them. */
export function rawGet(
  port: number,
  target: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: target, headers, method: 'GET', setHost: !('Host' in headers) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * A request whose path is sent byte for byte; the route an app matched comes back in an `x-match` header (JSON,
 * URI-encoded), so HEAD requests report it too.
 */
export function sendRaw(agent: Agent, port: number, method: string, path: string): Promise<{ status: number; match?: unknown }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, agent }, (res) => {
      res.resume();
      res.on('end', () => {
        const header = res.headers['x-match'];
        resolve({ status: res.statusCode ?? 0, match: typeof header === 'string' ? JSON.parse(decodeURIComponent(header)) : undefined });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** The status of a MastraClient call: 200 when it resolves, else the HTTP status of its error (-1 for none). */
export async function statusOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
    return 200;
  } catch (error) {
    return (error as { status?: number }).status ?? -1;
  }
}

/** A port free on 127.0.0.1 right now (for a child process that must be told its port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
