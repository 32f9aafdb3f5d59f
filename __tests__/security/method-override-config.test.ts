/**
 * A method-override middleware (`method-override`'s `X-HTTP-Method-Override`, or any code that sets `req.method`)
 * belongs before `clerkMastraAuth()` (README, Limits): the middleware judges the method as it is when it runs, and
 * refuses `TRACE` and `CONNECT` (400), which Mastra's adapter cannot build a Web `Request` of. Mounted after it, a
 * signed-in user's `POST` with `X-HTTP-Method-Override: TRACE` passed as a `POST` and became the crash the README
 * names (Express 5: a 500 with the stack trace; found by an attacker session). Before it, every spelling is judged
 * as the method it becomes. Express 5.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { NextFunction, Request, Response } from 'express';
import express from 'express';
import { Mastra } from '@mastra/core/mastra';
import { MastraServer } from '@mastra/express';
import { clerkMastraAuth, createClerkAuth } from '../../src/index.js';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { listen } from '../support/http.js';
import { errorOf, expectNoStack, raw } from './support.js';

/** What `method-override` does for a POST with the header. */
function methodOverride(req: Request, _res: Response, next: NextFunction): void {
  const method = req.headers['x-http-method-override'];
  if (req.method === 'POST' && typeof method === 'string') {
    (req as Request & { originalMethod?: string }).originalMethod ??= req.method;
    req.method = method.toUpperCase();
  }
  next();
}

let issuer: TestIssuer;
let member = '';
let server: { port: number; close: () => Promise<void> };
beforeAll(async () => {
  issuer = await createTestIssuer();
  member = await issuer.mintToken({}, { expiresInSeconds: 1800, userId: 'user_member' });
  const clerkAuth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: false });
  const app = express();
  app.use(express.json());
  app.use(methodOverride); // before the middleware, as the README asks
  app.use(clerkMastraAuth({ clerkAuth }));
  await new MastraServer({ app, mastra: new Mastra({ server: { auth: new MastraAuthClerk({ clerkAuth }) as never }, logger: false }), prefix: '/api' }).init();
  server = await listen(app);
});
afterAll(async () => {
  await server.close();
  await issuer.close();
});

describe('method override before clerkMastraAuth (Express 5)', () => {
  it.each(['TRACE', 'CONNECT'])('POST /api/mcp/x/mcp with X-HTTP-Method-Override: %s is refused (400), with no stack', async (method) => {
    const res = await raw(server.port, 'POST', '/api/mcp/x/mcp', { Authorization: `Bearer ${member}`, 'X-HTTP-Method-Override': method });
    expect({ method, status: res.status, error: errorOf(res) }).toEqual({ method, status: 400, error: 'request-invalid' });
    expectNoStack(res, method);
  });
});
