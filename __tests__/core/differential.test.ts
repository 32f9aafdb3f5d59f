/**
 * Differential test against the reference, `@clerk/backend`'s `verifyToken` (networkless, jwtKey): the same corpus
 * through both. We never accept what Clerk rejects; where we are stricter, the case names why.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createClerkClient, verifyToken as clerkVerifyToken } from '@clerk/backend';
import { ClerkAuthError, createClerkAuth, type ClerkAuthErrorCode, type ClerkAuthOptions } from '../../src/index.js';
import { cookieSuffixOf } from '../../src/core/options.js';
import { createTestIssuer, type MintOptions, type TestIssuer } from '../../src/testing/index.js';
import { b64 } from '../support/errors.js';

let issuer: TestIssuer;
beforeAll(async () => {
  issuer = await createTestIssuer();
});
afterAll(async () => {
  await issuer.close();
});

/** No case of this file may touch the network: both sides verify with the PEM key. */
let fetchSpy: ReturnType<typeof jest.spyOn>;
beforeAll(() => {
  fetchSpy = jest.spyOn(globalThis, 'fetch').mockImplementation(async () => {
    throw new Error('differential tests are networkless');
  });
});
afterAll(() => {
  expect(fetchSpy).not.toHaveBeenCalled();
  fetchSpy.mockRestore();
});

interface Case {
  name: string;
  token: () => Promise<string>;
  /** Set when we reject a token Clerk accepts: why we are stricter. */
  stricter?: string;
  /** Our refusal code, where the case is about one. */
  code?: ClerkAuthErrorCode;
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
  // Claims computed when the token is minted, not when the file loads: 3 to 4 s of skew left then, so both verdicts fall
  // inside it however long the set-up and the cases before took.
  { name: 'expired within the skew', token: () => issuer.mintToken({ exp: now() - 1, iat: now() - 61, nbf: now() - 71 }) },
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
  // Clerk's token categories. verifyToken alone refuses only the M2M category and a typ other than JWT; the rest of
  // the rule lives in authenticateRequest (isMachineJwt, hasNonSessionJwtCategory), which our verifier applies itself.
  {
    name: 'JWT-template token (another cat, no sid) [Clerk verifyToken: accepted; authenticateRequest: token-type-mismatch]',
    token: mint({ sid: undefined }, { header: { cat: 'cl_B7d4PD222AAA' } }),
    stricter: 'a non-session category is not a session (authenticateRequest: hasNonSessionJwtCategory)',
    code: 'token-type-mismatch',
  },
  {
    name: 'JWT-template token (another cat, with a sid) [Clerk verifyToken: accepted; authenticateRequest: token-type-mismatch]',
    token: mint({}, { header: { cat: 'cl_templateX' } }),
    stricter: 'a non-session category is not a session (authenticateRequest: hasNonSessionJwtCategory)',
    code: 'token-type-mismatch',
  },
  {
    name: 'M2M JWT (M2M cat, sub mch_) [Clerk verifyToken: rejected]',
    token: mint({ sub: 'mch_2abc', sid: undefined }, { header: { cat: 'cl_B7d4PD333AAA' } }),
    code: 'token-type-mismatch',
  },
  {
    name: 'M2M JWT by its subject alone (sub mch_, no cat) [Clerk verifyToken: accepted; authenticateRequest: token-type-mismatch]',
    token: mint({ sub: 'mch_2abc', sid: undefined }),
    stricter: 'a machine subject is not a user (authenticateRequest: isM2MJwt)',
    code: 'token-type-mismatch',
  },
  {
    name: 'no sid [Clerk verifyToken: accepted; authenticateRequest: signed in]',
    token: mint({ sid: undefined }),
    stricter: 'a session token always names its session; without sid it is a template or machine token',
    code: 'token-type-mismatch',
  },
  {
    // Both refuse it here, Clerk for its missing azp (authorizedParties are set); without them Clerk's verifyToken
    // accepts it, and we refuse it by its claims (verify.test.ts).
    name: 'OIDC ID token: aud the OAuth client, nonce, sid, no azp [Clerk verifyToken: rejected, no azp]',
    token: mint({ aud: 'oauth_client_1', nonce: 'n-1', azp: undefined }),
    code: 'token-type-mismatch',
  },
  {
    name: 'OIDC ID token without nonce: aud, sid, no azp, no audience configured [Clerk verifyToken: rejected, no azp]',
    token: mint({ aud: 'oauth_client_1', azp: undefined }),
    code: 'token-type-mismatch',
  },
  { name: 'OAuth access token (typ at+jwt) [Clerk verifyToken: rejected]', token: mint({}, { header: { typ: 'at+jwt' } }), code: 'token-type-mismatch' },
  {
    name: 'OAuth access token (typ application/at+jwt) [Clerk verifyToken: rejected]',
    token: mint({}, { header: { typ: 'application/at+jwt' } }),
    code: 'token-type-mismatch',
  },
  { name: 'ignore category cl_I7d4PD111III', token: mint({}, { header: { cat: 'cl_I7d4PD111III' } }) },
  { name: 'session category cl_B7d4PD111AAA', token: mint({}, { header: { cat: 'cl_B7d4PD111AAA' } }) },
  { name: 'header not JSON', token: async () => `${b64('nope')}.${b64({ sub: 'x' })}.AAAA` },
];

