/**
 * Seams between the parts: options a caller still holds after validation, attacker text that could reach an error or
 * a log line, Clerk's token categories, the forms of CLERK_JWT_KEY, the publishable key's cookie suffix and messages,
 * and the cookie rules of `authenticate()` as a unit.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createSign, generateKeyPairSync, createPublicKey } from 'node:crypto';
import { inspect } from 'node:util';
import express from 'express';
import request from 'supertest';
import { getCookieSuffix } from '@clerk/shared/keys';
import {
  ClerkAuthConfigError,
  ClerkAuthError,
  clerkMastraAuth,
  createClerkAuth,
  verifyClerkToken,
  type ClerkAuthOptions,
  type RequestState,
} from '../../src/index.js';
import { cookieSuffixOf } from '../../src/core/options.js';
import { verifierFor } from '../../src/core/verify-token.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { b64, expectAuthError } from '../support/errors.js';

let issuer: TestIssuer;
/** Another Clerk instance: its tokens are valid JWTs signed by a key our verifier does not trust. */
let other: TestIssuer;
beforeAll(async () => {
  issuer = await createTestIssuer();
  other = await createTestIssuer();
});
afterAll(async () => {
  await issuer.close();
  await other.close();
});

/** A networkless verifier on the issuer's PEM, isolated from process.env. */
function pemAuth(extra: ClerkAuthOptions = {}) {
  return createClerkAuth({ jwtKey: issuer.jwtKey, env: {}, logger: false, ...extra });
}

/** The thrown or rejected error of a call that may throw synchronously or return a promise. */
async function settle<T>(fn: () => T | Promise<T>): Promise<{ value?: T; error?: unknown }> {
  try {
    return { value: await fn() };
  } catch (error) {
    return { error };
  }
}

/** Every way an error can end up printed or serialized. */
function renderings(error: unknown): string[] {
  const e = error as Error & { headers?: unknown; cause?: unknown };
  return [String(e), e.message, JSON.stringify(e), inspect(e, { depth: 5 }), JSON.stringify(e.headers ?? {}), String(e.cause ?? '')];
}

