/**
 * verifyClerkToken / createClerkAuth().verify: every check and every error code, with real keys, real tokens and a
 * real JWKS server on 127.0.0.1 (the public testing kit).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPair, SignJWT } from 'jose';
import { createClerkAuth, verifyClerkToken, type ClerkAuthOptions } from '../../src/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { b64, expectAuthError } from '../support/errors.js';
import { withClerkEnv } from '../support/env.js';
import { withIssuer } from '../support/issuer.js';

let issuer: TestIssuer;
beforeAll(async () => {
  issuer = await createTestIssuer();
});
afterAll(async () => {
  await issuer.close();
});

/** A verifier on the issuer's JWKS, isolated from process.env. */
function auth(extra: ClerkAuthOptions = {}) {
  return createClerkAuth({ ...issuer.authOptions, env: {}, logger: false, ...extra });
}

describe('valid tokens', () => {
  it('verifies a v2 session token and returns its claims', async () => {
    const token = await issuer.mintToken({}, { userId: 'user_2abc' });
    const claims = await auth().verify(token);
    expect(claims).toMatchObject({ sub: 'user_2abc', iss: issuer.issuer, azp: issuer.authorizedParty, v: 2, sts: 'active' });
    expect(claims.exp - claims.iat!).toBe(60);
  });

  it('verifies a v1 session token with organization claims', async () => {
    const token = await issuer.mintToken({}, { version: 1, org: { id: 'org_1', role: 'org:admin', slug: 'acme' } });
    const claims = await auth().verify(token);
    expect(claims).toMatchObject({ sub: 'user_test', org_id: 'org_1', org_role: 'org:admin', org_slug: 'acme' });
    expect(claims.v).toBeUndefined();
  });

  it('returns frozen claims, so one request cannot change what another sees', async () => {
    const claims = await auth().verify(await issuer.mintToken({}, { org: { id: 'org_1', role: 'org:member' } }));
    expect(Object.isFrozen(claims)).toBe(true);
    expect(Object.isFrozen(claims.o)).toBe(true);
  });

  it('verifies networkless with the PEM key (jwtKey) and never fetches', async () => {
    issuer.resetJwksFetchCount();
    const verifier = createClerkAuth({ jwtKey: issuer.jwtKey, env: {}, logger: false });
    await expect(verifier.verify(await issuer.mintToken())).resolves.toMatchObject({ sub: 'user_test' });
    expect(issuer.jwksFetchCount).toBe(0);
  });

  it('reads the JWKS from the Backend API with the secret key when nothing else gives keys', async () => {
    issuer.resetJwksFetchCount();
    const verifier = createClerkAuth({ secretKey: issuer.secretKey, apiUrl: issuer.apiUrl, env: {}, logger: false });
    await expect(verifier.verify(await issuer.mintToken())).resolves.toMatchObject({ sub: 'user_test' });
    expect(issuer.jwksFetchCount).toBe(1);
    const wrongSecret = createClerkAuth({ secretKey: 'sk_test_wrong', apiUrl: issuer.apiUrl, env: {}, logger: false });
    await expectAuthError(wrongSecret.verify(await issuer.mintToken()), 'jwk-remote-failed-to-load', 503);
  });
});

