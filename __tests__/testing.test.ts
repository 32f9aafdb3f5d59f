import { describe, it, expect, afterAll, beforeAll } from '@jest/globals';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importSPKI, jwtVerify } from 'jose';
import type { JWK } from 'jose';
import { createClerkClient, verifyToken } from '@clerk/backend';
import { verifyMachineAuthToken } from '@clerk/backend/internal';
import { isClerkAPIResponseError } from '@clerk/backend/errors';
import { signedInAuthObject } from '@clerk/backend/internal';
import { createClerkAuth } from '../src/index.js';
import { createTestIssuer } from '../src/testing/index.js';
import type { TestIssuer } from '../src/testing/index.js';
import { untilJwksRequested, withIssuer } from './support/issuer.js';

type ClerkClaims = Parameters<typeof signedInAuthObject>[2];

const authObjectOf = (token: string) =>
  signedInAuthObject({}, token, decodeJwt(token) as unknown as ClerkClaims);

async function getJson(url: string, init?: RequestInit): Promise<{ status: number; headers: Headers; body: unknown }> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // left as text
  }
  return { status: res.status, headers: res.headers, body };
}

describe('createTestIssuer', () => {
  let clerk: TestIssuer;

  beforeAll(async () => {
    clerk = await createTestIssuer();
  });

  afterAll(async () => {
    await clerk.close();
  });

  describe('identity', () => {
    it('exposes Clerk-shaped identifiers', () => {
      expect(clerk.frontendApi).toMatch(/^test-[0-9a-f]{8}\.clerk\.accounts\.dev$/);
      expect(clerk.issuer).toBe(`https://${clerk.frontendApi}`);
      expect(clerk.jwksUri).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\.well-known\/jwks\.json$/);
      expect(clerk.apiUrl).toBe(clerk.jwksUri.replace('/.well-known/jwks.json', ''));
      expect(clerk.secretKey).toMatch(/^sk_test_[0-9a-f]+$/);
      expect(clerk.authorizedParty).toBe('http://localhost:3000');
      expect(clerk.jwtKey).toMatch(/^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n?$/);
      expect(clerk.publicJwk).toMatchObject({ kid: clerk.kid, kty: 'RSA', alg: 'RS256', use: 'sig', e: 'AQAB' });
      expect(clerk.publicJwk.d).toBeUndefined();
      expect(clerk.privateKey.type).toBe('private');
      expect(clerk.authOptions).toEqual({
        publishableKey: clerk.publishableKey,
        jwksUri: clerk.jwksUri,
        issuer: clerk.issuer,
        authorizedParties: ['http://localhost:3000'],
      });
    });

    it('builds a publishable key that decodes back to "<frontendApi>$"', () => {
      expect(clerk.publishableKey.startsWith('pk_test_')).toBe(true);
      const encoded = clerk.publishableKey.slice('pk_test_'.length);
      expect(Buffer.from(encoded, 'base64').toString('utf8')).toBe(`${clerk.frontendApi}$`);
      expect(encoded).toMatch(/^[A-Za-z0-9+/]+=*$/);
    });

    it('honours frontendApi, authorizedParty, instance and clock options', async () => {
      const fixed = Date.UTC(2030, 0, 1, 12, 0, 0);
      const options = {
        frontendApi: 'clerk.example.com',
        authorizedParty: 'https://app.example.com',
        instance: 'live',
        clock: () => fixed,
      } as const;
      await withIssuer(async (other) => {
        expect(other.issuer).toBe('https://clerk.example.com');
        expect(other.publishableKey).toBe(`pk_live_${Buffer.from('clerk.example.com$').toString('base64')}`);
        expect(other.secretKey.startsWith('sk_live_')).toBe(true);
        expect(other.authOptions.authorizedParties).toEqual(['https://app.example.com']);
        const claims = decodeJwt(await other.mintToken());
        expect(claims.iat).toBe(fixed / 1000);
        expect(claims.azp).toBe('https://app.example.com');
        expect(other.kid).not.toBe(clerk.kid);
      }, options);
    });

    it('rejects a frontendApi that is not a host name', async () => {
      await expect(createTestIssuer({ frontendApi: 'https://x.example.com' })).rejects.toThrow(/frontendApi/);
    });
  });

  describe('JWKS endpoint', () => {
    it('serves the key set and counts fetches', async () => {
      clerk.resetJwksFetchCount();
      expect(clerk.jwksFetchCount).toBe(0);
      const { status, headers, body } = await getJson(clerk.jwksUri);
      expect(status).toBe(200);
      expect(headers.get('content-type')).toBe('application/json');
      expect(headers.get('cache-control')).toBe('no-store');
      expect(body).toEqual({ keys: [clerk.publicJwk] });
      expect(clerk.jwksFetchCount).toBe(1);
      await getJson(clerk.jwksUri);
      expect(clerk.jwksFetchCount).toBe(2);
      clerk.resetJwksFetchCount();
      expect(clerk.jwksFetchCount).toBe(0);
    });

    it('serves /v1/jwks only with the secret key', async () => {
      const url = `${clerk.apiUrl}/v1/jwks`;
      expect((await getJson(url)).status).toBe(401);
      const wrong = await getJson(url, { headers: { authorization: 'Bearer sk_test_wrong' } });
      expect(wrong.status).toBe(401);
      expect(wrong.body).toMatchObject({ errors: [{ code: 'clerk_key_invalid' }] });
      const ok = await getJson(url, { headers: { authorization: `Bearer ${clerk.secretKey}` } });
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ keys: [clerk.publicJwk] });
    });

    it('answers 404 on other paths without counting them', async () => {
      clerk.resetJwksFetchCount();
      expect((await getJson(`${clerk.apiUrl}/jwks`)).status).toBe(404);
      expect((await getJson(`${clerk.apiUrl}/`)).status).toBe(404);
      expect(clerk.jwksFetchCount).toBe(0);
    });
  });

  describe('mintToken', () => {
    it('mints tokens that verify against the remote JWKS and the PEM key', async () => {
      const token = await clerk.mintToken();
      const jwks = createRemoteJWKSet(new URL(clerk.jwksUri));
      const remote = await jwtVerify(token, jwks, { issuer: clerk.issuer, algorithms: ['RS256'] });
      expect(remote.payload.sub).toBe('user_test');
      expect(remote.protectedHeader).toEqual({ alg: 'RS256', kid: clerk.kid, typ: 'JWT' });
      const local = await jwtVerify(token, await importSPKI(clerk.jwtKey, 'RS256'), { issuer: clerk.issuer });
      expect(local.payload).toEqual(remote.payload);
    });

    it("is accepted by @clerk/backend's verifyToken (PEM key and Backend API /v1/jwks)", async () => {
      const token = await clerk.mintToken({}, { userId: 'user_clerk' });
      const viaPem = await verifyToken(token, { jwtKey: clerk.jwtKey, authorizedParties: [clerk.authorizedParty] });
      expect(viaPem.sub).toBe('user_clerk');
      clerk.resetJwksFetchCount();
      const viaBapi = await verifyToken(token, {
        secretKey: clerk.secretKey,
        apiUrl: clerk.apiUrl,
        authorizedParties: [clerk.authorizedParty],
      });
      expect(viaBapi.sub).toBe('user_clerk');
      expect(clerk.jwksFetchCount).toBe(1);
    });

    it('sets Clerk v2 default claims with a 60 s lifetime', async () => {
      const before = Math.floor(Date.now() / 1000);
      const claims = decodeJwt(await clerk.mintToken());
      const after = Math.floor(Date.now() / 1000);
      expect(claims).toMatchObject({
        iss: clerk.issuer,
        sub: 'user_test',
        azp: 'http://localhost:3000',
        v: 2,
        sts: 'active',
        fva: [0, -1],
      });
      expect(claims.sid).toMatch(/^sess_test_/);
      const iat = claims.iat as number;
      expect(iat).toBeGreaterThanOrEqual(before);
      expect(iat).toBeLessThanOrEqual(after);
      expect((claims.exp as number) - iat).toBe(60);
      expect(claims.nbf).toBe(iat - 10);
      expect(Object.keys(claims).sort()).toEqual(['azp', 'exp', 'fva', 'iat', 'iss', 'nbf', 'sid', 'sts', 'sub', 'v']);
    });

    it('merges claims, removes undefined ones and honours userId, expiresInSeconds and now', async () => {
      const now = Date.UTC(2031, 5, 1);
      const claims = decodeJwt(
        await clerk.mintToken(
          { azp: undefined, sts: undefined, pla: 'u:pro', sid: 'sess_fixed' },
          { userId: 'user_42', expiresInSeconds: 300, now },
        ),
      );
      expect(claims).not.toHaveProperty('azp');
      expect(claims).not.toHaveProperty('sts');
      expect(claims).toMatchObject({ sub: 'user_42', sid: 'sess_fixed', pla: 'u:pro', iat: now / 1000, exp: now / 1000 + 300 });
      const overridden = decodeJwt(await clerk.mintToken({ sub: 'user_from_claims' }, { userId: 'user_from_options' }));
      expect(overridden.sub).toBe('user_from_claims');
    });

    it('mints expired, not-yet-valid and pending tokens', async () => {
      const key = await importSPKI(clerk.jwtKey, 'RS256');
      const nowSec = Math.floor(Date.now() / 1000);

      const expired = await clerk.mintToken({}, { expired: true });
      const expiredClaims = decodeJwt(expired);
      expect(expiredClaims.exp).toBeLessThanOrEqual(nowSec - 119);
      expect(expiredClaims.iat).toBeLessThan(expiredClaims.exp as number);
      expect(expiredClaims.nbf).toBeLessThan(expiredClaims.exp as number);
      await expect(jwtVerify(expired, key)).rejects.toMatchObject({ code: 'ERR_JWT_EXPIRED' });
      await expect(jwtVerify(expired, key, { clockTolerance: 5 })).rejects.toMatchObject({ code: 'ERR_JWT_EXPIRED' });

      const early = await clerk.mintToken({}, { notYetValid: true });
      const earlyClaims = decodeJwt(early);
      expect(earlyClaims.nbf).toBeGreaterThanOrEqual(nowSec + 119);
      expect(earlyClaims.iat).toBe(earlyClaims.nbf);
      await expect(jwtVerify(early, key, { clockTolerance: 5 })).rejects.toMatchObject({
        code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
        claim: 'nbf',
      });

      const pending = await clerk.mintToken({}, { pending: true });
      expect(decodeJwt(pending).sts).toBe('pending');
      await expect(jwtVerify(pending, key)).resolves.toMatchObject({ payload: { sts: 'pending' } });

      await expect(clerk.mintToken({}, { expired: true, notYetValid: true })).rejects.toMatchObject({
        name: 'TypeError',
        message: 'mintToken: `expired` and `notYetValid` cannot both be set.',
      });
    });

    it('encodes v1 organization claims', async () => {
      const claims = decodeJwt(
        await clerk.mintToken(
          {},
          {
            version: 1,
            org: { id: 'org_1', slug: 'acme', role: 'org:admin', permissions: ['org:posts:read', 'org:posts:write'] },
          },
        ),
      );
      expect(claims).toMatchObject({
        org_id: 'org_1',
        org_slug: 'acme',
        org_role: 'org:admin',
        org_permissions: ['org:posts:read', 'org:posts:write'],
      });
      expect(claims).not.toHaveProperty('v');
      expect(claims).not.toHaveProperty('sts');
      expect(claims).not.toHaveProperty('fva');
      expect(claims).not.toHaveProperty('o');
    });

    it('encodes v1 organizations the way @clerk/backend decodes them', async () => {
      const token = await clerk.mintToken(
        {},
        { version: 1, org: { id: 'org_1', slug: 'acme', role: 'org:admin', permissions: ['org:posts:read'] } },
      );
      const auth = authObjectOf(token);
      expect(auth.orgId).toBe('org_1');
      expect(auth.orgRole).toBe('org:admin');
      expect(auth.has({ permission: 'org:posts:read' })).toBe(true);
      expect(auth.has({ permission: 'org:posts:delete' })).toBe(false);
    });

    it('encodes v2 organizations so that @clerk/backend decodes them back', async () => {
      const token = await clerk.mintToken(
        {},
        { userId: 'user_org', org: { id: 'org_2', slug: 'acme', role: 'org:admin', permissions: ['org:posts:read'] } },
      );
      const claims = decodeJwt(token);
      expect(claims.o).toEqual({ id: 'org_2', slg: 'acme', rol: 'admin', per: 'read', fpm: '1' });
      expect(claims.fea).toBe('o:posts');

      const auth = authObjectOf(token);
      expect(auth.userId).toBe('user_org');
      expect(auth.orgId).toBe('org_2');
      expect(auth.orgRole).toBe('org:admin');
      expect(auth.orgSlug).toBe('acme');
      expect(auth.orgPermissions).toEqual(['org:posts:read']);
      expect(auth.sessionStatus).toBe('active');
      expect(auth.has({ role: 'org:admin' })).toBe(true);
      expect(auth.has({ role: 'org:member' })).toBe(false);
      expect(auth.has({ permission: 'org:posts:read' })).toBe(true);
      expect(auth.has({ permission: 'org:posts:delete' })).toBe(false);
    });

    it('encodes several features and permissions in v2 tokens', async () => {
      const permissions = ['org:posts:read', 'org:posts:delete', 'org:billing:read', 'org:team:manage', 'org:team:read'];
      const token = await clerk.mintToken({}, { org: { id: 'org_3', role: 'org:member', permissions } });
      const claims = decodeJwt(token);
      expect(claims.o).toEqual({ id: 'org_3', rol: 'member', per: 'read,delete,manage', fpm: '3,1,5' });
      expect(claims.fea).toBe('o:posts,o:billing,o:team');
      const auth = authObjectOf(token);
      expect([...(auth.orgPermissions ?? [])].sort()).toEqual([...permissions].sort());
      expect(auth.orgSlug).toBeUndefined();
      expect(auth.has({ permission: 'org:billing:delete' })).toBe(false);
      expect(auth.has({ permission: 'org:team:manage' })).toBe(true);
      expect(auth.has({ feature: 'o:team' })).toBe(true);
    });

    it('encodes a v2 organization without permissions', async () => {
      const token = await clerk.mintToken({}, { org: { id: 'org_4', role: 'org:admin' } });
      const claims = decodeJwt(token);
      expect(claims.o).toEqual({ id: 'org_4', rol: 'admin' });
      expect(claims).not.toHaveProperty('fea');
      const auth = authObjectOf(token);
      expect(auth.orgId).toBe('org_4');
      expect(auth.orgPermissions).toEqual([]);
      expect(auth.has({ role: 'org:admin' })).toBe(true);
    });

    it('rejects malformed permissions', async () => {
      await expect(clerk.mintToken({}, { org: { id: 'org_5', role: 'org:admin', permissions: ['read'] } })).rejects.toThrow(
        /org:<feature>:<permission>/,
      );
    });

    it('overrides, adds and removes header fields', async () => {
      const custom = await clerk.mintToken({}, { kid: 'kid_other', header: { cty: 'x', typ: undefined } });
      expect(decodeProtectedHeader(custom)).toEqual({ alg: 'RS256', kid: 'kid_other', cty: 'x' });
      const noKid = await clerk.mintToken({}, { header: { kid: undefined } });
      expect(decodeProtectedHeader(noKid)).toEqual({ alg: 'RS256', typ: 'JWT' });
      const lying = await clerk.mintToken({}, { header: { alg: 'HS256' } });
      expect(decodeProtectedHeader(lying).alg).toBe('HS256');
      const key = await importSPKI(clerk.jwtKey, 'RS256');
      // An RSA public key cannot check an HMAC: the lie is caught by the key type.
      await expect(jwtVerify(lying, key)).rejects.toThrow(/HS256/);
    });

    it('signs forged tokens with an unpublished key when signWith is "foreign"', async () => {
      const forged = await clerk.mintToken({}, { signWith: 'foreign' });
      expect(decodeProtectedHeader(forged).kid).toBe(clerk.kid);
      const jwks = createRemoteJWKSet(new URL(clerk.jwksUri));
      await expect(jwtVerify(forged, jwks)).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
      await expect(jwtVerify(forged, await importSPKI(clerk.jwtKey, 'RS256'))).rejects.toMatchObject({
        code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
      });
      // One foreign key per issuer: RS256 (PKCS#1 v1.5) is deterministic, so equal inputs give equal tokens.
      const a = await clerk.mintToken({ sid: 'sess_same' }, { signWith: 'foreign', now: 0 });
      const b = await clerk.mintToken({ sid: 'sess_same' }, { signWith: 'foreign', now: 0 });
      const c = await clerk.mintToken({ sid: 'sess_same' }, { now: 0 });
      expect(a).toBe(b);
      expect(c.split('.')[2]).not.toBe(a.split('.')[2]);
    });
  });

  describe('rotateKey', () => {
    it('replaces the key (without keepPrevious)', async () => {
      await withIssuer(async (rotating) => {
        const oldKid = rotating.kid;
        const oldPem = rotating.jwtKey;
        const oldToken = await rotating.mintToken();
        const newKid = await rotating.rotateKey();
        expect(newKid).toBe(rotating.kid);
        expect(newKid).not.toBe(oldKid);
        expect(rotating.jwtKey).not.toBe(oldPem);
        expect(rotating.publicJwk.kid).toBe(newKid);
        const { body } = await getJson(rotating.jwksUri);
        expect((body as { keys: JWK[] }).keys.map((k) => k.kid)).toEqual([newKid]);

        const jwks = createRemoteJWKSet(new URL(rotating.jwksUri));
        const newToken = await rotating.mintToken();
        expect(decodeProtectedHeader(newToken).kid).toBe(newKid);
        await expect(jwtVerify(newToken, jwks)).resolves.toMatchObject({ protectedHeader: { kid: newKid } });
        await expect(jwtVerify(oldToken, jwks)).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
        await expect(jwtVerify(newToken, await importSPKI(oldPem, 'RS256'))).rejects.toMatchObject({
          code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
        });
      });
    });

    it("an app's new-kid cooldown: 401 jwk-kid-mismatch right after, served with jwks.cooldownInMs 0 (as the README says)", async () => {
      await withIssuer(async (rotating) => {
        const verifyWith = async (cooldownInMs?: number) => {
          const auth = createClerkAuth({ ...rotating.authOptions, env: {}, logger: false, jwks: cooldownInMs === undefined ? undefined : { cooldownInMs } });
          await auth.verify(await rotating.mintToken()); // the app's first fetch
          return auth;
        };
        const [defaults, noCooldown] = [await verifyWith(), await verifyWith(0)];
        await rotating.rotateKey();
        const token = await rotating.mintToken();
        await expect(defaults.verify(token)).rejects.toMatchObject({ code: 'jwk-kid-mismatch', status: 401 });
        await expect(noCooldown.verify(token)).resolves.toMatchObject({ sub: expect.any(String) });
      });
    });

    it('keeps the previous key in the JWKS with keepPrevious', async () => {
      await withIssuer(async (rotating) => {
        const oldKid = rotating.kid;
        const oldToken = await rotating.mintToken();
        const newKid = await rotating.rotateKey({ keepPrevious: true });
        const { body } = await getJson(rotating.jwksUri);
        expect((body as { keys: JWK[] }).keys.map((k) => k.kid)).toEqual([newKid, oldKid]);
        const jwks = createRemoteJWKSet(new URL(rotating.jwksUri));
        await expect(jwtVerify(oldToken, jwks)).resolves.toMatchObject({ protectedHeader: { kid: oldKid } });
        await expect(jwtVerify(await rotating.mintToken(), jwks)).resolves.toMatchObject({ protectedHeader: { kid: newKid } });

        // A second rotation keeps only the immediately previous key.
        const thirdKid = await rotating.rotateKey({ keepPrevious: true });
        const again = await getJson(rotating.jwksUri);
        expect((again.body as { keys: JWK[] }).keys.map((k) => k.kid)).toEqual([thirdKid, newKid]);
      });
    });
  });

  describe('setJwksFailure', () => {
    let flaky: TestIssuer;

    beforeAll(async () => {
      flaky = await createTestIssuer();
    });

    afterAll(async () => {
      await flaky.close();
    });

    it("'down' answers 503", async () => {
      flaky.setJwksFailure('down');
      flaky.resetJwksFetchCount();
      expect((await getJson(flaky.jwksUri)).status).toBe(503);
      expect(flaky.jwksFetchCount).toBe(1);
      const jwks = createRemoteJWKSet(new URL(flaky.jwksUri));
      await expect(jwtVerify(await flaky.mintToken(), jwks)).rejects.toMatchObject({
        code: 'ERR_JOSE_GENERIC',
        message: 'Expected 200 OK from the JSON Web Key Set HTTP response',
      });
      flaky.setJwksFailure(null);
      expect((await getJson(flaky.jwksUri)).status).toBe(200);
    });

    it("'garbage' answers 200 with JSON that is not a key set", async () => {
      flaky.setJwksFailure('garbage');
      const { status, headers, body } = await getJson(flaky.jwksUri);
      expect(status).toBe(200);
      expect(headers.get('content-type')).toBe('application/json');
      expect(body).toEqual({ hello: 'world' });
      const jwks = createRemoteJWKSet(new URL(flaky.jwksUri));
      await expect(jwtVerify(await flaky.mintToken(), jwks)).rejects.toMatchObject({ code: 'ERR_JWKS_INVALID' });
      flaky.setJwksFailure(null);
    });

    it("'not-json' answers 200 text/plain that is not JSON", async () => {
      flaky.setJwksFailure('not-json');
      const res = await fetch(flaky.jwksUri);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      const text = await res.text();
      expect(() => JSON.parse(text)).toThrow(SyntaxError);
      flaky.setJwksFailure(null);
    });

    it("'slow' never answers until the mode changes", async () => {
      flaky.setJwksFailure('slow');
      flaky.resetJwksFetchCount();
      await expect(fetch(flaky.jwksUri, { signal: AbortSignal.timeout(200) })).rejects.toMatchObject({
        name: 'TimeoutError',
      });
      expect(flaky.jwksFetchCount).toBe(1);

      const held = fetch(flaky.jwksUri);
      await untilJwksRequested(flaky, 2); // the server holds it now
      flaky.setJwksFailure(null);
      const res = await held;
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ keys: [flaky.publicJwk] });
    });

    it("'reset' destroys the connection", async () => {
      flaky.setJwksFailure('reset');
      flaky.resetJwksFetchCount();
      await expect(fetch(flaky.jwksUri)).rejects.toThrow('fetch failed');
      expect(flaky.jwksFetchCount).toBeGreaterThanOrEqual(1);
      flaky.setJwksFailure(null);
      expect((await getJson(flaky.jwksUri)).status).toBe(200);
    });

    it("'huge' answers a key set padded over 1 MiB", async () => {
      flaky.setJwksFailure('huge');
      const res = await fetch(flaky.jwksUri);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(Buffer.byteLength(text)).toBeGreaterThan(1024 * 1024);
      expect(Number(res.headers.get('content-length'))).toBeGreaterThan(1024 * 1024);
      expect((JSON.parse(text) as { keys: JWK[] }).keys).toEqual([flaky.publicJwk]);
      flaky.setJwksFailure(null);
    });

    it('applies failure modes to /v1/jwks too', async () => {
      flaky.setJwksFailure('down');
      const res = await getJson(`${flaky.apiUrl}/v1/jwks`, { headers: { authorization: `Bearer ${flaky.secretKey}` } });
      expect(res.status).toBe(503);
      flaky.setJwksFailure(null);
    });
  });

  describe('lifecycle', () => {
    it('refuses to run in production', async () => {
      const previous = process.env.NODE_ENV;
      process.env.NODE_ENV = 'production';
      try {
        await expect(createTestIssuer()).rejects.toThrow(/must never run in production/);
      } finally {
        if (previous === undefined) delete process.env.NODE_ENV;
        else process.env.NODE_ENV = previous;
      }
    });

    it('close() is idempotent and ends stalled connections', async () => {
      const short = await createTestIssuer();
      short.setJwksFailure('slow');
      const stalled = fetch(short.jwksUri).then(
        () => 'answered',
        () => 'failed',
      );
      await untilJwksRequested(short, 1); // the server holds it now
      const first = short.close();
      const second = short.close();
      expect(second).toBe(first);
      await first;
      await short.close();
      expect(await stalled).toBe('failed');
      await expect(fetch(short.jwksUri)).rejects.toThrow('fetch failed');
      // Minting still works after close (it needs no server).
      await expect(short.mintToken()).resolves.toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    });
  });
});