describe('options aliased after validation', () => {
  it('authorizedParties: changing the caller array after createClerkAuth changes nothing', async () => {
    const parties = [issuer.authorizedParty];
    const auth = pemAuth({ authorizedParties: parties, tokenCache: false });
    parties.push('https://pushed.example');
    const original = await issuer.mintToken();
    const pushed = await issuer.mintToken({ azp: 'https://pushed.example' });
    await expectAuthError(auth.verify(pushed), 'token-invalid-authorized-parties', 401);
    await expect(auth.verify(original)).resolves.toMatchObject({ azp: issuer.authorizedParty });

    parties[0] = 'https://replaced.example';
    await expectAuthError(auth.verify(await issuer.mintToken({ azp: 'https://replaced.example' })), 'token-invalid-authorized-parties', 401);
    await expect(auth.verify(original)).resolves.toBeDefined();

    expect(auth.config.authorizedParties).toEqual([issuer.authorizedParty]);
    expect(Object.isFrozen(auth.config.authorizedParties)).toBe(true);
    expect(Object.isFrozen(auth.config)).toBe(true);
    expect(() => (auth.config.authorizedParties as string[]).push('https://late.example')).toThrow(TypeError);
  });

  it('issuer: changing the caller array after createClerkAuth changes nothing', async () => {
    const issuers = [issuer.issuer];
    const auth = pemAuth({ issuer: issuers, tokenCache: false });
    issuers.push('https://pushed.clerk.accounts.dev');
    await expectAuthError(auth.verify(await issuer.mintToken({ iss: 'https://pushed.clerk.accounts.dev' })), 'token-invalid-issuer', 401);
    issuers[0] = 'https://replaced.clerk.accounts.dev';
    await expectAuthError(auth.verify(await issuer.mintToken({ iss: 'https://replaced.clerk.accounts.dev' })), 'token-invalid-issuer', 401);
    await expect(auth.verify(await issuer.mintToken())).resolves.toMatchObject({ iss: issuer.issuer });
    expect(Object.isFrozen(auth.config.issuers)).toBe(true);
  });

  it('audience: changing the caller array after createClerkAuth changes nothing', async () => {
    const audiences = ['https://api.example.com'];
    const auth = pemAuth({ audience: audiences, tokenCache: false });
    audiences.push('https://pushed.example.com');
    await expectAuthError(auth.verify(await issuer.mintToken({ aud: 'https://pushed.example.com' })), 'token-invalid-audience', 401);
    audiences[0] = 'https://replaced.example.com';
    await expectAuthError(auth.verify(await issuer.mintToken({ aud: 'https://replaced.example.com' })), 'token-invalid-audience', 401);
    await expect(auth.verify(await issuer.mintToken({ aud: 'https://api.example.com' }))).resolves.toBeDefined();
    expect(Object.isFrozen(auth.config.audiences)).toBe(true);
  });

  it('verifyClerkToken: the same options object, its array mutated between calls, is judged by its new contents', async () => {
    const partyA = 'https://a.example';
    const partyB = 'https://b.example';
    const parties = [partyA];
    const options: ClerkAuthOptions = { jwtKey: issuer.jwtKey, env: {}, logger: false, authorizedParties: parties };
    const tokenA = await issuer.mintToken({ azp: partyA });
    const tokenB = await issuer.mintToken({ azp: partyB });

    await expect(verifyClerkToken(tokenA, options)).resolves.toMatchObject({ azp: partyA });
    await expectAuthError(verifyClerkToken(tokenB, options), 'token-invalid-authorized-parties', 401);
    const first = verifierFor(options);

    parties[0] = partyB;
    await expect(verifyClerkToken(tokenB, options)).resolves.toMatchObject({ azp: partyB });
    // tokenA is in the first verifier's token cache: it must not be served for the changed configuration.
    await expectAuthError(verifyClerkToken(tokenA, options), 'token-invalid-authorized-parties', 401);
    const second = verifierFor(options);
    expect(second).not.toBe(first);
    expect(second.config.authorizedParties).toEqual([partyB]);

    // The first verifier was built from a copy: the mutation did not reach it.
    expect(first.config.authorizedParties).toEqual([partyA]);
    await expect(first.verify(tokenA)).resolves.toBeDefined();
    await expectAuthError(first.verify(tokenB), 'token-invalid-authorized-parties', 401);

    parties.push(partyA);
    await expect(verifyClerkToken(tokenA, options)).resolves.toBeDefined();
    await expect(verifyClerkToken(tokenB, options)).resolves.toBeDefined();
    parties.length = 0;
    parties.push(partyA);
    expect(verifierFor(options)).toBe(first);
    await expectAuthError(verifyClerkToken(tokenB, options), 'token-invalid-authorized-parties', 401);
  });

  it('verifyClerkToken: mutated issuer and audience arrays are judged by their new contents too', async () => {
    const issuers = [issuer.issuer];
    const audiences = ['https://api.example.com'];
    const options: ClerkAuthOptions = { jwtKey: issuer.jwtKey, env: {}, logger: false, issuer: issuers, audience: audiences };
    const token = await issuer.mintToken({ aud: 'https://api.example.com' });
    await expect(verifyClerkToken(token, options)).resolves.toBeDefined();
    issuers[0] = 'https://elsewhere.clerk.accounts.dev';
    await expectAuthError(verifyClerkToken(token, options), 'token-invalid-issuer', 401);
    issuers[0] = issuer.issuer;
    audiences[0] = 'https://other-api.example.com';
    await expectAuthError(verifyClerkToken(token, options), 'token-invalid-audience', 401);
  });
});