describe('token shape, before any decoding', () => {
  const cases: Array<[string, () => Promise<string> | string]> = [
    ['two parts', () => 'a.b'],
    ['four parts', () => 'a.b.c.d'],
    ['an empty signature', async () => (await issuer.mintToken()).replace(/\.[^.]+$/, '.')],
    ['characters outside base64url', async () => (await issuer.mintToken()).replace(/^(.)/, '+')],
    ['padding', async () => (await issuer.mintToken()) + '='],
    ['a header that is not JSON', () => `${b64('not json')}.${b64({ sub: 'x' })}.c2ln`],
    ['a header that is a JSON array', () => `${b64([1])}.${b64({ sub: 'x' })}.c2ln`],
  ];
  it.each(cases)('rejects %s as token-invalid', async (_name, make) => {
    await expectAuthError(auth().verify(await make()), 'token-invalid', 401);
  });

  it('rejects a token over 8 KiB without decoding it', async () => {
    const token = await issuer.mintToken({ padding: 'x'.repeat(9000) });
    const error = await expectAuthError(auth().verify(token), 'token-invalid', 401);
    expect(error.message).toBe('The token is too large.');
  });

  it('rejects non-canonical base64url (stray bits in the last character) even though it decodes the same', async () => {
    const token = await issuer.mintToken();
    const [h, p, s] = token.split('.') as [string, string, string];
    // The signature of a 2048-bit key is 256 bytes: 342 characters, the last one carrying 4 unused bits.
    expect(s.length % 4).toBe(2);
    const last = s.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sibling = alphabet[alphabet.indexOf(last) | 1]!;
    const forged = `${h}.${p}.${s.slice(0, -1)}${sibling}`;
    expect(Buffer.from(forged.split('.')[2]!, 'base64url')).toEqual(Buffer.from(s, 'base64url'));
    await expect(auth({ tokenCache: false }).verify(token)).resolves.toMatchObject({ sub: 'user_test' });
    await expectAuthError(auth().verify(forged), 'token-invalid', 401);
  });

  it('rejects a part one character longer than whole bytes (4n+1) as malformed, before its signature is checked', async () => {
    const [h, p, s] = (await issuer.mintToken()).split('.') as [string, string, string];
    const grow = (part: string) => (part.length % 4 === 0 ? `${part}A` : `${part}${'A'.repeat(5 - (part.length % 4))}`);
    for (const forged of [`${grow(h)}.${p}.${s}`, `${h}.${grow(p)}.${s}`, `${h}.${p}.${grow(s)}`]) {
      expect(forged.split('.').filter((part) => part.length % 4 === 1)).toHaveLength(1);
      const error = await expectAuthError(auth().verify(forged), 'token-invalid', 401);
      expect(error.message).toBe('The token is not three canonical base64url parts.');
    }
  });

  it('answers token-missing for an empty token, with a bare challenge', async () => {
    const error = await expectAuthError(auth().verify(''), 'token-missing', 401);
    expect(error.headers).toEqual({ 'WWW-Authenticate': 'Bearer realm="api"' });
  });

  it('uses the configured realm in the challenge', async () => {
    const missing = await expectAuthError(auth({ realm: 'agents' }).verify(''), 'token-missing', 401, { realm: 'agents' });
    expect(missing.headers).toEqual({ 'WWW-Authenticate': 'Bearer realm="agents"' });
    const expired = await expectAuthError(auth({ realm: 'agents' }).verify(await issuer.mintToken({}, { expired: true })), 'token-expired', 401, {
      realm: 'agents',
    });
    expect(expired.headers).toEqual({
      'WWW-Authenticate': 'Bearer realm="agents", error="invalid_token", error_description="The token has expired."',
    });
  });
});

