/**
 * The remote key set under stress: random kids, outages with a warm and a cold cache, rotation, a stalled or
 * misbehaving JWKS endpoint. Nothing sleeps: our back-off, stale-if-error and Retry-After read the injected clock
 * (`now`), and jose's own timers (cache age, unknown-kid cooldown) are set to 0 or to far longer than a test.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createClerkAuth, type ClerkAuthOptions, type JwksOptions } from '../../src/index.js';
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

/** A clock the test moves by hand, starting at the real time. */
function manualClock() {
  let t = Date.now();
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

describe('unknown kids', () => {
  it('a flood of random kids costs at most one refetch per cooldown, and is answered jwk-kid-mismatch', async () => {
    const verifier = auth();
    await verifier.verify(await issuer.mintToken());
    expect(issuer.jwksFetchCount).toBe(1);
    const forged = await Promise.all(
      Array.from({ length: 50 }, (_, i) => issuer.mintToken({}, { kid: `random-${i}-${Math.random()}` })),
    );
    await Promise.all(forged.map((t) => expectAuthError(verifier.verify(t), 'jwk-kid-mismatch', 401)));
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
  it('a rotated-in key is not fetched within the cooldown, is on the first unknown kid after it; the dropped key stops verifying', async () => {
    // jose's cooldown runs on the real clock: one verifier deep inside it, one with none, instead of waiting it out.
    const withinCooldown = auth({ cooldownInMs: 60_000 });
    const pastCooldown = auth({ cooldownInMs: 0 });
    const oldToken = await issuer.mintToken();
    await withinCooldown.verify(oldToken);
    await pastCooldown.verify(oldToken);
    await issuer.rotateKey();
    const newToken = await issuer.mintToken({}, { userId: 'user_new_key' });
    issuer.resetJwksFetchCount();

    await expectAuthError(withinCooldown.verify(newToken), 'jwk-kid-mismatch', 401);
    expect(issuer.jwksFetchCount).toBe(0);
    await expect(pastCooldown.verify(newToken)).resolves.toMatchObject({ sub: 'user_new_key' });
    expect(issuer.jwksFetchCount).toBe(1);
    await expectAuthError(pastCooldown.verify(oldToken), 'jwk-kid-mismatch', 401);
  });

  it('keeps verifying both keys while the JWKS publishes both', async () => {
    const verifier = auth({ cooldownInMs: 0 });
    const oldToken = await issuer.mintToken({}, { userId: 'user_old_key' });
    await verifier.verify(oldToken);
    await issuer.rotateKey({ keepPrevious: true });
    await expect(verifier.verify(await issuer.mintToken({}, { userId: 'user_new_key' }))).resolves.toMatchObject({ sub: 'user_new_key' });
    await expect(verifier.verify(oldToken)).resolves.toMatchObject({ sub: 'user_old_key' });
  });
});

describe('JWKS outage', () => {
  it('cold cache: 503 jwk-remote-failed-to-load with Retry-After, never a 401', async () => {
    issuer.setJwksFailure('down');
    const error = await expectAuthError(auth().verify(await issuer.mintToken()), 'jwk-remote-failed-to-load', 503);
    expect(error.headers).toEqual({ 'Retry-After': '1' });
    expect(error.message).toBe('The signing keys could not be loaded; try again later.');
  });

  it('cold cache: backs off after a failure instead of fetching once per request, and says for how long', async () => {
    issuer.setJwksFailure('down');
    const clock = manualClock();
    const verifier = auth({ failureBackoffInMs: 60_000, cooldownInMs: 60_000 }, { now: clock.now });
    const token = await issuer.mintToken({}, { expiresInSeconds: 3600 });
    for (let i = 0; i < 20; i += 1) {
      const error = await expectAuthError(verifier.verify(token), 'jwk-remote-failed-to-load', 503);
      expect(error.headers).toEqual({ 'Retry-After': '60' });
    }
    clock.advance(30_000);
    expect((await expectAuthError(verifier.verify(token), 'jwk-remote-failed-to-load', 503)).headers).toEqual({ 'Retry-After': '30' });
    clock.advance(29_999);
    expect((await expectAuthError(verifier.verify(token), 'jwk-remote-failed-to-load', 503)).headers).toEqual({ 'Retry-After': '1' });
    expect(issuer.jwksFetchCount).toBe(1);
  });

  it('cold cache: the back-off doubles with each consecutive failure, up to the cooldown', async () => {
    issuer.setJwksFailure('down');
    const clock = manualClock();
    const verifier = auth({ failureBackoffInMs: 1_000, cooldownInMs: 4_000 }, { now: clock.now });
    const token = await issuer.mintToken({}, { expiresInSeconds: 3600 });
    /** One request: the Retry-After it is answered with, and the JWKS fetches so far. */
    const attempt = async () => {
      const error = await expectAuthError(verifier.verify(token), 'jwk-remote-failed-to-load', 503);
      return [Number(error.headers['Retry-After']), issuer.jwksFetchCount];
    };
    expect(await attempt()).toEqual([1, 1]); // first failure: 1 s
    clock.advance(999);
    expect(await attempt()).toEqual([1, 1]); // inside it: no fetch
    clock.advance(1);
    expect(await attempt()).toEqual([2, 2]); // past it: a fetch, which fails; now 2 s
    clock.advance(1_999);
    expect(await attempt()).toEqual([1, 2]);
    clock.advance(1);
    expect(await attempt()).toEqual([4, 3]); // 4 s
    clock.advance(4_000);
    expect(await attempt()).toEqual([4, 4]); // 8 s, capped at the cooldown
  });

  it('cold cache: recovers on the first request after the back-off', async () => {
    issuer.setJwksFailure('down');
    const clock = manualClock();
    const verifier = auth({ failureBackoffInMs: 1_000 }, { now: clock.now });
    const token = await issuer.mintToken({}, { userId: 'user_back' });
    await expectAuthError(verifier.verify(token), 'jwk-remote-failed-to-load', 503);
    issuer.setJwksFailure(null);
    clock.advance(999);
    await expectAuthError(verifier.verify(token), 'jwk-remote-failed-to-load', 503); // still backing off
    expect(issuer.jwksFetchCount).toBe(1);
    clock.advance(1);
    await expect(verifier.verify(token)).resolves.toMatchObject({ sub: 'user_back' });
    expect(issuer.jwksFetchCount).toBe(2);
  });

  it('warm cache: keys fetched before the outage keep verifying (stale-if-error)', async () => {
    const verifier = auth({ cacheMaxAgeInMs: 0, failureBackoffInMs: 0 });
    await verifier.verify(await issuer.mintToken());
    issuer.setJwksFailure('down');
    const before = issuer.jwksFetchCount;
    await expect(verifier.verify(await issuer.mintToken({}, { userId: 'user_stale' }))).resolves.toMatchObject({ sub: 'user_stale' });
    expect(issuer.jwksFetchCount).toBeGreaterThan(before); // a refresh was tried and failed
    // A kid unknown while the JWKS is down: the outage is the reason (503), not the token.
    await expectAuthError(verifier.verify(await issuer.mintToken({}, { kid: 'new-kid' })), 'jwk-remote-failed-to-load', 503);
  });

  it('warm cache: stale keys verify for staleIfErrorInMs after the last good fetch, not a millisecond longer', async () => {
    const clock = manualClock();
    const verifier = auth({ cacheMaxAgeInMs: 0, failureBackoffInMs: 0, staleIfErrorInMs: 60_000 }, { now: clock.now });
    const mint = () => issuer.mintToken({}, { now: clock.now() });
    await verifier.verify(await mint());
    issuer.setJwksFailure('down');
    clock.advance(59_999);
    await expect(verifier.verify(await mint())).resolves.toMatchObject({ sub: 'user_test' });
    clock.advance(1);
    await expectAuthError(verifier.verify(await mint()), 'jwk-remote-failed-to-load', 503);
    // The window restarts with the next good fetch.
    issuer.setJwksFailure(null);
    await expect(verifier.verify(await mint())).resolves.toMatchObject({ sub: 'user_test' });
    issuer.setJwksFailure('down');
    clock.advance(59_999);
    await expect(verifier.verify(await mint())).resolves.toMatchObject({ sub: 'user_test' });
  });

  it('warm cache: staleIfErrorInMs 0 turns stale keys off', async () => {
    const verifier = auth({ cacheMaxAgeInMs: 0, failureBackoffInMs: 0, staleIfErrorInMs: 0 }, { now: () => 1_800_000_000_000 });
    const mint = () => issuer.mintToken({}, { now: 1_800_000_000_000 });
    await verifier.verify(await mint());
    issuer.setJwksFailure('down');
    await expectAuthError(verifier.verify(await mint()), 'jwk-remote-failed-to-load', 503);
  });

  it('a reset connection is an outage too (no bare TypeError escapes)', async () => {
    issuer.setJwksFailure('reset');
    const error = await expectAuthError(auth().verify(await issuer.mintToken()), 'jwk-remote-failed-to-load', 503);
    expect(error.cause).toMatchObject({ name: 'TypeError', message: 'fetch failed' });
  });

  it('an unreachable JWKS (nothing listening) is a 503', async () => {
    const url = issuer.jwksUri;
    await issuer.close();
    const verifier = createClerkAuth({ jwksUri: url, env: {}, logger: false });
    await expectAuthError(verifier.verify(await issuer.mintToken()), 'jwk-remote-failed-to-load', 503);
  });
});

describe('misbehaving JWKS endpoint', () => {
  it.each([
    ['garbage', 'the JWKS endpoint answered JSON that is not a key set'],
    ['not-json', 'the JWKS endpoint answered something that is not JSON'],
    ['huge', 'the JWKS endpoint answered a body over the size limit'],
    ['down', 'the JWKS endpoint answered HTTP 503'],
  ] as const)('%s answer: 503, the cause saying what the endpoint answered', async (mode, reason) => {
    issuer.setJwksFailure(mode);
    const error = await expectAuthError(auth().verify(await issuer.mintToken()), 'jwk-remote-failed-to-load', 503);
    expect(error.cause).toMatchObject({ name: 'JwksFetchError', message: reason });
  });

  it('a response over maxResponseBytes is refused even when it is a valid key set', async () => {
    const error = await expectAuthError(auth({ maxResponseBytes: 100 }).verify(await issuer.mintToken()), 'jwk-remote-failed-to-load', 503);
    expect(error.cause).toMatchObject({ name: 'JwksFetchError', message: 'the JWKS endpoint answered a body over the size limit' });
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
