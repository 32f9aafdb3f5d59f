/**
 * Helpers of the machine-token tests: the tokens of every type and form from one test issuer, the options that point
 * the library at the issuer's fake Backend API, an echo route, and a refusal assertion that derives the exact
 * `WWW-Authenticate` from the code and the message the library sent.
 */
import { expect } from '@jest/globals';
import express5 from 'express';
import express4 from 'express4';
import type { Express, Request } from 'express';
import { getClerkAuth, getClerkClaims, type ClerkAuthErrorCode, type ClerkAuthOptions } from '../../src/index.js';
import type { TestIssuer } from '../../src/testing/index.js';
import { expectRejected, type AnyResponse } from '../support/errors.js';

export const frameworks = [
  ['Express 5', express5 as unknown as () => Express],
  ['Express 4', express4 as unknown as () => Express],
] as const;

/** The token types by Clerk's names. */
export const TOKEN_TYPES = ['session_token', 'm2m_token', 'oauth_token', 'api_key'] as const;
export type TokenTypeName = (typeof TOKEN_TYPES)[number];

/** One credential of each kind and form a client can send. */
export type TokenForm = 'session' | 'm2m-jwt' | 'm2m-opaque' | 'oauth-jwt' | 'oauth-opaque' | 'api-key';
export const FORMS: readonly TokenForm[] = ['session', 'm2m-jwt', 'm2m-opaque', 'oauth-jwt', 'oauth-opaque', 'api-key'];
export const TYPE_OF: Readonly<Record<TokenForm, TokenTypeName>> = {
  session: 'session_token',
  'm2m-jwt': 'm2m_token',
  'm2m-opaque': 'm2m_token',
  'oauth-jwt': 'oauth_token',
  'oauth-opaque': 'oauth_token',
  'api-key': 'api_key',
};

/** A fresh, valid credential of `form` from `issuer` (opaque ones registered with its fake Backend API). */
export async function tokenOf(issuer: TestIssuer, form: TokenForm): Promise<string> {
  switch (form) {
    case 'session':
      return issuer.mintToken({}, { userId: 'user_person' });
    case 'm2m-jwt':
      return issuer.mintM2MToken({ machineId: 'mch_worker', scopes: ['mch_api'] });
    case 'm2m-opaque':
      return issuer.createOpaqueM2MToken({ machineId: 'mch_worker', scopes: ['mch_api'] });
    case 'oauth-jwt':
      return issuer.mintOAuthToken({ userId: 'user_granter', clientId: 'client_cli', scopes: ['read'] });
    case 'oauth-opaque':
      return issuer.createOpaqueOAuthToken({ userId: 'user_granter', clientId: 'client_cli', scopes: ['read'] });
    case 'api-key':
      return issuer.createApiKey({ subject: 'user_owner', name: 'ci', scopes: ['deploy'] });
  }
}

/**
 * Options that trust `issuer` for sessions and JWT-form machine tokens (its JWKS) and verify opaque ones with its
 * fake Backend API (`secretKey`, `apiUrl`); no environment, no logs.
 */
export function machineOptions(issuer: TestIssuer, extra: ClerkAuthOptions = {}): ClerkAuthOptions {
  return { ...issuer.authOptions, secretKey: issuer.secretKey, apiUrl: issuer.apiUrl, env: {}, logger: false, ...extra };
}

/** JSON of an AuthObject: its data fields (functions such as `has` and `getToken` drop out). */
const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value ?? null));

/**
 * `GET /who`: what the request is, as the app sees it: `getClerkAuth(req)` (Clerk's default: sessions), with
 * `acceptsToken: 'any'`, and `getClerkClaims(req)`.
 */
export function addEchoRoute(app: Express): Express {
  app.get('/who', (req: Request, res) => {
    res.json({
      auth: plain(getClerkAuth(req)),
      any: plain(getClerkAuth(req, { acceptsToken: 'any' })),
      claims: plain(getClerkClaims(req)),
    });
  });
  return app;
}

/**
 * Asserts a refusal: status, `{ error: code }`, and exactly the `WWW-Authenticate` (or `Retry-After`) the library
 * gives that code and the message it sent (`expectRejected` of the suite's support, fed the message of the body, so
 * the test does not pin the wording of each message). Pass `message` to pin it too.
 */
export async function expectRefused(
  res: AnyResponse,
  status: number,
  code: ClerkAuthErrorCode,
  message?: string,
): Promise<{ error: string; message: string }> {
  let body: unknown;
  if (typeof Response !== 'undefined' && res instanceof Response) body = await res.clone().json().catch(() => undefined);
  else body = (res as { body: unknown }).body;
  const sent = (body as { message?: unknown } | undefined)?.message;
  expect({ status: res.status, error: (body as { error?: unknown } | undefined)?.error }).toEqual({ status, error: code });
  return expectRejected(res, status, code, message ?? (typeof sent === 'string' ? sent : undefined));
}

/** Resolves once `count()` reaches `target`, checking once per turn of the event loop; fails after `timeoutMs`. */
export async function until(count: () => number, target: number, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (count() < target) {
    if (Date.now() > deadline) throw new Error(`reached ${count()} of ${target}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