describe('header checks', () => {
  it('rejects a typ other than JWT', async () => {
    await expectAuthError(auth().verify(await issuer.mintToken({}, { header: { typ: 'JOSE' } })), 'token-invalid', 401);
  });

  it('rejects an OAuth access token (typ at+jwt) as another type of token', async () => {
    await expectAuthError(auth().verify(await issuer.mintToken({}, { header: { typ: 'at+jwt' } })), 'token-type-mismatch', 401);
  });

  it("rejects an OpenID Connect ID token (what any OAuth client of the instance gets) as another type of token, even with Clerk's sid", async () => {
    // Signed by the instance's key, with `iss`, `sub` and `sid`: only its claims tell it from a session token. Clerk's
    // session tokens carry none of OIDC's ID-token claims, and `aud` only when customized (with `azp` from a browser).
    const open = { authorizedParties: [] as string[] };
    for (const claims of [
      { aud: 'oauth_client_1', nonce: 'n-1', azp: undefined },
      { aud: 'oauth_client_1', azp: undefined },
      { aud: ['oauth_client_1'], azp: undefined, auth_time: 1 },
      { nonce: 'n-1' },
      { at_hash: 'x' },
      { c_hash: 'x' },
      { auth_time: 1 },
    ]) {
      const refused = await auth(open).verify(await issuer.mintToken(claims)).then(() => 'accepted', (error: { code?: string }) => error.code);
      expect({ claims, refused }).toEqual({ claims, refused: 'token-type-mismatch' });
    }
    // A configured audience it matches (the app's own choice), or an `azp` (a browser's session), still passes.
    await expect(auth({ ...open, audience: ['oauth_client_1'] }).verify(await issuer.mintToken({ aud: 'oauth_client_1', azp: undefined }))).resolves.toMatchObject({ aud: 'oauth_client_1' });
    await expect(auth(open).verify(await issuer.mintToken({ aud: 'anything' }))).resolves.toMatchObject({ aud: 'anything' });
  });

  it('accepts a token without typ, as Clerk does', async () => {
    await expect(auth().verify(await issuer.mintToken({}, { header: { typ: undefined } }))).resolves.toMatchObject({ sub: 'user_test' });
  });

  it('rejects alg none, with or without a signature, before fetching keys', async () => {
    issuer.resetJwksFetchCount();
    const payload = b64({ sub: 'user_admin', exp: Math.floor(Date.now() / 1000) + 60 });
    const header = b64({ alg: 'none', typ: 'JWT', kid: issuer.kid });
    await expectAuthError(auth().verify(`${header}.${payload}.`), 'token-invalid', 401);
    await expectAuthError(auth().verify(`${header}.${payload}.AAAA`), 'token-invalid-algorithm', 401);
    expect(issuer.jwksFetchCount).toBe(0);
  });

  it('rejects HS256 signed with the public PEM as the secret (key confusion)', async () => {
    const token = await new SignJWT({ sub: 'user_admin', azp: issuer.authorizedParty })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: issuer.kid })
      .setIssuer(issuer.issuer)
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(new TextEncoder().encode(issuer.jwtKey));
    await expectAuthError(auth().verify(token), 'token-invalid-algorithm', 401);
    await expectAuthError(createClerkAuth({ jwtKey: issuer.jwtKey, env: {} }).verify(token), 'token-invalid-algorithm', 401);
  });

  it.each(['PS256', 'ES256'] as const)('rejects %s even when signed by a valid key of that type', async (alg) => {
    const { privateKey } = await generateKeyPair(alg);
    const token = await new SignJWT({ sub: 'user_1', azp: issuer.authorizedParty })
      .setProtectedHeader({ alg, typ: 'JWT', kid: issuer.kid })
      .setIssuer(issuer.issuer)
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(privateKey);
    await expectAuthError(auth().verify(token), 'token-invalid-algorithm', 401);
  });

  it('refuses to be configured with HMAC algorithms or none', () => {
    expect(() => auth({ algorithms: ['RS256', 'HS256'] })).toThrow('"algorithms" must not include HMAC');
    expect(() => auth({ algorithms: ['none'] })).toThrow('"algorithms" must not include "none"');
  });

  it('rejects a Clerk machine (M2M) token', async () => {
    await expectAuthError(auth().verify(await issuer.mintToken({}, { header: { cat: 'cl_B7d4PD333AAA' } })), 'token-type-mismatch', 401);
  });

  it('rejects a JWKS-verified token without a kid', async () => {
    await expectAuthError(auth().verify(await issuer.mintToken({}, { header: { kid: undefined } })), 'token-invalid', 401);
  });

  it('never follows jku, x5u or an embedded jwk', async () => {
    let hits = 0;
    const attacker = createServer((_req, res) => {
      hits += 1;
      res.end('{}');
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}/jwks.json`;
    try {
      // Signed by a key of the attacker's, which it embeds and points to.
      const embedded = { kty: 'RSA', n: 'AQAB', e: 'AQAB' };
      const token = await issuer.mintToken(
        { sub: 'user_admin' },
        { signWith: 'foreign', header: { jku: url, x5u: url, jwk: embedded, kid: 'attacker-kid' } },
      );
      await expectAuthError(auth().verify(token), 'jwk-kid-mismatch', 401);
      const sameKid = await issuer.mintToken({ sub: 'user_admin' }, { signWith: 'foreign', header: { jku: url, jwk: embedded } });
      await expectAuthError(auth().verify(sameKid), 'token-invalid-signature', 401);
      expect(hits).toBe(0);
    } finally {
      attacker.closeAllConnections();
      await new Promise((resolve) => attacker.close(resolve));
    }
  });
});

describe('signature', () => {
  it('rejects a token signed by a foreign key with the right kid', async () => {
    await expectAuthError(auth().verify(await issuer.mintToken({}, { signWith: 'foreign' })), 'token-invalid-signature', 401);
  });

  it('rejects a swapped payload (claims of another user under a valid signature)', async () => {
    const [h, , s] = (await issuer.mintToken({}, { userId: 'user_alice' })).split('.');
    const [, p] = (await issuer.mintToken({}, { userId: 'user_mallory' })).split('.');
    await expectAuthError(auth().verify(`${h}.${p}.${s}`), 'token-invalid-signature', 401);
  });

  it('checks the signature before any claim: a forged expired token is a signature error', async () => {
    const token = await issuer.mintToken({}, { signWith: 'foreign', expired: true });
    await expectAuthError(auth().verify(token), 'token-invalid-signature', 401);
  });
});

describe('claims', () => {
  it('requires sub to be a string', async () => {
    await expectAuthError(auth().verify(await issuer.mintToken({ sub: undefined })), 'token-invalid', 401);
    await expectAuthError(auth().verify(await issuer.mintToken({ sub: 42 })), 'token-invalid', 401);
  });

  it('requires exp', async () => {
    await expectAuthError(auth().verify(await issuer.mintToken({ exp: undefined })), 'token-invalid', 401);
  });

  it('requires nbf and iat, when present, to be numbers', async () => {
    await expectAuthError(auth().verify(await issuer.mintToken({ nbf: 'soon' })), 'token-invalid', 401);
    await expectAuthError(auth().verify(await issuer.mintToken({ iat: 'now' })), 'token-invalid', 401);
  });

  it('refuses exp, nbf and iat that JSON spells past a double (1e400 parses as Infinity) as not numbers', async () => {
    const now = Math.floor(Date.now() / 1000);
    const base = `"sub":"user_test","sid":"sess_1","iss":"${issuer.issuer}","azp":"${issuer.authorizedParty}"`;
    for (const [times, name] of [
      [`"exp":1e400,"iat":${now}`, 'expiry (exp)'],
      [`"exp":${now + 60},"nbf":1e400`, 'claim nbf'],
      [`"exp":${now + 60},"iat":-1e400`, 'claim iat'],
    ] as const) {
      const error = await expectAuthError(auth().verify(await signedRaw(`{${base},${times}}`)), 'token-invalid', 401);
      expect(error.message).toContain(name);
    }
  });

  it('rejects a payload that is not a JSON object', async () => {
    await expectAuthError(auth().verify(await signedRaw('[1,2]')), 'token-invalid', 401);
  });

  it('rejects an expired token as token-expired', async () => {
    await expectAuthError(auth().verify(await issuer.mintToken({}, { expired: true })), 'token-expired', 401);
  });

  it('rejects a token before its nbf as token-not-active-yet', async () => {
    const now = Date.now();
    const token = await issuer.mintToken({ nbf: Math.floor(now / 1000) + 120, iat: Math.floor(now / 1000) });
    await expectAuthError(auth().verify(token), 'token-not-active-yet', 401);
  });

  it('rejects a token issued in the future as token-iat-in-the-future', async () => {
    const now = Date.now();
    const token = await issuer.mintToken({ nbf: undefined, iat: Math.floor(now / 1000) + 120 });
    await expectAuthError(auth().verify(token), 'token-iat-in-the-future', 401);
  });

  it('applies the clock skew on each side, to the millisecond, with an injected clock', async () => {
    const t = 1_800_000_000; // seconds
    const token = await issuer.mintToken({ iat: t, nbf: t, exp: t + 60 });
    const at = (ms: number) => auth({ now: () => ms, tokenCache: false }).verify(token);
    // exp: still valid until exp + 5 s, exclusive.
    await expect(at((t + 65) * 1000 - 1)).resolves.toMatchObject({ exp: t + 60 });
    await expectAuthError(at((t + 65) * 1000), 'token-expired', 401);
    // nbf/iat: accepted up to 5 s early.
    await expect(at((t - 5) * 1000)).resolves.toMatchObject({ nbf: t });
    const early = await expectAuthError(at((t - 5) * 1000 - 1), 'token-not-active-yet', 401);
    expect(early.message).toBe('The token is not valid yet.');
    // A custom skew.
    await expectAuthError(auth({ now: () => (t + 60) * 1000, clockSkewInMs: 0, tokenCache: false }).verify(token), 'token-expired', 401);
  });

  it('checks iss against the issuer derived from the publishable key', async () => {
    const derived = createClerkAuth({ publishableKey: issuer.publishableKey, jwksUri: issuer.jwksUri, env: {} });
    await expect(derived.verify(await issuer.mintToken())).resolves.toMatchObject({ iss: issuer.issuer });
    await expectAuthError(derived.verify(await issuer.mintToken({ iss: 'https://evil.clerk.accounts.dev' })), 'token-invalid-issuer', 401);
    await expectAuthError(derived.verify(await issuer.mintToken({ iss: undefined })), 'token-invalid-issuer', 401);
  });

  it('derives the issuer from a JWKS URL ending in /.well-known/jwks.json', async () => {
    const verifier = createClerkAuth({ jwksUri: issuer.jwksUri, env: {} });
    expect(verifier.config.issuers).toEqual([new URL(issuer.jwksUri).origin]);
    await expectAuthError(verifier.verify(await issuer.mintToken()), 'token-invalid-issuer', 401);
    const local = await issuer.mintToken({ iss: new URL(issuer.jwksUri).origin });
    await expect(verifier.verify(local)).resolves.toMatchObject({ iss: new URL(issuer.jwksUri).origin });
  });

  it('accepts any of several issuers, and an explicit issuer overrides the derived one', async () => {
    const verifier = auth({ issuer: ['https://a.example', issuer.issuer] });
    await expect(verifier.verify(await issuer.mintToken())).resolves.toMatchObject({ iss: issuer.issuer });
    const other = auth({ issuer: 'https://a.example' });
    await expectAuthError(other.verify(await issuer.mintToken()), 'token-invalid-issuer', 401);
  });

  it('checks aud only when an audience is configured, and then requires it', async () => {
    await expect(auth().verify(await issuer.mintToken({ aud: 'anything' }))).resolves.toMatchObject({ aud: 'anything' });
    const verifier = auth({ audience: ['api.example.com'] });
    await expect(verifier.verify(await issuer.mintToken({ aud: ['other', 'api.example.com'] }))).resolves.toMatchObject({
      aud: ['other', 'api.example.com'],
    });
    await expectAuthError(verifier.verify(await issuer.mintToken({ aud: 'other' })), 'token-invalid-audience', 401);
    await expectAuthError(verifier.verify(await issuer.mintToken()), 'token-invalid-audience', 401);
  });

  it('checks azp against authorizedParties; a token without azp fails when parties are set', async () => {
    const verifier = auth({ authorizedParties: ['http://localhost:3000', 'https://app.example.com'] });
    await expect(verifier.verify(await issuer.mintToken({ azp: 'https://app.example.com' }))).resolves.toMatchObject({ azp: 'https://app.example.com' });
    await expectAuthError(verifier.verify(await issuer.mintToken({ azp: 'https://evil.example' })), 'token-invalid-authorized-parties', 401);
    await expectAuthError(verifier.verify(await issuer.mintToken({ azp: undefined })), 'token-invalid-authorized-parties', 401);
    // Not configured: no check.
    await expect(auth({ authorizedParties: [] }).verify(await issuer.mintToken({ azp: 'https://evil.example' }))).resolves.toMatchObject({
      azp: 'https://evil.example',
    });
  });

  it('treats a pending session as signed out unless told otherwise', async () => {
    const token = await issuer.mintToken({}, { pending: true });
    await expectAuthError(auth().verify(token), 'session-pending', 401);
    await expect(auth({ treatPendingAsSignedOut: false }).verify(token)).resolves.toMatchObject({ sts: 'pending' });
  });
});

/** A token with an arbitrary payload, correctly signed by the issuer's current key. */
async function signedRaw(payload: string): Promise<string> {
  const signingInput = `${b64({ alg: 'RS256', typ: 'JWT', kid: issuer.kid })}.${b64(payload)}`;
  const { webcrypto } = await import('node:crypto');
  const signature = await webcrypto.subtle.sign('RSASSA-PKCS1-v1_5', issuer.privateKey, new TextEncoder().encode(signingInput));
  return `${signingInput}.${Buffer.from(signature).toString('base64url')}`;
}

describe('verified-token cache', () => {
  it('serves a repeated token from memory: no key lookup, the same claims object', async () => {
    await withIssuer(async (fresh) => {
      const verifier = createClerkAuth({
        ...fresh.authOptions,
        env: {},
        logger: false,
        jwks: { cacheMaxAgeInMs: 0, staleIfErrorInMs: 0 },
      });
      const token = await fresh.mintToken();
      const first = await verifier.verify(token);
      fresh.setJwksFailure('down');
      // Keys are now unobtainable (max age 0, no stale keys): only the cache can answer.
      await expect(verifier.verify(token)).resolves.toBe(first);
      await expectAuthError(verifier.verify(await fresh.mintToken()), 'jwk-remote-failed-to-load', 503);
    });
  });

  it('serves from memory only the very token verified: another payload under its signature is checked, and fails', async () => {
    const verifier = auth();
    const token = await issuer.mintToken({}, { userId: 'user_cached' });
    await verifier.verify(token);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const forgedPayload = Buffer.from(JSON.stringify({ ...claims, sub: 'user_admin' })).toString('base64url');
    // The same signature, so the same end of the token: the cache must compare the whole token, not only its end.
    await expectAuthError(verifier.verify(`${header}.${forgedPayload}.${signature}`), 'token-invalid-signature', 401);
    await expect(verifier.verify(token)).resolves.toMatchObject({ sub: 'user_cached' });
  });

  it('keeps applying the time rules to cached tokens', async () => {
    let now = 1_800_000_000_000;
    const verifier = auth({ now: () => now });
    const token = await issuer.mintToken({}, { now });
    await verifier.verify(token);
    now += 64_999; // exp + skew - 1 ms
    await expect(verifier.verify(token)).resolves.toMatchObject({ sub: 'user_test' });
    now += 1_001;
    await expectAuthError(verifier.verify(token), 'token-expired', 401);
  });

  it('keeps the rules of the verifier the entry lives in', async () => {
    const token = await issuer.mintToken({ azp: 'https://other.example' });
    await expect(auth({ authorizedParties: ['https://other.example'] }).verify(token)).resolves.toMatchObject({ azp: 'https://other.example' });
    await expectAuthError(auth().verify(token), 'token-invalid-authorized-parties', 401);
  });

  it('is bounded: past its size the oldest entry goes first', async () => {
    expect(auth().config.tokenCacheSize).toBe(10_000);
    expect(auth({ tokenCache: false }).config.tokenCacheSize).toBe(0);
    expect(() => auth({ tokenCache: -1 })).toThrow('"tokenCache" must be a non-negative integer or false');
    await withIssuer(async (fresh) => {
      const verifier = createClerkAuth({ ...fresh.authOptions, env: {}, logger: false, tokenCache: 2, jwks: { cacheMaxAgeInMs: 0, staleIfErrorInMs: 0 } });
      const [a, b, c] = await Promise.all([1, 2, 3].map((i) => fresh.mintToken({}, { userId: `user_${i}` })));
      for (const token of [a!, b!, c!]) await verifier.verify(token);
      fresh.setJwksFailure('down'); // from now on only the cache can answer
      await expect(verifier.verify(c!)).resolves.toMatchObject({ sub: 'user_3' });
      await expect(verifier.verify(b!)).resolves.toMatchObject({ sub: 'user_2' });
      await expectAuthError(verifier.verify(a!), 'jwk-remote-failed-to-load', 503); // evicted: verified again
    });
  });

  it('stays bounded over many evictions: the newest tokens are served, the older verified again', async () => {
    await withIssuer(async (fresh) => {
      const verifier = createClerkAuth({ ...fresh.authOptions, env: {}, logger: false, tokenCache: 3, jwks: { cacheMaxAgeInMs: 0, staleIfErrorInMs: 0 } });
      const tokens = await Promise.all(Array.from({ length: 8 }, (_, i) => fresh.mintToken({}, { userId: `user_${i}` })));
      for (const token of tokens) await verifier.verify(token);
      fresh.setJwksFailure('down'); // from now on only the cache can answer
      for (const i of [5, 6, 7]) await expect(verifier.verify(tokens[i]!)).resolves.toMatchObject({ sub: `user_${i}` });
      for (const i of [0, 1, 2, 3, 4]) await expectAuthError(verifier.verify(tokens[i]!), 'jwk-remote-failed-to-load', 503);
    });
  });

  it('checks a cached token again after 60 s, even when its exp is later', async () => {
    await withIssuer(async (fresh) => {
      let now = Date.now();
      const verifier = createClerkAuth({
        ...fresh.authOptions,
        env: {},
        logger: false,
        now: () => now,
        jwks: { cacheMaxAgeInMs: 0, staleIfErrorInMs: 0, failureBackoffInMs: 0 },
      });
      const token = await fresh.mintToken({}, { expiresInSeconds: 3600 });
      await verifier.verify(token);
      fresh.setJwksFailure('down');
      now += 59_000;
      await expect(verifier.verify(token)).resolves.toMatchObject({ sub: 'user_test' });
      now += 2_000;
      await expectAuthError(verifier.verify(token), 'jwk-remote-failed-to-load', 503);
    });
  });

  it('drops cached tokens when a refetch for an unknown kid brings a changed key set', async () => {
    await withIssuer(async (fresh) => {
      const verifier = createClerkAuth({ ...fresh.authOptions, env: {}, logger: false, jwks: { cooldownInMs: 0 } });
      const signedByOldKey = await fresh.mintToken({}, { expiresInSeconds: 3600 });
      await verifier.verify(signedByOldKey);
      await fresh.rotateKey();
      await expectAuthError(verifier.verify(await fresh.mintToken({}, { kid: 'unknown' })), 'jwk-kid-mismatch', 401);
      await expectAuthError(verifier.verify(signedByOldKey), 'jwk-kid-mismatch', 401);
    });
  });

  it('drops cached tokens when the key set changes, so a key rotated out stops being trusted', async () => {
    await withIssuer(async (fresh) => {
      const verifier = createClerkAuth({ ...fresh.authOptions, env: {}, logger: false, jwks: { cooldownInMs: 0 } });
      const signedByOldKey = await fresh.mintToken({}, { expiresInSeconds: 3600 });
      await verifier.verify(signedByOldKey);
      await fresh.rotateKey(); // the old key leaves the JWKS
      // A refetch: a new key set.
      await expect(verifier.verify(await fresh.mintToken({}, { userId: 'user_new_key' }))).resolves.toMatchObject({ sub: 'user_new_key' });
      await expectAuthError(verifier.verify(signedByOldKey), 'jwk-kid-mismatch', 401);
    });
  });
});

describe('verifyClerkToken', () => {
  it('rejects a misspelt option on every call, which it used to drop (no azp check)', async () => {
    await withIssuer(async (fresh) => {
      const foreign = await fresh.mintToken({ azp: 'https://evil.example' });
      const { authorizedParties, ...rest } = fresh.authOptions;
      const misspelt = { ...rest, authorisedParties: authorizedParties, env: {}, logger: false } as never;
      for (let i = 0; i < 2; i += 1) {
        await expect(verifyClerkToken(foreign, misspelt)).rejects.toThrow('verifyClerkToken: unknown option "authorisedParties"; did you mean "authorizedParties"?');
      }
      await expect(verifyClerkToken(foreign, { ...fresh.authOptions, env: {}, logger: false })).rejects.toMatchObject({ code: 'token-invalid-authorized-parties' });
    });
  });

  it('reuses one verifier per configuration: one JWKS fetch for many calls', async () => {
    await withIssuer(async (fresh) => {
      const tokens = await Promise.all(Array.from({ length: 5 }, (_, i) => fresh.mintToken({}, { userId: `user_${i}` })));
      for (const token of tokens) {
        // A new, equal options object each call, as a request handler would build it.
        await expect(verifyClerkToken(token, { ...fresh.authOptions, env: {}, logger: false })).resolves.toMatchObject({ iss: fresh.issuer });
      }
      expect(fresh.jwksFetchCount).toBe(1);
    });
  });

  it('shares the verifier whatever the key order, and ignores a new logger closure per call', async () => {
    await withIssuer(async (fresh) => {
      const base = fresh.authOptions;
      for (let i = 0; i < 3; i += 1) {
        const options =
          i % 2 === 0
            ? { ...base, env: {}, logger: () => undefined, jwks: { timeoutInMs: 4000, cooldownInMs: 20_000 } }
            : { jwks: { cooldownInMs: 20_000, timeoutInMs: 4000 }, logger: () => undefined, env: {}, ...base };
        await expect(verifyClerkToken(await fresh.mintToken({}, { userId: `user_${i}` }), options)).resolves.toMatchObject({ sub: `user_${i}` });
      }
      expect(fresh.jwksFetchCount).toBe(1);
    });
  });

  it('rejects with a ClerkAuthError', async () => {
    await expectAuthError(verifyClerkToken('nope', { ...issuer.authOptions, env: {} }), 'token-invalid', 401);
  });

  it('reads the configuration from the environment when no option is given', async () => {
    const variables = {
      CLERK_JWKS_URI: issuer.jwksUri,
      CLERK_PUBLISHABLE_KEY: issuer.publishableKey,
      CLERK_AUTHORIZED_PARTIES: ' https://app.example.com , http://localhost:3000 ',
    };
    await withClerkEnv(variables, async () => {
      await expect(verifyClerkToken(await issuer.mintToken())).resolves.toMatchObject({ sub: 'user_test' });
      await expectAuthError(verifyClerkToken(await issuer.mintToken({ azp: 'https://evil.example' })), 'token-invalid-authorized-parties', 401);
    });
  });
});

describe('configuration is validated once, at start-up', () => {
  it('names every key source when none is configured', () => {
    expect(() => createClerkAuth({ env: {} })).toThrow(
      /CLERK_PUBLISHABLE_KEY, CLERK_JWKS_URI, CLERK_JWT_KEY or CLERK_SECRET_KEY/,
    );
  });

  it.each<[string, () => ClerkAuthOptions, string]>([
    ['a bad publishable key', () => ({ publishableKey: 'pk_test_bm90LWEtaG9zdA' }), '"publishableKey" (CLERK_PUBLISHABLE_KEY)'],
    ['a relative JWKS URL', () => ({ jwksUri: '/jwks.json' }), '"jwksUri (CLERK_JWKS_URI)" must be an absolute https URL'],
    ['a non-http JWKS URL', () => ({ jwksUri: 'file:///etc/passwd' }), '"jwksUri (CLERK_JWKS_URI)" must be an absolute https URL'],
    ['a jwtKey that is not PEM', () => ({ jwtKey: 'abc' }), '"jwtKey" (CLERK_JWT_KEY) must be a PEM public key'],
    ['a broken PEM', () => ({ jwtKey: `-----BEGIN PUBLIC KEY-----\n${'A'.repeat(96)}\n-----END PUBLIC KEY-----` }), '"jwtKey" (CLERK_JWT_KEY) is not a valid PEM'],
    ['a bad secret key', () => ({ secretKey: 'secret' }), '"secretKey" (CLERK_SECRET_KEY)'],
    ['a NaN clock skew', () => ({ jwksUri: issuer.jwksUri, clockSkewInMs: Number.NaN }), '"clockSkewInMs" must be a finite, non-negative number'],
    ['a negative JWKS timeout', () => ({ jwksUri: issuer.jwksUri, jwks: { timeoutInMs: -1 } }), '"jwks.timeoutInMs" must be a finite, non-negative number'],
    ['an issuer that is not a string', () => ({ jwksUri: issuer.jwksUri, issuer: [42 as unknown as string] }), '"issuer" must be a string or a list of strings'],
    ['a realm that cannot go into a header', () => ({ jwksUri: issuer.jwksUri, realm: 'API \u65e5\u672c' }), '"realm" must be a non-empty string of printable ASCII'],
  ])('rejects %s, naming the option', (_name, options, message) => {
    expect(() => createClerkAuth({ env: {}, ...options() })).toThrow(message);
  });

  it('accepts a valid publishable key and derives the JWKS URL from it', () => {
    const verifier = createClerkAuth({ publishableKey: issuer.publishableKey, env: {} });
    expect(verifier.config.keySource).toEqual({ kind: 'jwks', url: new URL(`https://${issuer.frontendApi}/.well-known/jwks.json`) });
    expect(verifier.config.issuers).toEqual([issuer.issuer]);
  });

  it('prefers the PEM key to any remote key set', () => {
    const verifier = createClerkAuth({ jwtKey: issuer.jwtKey, jwksUri: issuer.jwksUri, secretKey: issuer.secretKey, env: {} });
    expect(verifier.config.keySource.kind).toBe('pem');
  });
});