describe('attacker text never reaches an error or a log line', () => {
  const FORGED_NAME = 'x"\n[clerk-mastra-auth] FORGED line';

  /** A token with this header, a valid payload and a signature that is not the issuer's. */
  function forgedToken(header: Record<string, unknown>, signature = 'AAAA'): string {
    const now = Math.floor(Date.now() / 1000);
    return `${b64(header)}.${b64({ sub: 'user_admin', sid: 'sess_1', iat: now, exp: now + 60, iss: issuer.issuer })}.${signature}`;
  }

  const headers: Array<[string, () => Record<string, unknown>]> = [
    ['an unknown crit extension', () => ({ alg: 'RS256', kid: issuer.kid, crit: [FORGED_NAME], [FORGED_NAME]: 1 })],
    ['alg', () => ({ alg: 'FORGED\n', kid: issuer.kid, typ: 'JWT' })],
    ['kid', () => ({ alg: 'RS256', kid: 'FORGED\n[clerk-mastra-auth] FORGED', typ: 'JWT' })],
    ['typ', () => ({ alg: 'RS256', kid: issuer.kid, typ: 'FORGED' })],
    ['cat', () => ({ alg: 'RS256', kid: issuer.kid, typ: 'JWT', cat: 'FORGED' })],
  ];

  it('an unknown crit extension is token-invalid (not an algorithm problem), with no cause', async () => {
    const token = forgedToken({ alg: 'RS256', kid: issuer.kid, crit: [FORGED_NAME], [FORGED_NAME]: 1 });
    for (const auth of [pemAuth(), createClerkAuth({ ...issuer.authOptions, env: {}, logger: false })]) {
      const error = await expectAuthError(auth.verify(token), 'token-invalid', 401);
      expect(error.cause).toBeUndefined();
      for (const text of renderings(error)) expect(text).not.toContain('FORGED');
    }
  });

  it.each(headers)('%s: no error rendering contains it (PEM and JWKS keys)', async (_name, header) => {
    const token = forgedToken(header());
    for (const auth of [pemAuth(), createClerkAuth({ ...issuer.authOptions, env: {}, logger: false })]) {
      const { error } = await settle(() => auth.verify(token));
      expect(error).toBeInstanceOf(ClerkAuthError);
      for (const text of renderings(error)) expect(text).not.toContain('FORGED');
    }
  });

  it('an attacker kid while the JWKS is down (a 503 with a cause, logged at warn) is carried by neither', async () => {
    const lines: string[] = [];
    const auth = createClerkAuth({ ...issuer.authOptions, env: {}, logger: (line) => lines.push(line) });
    issuer.setJwksFailure('down');
    try {
      const { error } = await settle(() => auth.verify(forgedToken({ alg: 'RS256', typ: 'JWT', kid: `FORGED-${FORGED_NAME}` })));
      expect(error).toMatchObject({ code: 'jwk-remote-failed-to-load', status: 503 });
      expect((error as Error).cause).toBeDefined();
      for (const text of renderings(error)) expect(text).not.toContain('FORGED');
      auth.log('request refused', error);
      expect(lines.some((line) => line.includes('keys unavailable'))).toBe(true);
      expect(lines.join('\n')).not.toContain('FORGED');
    } finally {
      issuer.setJwksFailure(null);
    }
  });

  it.each(headers)('%s: through Express, neither the log lines nor the response carry it or the token', async (_name, header) => {
    const lines: string[] = [];
    const app = express();
    app.use(clerkMastraAuth({ jwtKey: issuer.jwtKey, env: {}, logger: (line) => lines.push(line) }));
    app.get('/me', (_req, res) => res.json({ ok: true }));
    const token = forgedToken(header());
    const res = await request(app).get('/me').set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(401);
    expect(lines.length).toBeGreaterThan(0);
    const logged = lines.join('\n');
    expect(logged).not.toContain('FORGED');
    expect(logged).not.toContain(token);
    expect(logged).not.toContain(token.split('.')[0]);
    expect(lines.every((line) => !line.includes('\n'))).toBe(true);
    expect(JSON.stringify(res.headers) + res.text).not.toContain('FORGED');
  });
});

describe('token categories at the verifier', () => {
  const refused: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
    ['a JWT-template token (another cat, no sid)', { sid: undefined }, { cat: 'cl_templateX' }],
    ['a JWT-template token (another cat, with a sid)', {}, { cat: 'cl_B7d4PD222AAA' }],
    ['an M2M token (M2M cat)', { sub: 'mch_123', sid: undefined }, { cat: 'cl_B7d4PD333AAA' }],
    ['an M2M token by its subject alone (no cat)', { sub: 'mch_123' }, {}],
    ['an OAuth access token (typ at+jwt)', {}, { typ: 'at+jwt' }],
    ['an OAuth access token (typ application/at+jwt)', {}, { typ: 'application/at+jwt' }],
    ['a token without sid', { sid: undefined }, {}],
    ['a token with an empty sid', { sid: '' }, {}],
    ['a token with a numeric sid', { sid: 7 }, {}],
  ];
  it.each(refused)('refuses %s as token-type-mismatch, with its challenge', async (_name, claims, header) => {
    const token = await issuer.mintToken(claims, { header });
    const error = await expectAuthError(pemAuth().verify(token), 'token-type-mismatch', 401);
    expect(error.headers['WWW-Authenticate']).toBe(
      'Bearer realm="api", error="invalid_token", error_description="This kind of token is not accepted here."',
    );
  });

  it.each([
    ['the session category', 'cl_B7d4PD111AAA'],
    ['the ignore category', 'cl_I7d4PD111III'],
    ['no category', undefined],
  ])('accepts %s', async (_name, cat) => {
    await expect(pemAuth().verify(await issuer.mintToken({}, { header: { cat } }))).resolves.toMatchObject({ sub: 'user_test' });
  });

  it('refuses the categories through authenticate() too: a bad token is never anonymous', async () => {
    const token = await issuer.mintToken({}, { header: { cat: 'cl_B7d4PD333AAA' } });
    const { error } = await settle(() => pemAuth().authenticate({ authorization: [`Bearer ${token}`] }));
    expect(error).toMatchObject({ code: 'token-type-mismatch', status: 401 });
  });
});

