/**
 * Differential test against the reference, `@clerk/backend`'s `verifyToken` (networkless, jwtKey): the same corpus
 * through both. We never accept what Clerk rejects; where we are stricter, the case names why.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { verifyToken as clerkVerifyToken } from '@clerk/backend';
import { createClerkAuth } from '../../src/index.js';
import { createTestIssuer, type MintOptions, type TestIssuer } from '../../src/testing/index.js';
import { b64 } from '../support/errors.js';

let issuer: TestIssuer;
beforeAll(async () => {
  issuer = await createTestIssuer();
});
afterAll(async () => {
  await issuer.close();
});

interface Case {
  name: string;
  token: () => Promise<string>;
  /** Set when we reject a token Clerk accepts: why we are stricter. */
  stricter?: string;
}

const now = () => Math.floor(Date.now() / 1000);
const mint = (claims: Record<string, unknown> = {}, options: MintOptions = {}) => () => issuer.mintToken(claims, options);

const corpus: Case[] = [
  { name: 'valid v2', token: mint() },
  { name: 'valid v1', token: mint({}, { version: 1, org: { id: 'org_1', role: 'org:admin' } }) },
  { name: 'v2 with organization', token: mint({}, { org: { id: 'org_1', role: 'org:admin', permissions: ['org:posts:read'] } }) },
  { name: 'no typ', token: mint({}, { header: { typ: undefined } }) },
  { name: 'typ at+jwt', token: mint({}, { header: { typ: 'at+jwt' } }) },
  { name: 'expired', token: mint({}, { expired: true }) },
  { name: 'expired within the skew', token: mint({ exp: now() - 2, iat: now() - 62, nbf: now() - 72 }) },
  { name: 'not active yet', token: mint({ nbf: now() + 120 }) },
  { name: 'nbf within the skew', token: mint({ nbf: now() + 3 }) },
  { name: 'iat in the future', token: mint({ iat: now() + 120, nbf: undefined }) },
  { name: 'no exp', token: mint({ exp: undefined }) },
  { name: 'exp as a string', token: mint({ exp: String(now() + 60) }) },
  { name: 'no sub', token: mint({ sub: undefined }) },
  { name: 'numeric sub', token: mint({ sub: 7 }) },
  { name: 'empty sub', token: mint({ sub: '' }), stricter: 'an empty user id identifies nobody' },
  { name: 'azp not authorized', token: mint({ azp: 'https://evil.example' }) },
  { name: 'no azp', token: mint({ azp: undefined }) },
  { name: 'wrong issuer', token: mint({ iss: 'https://evil.clerk.accounts.dev' }) },
  { name: 'no issuer', token: mint({ iss: undefined }) },
  { name: 'foreign key', token: mint({}, { signWith: 'foreign' }) },
  { name: 'M2M token category', token: mint({}, { header: { cat: 'cl_B7d4PD333AAA' } }) },
  {
    name: 'pending session',
    token: mint({}, { pending: true }),
    stricter: 'Clerk treats pending sessions as signed out (treatPendingAsSignedOut) in authenticateRequest; we do it in the verifier',
  },
  {
    name: 'aud present, no audience configured',
    token: mint({ aud: 'https://api.example.com' }),
  },
  {
    name: 'alg header lies (HS256 on an RS256 signature)',
    token: mint({}, { header: { alg: 'HS256' } }),
  },
  {
    name: 'non-canonical base64url signature',
    token: async () => {
      const [h, p, s] = (await issuer.mintToken()).split('.') as [string, string, string];
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      return `${h}.${p}.${s.slice(0, -1)}${alphabet[alphabet.indexOf(s.at(-1)!) | 1]}`;
    },
  },
  {
    name: 'padded segments',
    token: async () => (await issuer.mintToken()).replace(/\./g, '=.'),
  },
  {
    name: 'over 8 KiB',
    token: mint({ padding: 'x'.repeat(9000) }),
    stricter: 'Clerk session tokens are about 1 KiB; refusing larger ones bounds the work an attacker can cause',
  },
  { name: 'garbage', token: async () => 'not-a-token' },
  { name: 'header not JSON', token: async () => `${b64('nope')}.${b64({ sub: 'x' })}.AAAA` },
];

describe('differential: never accept what @clerk/backend verifyToken rejects', () => {
  const options = () => ({
    jwtKey: issuer.jwtKey,
    authorizedParties: [issuer.authorizedParty],
    issuer: issuer.issuer,
  });

  it.each(corpus.map((c) => [c.name, c] as const))('%s', async (_name, testCase) => {
    const token = await testCase.token();
    const clerk = await clerkVerifyToken(token, options()).then(
      () => 'accepted',
      () => 'rejected',
    );
    const ours = await createClerkAuth({ ...options(), env: {}, logger: false, tokenCache: false })
      .verify(token)
      .then(
        () => 'accepted',
        () => 'rejected',
      );
    if (testCase.stricter) {
      // Documented strictness: Clerk accepts, we refuse, for the reason given.
      expect({ clerk, ours }).toEqual({ clerk: 'accepted', ours: 'rejected' });
    } else {
      expect(ours).toBe(clerk);
    }
  });

  it('the corpus covers both outcomes', async () => {
    expect(corpus.filter((c) => c.stricter).length).toBeGreaterThan(2);
    expect(corpus.length).toBeGreaterThan(25);
  });
});