describe('createTestIssuer with a kept key', () => {
  it('two issuers built from the same key mint tokens that verify against each other\'s JWKS', async () => {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const key = { privateJwk: await exportJWK(privateKey), kid: 'ins_kept_1' };
    const frontendApi = 'kept-key.clerk.accounts.dev';
    const first = await createTestIssuer({ frontendApi, key });
    const second = await createTestIssuer({ frontendApi, key });
    try {
      expect(first.kid).toBe('ins_kept_1');
      expect(second.publicJwk).toEqual(first.publicJwk);
      expect(second.jwtKey).toBe(first.jwtKey);
      expect(first.jwksUri).not.toBe(second.jwksUri);
      const verifierOf = (issuer: TestIssuer) =>
        createClerkAuth({ ...issuer.authOptions, env: {}, logger: false, tokenCache: false });
      const fromFirst = await first.mintToken({}, { userId: 'user_first' });
      const fromSecond = await second.mintToken({}, { userId: 'user_second' });
      await expect(verifierOf(second).verify(fromFirst)).resolves.toMatchObject({ sub: 'user_first', iss: first.issuer });
      await expect(verifierOf(first).verify(fromSecond)).resolves.toMatchObject({ sub: 'user_second', iss: second.issuer });
      // A fresh issuer's key is another one: its JWKS refuses the kept key's tokens.
      const other = await createTestIssuer({ frontendApi });
      try {
        await expect(verifierOf(other).verify(fromFirst)).rejects.toThrow();
      } finally {
        await other.close();
      }
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  it('rejects a key that is not an RSA private JWK with a TypeError', async () => {
    const rsa = await generateKeyPair('RS256', { extractable: true });
    const ec = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = await exportJWK(rsa.privateKey);
    const invalid: unknown[] = [
      null,
      { privateJwk, kid: '' },
      { privateJwk },
      { privateJwk: await exportJWK(rsa.publicKey), kid: 'k' },
      { privateJwk: await exportJWK(ec.privateKey), kid: 'k' },
      { privateJwk: { ...privateJwk, alg: 'PS256' }, kid: 'k' },
      { privateJwk: { ...privateJwk, n: 'AAAA' }, kid: 'k' },
      { kid: 'k' },
    ];
    for (const key of invalid) {
      // An issuer created by mistake is closed, so that a failure leaves no server behind.
      const outcome = await createTestIssuer({ key: key as never }).then(
        (issuer) => issuer.close().then(() => 'created'),
        (error: unknown) => error,
      );
      expect(outcome).toBeInstanceOf(TypeError);
    }
    await expect(createTestIssuer({ key: { privateJwk: await exportJWK(rsa.publicKey), kid: 'k' } })).rejects.toThrow(
      /invalid `key`: `privateJwk` must be an RSA private key/,
    );
  });
});

describe('createTestIssuer: signJwt', () => {
  let clerk: TestIssuer;

  beforeAll(async () => {
    clerk = await createTestIssuer();
  });

  afterAll(async () => {
    await clerk.close();
  });

  it('signs the payload as given, RS256 with the current key, header merged with options.header', async () => {
    const token = await clerk.signJwt({ sub: 'mch_1', custom: { a: 1 }, gone: undefined });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'RS256', kid: clerk.kid, typ: 'JWT' });
    expect(decodeJwt(token)).toEqual({ sub: 'mch_1', custom: { a: 1 } });
    const { payload } = await jwtVerify(token, await importSPKI(clerk.jwtKey, 'RS256'));
    expect(payload.sub).toBe('mch_1');

    const retyped = await clerk.signJwt({ sub: 'user_1' }, { header: { typ: 'at+jwt', kid: undefined, cat: 'x' } });
    expect(decodeProtectedHeader(retyped)).toEqual({ alg: 'RS256', typ: 'at+jwt', cat: 'x' });
  });

  it('signs with a foreign key on request: same kid, a signature the JWKS does not verify', async () => {
    const token = await clerk.signJwt({ sub: 'mch_1' }, { signWith: 'foreign' });
    expect(decodeProtectedHeader(token).kid).toBe(clerk.kid);
    await expect(jwtVerify(token, await importSPKI(clerk.jwtKey, 'RS256'))).rejects.toThrow(/signature/);
  });
});

describe('createTestIssuer: fake Backend API users', () => {
  let clerk: TestIssuer;

  beforeAll(async () => {
    clerk = await createTestIssuer();
  });

  afterAll(async () => {
    await clerk.close();
  });

  it('serves an added user to @clerk/backend\'s users.getUser, and counts the calls', async () => {
    clerk.resetBackendApiCalls();
    const json = clerk.addUser({
      id: 'user_ada',
      firstName: 'Ada',
      lastName: 'Lovelace',
      username: 'ada',
      email: 'ada@example.com',
      imageUrl: 'https://img.example.com/ada.png',
    });
    expect(json).toMatchObject({ object: 'user', id: 'user_ada', has_image: true });
    const client = createClerkClient({ secretKey: clerk.secretKey, apiUrl: clerk.apiUrl });
    const user = await client.users.getUser('user_ada');
    expect(user.raw).toMatchObject({ object: 'user', id: 'user_ada' }); // raw is set by User.fromJSON
    expect(user).toMatchObject({
      id: 'user_ada',
      firstName: 'Ada',
      lastName: 'Lovelace',
      username: 'ada',
      imageUrl: 'https://img.example.com/ada.png',
      hasImage: true,
      publicMetadata: {},
      privateMetadata: {},
      unsafeMetadata: {},
    });
    expect(user.fullName).toBe('Ada Lovelace');
    expect(user.primaryEmailAddress?.emailAddress).toBe('ada@example.com');
    expect(user.phoneNumbers).toEqual([]);
    expect(clerk.backendApiCalls('/v1/users/user_ada')).toBe(1);
    expect(clerk.backendApiCalls('/v1/users')).toBe(1);
    expect(clerk.backendApiCalls()).toBe(1);

    const minimal = await client.users.getUser((clerk.addUser({ id: 'user_min' }), 'user_min'));
    expect(minimal).toMatchObject({ id: 'user_min', firstName: null, hasImage: false, emailAddresses: [] });
    expect(minimal.primaryEmailAddress).toBeNull();
    expect(clerk.backendApiCalls('/users')).toBe(2);
    clerk.resetBackendApiCalls();
    expect(clerk.backendApiCalls()).toBe(0);
  });

  it('answers an unknown id with 404 and Clerk\'s error JSON, which @clerk/backend throws as a ClerkAPIResponseError', async () => {
    const client = createClerkClient({ secretKey: clerk.secretKey, apiUrl: clerk.apiUrl });
    const error = await client.users.getUser('user_nobody').then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(isClerkAPIResponseError(error)).toBe(true);
    expect(error).toMatchObject({ status: 404, errors: [{ code: 'resource_not_found' }] });

    const raw = await getJson(`${clerk.apiUrl}/v1/users/user_nobody`, {
      headers: { authorization: `Bearer ${clerk.secretKey}` },
    });
    expect(raw.status).toBe(404);
    expect(raw.body).toMatchObject({
      errors: [{ code: 'resource_not_found', message: expect.any(String), long_message: expect.any(String) }],
    });
  });

  it('requires the secret key: 401 without it or with another one', async () => {
    clerk.addUser({ id: 'user_guarded' });
    const missing = await getJson(`${clerk.apiUrl}/v1/users/user_guarded`);
    expect(missing.status).toBe(401);
    expect(missing.body).toMatchObject({ errors: [{ code: 'authorization_header_missing' }] });
    const wrong = await getJson(`${clerk.apiUrl}/v1/users/user_guarded`, {
      headers: { authorization: `Bearer ${clerk.machineSecretKey}` },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ errors: [{ code: 'clerk_key_invalid' }] });
  });
});

describe('createTestIssuer: machine tokens in JWT form', () => {
  let clerk: TestIssuer;

  beforeAll(async () => {
    clerk = await createTestIssuer();
  });

  afterAll(async () => {
    await clerk.close();
  });

  it('mints an M2M JWT in Clerk\'s format, which verifyMachineAuthToken accepts with the JWT key', async () => {
    const token = await clerk.mintM2MToken({
      machineId: 'mch_worker',
      scopes: ['mch_api', 'mch_reports'],
      claims: { o: { rol: 'admin' } },
    });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'RS256', kid: clerk.kid, typ: 'JWT', cat: 'cl_B7d4PD333AAA' });
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({
      iss: clerk.issuer,
      sub: 'mch_worker',
      aud: ['mch_api', 'mch_reports'],
      scopes: 'mch_api mch_reports',
      o: { rol: 'admin' },
    });
    expect(claims.jti).toMatch(/^mt_[0-9a-f]{32}$/);
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(3600);
    expect(claims.nbf).toBe((claims.iat ?? 0) - 10);

    const result = await verifyMachineAuthToken(token, { jwtKey: clerk.jwtKey });
    expect(result.errors).toBeUndefined();
    expect(result.tokenType).toBe('m2m_token');
    expect(result.data).toMatchObject({
      id: claims.jti,
      subject: 'mch_worker',
      scopes: ['mch_api', 'mch_reports'],
      revoked: false,
      expired: false,
    });
    expect((result.data as { claims: Record<string, unknown> }).claims).toMatchObject({ o: { rol: 'admin' } });
  });

  it('mints an OAuth access token JWT (typ at+jwt), which verifyMachineAuthToken accepts, audience included', async () => {
    const token = await clerk.mintOAuthToken({
      userId: 'user_ada',
      clientId: 'client_cli',
      scopes: ['read', 'write'],
      audience: 'https://api.example.com',
    });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'RS256', kid: clerk.kid, typ: 'at+jwt' });
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({
      iss: clerk.issuer,
      sub: 'user_ada',
      client_id: 'client_cli',
      scope: 'read write',
      aud: 'https://api.example.com',
    });
    expect(claims.jti).toMatch(/^oat_[0-9a-f]{32}$/);

    const result = await verifyMachineAuthToken(token, { jwtKey: clerk.jwtKey, audience: 'https://api.example.com' });
    expect(result.errors).toBeUndefined();
    expect(result.tokenType).toBe('oauth_token');
    expect(result.data).toMatchObject({
      id: claims.jti,
      clientId: 'client_cli',
      subject: 'user_ada',
      scopes: ['read', 'write'],
      aud: ['https://api.example.com'],
    });
    const wrongAudience = await verifyMachineAuthToken(token, { jwtKey: clerk.jwtKey, audience: 'https://other.example' });
    expect(wrongAudience.errors?.[0]?.message).toMatch(/audience/);

    const applicationTyp = await clerk.mintOAuthToken({ header: { typ: 'application/at+jwt' } });
    expect((await verifyMachineAuthToken(applicationTyp, { jwtKey: clerk.jwtKey })).errors).toBeUndefined();
  });

  it('mints expired, not-yet-valid, forged and reshaped machine tokens that Clerk refuses', async () => {
    const refused = async (token: string): Promise<string | undefined> =>
      (await verifyMachineAuthToken(token, { jwtKey: clerk.jwtKey })).errors?.[0]?.message;
    expect(await refused(await clerk.mintM2MToken({ expired: true }))).toMatch(/expired/);
    expect(await refused(await clerk.mintOAuthToken({ expired: true }))).toMatch(/expired/);
    expect(await refused(await clerk.mintM2MToken({ notYetValid: true }))).toMatch(/not before|issued at/);
    expect(await refused(await clerk.mintOAuthToken({ signWith: 'foreign' }))).toMatch(/signature/);
    expect(await refused(await clerk.mintM2MToken({ header: { cat: 'cl_B7d4PD111AAA' } }))).toMatch(/category/);
    expect(await refused(await clerk.mintM2MToken({ claims: { exp: undefined } }))).toMatch(/exp/);
    await expect(clerk.mintM2MToken({ expired: true, notYetValid: true })).rejects.toThrow(TypeError);

    const fixed = Date.UTC(2031, 5, 1);
    const atFixed = decodeJwt(await clerk.mintOAuthToken({ now: fixed, expiresInSeconds: 60, jti: 'oat_fixed' }));
    expect(atFixed).toMatchObject({ iat: fixed / 1000, exp: fixed / 1000 + 60, jti: 'oat_fixed' });
    const noScopes = decodeJwt(await clerk.mintM2MToken());
    expect(noScopes.aud).toBeUndefined();
    expect(noScopes.scopes).toBeUndefined();
    expect(noScopes.sub).toBe('mch_test');
  });
});