describe('differential: never accept what @clerk/backend verifyToken rejects', () => {
  const options = () => ({
    jwtKey: issuer.jwtKey,
    authorizedParties: [issuer.authorizedParty],
    issuer: issuer.issuer,
  });

  const clerkVerdict = (token: string) =>
    clerkVerifyToken(token, options()).then(
      () => 'accepted' as const,
      () => 'rejected' as const,
    );

  it.each(corpus.map((c) => [c.name, c] as const))('%s', async (_name, testCase) => {
    const token = await testCase.token();
    const clerk = await clerkVerdict(token);
    let code: string | undefined;
    const ours = await createClerkAuth({ ...options(), env: {}, logger: false, tokenCache: false })
      .verify(token)
      .then(
        () => 'accepted',
        (error: unknown) => {
          code = error instanceof ClerkAuthError ? error.code : String(error);
          return 'rejected';
        },
      );
    if (testCase.stricter) {
      // Documented strictness: Clerk accepts, we refuse, for the reason given.
      expect({ clerk, ours }).toEqual({ clerk: 'accepted', ours: 'rejected' });
    } else {
      expect(ours).toBe(clerk);
    }
    if (testCase.code) expect(code).toBe(testCase.code);
  });

  it('the corpus has tokens Clerk accepts and tokens it rejects, and each outcome of ours', async () => {
    // Computed, not counted: a corpus whose tokens all failed to mint (or all verified) would prove nothing.
    const clerk = new Set<string>();
    const ours = new Set<string>();
    const auth = createClerkAuth({ ...options(), env: {}, logger: false, tokenCache: false });
    for (const testCase of corpus) {
      const token = await testCase.token();
      clerk.add(await clerkVerdict(token));
      ours.add(await auth.verify(token).then(() => 'accepted', (error: ClerkAuthError) => error.code));
    }
    expect([...clerk].sort()).toEqual(['accepted', 'rejected']);
    for (const code of ['accepted', 'token-invalid', 'token-invalid-signature', 'token-expired', 'token-type-mismatch', 'session-pending']) {
      expect(ours).toContain(code);
    }
  });
});

describe('token categories through @clerk/backend authenticateRequest (Authorization header)', () => {
  const client = () =>
    createClerkClient({ publishableKey: issuer.publishableKey, secretKey: issuer.secretKey, jwtKey: issuer.jwtKey, telemetry: { disabled: true } });
  const cases: Array<[string, string, Record<string, unknown>, Record<string, unknown>]> = [
    ['JWT-template token', 'signed-out token-type-mismatch', { sid: undefined }, { cat: 'cl_B7d4PD222AAA' }],
    ['M2M JWT', 'signed-out token-type-mismatch', { sub: 'mch_2abc', sid: undefined }, { cat: 'cl_B7d4PD333AAA' }],
    ['M2M subject, no cat', 'signed-out token-type-mismatch', { sub: 'mch_2abc', sid: undefined }, {}],
    ['OAuth typ at+jwt', 'signed-out token-type-mismatch', {}, { typ: 'at+jwt' }],
    ['no sid', 'signed-in user_test', { sid: undefined }, {}],
    ['valid session token', 'signed-in user_test', {}, {}],
  ];
  it.each(cases)('%s: Clerk answers "%s"; ours never signs in where Clerk does not', async (_name, expected, claims, header) => {
    const token = await issuer.mintToken(claims, { header });
    const state = await client().authenticateRequest(new Request('https://api.example.com/x', { headers: { authorization: `Bearer ${token}` } }), {
      jwtKey: issuer.jwtKey,
      authorizedParties: [issuer.authorizedParty],
    });
    const clerk = state.status === 'signed-in' ? `signed-in ${state.toAuth().userId}` : `${state.status} ${state.reason}`;
    expect(clerk).toBe(expected);
    const ours = await createClerkAuth({ jwtKey: issuer.jwtKey, authorizedParties: [issuer.authorizedParty], env: {}, logger: false })
      .verify(token)
      .then((c) => `signed-in ${c.sub}`, (error: ClerkAuthError) => `refused ${error.code}`);
    if (ours.startsWith('signed-in')) expect(ours).toBe(clerk);
    else if (!expected.startsWith('signed-in')) expect(ours).toBe('refused token-type-mismatch');
  });
});

