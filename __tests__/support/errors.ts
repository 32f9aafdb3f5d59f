import { expect } from '@jest/globals';
import { ClerkAuthError, type ClerkAuthErrorCode } from '../../src/index.js';

/** The challenge a 401 other than token-missing carries. */
export function invalidTokenChallenge(message: string, realm = 'api'): string {
  return `Bearer realm="${realm}", error="invalid_token", error_description="${message}"`;
}

/**
 * The headers the library attaches to an error of this code and message, as its own `ClerkAuthError` builds them: a
 * 401 other than token-missing gets `Bearer realm="api", error="invalid_token", error_description="<message>"`,
 * token-missing a bare `Bearer realm="api"`, a 400 `error="invalid_request"`, a 403 `error="insufficient_scope"`, and
 * a 503 a `Retry-After` and no challenge. Deriving them here means a test cannot drift from the library's mapping.
 */
function expectedHeaders(code: ClerkAuthErrorCode, message: string, realm: string): Readonly<Record<string, string>> {
  return new ClerkAuthError(code, { message, realm }).headers;
}

/** The status the library gives a code: a test that names another one is wrong, not the library. */
function expectStatusOf(code: ClerkAuthErrorCode, status: number): void {
  expect({ code, status }).toEqual({ code, status: new ClerkAuthError(code).status });
}

export interface ExpectErrorOptions {
  /** The realm of the challenge (default `"api"`). */
  realm?: string;
}

/**
 * Awaits a rejection and asserts it is a ClerkAuthError with this code and status, whose headers are exactly those the
 * code and its message give (for a 503: a `Retry-After` in whole seconds, no challenge); returns it.
 */
export async function expectAuthError(
  promise: Promise<unknown>,
  code: ClerkAuthErrorCode,
  status: number,
  options: ExpectErrorOptions = {},
): Promise<ClerkAuthError> {
  expectStatusOf(code, status);
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ClerkAuthError);
  const error = caught as ClerkAuthError;
  expect({ code: error.code, status: error.status, statusCode: error.statusCode }).toEqual({ code, status, statusCode: status });
  if (status === 503) {
    expect(error.headers).toEqual({ 'Retry-After': expect.stringMatching(/^[1-9]\d*$/) });
  } else {
    expect(error.headers).toEqual(expectedHeaders(code, error.message, options.realm ?? 'api'));
  }
  return error;
}

/** What `expectRejected` reads of a response: a Supertest response, a fetch `Response`, or `rawGet`'s answer. */
export type AnyResponse =
  | { status: number; headers: Record<string, string | string[] | undefined>; body: unknown; text?: string }
  | Response;

/**
 * Asserts an HTTP refusal in one line: the status, the JSON body `{ error: code, message }` (the code's default
 * message unless `message` is given), and exactly the `WWW-Authenticate` the library gives that code and message (a
 * 503: `Retry-After` and no `WWW-Authenticate`). Returns the body.
 */
export async function expectRejected(
  res: AnyResponse,
  status: number,
  code: ClerkAuthErrorCode,
  message: string = new ClerkAuthError(code).message,
  options: ExpectErrorOptions = {},
): Promise<{ error: string; message: string }> {
  expectStatusOf(code, status);
  const isFetch = typeof Response !== 'undefined' && res instanceof Response;
  const header = (name: string): string | undefined => {
    if (isFetch) return (res as Response).headers.get(name) ?? undefined;
    const value = (res as { headers: Record<string, string | string[] | undefined> }).headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  let body: unknown;
  if (isFetch) body = await (res as Response).json();
  else {
    const plain = res as { body: unknown; text?: string };
    body = typeof plain.body === 'string' ? JSON.parse(plain.body) : plain.body;
  }
  const expected = expectedHeaders(code, message, options.realm ?? 'api');
  const seen = {
    status: res.status,
    body,
    'www-authenticate': header('www-authenticate'),
    'retry-after': status === 503 ? header('retry-after') : undefined,
  };
  expect(seen).toEqual({
    status,
    body: { error: code, message },
    'www-authenticate': expected['WWW-Authenticate'],
    'retry-after': status === 503 ? expect.stringMatching(/^[1-9]\d*$/) : undefined,
  });
  return body as { error: string; message: string };
}

/** Base64url of a JSON value, for hand-made tokens. */
export function b64(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}
