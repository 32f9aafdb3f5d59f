/**
 * Mastra's `IUserProvider` (`getCurrentUser`, `getUser`, `getUsers`, `getUserProfileUrl`): the Clerk user from the
 * Backend API at most once per user per cache period (single flight), and what the token says when the Backend API
 * is down or no secret key is set. Counted on the testing kit's fake Backend API (`GET /v1/users/:id`).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { MastraAuthClerk } from '../../src/mastra/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { Browser, signInToClerk, startStudioApp, studioSignIn, type StudioApp } from './support.js';

let issuer: TestIssuer;
const ALICE = { id: 'user_alice', firstName: 'Alice', lastName: 'Liddell', email: 'alice@example.com', imageUrl: 'https://img.example.com/a.png', publicMetadata: { team: 'red' } };
const BOB = { id: 'user_bob', username: 'bob', email: 'bob@example.com' };

beforeAll(async () => {
  issuer = await createTestIssuer();
  issuer.addUser(ALICE);
  issuer.addUser(BOB);
});
afterAll(async () => {
  await issuer.close();
});
afterEach(() => {
  issuer.setBackendApiFailure(null);
});

const USERS = '/v1/users';

/** A provider on a clock the test moves, with the Backend API (secret key) unless told otherwise. */
function provider(options: { secretKey?: string | undefined; userCacheInMs?: number; timeoutInMs?: number } = { secretKey: 'default' }) {
  let offset = 0;
  // A clock only the test moves: a slow run must not end the 1 s backoff before the test has looked.
  const start = Date.now();
  const secretKey = options.secretKey === 'default' ? issuer.secretKey : options.secretKey;
  const auth = new MastraAuthClerk({
    ...issuer.authOptions,
    ...(secretKey ? { secretKey } : {}),
    apiUrl: issuer.apiUrl,
    env: {},
    logger: false,
    now: () => start + offset,
    ...(options.userCacheInMs === undefined ? {} : { userCacheInMs: options.userCacheInMs }),
    ...(options.timeoutInMs === undefined ? {} : { backendApi: { timeoutInMs: options.timeoutInMs } }),
  });
  return { auth, advance: (ms: number) => (offset += ms) };
}

async function requestAs(userId: string, claims: Record<string, unknown> = {}): Promise<Request> {
  const token = await issuer.mintToken(claims, { userId, expiresInSeconds: 3600 });
  return new Request('http://127.0.0.1/api/auth/me', { headers: { authorization: `Bearer ${token}` } });
}

