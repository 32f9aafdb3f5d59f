/**
 * The remote key set under stress: random kids, outages with a warm and a cold cache, rotation, a stalled or
 * misbehaving JWKS endpoint. Short durations as options instead of sleeping (FACTS.md, "JWKS cooldown").
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createClerkAuth, type ClerkAuthError, type ClerkAuthOptions, type JwksOptions } from '../../src/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { expectAuthError } from '../support/errors.js';

let issuer: TestIssuer;
beforeEach(async () => {
  issuer = await createTestIssuer();
});
afterEach(async () => {
  await issuer.close();
});

function auth(jwks: JwksOptions = {}, extra: ClerkAuthOptions = {}) {
  return createClerkAuth({ ...issuer.authOptions, env: {}, logger: false, tokenCache: false, jwks, ...extra });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('unknown kids', () => {
  it('a flood of random kids costs at most one refetch per cooldown, and is answered jwk-kid-mismatch', async () => {
    const verifier = auth();
    await verifier.verify(await issuer.mintToken());
    expect(issuer.jwksFetchCount).toBe(1);
    const forged = await Promise.all(
      Array.from({ length: 50 }, (_, i) => issuer.mintToken({}, { kid: `random-${i}-${Math.random()}` })),
    );
    const errors = await Promise.all(forged.map((t) => verifier.verify(t).catch((e: ClerkAuthError) => e)));
    expect(new Set(errors.map((e) => (e as ClerkAuthError).code))).toEqual(new Set(['jwk-kid-mismatch']));
    // Inside the 30 s cooldown that follows the first fetch: no refetch at all.
    expect(issuer.jwksFetchCount).toBe(1);
  });

  it('after the cooldown an unknown kid triggers exactly one refetch, shared by concurrent requests', async () => {
    const verifier = auth({ cooldownInMs: 0 });
    await verifier.verify(await issuer.mintToken());
    const forged = await Promise.all(Array.from({ length: 20 }, () => issuer.mintToken({}, { kid: 'unknown-kid' })));
    await Promise.all(forged.map((t) => expectAuthError(verifier.verify(t), 'jwk-kid-mismatch', 401)));
    expect(issuer.jwksFetchCount).toBe(2);
  });

  it('never puts the token or any kid into the error', async () => {
    const verifier = auth();
    await verifier.verify(await issuer.mintToken());
    const token = await issuer.mintToken({}, { kid: 'attacker-chosen-kid' });
    const error = await expectAuthError(verifier.verify(token), 'jwk-kid-mismatch', 401);
    const visible = JSON.stringify({ message: error.message, headers: error.headers, code: error.code });
    for (const secret of [token, 'attacker-chosen-kid', issuer.kid]) expect(visible).not.toContain(secret);
  });
});

describe('rotation', () => {
  it('picks up a rotated key after the cooldown; the old key stops verifying once dropped', async () => {
    // Key generation takes a few hundred milliseconds on a slow machine: a cooldown longer than that.
    const cooldown = 1_500;
    const verifier = auth({ cooldownInMs: cooldown });
    const oldToken = await issuer.mintToken();
    await verifier.verify(oldToken);
    const fetchedAt = Date.now();
    await issuer.rotateKey();
    const newToken = await issuer.mintToken();
    // Within the cooldown the new kid is not fetched yet.
    await expectAuthError(verifier.verify(newToken), 'jwk-kid-mismatch', 401);
    expect(Date.now() - fetchedAt).toBeLessThan(cooldown);
    await sleep(fetchedAt + cooldown + 20 - Date.now());
    await expect(verifier.verify(newToken)).resolves.toBeDefined();
    await expectAuthError(verifier.verify(oldToken), 'jwk-kid-mismatch', 401);
  });

  it('keeps verifying both keys while the JWKS publishes both', async () => {
    const verifier = auth({ cooldownInMs: 0 });
    const oldToken = await issuer.mintToken();
    await verifier.verify(oldToken);
    await issuer.rotateKey({ keepPrevious: true });
    await expect(verifier.verify(await issuer.mintToken())).resolves.toBeDefined();
    await expect(verifier.verify(oldToken)).resolves.toBeDefined();
  });
});

describe('JWKS outage', () => {
  it('cold cache: 503 jwk-remote-failed-to-load with Retry-After, never a 401', async () => {
    issuer.setJwksFailure('down');
    const error = await expectAuthError(auth().verify(await issuer.mintToken()), 'jwk-remote-failed-to-load', 503);
    expect(error.headers).toEqual({ 'Retry-After': '1' });
    expect(error.message).toBe('The signing keys could not be loaded; try again later.');
  });

  it('cold cache: backs off after a failure instead of fetching once per request', async () => {
    issuer.setJwksFailure('down');
    const verifier = auth({ failureBackoffInMs: 60_000, cooldownInMs: 60_000 });
    for (let i = 0; i < 20; i += 1) {
      const error = await expectAuthError(verifier.verify(await issuer.mintToken()), 'jwk-remote-failed-to-load', 503);
      expect(Number(error.headers['Retry-After'])).toBeGreaterThan(50);
    }
    expect(issuer.jwksFetchCount).toBe(1);
  });

  it('cold cache: the back-off doubles with each consecutive failure', async () => {
    issuer.setJwksFailure('down');
    const verifier = auth({ failureBackoffInMs: 300, cooldownInMs: 60_000 });
    const token = await issuer.mintToken();
    await expectAuthError(verifier.verify(token), 'jwk-remote-failed-to-load', 503);
    await sleep(350); // past the first back-off (300 ms): a second fetch, which fails
    await expectAuthError(verifier.verify(token), 'jwk-remote-failed-to-load', 503);
    expect(issuer.jwksFetchCount).toBe(2);
    await sleep(350); // inside the second back-off (600 ms): no fetch
    await expectAuthError(verifier.verify(token), 'jwk-remote-failed-to-load', 503);
    expect(issuer.jwksFetchCount).toBe(2);
    await sleep(300); // past it
    await expectAuthError(verifier.verify(token), 'jwk-remote-failed-to-load', 503);
    expect(issuer.jwksFetchCount).toBe(3);
  });

  it('cold cache: recovers on the first request after the back-off', async () => {
    issuer.setJwksFailure('down');
    const verifier = auth({ failureBackoffInMs: 300 });
    const token = await issuer.mintToken();
    await expectAuthError(verifier.verify(token), 'jwk-remote-failed-to-load', 503);
    issuer.setJwksFailure(null);
    await expectAuthError(verifier.verify(token), 'jwk-remote-failed-to-load', 503); // still backing off
    await sleep(320);
    await expect(verifier.verify(token)).resolves.toBeDefined();
    expect(issuer.jwksFetchCount).toBe(2);
  });

  it('warm cache: keys fetched before the outage keep verifying (stale-if-error)', async () => {
    const verifier = auth({ cacheMaxAgeInMs: 0, failureBackoffInMs: 0 });
    await verifier.verify(await issuer.mintToken());
    issuer.setJwksFailure('down');
    const before = issuer.jwksFetchCount;
    await expect(verifier.verify(await issuer.mintToken())).resolves.toBeDefined();
    expect(issuer.jwksFetchCount).toBeGreaterThan(before); // a refresh was tried and failed
    // A kid unknown while the JWKS is down: the outage is the reason (503), not the token.
    await expectAuthError(verifier.verify(await issuer.mintToken({}, { kid: 'new-kid' })), 'jwk-remote-failed-to-load', 503);
  });

  it('warm cache: stale keys are bounded by staleIfErrorInMs', async () => {
    const verifier = auth({ cacheMaxAgeInMs: 0, staleIfErrorInMs: 20 });
    await verifier.verify(await issuer.mintToken());
    issuer.setJwksFailure('down');
    await sleep(30);
    await expectAuthError(verifier.verify(await issuer.mintToken()), 'jwk-remote-failed-to-load', 503);
  });

  it('a reset connection is an outage too (no bare TypeError escapes)', async () => {
    issuer.setJwksFailure('reset');
    const error = await expectAuthError(auth().verify(await issuer.mintToken()), 'jwk-remote-failed-to-load', 503);
    expect(error.cause).toBeDefined();
  });

  it('an unreachable JWKS (nothing listening) is a 503', async () => {
    const url = issuer.jwksUri;
    await issuer.close();
    const verifier = createClerkAuth({ jwksUri: url, env: {}, logger: false });
    await expectAuthError(verifier.verify(await issuer.mintToken()), 'jwk-remote-failed-to-load', 503);
  });
});

describe('misbehaving JWKS endpoint', () => {
  it.each(['garbage', 'not-json', 'huge'] as const)('%s answer: 503', async (mode) => {
    issuer.setJwksFailure(mode);
    await expectAuthError(auth().verify(await issuer.mintToken()), 'jwk-remote-failed-to-load', 503);
  });

  it('a response over maxResponseBytes is refused even when it is a valid key set', async () => {
    await expectAuthError(auth({ maxResponseBytes: 100 }).verify(await issuer.mintToken()), 'jwk-remote-failed-to-load', 503);
  });

  it('a stalled JWKS is answered within the timeout', async () => {
    issuer.setJwksFailure('slow');
    const started = Date.now();
    await expectAuthError(auth({ timeoutInMs: 200 }).verify(await issuer.mintToken()), 'jwk-remote-failed-to-load', 503);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('concurrent requests during a stall share one fetch', async () => {
    issuer.setJwksFailure('slow');
    const verifier = auth({ timeoutInMs: 200 });
    const token = await issuer.mintToken();
    await Promise.all(Array.from({ length: 10 }, () => expectAuthError(verifier.verify(token), 'jwk-remote-failed-to-load', 503)));
    expect(issuer.jwksFetchCount).toBe(1);
  });
});