describe('single flight', () => {
  it('verifies a new token once however many requests carry it at the same time', async () => {
    const verifier = auth();
    const token = await issuer.mintToken({}, { userId: 'user_burst' });
    const results = await Promise.all(Array.from({ length: 32 }, () => verifier.verify(token)));
    // One verification: every caller gets the very same frozen claims object (separate checks would each parse their own).
    expect(new Set(results).size).toBe(1);
    expect(results[0]!.sub).toBe('user_burst');
  });

  it('shares a flight only with the very same token: another payload under its signature is checked on its own', async () => {
    const verifier = auth();
    const token = await issuer.mintToken({}, { userId: 'user_flight' });
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const forged = `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: 'user_admin' })).toString('base64url')}.${signature}`;
    // All three start before any settles: the forgery must neither join the valid token's flight nor lend it its own.
    const [first, attack, second] = [verifier.verify(token), verifier.verify(forged), verifier.verify(token)];
    // Observe the rejection at once: if the forgery settles first, awaiting `first` must not leave it unhandled.
    const attackCaught = attack.then(
      () => undefined,
      (error: unknown) => error,
    );
    await expect(first).resolves.toMatchObject({ sub: 'user_flight' });
    await expectAuthError(attack, 'token-invalid-signature', 401);
    expect(await attackCaught).toMatchObject({ code: 'token-invalid-signature' });
    await expect(second).resolves.toBe(await first);
  });

  it('shares a failure too, and keeps nothing once it settled', async () => {
    const verifier = auth();
    const token = await issuer.mintToken({}, { signWith: 'foreign' });
    const errors = await Promise.all(Array.from({ length: 8 }, () => verifier.verify(token).catch((error: unknown) => error)));
    expect(new Set(errors).size).toBe(1);
    expect((errors[0] as { code?: string }).code).toBe('token-invalid-signature');
    // Settled: a later call verifies again (a new error object), rather than being served the old promise.
    const again = await verifier.verify(token).catch((error: unknown) => error);
    expect(again).not.toBe(errors[0]);
  });
});