describe('configuration: never accept what Clerk rejects under the same options', () => {
  // Clerk drops falsy entries of issuer and audience ([x].flat().filter(Boolean)) but keeps whitespace ones, and keeps
  // every entry of authorizedParties: ['', ' '] there is a list no azp matches. Reading them as "not set" opens a
  // check the operator asked for; refusing them at start-up would be as safe as Clerk.
  const configurations: Array<[string, ClerkAuthOptions]> = [
    ["audience ['']", { audience: [''] }],
    ["audience [' ']", { audience: [' '] }],
    ["issuer ' '", { issuer: ' ' }],
    ["authorizedParties ['']", { authorizedParties: [''] }],
    ["authorizedParties ['', ' ']", { authorizedParties: ['', ' '] }],
    ["authorizedParties [' http://localhost:3000 '] (padded)", { authorizedParties: [' http://localhost:3000 '] }],
  ];
  it.each(configurations)('%s', async (_name, extra) => {
    const tokens = [await issuer.mintToken(), await issuer.mintToken({ aud: 'https://api.example.com' })];
    for (const token of tokens) {
      const clerk = await clerkVerifyToken(token, { jwtKey: issuer.jwtKey, ...extra } as Parameters<typeof clerkVerifyToken>[1]).then(
        () => 'accepted',
        () => 'rejected',
      );
      let ours: string;
      try {
        ours = await createClerkAuth({ jwtKey: issuer.jwtKey, env: {}, logger: false, ...extra })
          .verify(token)
          .then(
            () => 'accepted',
            () => 'rejected',
          );
      } catch {
        ours = 'refused at start-up';
      }
      if (clerk === 'rejected') expect({ token: token === tokens[0] ? 'plain' : 'with aud', ours }).not.toMatchObject({ ours: 'accepted' });
    }
  });
});