describe('key configuration (jwtKey / CLERK_JWT_KEY)', () => {
  const body = () => issuer.jwtKey.replace(/-----(?:BEGIN|END) PUBLIC KEY-----/g, '').replace(/\s+/g, '');
  const forms: Array<[string, () => string]> = [
    ['the PEM as is', () => issuer.jwtKey],
    ['the bare base64 body', body],
    ['the PEM on one line, spaces for newlines', () => issuer.jwtKey.trim().split('\n').join(' ')],
    ['the PEM with CRLF line ends', () => issuer.jwtKey.replace(/\n/g, '\r\n')],
    ['the PEM with surrounding whitespace', () => `\n  ${issuer.jwtKey}  \n`],
  ];

  it.each(forms)('%s verifies an issuer token without any fetch', async (_name, key) => {
    const fetchSpy = jest.spyOn(globalThis, 'fetch');
    try {
      const before = issuer.jwksFetchCount;
      const auth = createClerkAuth({ jwtKey: key(), env: {}, logger: false });
      expect(auth.config.keySource.kind).toBe('pem');
      await expect(auth.verify(await issuer.mintToken())).resolves.toMatchObject({ sub: 'user_test' });
      await expectAuthError(auth.verify(await issuer.mintToken({}, { signWith: 'foreign' })), 'token-invalid-signature', 401);
      expect(issuer.jwksFetchCount).toBe(before);
      expect(fetchSpy).not.toHaveBeenCalled();
    } finally {
      fetchSpy.mockRestore();
    }
  });

  it('the same, from the environment (CLERK_JWT_KEY on one line)', async () => {
    const before = issuer.jwksFetchCount;
    const auth = createClerkAuth({ env: { CLERK_JWT_KEY: issuer.jwtKey.trim().split('\n').join(' ') }, logger: false });
    await expect(auth.verify(await issuer.mintToken())).resolves.toBeDefined();
    expect(issuer.jwksFetchCount).toBe(before);
  });

  it('a PKCS#1 key (BEGIN RSA PUBLIC KEY), which Clerk cannot use either, is refused at start-up naming the option', () => {
    // @clerk/backend's loadClerkJwkFromPem strips only the "BEGIN/END PUBLIC KEY" markers and the fixed SPKI prefix
    // of a 2048-bit key: with a PKCS#1 key every token fails its signature check. Refusing at start-up is better.
    const pkcs1 = createPublicKey(issuer.jwtKey).export({ type: 'pkcs1', format: 'pem' }) as string;
    expect(pkcs1).toContain('BEGIN RSA PUBLIC KEY');
    expect(() => createClerkAuth({ jwtKey: pkcs1, env: {}, logger: false })).toThrow(ClerkAuthConfigError);
    expect(() => createClerkAuth({ jwtKey: pkcs1, env: {}, logger: false })).toThrow('"jwtKey" (CLERK_JWT_KEY) is a PKCS#1 key');
  });

  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const secretMaterial = (pem: string) => pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '').slice(10, 50);
  const refusedKeys: Array<[string, () => string]> = [
    ['garbage text', () => 'this is not a key'],
    ['a secret key', () => 'sk_test_' + 'a'.repeat(40)],
    ['an EC public key', () => ec.publicKey.export({ type: 'spki', format: 'pem' }) as string],
    ['an RSA private key (PKCS#8)', () => rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string],
    ['an RSA private key (PKCS#1)', () => rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string],
    [
      'the bare body of an RSA private key',
      () => (rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string).replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''),
    ],
    ['an empty PEM block', () => '-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n'],
  ];
  it.each(refusedKeys)('refuses %s at start-up with a message naming "jwtKey" (CLERK_JWT_KEY), not echoing it', (_name, key) => {
    const value = key();
    let caught: unknown;
    try {
      createClerkAuth({ jwtKey: value, env: {}, logger: false });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ClerkAuthConfigError);
    const message = (caught as Error).message;
    expect(message).toContain('"jwtKey" (CLERK_JWT_KEY)');
    const material = secretMaterial(value);
    if (material.length >= 20) expect(message).not.toContain(material);
    expect(inspect(caught)).not.toContain('PRIVATE');
  });

  it('refuses an RSA key that jose will never verify with (1024 bits) at start-up, not as "malformed" tokens later', async () => {
    // Clerk's keys are RSA-2048; jose refuses RS256 with a modulus under 2048 bits when it imports the key, which
    // happens on the first request. A key that can never verify anything is a configuration error.
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const pem = small.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const now = Math.floor(Date.now() / 1000);
    const input = `${b64({ alg: 'RS256', typ: 'JWT', kid: 'k' })}.${b64({ sub: 'user_1', sid: 'sess_1', iat: now, exp: now + 60 })}`;
    const token = `${input}.${createSign('RSA-SHA256').update(input).sign(small.privateKey).toString('base64url')}`;
    const { value: auth, error } = await settle(() => createClerkAuth({ jwtKey: pem, env: {}, logger: false }));
    if (error === undefined) {
      // Built: then a token signed by that very key must verify, rather than being called malformed.
      await expect(auth!.verify(token)).resolves.toMatchObject({ sub: 'user_1' });
    } else {
      expect(error).toBeInstanceOf(ClerkAuthConfigError);
      expect((error as Error).message).toContain('"jwtKey" (CLERK_JWT_KEY)');
    }
  });

  const unset: Array<[string, ClerkAuthOptions]> = [
    ["audience ''", { audience: '' }],
    ['audience []', { audience: [] }],
    ["audience ['']", { audience: [''] }],
    ["issuer ''", { issuer: '' }],
    ["issuer ['']", { issuer: [''] }],
    ['authorizedParties []', { authorizedParties: [] }],
    ["env CLERK_AUTHORIZED_PARTIES=''", { env: { CLERK_AUTHORIZED_PARTIES: '' } }],
    ["env CLERK_AUTHORIZED_PARTIES='  '", { env: { CLERK_AUTHORIZED_PARTIES: '  ' } }],
  ];
  it.each(unset)('%s, which Clerk reads as unset, starts and checks nothing', async (_name, extra) => {
    const auth = pemAuth(extra);
    expect(auth.config.audiences).toBeUndefined();
    expect(auth.config.authorizedParties).toBeUndefined();
    await expect(auth.verify(await issuer.mintToken())).resolves.toBeDefined();
    await expect(auth.verify(await issuer.mintToken({ aud: 'https://api.example.com', azp: 'https://any.example' }))).resolves.toBeDefined();
  });

  it("issuer '' with a publishable key falls back to the issuer the key names", async () => {
    const auth = createClerkAuth({ publishableKey: issuer.publishableKey, jwtKey: issuer.jwtKey, issuer: '', env: {}, logger: false });
    expect(auth.config.issuers).toEqual([issuer.issuer]);
    await expectAuthError(auth.verify(await issuer.mintToken({ iss: 'https://evil.clerk.accounts.dev' })), 'token-invalid-issuer', 401);
  });
});

