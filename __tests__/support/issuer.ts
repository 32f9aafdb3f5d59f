import { createTestIssuer, type TestIssuer, type TestIssuerOptions } from '../../src/testing/index.js';

/**
 * Runs `fn` with a fresh local Clerk stand-in (its own keys, JWKS server and fetch count), and closes it afterwards
 * whatever happens: for a test that needs an issuer of its own (an outage, a rotation, a fetch count from zero).
 */
export async function withIssuer<T>(fn: (issuer: TestIssuer) => Promise<T>, options?: TestIssuerOptions): Promise<T> {
  const issuer = await createTestIssuer(options);
  try {
    return await fn(issuer);
  } finally {
    await issuer.close();
  }
}

/**
 * Resolves once the issuer has received `count` JWKS requests in all: for a test that must act while a request is
 * held by the server ('slow' mode). It waits for that event, not for a duration: it checks once per turn of the event
 * loop (setImmediate), and fails after `timeoutMs` if the request never arrives.
 */
export async function untilJwksRequested(issuer: TestIssuer, count: number, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (issuer.jwksFetchCount < count) {
    if (Date.now() > deadline) throw new Error(`the JWKS server received ${issuer.jwksFetchCount} of ${count} requests`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