describe('cookies: @clerk/backend authenticateRequest against our authenticate()', () => {
  // A production instance (pk_live_): a development one answers every cookie request with a dev-browser handshake
  // (signed out, dev-browser-missing) unless a __clerk_db_jwt cookie is sent. With jwtKey, Clerk fetches nothing.
  let live: TestIssuer;
  let otherLive: TestIssuer;
  let suffix: string;
  beforeAll(async () => {
    live = await createTestIssuer({ instance: 'live' });
    otherLive = await createTestIssuer({ instance: 'live' });
    suffix = cookieSuffixOf(live.publishableKey);
  });
  afterAll(async () => {
    await live.close();
    await otherLive.close();
  });

  const iatOf = (token: string): number => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).iat;

  interface CookieCase {
    name: string;
    headers: () => Promise<{ cookie?: string; authorization?: string }>;
    /** Set when we sign in where Clerk does not, on purpose: why. */
    looser?: string;
    /** Set where Clerk must sign in, to prove the case exercises the signed-in path. */
    clerkSignsIn?: boolean;
    /** Set when Clerk signs in where we do not, on purpose: why. */
    stricter?: string;
  }

  const ours = (userId = 'user_ours', claims: Record<string, unknown> = {}) => live.mintToken(claims, { userId });
  const cases: CookieCase[] = [
    {
      name: '__session + __client_uat',
      headers: async () => {
        const t = await ours();
        return { cookie: `__session=${t}; __client_uat=${iatOf(t)}` };
      },
      clerkSignsIn: true,
    },
    {
      name: '__client_uat=0',
      headers: async () => ({ cookie: `__session=${await ours()}; __client_uat=0` }),
    },
    { name: 'no __client_uat', headers: async () => ({ cookie: `__session=${await ours()}` }) },
    {
      name: 'stale __client_uat (newer than the token)',
      headers: async () => {
        const t = await ours();
        return { cookie: `__session=${t}; __client_uat=${iatOf(t) + 5}` };
      },
    },
    {
      name: 'suffixed pair',
      headers: async () => {
        const t = await ours();
        return { cookie: `__session_${suffix}=${t}; __client_uat_${suffix}=${iatOf(t)}` };
      },
      clerkSignsIn: true,
    },
    {
      name: "another instance's unsuffixed pair + our suffixed pair",
      headers: async () => {
        const foreign = await otherLive.mintToken({}, { userId: 'user_other_app' });
        const t = await ours();
        return {
          cookie: `__session=${foreign}; __client_uat=${iatOf(foreign)}; __session_${suffix}=${t}; __client_uat_${suffix}=${iatOf(t)}`,
        };
      },
      clerkSignsIn: true,
    },
    {
      name: "another instance's unsuffixed pair alone",
      headers: async () => {
        const foreign = await otherLive.mintToken({}, { userId: 'user_other_app' });
        return { cookie: `__session=${foreign}; __client_uat=${iatOf(foreign)}` };
      },
    },
    {
      name: 'our unsuffixed pair newer than our suffixed pair',
      headers: async () => {
        const older = await live.mintToken({}, { userId: 'user_suffixed', now: Date.now() - 20_000 });
        const newer = await live.mintToken({}, { userId: 'user_unsuffixed' });
        return { cookie: `__session=${newer}; __client_uat=${iatOf(newer)}; __session_${suffix}=${older}; __client_uat_${suffix}=${iatOf(older)}` };
      },
      clerkSignsIn: true,
    },
    {
      name: 'our suffixed pair newer than our unsuffixed pair',
      headers: async () => {
        const older = await live.mintToken({}, { userId: 'user_unsuffixed', now: Date.now() - 20_000 });
        const newer = await live.mintToken({}, { userId: 'user_suffixed' });
        return { cookie: `__session=${older}; __client_uat=${iatOf(older)}; __session_${suffix}=${newer}; __client_uat_${suffix}=${iatOf(newer)}` };
      },
      clerkSignsIn: true,
    },
    {
      name: 'suffixed __client_uat=0 beside a valid unsuffixed pair',
      headers: async () => {
        const t = await ours();
        return { cookie: `__session=${t}; __client_uat=${iatOf(t)}; __session_${suffix}=${await ours('user_suffixed')}; __client_uat_${suffix}=0` };
      },
      clerkSignsIn: true,
    },
    {
      name: 'percent-encoded __session',
      headers: async () => {
        const t = await ours();
        return { cookie: `__session=${t.replace(/\./g, '%2E')}; __client_uat=${iatOf(t)}` };
      },
      clerkSignsIn: true,
    },
    {
      // @clerk/backend 3.x bundles cookie@1.1.1, which no longer strips double quotes (cookie@0.x did).
      name: 'quoted __session value',
      headers: async () => {
        const t = await ours();
        return { cookie: `__session="${t}"; __client_uat=${iatOf(t)}` };
      },
    },
    {
      name: 'quoted __client_uat value',
      headers: async () => {
        const t = await ours();
        return { cookie: `__session=${t}; __client_uat="${iatOf(t)}"` };
      },
    },
    {
      name: 'Basic authorization with a valid cookie (Clerk reads the cookie; we read no credential)',
      headers: async () => {
        const t = await ours();
        return { authorization: 'Basic dXNlcjpwYXNz', cookie: `__session=${t}; __client_uat=${iatOf(t)}` };
      },
      stricter: 'a client that sends Authorization said how it authenticates: no falling back to a cookie',
    },
    {
      name: 'Bearer header beside a cookie of another user',
      headers: async () => {
        const t = await ours('user_cookie');
        return { authorization: `Bearer ${await ours('user_header')}`, cookie: `__session=${t}; __client_uat=${iatOf(t)}` };
      },
      clerkSignsIn: true,
    },
    {
      name: 'expired cookie',
      headers: async () => {
        const t = await live.mintToken({}, { expired: true });
        return { cookie: `__session=${t}; __client_uat=${iatOf(t)}` };
      },
    },
    {
      name: 'M2M JWT in the cookie',
      headers: async () => {
        const t = await live.mintToken({ sub: 'mch_1', sid: undefined }, { header: { cat: 'cl_B7d4PD333AAA' } });
        return { cookie: `__session=${t}; __client_uat=${iatOf(t)}` };
      },
    },
    {
      name: "two __session cookies: another instance's first, ours second",
      headers: async () => {
        const foreign = await otherLive.mintToken({}, { userId: 'user_other_app' });
        const t = await ours();
        return { cookie: `__session=${foreign}; __session=${t}; __client_uat=${iatOf(t)}` };
      },
      // Clerk's cookie parser keeps the first value of a name; credentials.ts picks this instance's among several
      // (parent domain and subdomain both setting __session). The token is a valid one of this instance.
      looser: "of several __session values we take this instance's, Clerk the first",
    },
    {
      name: 'two __session cookies of ours, one user: the older first, __client_uat of the newer',
      headers: async () => {
        const older = await live.mintToken({}, { now: Date.now() - 20_000, userId: 'user_ours' });
        const newer = await ours();
        return { cookie: `__session=${older}; __session=${newer}; __client_uat=${iatOf(newer)}` };
      },
      // Clerk takes the first (older than __client_uat: signed out); credentials.ts takes the newest of one user.
      looser: 'of several __session values of one user we take the newest, Clerk the first',
    },
    {
      name: 'two __session cookies of ours, two users (we answer 400)',
      headers: async () => {
        const a = await ours('user_a');
        return { cookie: `__session=${a}; __session=${await ours('user_b')}; __client_uat=${iatOf(a)}` };
      },
      stricter: 'which user the browser is signed in as is ambiguous: Clerk takes the first cookie, we refuse to guess',
    },
    {
      name: 'a suffixed __session without its __client_uat beside a valid unsuffixed pair',
      headers: async () => {
        const t = await ours();
        return { cookie: `__session=${t}; __client_uat=${iatOf(t)}; __session_${suffix}=${await ours('user_suffixed')}` };
      },
      clerkSignsIn: true,
    },
    {
      name: 'lower-case "bearer" scheme, no cookie',
      headers: async () => ({ authorization: `bearer ${await ours()}` }),
      // Clerk's parseAuthorizationHeader compares the scheme to "Bearer" exactly; RFC 7235 makes it case-insensitive.
      looser: 'the auth scheme is case-insensitive (RFC 7235); Clerk reads only "Bearer"',
    },
  ];

  async function clerkState(headers: { cookie?: string; authorization?: string }): Promise<string> {
    const client = createClerkClient({ publishableKey: live.publishableKey, secretKey: live.secretKey, jwtKey: live.jwtKey, telemetry: { disabled: true } });
    const init: Record<string, string> = { accept: 'application/json' };
    if (headers.cookie) init.cookie = headers.cookie;
    if (headers.authorization) init.authorization = headers.authorization;
    const state = await client.authenticateRequest(new Request('https://api.example.com/api/agents', { headers: init }), { jwtKey: live.jwtKey });
    return state.status === 'signed-in' ? `signed-in ${state.toAuth().userId}` : `${state.status} ${state.reason}`;
  }

  async function ourState(headers: { cookie?: string; authorization?: string }): Promise<string> {
    const auth = createClerkAuth({ publishableKey: live.publishableKey, jwtKey: live.jwtKey, env: {}, logger: false });
    try {
      const state = await auth.authenticate({ authorization: headers.authorization ? [headers.authorization] : [], cookie: headers.cookie });
      return state.status === 'signed-in' ? `signed-in ${state.claims.sub}` : `signed-out ${state.reason}`;
    } catch (error) {
      return `refused ${(error as ClerkAuthError).code}`;
    }
  }

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, testCase) => {
    const headers = await testCase.headers();
    const clerk = await clerkState(headers);
    const mine = await ourState(headers);
    if (testCase.clerkSignsIn) expect(clerk).toMatch(/^signed-in /);
    if (testCase.looser) {
      expect({ clerk, ours: mine }).toEqual({ clerk: expect.not.stringMatching(/^signed-in/), ours: expect.stringMatching(/^signed-in/) });
    } else if (mine.startsWith('signed-in')) {
      // Whenever we sign a request in, Clerk signs in the same user.
      expect({ clerk, ours: mine }).toEqual({ clerk: mine, ours: mine });
    } else if (clerk.startsWith('signed-in')) {
      // And where Clerk signs one in, so do we, unless the case says why not (the same cookies Clerk reads).
      expect({ clerk, ours: mine, stricter: testCase.stricter }).toEqual({ clerk, ours: mine, stricter: expect.any(String) });
    }
  });
});