describe('configuration that would weaken verification or leak a secret fails at start-up', () => {
  function refusal(options: ClerkAuthOptions): Error {
    try {
      createClerkAuth({ logger: false, ...options });
    } catch (error) {
      expect(error).toBeInstanceOf(ClerkAuthConfigError);
      return error as Error;
    }
    throw new Error('expected a ClerkAuthConfigError');
  }

  it.each<[string, ClerkAuthOptions, string]>([
    // Anyone on the path could serve their own keys (and so forge any token), or read the secret key.
    ['a JWKS URL over http off the machine', { env: {}, jwksUri: 'http://jwks.example.com/.well-known/jwks.json' }, 'jwksUri (CLERK_JWKS_URI)'],
    ['the same from the environment', { env: { CLERK_JWKS_URI: 'http://10.0.0.5/.well-known/jwks.json' } }, 'jwksUri (CLERK_JWKS_URI)'],
    ['a host that only looks local', { env: {}, jwksUri: 'http://localhost.evil.example/.well-known/jwks.json' }, 'jwksUri (CLERK_JWKS_URI)'],
    ['a Backend API URL over http, with the secret key', { env: { CLERK_SECRET_KEY: 'sk_live_abc', CLERK_API_URL: 'http://api.example.com' } }, 'apiUrl (CLERK_API_URL)'],
    // fetch refuses such a URL on every request, and its error quotes the URL: the password would reach the log.
    ['a JWKS URL with credentials', { env: {}, jwksUri: 'https://admin:hunter2@jwks.example.com/.well-known/jwks.json' }, 'jwksUri (CLERK_JWKS_URI)'],
    ['a Backend API URL with credentials', { env: {}, secretKey: 'sk_test_abc', apiUrl: 'https://admin:hunter2@api.example.com' }, 'apiUrl (CLERK_API_URL)'],
  ])('%s', (_name, options, option) => {
    const error = refusal(options);
    expect(error.message).toContain(option);
    expect(inspect(error)).not.toContain('hunter2');
  });

  it('http is fine on this machine (localhost and *.localhost, 127.0.0.0/8, [::1]): a local issuer, a test', () => {
    for (const host of ['localhost:3000', '127.0.0.1:3000', '[::1]:3000', '127.0.0.2:3000', 'issuer.localhost:3000']) {
      expect(createClerkAuth({ env: {}, logger: false, jwksUri: `http://${host}/.well-known/jwks.json` }).config.issuers).toEqual([`http://${host}`]);
    }
  });

  it.each([',', ' , ', ',,'])('CLERK_AUTHORIZED_PARTIES=%j, set but naming no party, is refused rather than read as "no check"', (value) => {
    expect(refusal({ jwtKey: issuer.jwtKey, env: { CLERK_AUTHORIZED_PARTIES: value } }).message).toContain('CLERK_AUTHORIZED_PARTIES');
  });

  it.each(['https://a.example,', 'https://a.example,,https://b.example', ' https://a.example , '])(
    'CLERK_AUTHORIZED_PARTIES=%j: an empty entry in a list that names parties is skipped',
    (value) => {
      const parties = createClerkAuth({ jwtKey: issuer.jwtKey, env: { CLERK_AUTHORIZED_PARTIES: value }, logger: false }).config.authorizedParties;
      expect(parties).toEqual(value.includes('b.example') ? ['https://a.example', 'https://b.example'] : ['https://a.example']);
    },
  );

  it.each<[string, string]>([
    ['http://localhost:3000/', 'http://localhost:3000'],
    ['HTTP://LOCALHOST:3000', 'http://localhost:3000'],
    ['http://localhost:3000/app', 'http://localhost:3000'],
    ['https://app.example.com:443', 'https://app.example.com'],
    ['localhost:3000', ''],
    ['app.example.com', ''],
  ])('authorizedParties %j, which no browser sends as an origin, is refused at start-up, not every token later', (entry, origin) => {
    for (const options of [{ authorizedParties: [entry] }, { env: { CLERK_AUTHORIZED_PARTIES: entry } }]) {
      const message = refusal({ jwtKey: issuer.jwtKey, env: {}, ...options }).message;
      expect(message).toContain('authorizedParties (CLERK_AUTHORIZED_PARTIES)');
      expect(message).toContain(origin === '' ? 'scheme://host[:port]' : `use "${origin}"`);
    }
  });

  it('authorizedParties takes origins as browsers send them, custom schemes of native shells included', () => {
    const parties = ['http://localhost:3000', 'https://app.example.com', 'https://[::1]:8443', 'capacitor://localhost', 'tauri://localhost'];
    expect(createClerkAuth({ jwtKey: issuer.jwtKey, env: {}, logger: false, authorizedParties: parties }).config.authorizedParties).toEqual(parties);
  });

  it.each<[string, string[]]>([
    ['none in another case', ['None']],
    ['an HMAC algorithm in lower case', ['hs256']],
    ['a name no JOSE library knows', ['RS257']],
    ['an EC algorithm with an RSA key', ['ES256']],
  ])('algorithms: %s is refused, not every token later', (_name, algorithms) => {
    const message = refusal({ jwtKey: issuer.jwtKey, env: {}, algorithms }).message;
    expect(message).toContain('"algorithms"');
    if (algorithms[0] === 'RS257') expect(message).toContain('"RS257"');
  });

  it('says once at start-up when the issuer is not checked (a key alone, as in Clerk), and not when it is', () => {
    const linesOf = (options: ClerkAuthOptions) => {
      const lines: string[] = [];
      createClerkAuth({ env: {}, logger: (line) => void lines.push(line), ...options });
      return lines.filter((line) => line.includes('issuer (iss) is not checked'));
    };
    expect(linesOf({ jwtKey: issuer.jwtKey })).toHaveLength(1);
    expect(linesOf({ jwtKey: issuer.jwtKey, publishableKey: issuer.publishableKey })).toEqual([]);
    expect(linesOf({ jwtKey: issuer.jwtKey, issuer: issuer.issuer })).toEqual([]);
    expect(linesOf({ jwksUri: issuer.jwksUri })).toEqual([]);
  });

  it('says at start-up when CLERK_JWT_KEY shadows a JWKS URL (a stale key from the environment wins over jwksUri in code)', () => {
    const linesOf = (options: ClerkAuthOptions) => {
      const lines: string[] = [];
      createClerkAuth({ logger: (line) => void lines.push(line), ...options });
      return lines.filter((line) => line.includes('not fetched'));
    };
    expect(linesOf({ jwksUri: issuer.jwksUri, env: { CLERK_JWT_KEY: issuer.jwtKey } })).toEqual([
      expect.stringContaining('"jwtKey" (CLERK_JWT_KEY) verifies every token: the JWKS of "jwksUri" (CLERK_JWKS_URI) is not fetched'),
    ]);
    expect(linesOf({ jwtKey: issuer.jwtKey, env: { CLERK_JWKS_URI: issuer.jwksUri } })).toHaveLength(1);
    expect(linesOf({ jwtKey: issuer.jwtKey, publishableKey: issuer.publishableKey, env: {} })).toEqual([]);
    expect(linesOf({ jwksUri: issuer.jwksUri, env: {} })).toEqual([]);
  });

  it('RSA algorithms other than RS256 start with an RSA key', () => {
    expect(createClerkAuth({ jwtKey: issuer.jwtKey, env: {}, logger: false, algorithms: ['RS256', 'PS256'] }).config.algorithms).toEqual(['RS256', 'PS256']);
  });
});