describe('getCurrentUser', () => {
  it('reads the Clerk user once per user per cache period (60 s), sharing one call between concurrent requests', async () => {
    const { auth, advance } = provider();
    issuer.resetBackendApiCalls();
    const alice = await requestAs(ALICE.id);
    const answers = await Promise.all(Array.from({ length: 20 }, () => auth.getCurrentUser(alice.clone())));
    for (let i = 0; i < 30; i += 1) answers.push(await auth.getCurrentUser(alice.clone()));
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
    expect(answers[0]).toEqual({
      id: ALICE.id,
      email: ALICE.email,
      name: 'Alice Liddell',
      avatarUrl: ALICE.imageUrl,
      metadata: { team: 'red' },
    });
    expect(issuer.backendApiCalls(USERS)).toBe(1);
    // Another user: their own call.
    expect(await auth.getCurrentUser(await requestAs(BOB.id))).toMatchObject({ id: BOB.id, email: BOB.email, name: 'bob' });
    expect(issuer.backendApiCalls(USERS)).toBe(2);
    // getUser shares the cache.
    expect(await auth.getUser(ALICE.id)).toMatchObject({ id: ALICE.id, name: 'Alice Liddell' });
    expect(issuer.backendApiCalls(USERS)).toBe(2);
    // The next period: one more call for Alice.
    advance(55_000);
    await auth.getCurrentUser(alice.clone());
    expect(issuer.backendApiCalls(USERS)).toBe(2);
    advance(6_000);
    await Promise.all([auth.getCurrentUser(alice.clone()), auth.getCurrentUser(alice.clone())]);
    expect(issuer.backendApiCalls(USERS)).toBe(3);
  });

  it('when the Backend API is down: what the token says, and no call per request while it backs off', async () => {
    const { auth, advance } = provider();
    issuer.resetBackendApiCalls();
    issuer.setBackendApiFailure('500');
    const request = await requestAs(ALICE.id, { email: 'alice@claims.example', name: 'Alice (claims)' });
    expect(await auth.getCurrentUser(request.clone())).toEqual({ id: ALICE.id, email: 'alice@claims.example', name: 'Alice (claims)' });
    const calls = issuer.backendApiCalls(USERS);
    expect(calls).toBeGreaterThanOrEqual(1);
    for (let i = 0; i < 10; i += 1) await auth.getCurrentUser(request.clone());
    expect(issuer.backendApiCalls(USERS)).toBe(calls);
    // Back up, after the backoff: the Clerk user again.
    issuer.setBackendApiFailure(null);
    advance(1_500);
    expect(await auth.getCurrentUser(request.clone())).toMatchObject({ id: ALICE.id, email: ALICE.email, name: 'Alice Liddell' });
  });

  it('when the Backend API is unreachable, or hangs: the claims (after the timeout), not a hung Studio', async () => {
    const unreachable = provider();
    issuer.setBackendApiFailure('down');
    expect(await unreachable.auth.getCurrentUser(await requestAs(ALICE.id))).toEqual({ id: ALICE.id });
    const hanging = provider({ secretKey: 'default', timeoutInMs: 200 });
    issuer.setBackendApiFailure('slow');
    const started = Date.now();
    expect(await hanging.auth.getCurrentUser(await requestAs(ALICE.id))).toEqual({ id: ALICE.id });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('without a secret key: the claims, and never a Backend API call', async () => {
    const { auth } = provider({ secretKey: undefined });
    issuer.resetBackendApiCalls();
    expect(await auth.getCurrentUser(await requestAs(ALICE.id, { name: 'From Claims' }))).toEqual({ id: ALICE.id, name: 'From Claims' });
    expect(await auth.getUser(ALICE.id)).toBeNull();
    expect(issuer.backendApiCalls()).toBe(0);
  });

  it('no credentials, a bad token, an expired one: null, never an exception', async () => {
    const { auth } = provider();
    expect(await auth.getCurrentUser(new Request('http://127.0.0.1/api/auth/me'))).toBeNull();
    const bad = new Request('http://127.0.0.1/', { headers: { authorization: 'Bearer garbage.garbage.garbage' } });
    expect(await auth.getCurrentUser(bad)).toBeNull();
    const expired = await issuer.mintToken({}, { userId: ALICE.id, expired: true });
    expect(await auth.getCurrentUser(new Request('http://127.0.0.1/', { headers: { authorization: `Bearer ${expired}` } }))).toBeNull();
  });

  it('a user Clerk no longer knows: null', async () => {
    const { auth } = provider();
    expect(await auth.getCurrentUser(await requestAs('user_deleted'))).toBeNull();
  });
});

describe('getUser, getUsers, getUserProfileUrl', () => {
  it('reads users through the same cache; unknown ids and ids that are not Clerk ids are null', async () => {
    const { auth } = provider();
    issuer.resetBackendApiCalls();
    expect(await auth.getUsers([ALICE.id, 'user_unknown', BOB.id, ALICE.id])).toEqual([
      expect.objectContaining({ id: ALICE.id }),
      null,
      expect.objectContaining({ id: BOB.id }),
      expect.objectContaining({ id: ALICE.id }),
    ]);
    expect(issuer.backendApiCalls(USERS)).toBe(3);
    expect(await auth.getUser('user_unknown')).toBeNull();
    expect(issuer.backendApiCalls(USERS)).toBe(3);
    expect(await auth.getUser('../jwks')).toBeNull();
    expect(await auth.getUser('')).toBeNull();
    expect(issuer.backendApiCalls(USERS)).toBe(3);
    expect(auth.getUserProfileUrl({ id: ALICE.id })).toBe('/user/user_alice');
  });

  it('userCacheInMs: 0 asks every time (the peer did), a single flight still joins concurrent calls', async () => {
    const { auth } = provider({ secretKey: 'default', userCacheInMs: 0 });
    issuer.resetBackendApiCalls();
    await Promise.all([auth.getUser(ALICE.id), auth.getUser(ALICE.id), auth.getUser(ALICE.id)]);
    expect(issuer.backendApiCalls(USERS)).toBe(1);
    await auth.getUser(ALICE.id);
    expect(issuer.backendApiCalls(USERS)).toBe(2);
  });
});

describe('the Studio user over HTTP', () => {
  let app: StudioApp;
  beforeAll(async () => {
    app = await startStudioApp(issuer);
    app.oauth.addUser(ALICE);
  });
  afterAll(async () => {
    await app.close();
  });

  it('/api/auth/me: the Clerk user after sign-in, one Backend API call per cache period; the session profile when it is down', async () => {
    const browser = new Browser();
    await signInToClerk(browser, app, ALICE.id);
    issuer.resetBackendApiCalls();
    await studioSignIn(browser, app);
    for (let i = 0; i < 10; i += 1) {
      const me = await browser.fetch(`${app.base}/api/auth/me`, { fromPage: app.base });
      expect(me.json()).toEqual({ id: ALICE.id, email: ALICE.email, name: 'Alice Liddell', avatarUrl: ALICE.imageUrl });
    }
    // One call: at the callback (the full user, as @mastra/auth-clerk), then served from the cache.
    expect(issuer.backendApiCalls(USERS)).toBe(1);
    // The Backend API down, the cache expired: the profile the ID token gave at sign-in.
    issuer.setBackendApiFailure('500');
    app.advance(50_000);
    app.advance(11_000);
    const me = await browser.fetch(`${app.base}/api/auth/me`, { fromPage: app.base });
    expect(me.json()).toEqual({ id: ALICE.id, email: ALICE.email, name: 'Alice Liddell', avatarUrl: ALICE.imageUrl });
  });
});
