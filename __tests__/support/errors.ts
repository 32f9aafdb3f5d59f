import { expect } from '@jest/globals';
import { ClerkAuthError, type ClerkAuthErrorCode } from '../../src/index.js';

/** The challenge a 401 other than token-missing carries. */
export function invalidTokenChallenge(message: string, realm = 'api'): string {
  return `Bearer realm="${realm}", error="invalid_token", error_description="${message}"`;
}

/** Awaits a rejection and asserts it is a ClerkAuthError with this code and status; returns it. */
export async function expectAuthError(
  promise: Promise<unknown>,
  code: ClerkAuthErrorCode,
  status: number,
): Promise<ClerkAuthError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ClerkAuthError);
  const error = caught as ClerkAuthError;
  expect({ code: error.code, status: error.status, statusCode: error.statusCode }).toEqual({ code, status, statusCode: status });
  if (status === 401 && code !== 'token-missing') {
    expect(error.headers['WWW-Authenticate']).toBe(invalidTokenChallenge(error.message));
  }
  return error;
}

/** Base64url of a JSON value, for hand-made tokens. */
export function b64(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}