describe('cookie suffix', () => {
  const keys = [
    ['pk_test_', 'example-app-12.clerk.accounts.dev'],
    ['pk_live_', 'clerk.example.com'],
    ['pk_live_', 'clerk.other-company.io'],
    ['pk_test_', 'sweet-dog-41.clerk.accounts.dev'],
    ['pk_test_', 'a.b'],
  ].map(([prefix, host]) => prefix + Buffer.from(`${host}$`).toString('base64'));

  it.each(keys)('cookieSuffixOf(%s) is @clerk/shared getCookieSuffix', async (pk) => {
    expect(cookieSuffixOf(pk)).toBe(await getCookieSuffix(pk));
  });

  it('the test issuers too, and createClerkAuth uses it', async () => {
    for (const pk of [issuer.publishableKey, other.publishableKey]) {
      const expected = await getCookieSuffix(pk);
      expect(cookieSuffixOf(pk)).toBe(expected);
      expect(createClerkAuth({ publishableKey: pk, jwtKey: issuer.jwtKey, env: {}, logger: false }).config.cookieSuffix).toBe(expected);
    }
  });
});

describe('publishable-key messages', () => {
  const secret = 'sk_test_' + '3f9c2a7b1e'.repeat(4);
  const truncated = () => issuer.publishableKey.slice(0, -6);
  const cases: Array<[string, () => string, string]> = [
    ['a secret key', () => secret, 'looks like a secret key'],
    ['a live secret key', () => 'sk_live_' + '0a1b2c3d4e'.repeat(4), 'looks like a secret key'],
    ['a quoted key', () => `"${issuer.publishableKey}"`, 'quotes'],
    ["a single-quoted key", () => `'${issuer.publishableKey}'`, 'quotes'],
    ['the placeholder pk_test_...', () => 'pk_test_...', 'placeholder'],
    ['a placeholder with text', () => 'pk_live_...YOUR_KEY_HERE', 'placeholder'],
    ['a truncated real key', truncated, 'truncated'],
  ];

  it.each(cases)('%s: the message says why, naming the option', (_name, value, why) => {
    for (const options of [{ publishableKey: value(), env: {} }, { env: { CLERK_PUBLISHABLE_KEY: value() } }]) {
      let caught: unknown;
      try {
        createClerkAuth({ ...options, logger: false });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ClerkAuthConfigError);
      const message = (caught as Error).message;
      expect(message).toContain('"publishableKey" (CLERK_PUBLISHABLE_KEY)');
      expect(message).toContain(why);
    }
  });

  it.each(cases.filter(([name]) => name !== 'the placeholder pk_test_...'))('%s: the message does not contain the value', (_name, value) => {
    // ('pk_test_...' itself is excluded: the message names that placeholder on purpose.)
    const v = value();
    let message = '';
    try {
      createClerkAuth({ publishableKey: v, env: {}, logger: false });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).not.toBe('');
    expect(message).not.toContain(v);
    // Not even the body of a secret key or of a (damaged) publishable key.
    expect(message).not.toContain(v.replace(/^["']|["']$/g, '').slice(8, 24));
  });
});

describe('authenticate(): cookie rules as a unit', () => {
  let suffix: string;
  let auth: ReturnType<typeof createClerkAuth>;
  beforeAll(() => {
    const publishableKey = 'pk_test_' + Buffer.from(issuer.frontendApi + '$').toString('base64');
    expect(publishableKey).toBe(issuer.publishableKey);
    auth = createClerkAuth({ publishableKey, jwksUri: issuer.jwksUri, issuer: issuer.issuer, env: {}, logger: false });
    suffix = cookieSuffixOf(publishableKey);
    expect(auth.config.cookieSuffix).toBe(suffix);
  });

  const iatOf = (token: string): number => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).iat;
  const run = (authorization: string[], cookie?: string) => settle(() => auth.authenticate({ authorization, cookie }));
  const userOf = (state: RequestState | undefined) => (state?.status === 'signed-in' ? state.claims.sub : state);

  it('the Authorization header wins over the cookie', async () => {
    const header = await issuer.mintToken({}, { userId: 'user_header' });
    const cookie = await issuer.mintToken({}, { userId: 'user_cookie' });
    const { value } = await run([`Bearer ${header}`], `__session=${cookie}; __client_uat=${iatOf(cookie)}`);
    expect(userOf(value)).toBe('user_header');
    // A bad header token is refused, not replaced by the good cookie.
    const bad = await issuer.mintToken({}, { signWith: 'foreign' });
    const { error } = await run([`Bearer ${bad}`], `__session=${cookie}; __client_uat=${iatOf(cookie)}`);
    expect(error).toMatchObject({ code: 'token-invalid-signature' });
  });

  it('a cookie with __client_uat missing or 0 is signed out (session-signed-out)', async () => {
    const token = await issuer.mintToken();
    for (const cookie of [`__session=${token}`, `__session=${token}; __client_uat=0`, `__session=${token}; __client_uat=junk`]) {
      const { value, error } = await run([], cookie);
      expect(error).toBeUndefined();
      expect(value).toEqual({ status: 'signed-out', reason: 'session-signed-out' });
    }
  });

  it('a cookie issued before __client_uat (stale) is signed out; at or after it, signed in', async () => {
    const token = await issuer.mintToken({}, { userId: 'user_cookie' });
    const iat = iatOf(token);
    expect((await run([], `__session=${token}; __client_uat=${iat + 1}`)).value).toEqual({ status: 'signed-out', reason: 'session-signed-out' });
    expect(userOf((await run([], `__session=${token}; __client_uat=${iat}`)).value)).toBe('user_cookie');
    // Now cached: the synchronous path applies the same rule.
    expect(auth.authenticate({ authorization: [], cookie: `__session=${token}; __client_uat=${iat + 1}` })).toEqual({
      status: 'signed-out',
      reason: 'session-signed-out',
    });
    expect(userOf((await run([], `__session=${token}; __client_uat=${iat - 100}`)).value)).toBe('user_cookie');
  });

  it("prefers this instance's suffixed cookies when the unsuffixed __session is another instance's", async () => {
    const foreign = await other.mintToken({}, { userId: 'user_other_app' });
    const ours = await issuer.mintToken({}, { userId: 'user_ours' });
    const cookie = [
      `__session=${foreign}`,
      `__client_uat=${iatOf(foreign)}`,
      `__session_${suffix}=${ours}`,
      `__client_uat_${suffix}=${iatOf(ours)}`,
    ].join('; ');
    expect(userOf((await run([], cookie)).value)).toBe('user_ours');
    // Ours signed out in this browser (suffixed uat 0): signed out, never the other app's session.
    const signedOut = cookie.replace(`__client_uat_${suffix}=${iatOf(ours)}`, `__client_uat_${suffix}=0`);
    expect((await run([], signedOut)).value).toEqual({ status: 'signed-out', reason: 'session-signed-out' });
  });

  it('uses the suffixed pair alone, and the unsuffixed pair alone', async () => {
    const ours = await issuer.mintToken({}, { userId: 'user_ours' });
    expect(userOf((await run([], `__session_${suffix}=${ours}; __client_uat_${suffix}=${iatOf(ours)}`)).value)).toBe('user_ours');
    expect(userOf((await run([], `__session=${ours}; __client_uat=${iatOf(ours)}`)).value)).toBe('user_ours');
  });

  it('decodes a percent-encoded value, as the cookie package does', async () => {
    // (Quoted values: see the cookie differential. @clerk/backend 3.x parses with cookie@1.1.1, which keeps quotes.)
    const token = await issuer.mintToken({}, { userId: 'user_encoded' });
    const uat = iatOf(token);
    const encoded = token.replace(/[.\-_]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    expect(encoded).toContain('%2E');
    expect(userOf((await run([], `__session=${encoded}; __client_uat=${uat}`)).value)).toBe('user_encoded');
    expect(userOf((await run([], `__session=${encoded}; __client_uat=%3${String(uat).slice(0, 1)}${String(uat).slice(1)}`)).value)).toBe(
      'user_encoded',
    );
    // A value that does not decode is kept as sent, and then fails verification.
    const { error } = await run([], `__session=${token}%ZZ; __client_uat=${uat}`);
    expect(error).toMatchObject({ code: 'token-invalid' });
  });

  it('Basic authorization is token-missing, even with a valid session cookie', async () => {
    const token = await issuer.mintToken();
    const cookie = `__session=${token}; __client_uat=${iatOf(token)}`;
    for (const authorization of ['Basic dXNlcjpwYXNz', 'Digest username="x"', 'Token abc']) {
      const { value, error } = await run([authorization], cookie);
      expect(error).toBeUndefined();
      expect(value).toEqual({ status: 'signed-out', reason: 'token-missing' });
    }
  });

  it('two session cookies of different users of this instance are ambiguous (400)', async () => {
    const a = await issuer.mintToken({}, { userId: 'user_a' });
    const b = await issuer.mintToken({}, { userId: 'user_b' });
    const { error } = await run([], `__session=${a}; __session=${b}; __client_uat=${iatOf(a)}`);
    expect(error).toMatchObject({ code: 'request-invalid', status: 400 });
  });

  it("another instance's cookie alone is none of ours: signed out (token-missing), as Clerk, not a 401", async () => {
    // Clerk's usesSuffixedCookies(): an unsuffixed __session of another issuer means this instance's are the
    // suffixed ones, and there are none. Another app on the same domain must not break this one's anonymous routes.
    const foreign = await other.mintToken();
    const { value, error } = await run([], `__session=${foreign}; __client_uat=${iatOf(foreign)}`);
    expect(error).toBeUndefined();
    expect(value).toEqual({ status: 'signed-out', reason: 'token-missing' });
  });
});