describe('createTestIssuer: fake Backend API machine verify endpoints', () => {
  let clerk: TestIssuer;
  let now: number;

  beforeAll(async () => {
    now = Date.now();
    clerk = await createTestIssuer({ clock: () => now });
  });

  afterAll(async () => {
    await clerk.close();
  });

  const verify = (token: string, options: { secretKey?: string; machineSecretKey?: string } = {}) =>
    verifyMachineAuthToken(token, {
      apiUrl: clerk.apiUrl,
      secretKey: options.secretKey ?? clerk.secretKey,
      ...(options.machineSecretKey === undefined ? {} : { machineSecretKey: options.machineSecretKey }),
    });

  it('verifies an opaque M2M token through @clerk/backend, with the secret key or the machine secret key', async () => {
    clerk.resetBackendApiCalls();
    const token = clerk.createOpaqueM2MToken({ machineId: 'mch_worker', scopes: ['mch_api'], claims: { tier: 'gold' } });
    expect(token).toMatch(/^mt_[0-9A-Za-z]{48}$/);
    const json = clerk.describeToken(token);
    expect(json).toMatchObject({ object: 'machine_to_machine_token', subject: 'mch_worker', revoked: false });
    expect(json?.id).toMatch(/^mt_[0-9a-f]{32}$/);

    const result = await verify(token);
    expect(result.errors).toBeUndefined();
    expect(result.tokenType).toBe('m2m_token');
    expect(result.data).toMatchObject({
      id: json?.id,
      subject: 'mch_worker',
      scopes: ['mch_api'],
      claims: { tier: 'gold' },
      revoked: false,
      expired: false,
      expiration: now + 3_600_000,
    });
    const withMachineKey = await verify(token, { secretKey: 'sk_test_wrong', machineSecretKey: clerk.machineSecretKey });
    expect(withMachineKey.errors).toBeUndefined();
    // @clerk/backend calls the machine endpoints without /v1; both spellings count under one path.
    expect(clerk.backendApiCalls('/v1/m2m_tokens/verify')).toBe(2);
    expect(clerk.backendApiCalls('/m2m_tokens/verify')).toBe(2);
    const raw = await getJson(`${clerk.apiUrl}/v1/m2m_tokens/verify`, {
      method: 'POST',
      headers: { authorization: `Bearer ${clerk.secretKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
    });
    expect(raw.status).toBe(200);
    expect(clerk.backendApiCalls('/m2m_tokens/verify')).toBe(3);
  });

  it('verifies an opaque OAuth access token and an API key', async () => {
    const oauth = clerk.createOpaqueOAuthToken({
      userId: 'user_ada',
      clientId: 'client_cli',
      scopes: ['read'],
      audience: 'https://api.example.com',
    });
    expect(oauth).toMatch(/^oat_/);
    const oauthResult = await verify(oauth);
    expect(oauthResult.errors).toBeUndefined();
    expect(oauthResult.tokenType).toBe('oauth_token');
    expect(oauthResult.data).toMatchObject({
      clientId: 'client_cli',
      subject: 'user_ada',
      scopes: ['read'],
      type: 'oauth:access_token',
      aud: ['https://api.example.com'],
    });

    const apiKey = clerk.createApiKey({ subject: 'org_acme', name: 'ci', scopes: ['deploy'], claims: { env: 'prod' } });
    expect(apiKey).toMatch(/^ak_/);
    const keyResult = await verify(apiKey);
    expect(keyResult.errors).toBeUndefined();
    expect(keyResult.tokenType).toBe('api_key');
    expect(keyResult.data).toMatchObject({
      type: 'api_key',
      name: 'ci',
      subject: 'org_acme',
      scopes: ['deploy'],
      claims: { env: 'prod' },
      createdBy: null,
      expiration: null,
    });
    // A token of one kind is unknown to another kind's endpoint.
    const raw = await getJson(`${clerk.apiUrl}/api_keys/verify`, {
      method: 'POST',
      headers: { authorization: `Bearer ${clerk.secretKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ secret: oauth }),
    });
    expect(raw.status).toBe(404);
  });

  it('answers unknown, revoked and expired tokens with 404 (token-invalid for Clerk), or with flags on request', async () => {
    for (const unknown of ['mt_nope', 'oat_nope', 'ak_nope']) {
      const result = await verify(unknown);
      expect(result.errors?.[0]).toMatchObject({ code: 'token-invalid', status: 404 });
    }
    const m2m = clerk.createOpaqueM2MToken();
    const key = clerk.createApiKey();
    clerk.revokeToken(m2m, { reason: 'leaked' });
    clerk.revokeToken(key);
    expect(() => clerk.revokeToken('mt_unknown')).toThrow(TypeError);
    expect((await verify(m2m)).errors?.[0]).toMatchObject({ code: 'token-invalid', status: 404 });
    expect((await verify(key)).errors?.[0]).toMatchObject({ code: 'token-invalid', status: 404 });

    const shortLived = clerk.createOpaqueOAuthToken({ expiresInSeconds: 60 });
    expect((await verify(shortLived)).errors).toBeUndefined();
    now += 61_000;
    try {
      expect((await verify(shortLived)).errors?.[0]).toMatchObject({ code: 'token-invalid', status: 404 });
      const bornExpired = clerk.createApiKey({ expiresInSeconds: -1 });
      expect((await verify(bornExpired)).errors?.[0]).toMatchObject({ code: 'token-invalid' });

      clerk.setInactiveTokenAnswer('flags');
      expect((await verify(m2m)).data).toMatchObject({ revoked: true, revocationReason: 'leaked', expired: false });
      expect((await verify(shortLived)).data).toMatchObject({ revoked: false, expired: true });
    } finally {
      clerk.setInactiveTokenAnswer('not-found');
      now -= 61_000;
    }
  });

  it('answers 401 with Clerk\'s error JSON to a missing or wrong key (secret-key-invalid for Clerk)', async () => {
    const token = clerk.createOpaqueM2MToken();
    expect((await verify(token, { secretKey: 'sk_test_wrong' })).errors?.[0]).toMatchObject({
      code: 'secret-key-invalid',
      status: 401,
    });
    // The machine secret key is for M2M tokens only.
    const apiKey = clerk.createApiKey();
    expect((await verify(apiKey, { secretKey: clerk.machineSecretKey })).errors?.[0]).toMatchObject({ status: 401 });
    const missing = await getJson(`${clerk.apiUrl}/oauth_applications/access_tokens/verify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ access_token: 'oat_x' }),
    });
    expect(missing.status).toBe(401);
    expect(missing.body).toMatchObject({ errors: [{ code: 'authorization_header_missing' }] });
  });

  it('misbehaves on request: down, 500, 429, garbage, invalid-json, slow; and counts every call', async () => {
    const token = clerk.createOpaqueM2MToken();
    clerk.resetBackendApiCalls();
    try {
      clerk.setBackendApiFailure('down');
      expect((await verify(token)).errors?.[0]).toMatchObject({ code: 'unexpected-error' });
      clerk.setBackendApiFailure('500');
      expect((await verify(token)).errors?.[0]).toMatchObject({ code: 'unexpected-error', status: 500 });
      clerk.setBackendApiFailure('429');
      const limited = await fetch(`${clerk.apiUrl}/m2m_tokens/verify`, { method: 'POST' });
      expect(limited.status).toBe(429);
      expect(limited.headers.get('retry-after')).toBe('1');
      clerk.setBackendApiFailure('invalid-json');
      expect((await verify(token)).errors?.[0]).toMatchObject({ code: 'unexpected-error' });
      clerk.setBackendApiFailure('garbage');
      const garbage = await fetch(`${clerk.apiUrl}/m2m_tokens/verify`, { method: 'POST' });
      expect(garbage.status).toBe(200);
      expect(garbage.headers.get('content-type')).toMatch(/^text\/html/);
      await expect(garbage.clone().text().then((text) => JSON.parse(text))).rejects.toThrow(SyntaxError);
      // Clerk's client hands the page over as if it were the token: a verifier must not trust it.
      expect(typeof (await verify(token)).data).toBe('string');

      clerk.setBackendApiFailure('slow');
      let settled = false;
      const held = verify(token).then((result) => {
        settled = true;
        return result;
      });
      const deadline = Date.now() + 5_000;
      while (clerk.backendApiCalls('/m2m_tokens/verify') < 7 && Date.now() < deadline) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(settled).toBe(false);
      clerk.setBackendApiFailure(null);
      expect((await held).errors).toBeUndefined();
      expect(clerk.backendApiCalls('/m2m_tokens/verify')).toBe(7);
      expect(clerk.backendApiCalls('/v1/users')).toBe(0);
      expect(clerk.backendApiCalls()).toBe(7);
    } finally {
      clerk.setBackendApiFailure(null);
    }
  });

  it('close() ends requests held by slow mode', async () => {
    await withIssuer(async (other) => {
      other.setBackendApiFailure('slow');
      const held = fetch(`${other.apiUrl}/m2m_tokens/verify`, { method: 'POST' }).then(
        () => 'answered',
        () => 'closed',
      );
      const deadline = Date.now() + 5_000;
      while (other.backendApiCalls() < 1 && Date.now() < deadline) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      await other.close();
      expect(await held).toBe('closed');
    });
  });
});
