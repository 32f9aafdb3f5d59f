/**
 * Differential test of JWT-format machine tokens: a corpus of M2M and OAuth access tokens (valid ones and every way
 * to get one wrong) verified by `@clerk/backend`'s own `verifyMachineAuthToken(token, { jwtKey, audience,
 * clockSkewInMs })` and by ours (`createClerkAuth({ acceptsToken: ['m2m_token', 'oauth_token'] }).authenticate()`,
 * keys from the test issuer's JWKS).
 *
 * The rule: we are never looser than Clerk (a token we accept, Clerk accepts, as the same type, subject and id).
 * Where we are stricter is listed, case by case, so that a change in either shows up here.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { verifyMachineAuthToken } from '@clerk/backend/internal';
import { createClerkAuth, type ClerkAuth, type RequestState } from '../../src/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { b64 } from '../support/errors.js';

let issuer: TestIssuer;
beforeAll(async () => {
  issuer = await createTestIssuer();
});
afterAll(async () => {
  await issuer.close();
});

const SKEW = 5_000;
const API = 'https://api.example.com';

type Outcome =
  | { accepted: true; tokenType: string; subject: string; id: string; scopes: readonly string[] }
  | { accepted: false; reason: string; threw?: boolean };

interface Case {
  name: string;
  token: () => Promise<string>;
  /** The `audience` option given to both verifiers. */
  audience?: string | string[];
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A token signed with HS256 using the public key's PEM as the HMAC secret: the classic algorithm confusion. */
function hs256(header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', issuer.jwtKey).update(input).digest('base64url')}`;
}

const m2mPayload = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  iss: issuer.issuer,
  sub: 'mch_worker',
  aud: ['mch_api'],
  scopes: 'mch_api',
  iat: nowSeconds(),
  nbf: nowSeconds() - 10,
  exp: nowSeconds() + 300,
  jti: 'mt_0123456789abcdef0123456789abcdef',
  ...extra,
});

const oauthPayload = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  iss: issuer.issuer,
  sub: 'user_granter',
  client_id: 'client_cli',
  scope: 'read write',
  iat: nowSeconds(),
  nbf: nowSeconds() - 10,
  exp: nowSeconds() + 300,
  jti: 'oat_0123456789abcdef0123456789abcdef',
  ...extra,
});

const M2M_HEADER = { cat: 'cl_B7d4PD333AAA' };
const OAUTH_HEADER = { typ: 'at+jwt' };

const corpus: Case[] = [
  // --- M2M tokens ---
  { name: 'm2m: valid', token: () => issuer.mintM2MToken({ scopes: ['mch_api', 'mch_reports'] }) },
  { name: 'm2m: valid, no scopes', token: () => issuer.mintM2MToken() },
  { name: 'm2m: valid, custom claims', token: () => issuer.mintM2MToken({ claims: { o: { rol: 'admin' }, tier: 'gold' } }) },
  { name: 'm2m: no cat header (rollout window)', token: () => issuer.mintM2MToken({ header: { cat: undefined } }) },
  { name: 'm2m: no typ header', token: () => issuer.mintM2MToken({ header: { typ: undefined } }) },
  { name: 'm2m: typ JWS', token: () => issuer.mintM2MToken({ header: { typ: 'JWS' } }) },
  { name: 'm2m: typ at+jwt with an mch_ subject', token: () => issuer.signJwt(m2mPayload(), { header: { typ: 'at+jwt' } }) },
  { name: 'm2m: session cat', token: () => issuer.mintM2MToken({ header: { cat: 'cl_B7d4PD111AAA' } }) },
  { name: 'm2m: JWT template cat', token: () => issuer.mintM2MToken({ header: { cat: 'cl_B7d4PD222AAA' } }) },
  { name: 'm2m: unknown cat', token: () => issuer.mintM2MToken({ header: { cat: 'cl_future' } }) },
  { name: 'm2m: expired', token: () => issuer.mintM2MToken({ expired: true }) },
  { name: 'm2m: expired 2 s ago (within the skew)', token: () => issuer.signJwt(m2mPayload({ exp: nowSeconds() - 2 }), { header: M2M_HEADER }) },
  { name: 'm2m: not yet valid', token: () => issuer.mintM2MToken({ notYetValid: true }) },
  { name: 'm2m: iat in the future', token: () => issuer.signJwt(m2mPayload({ iat: nowSeconds() + 120, nbf: undefined }), { header: M2M_HEADER }) },
  { name: 'm2m: foreign signature', token: () => issuer.mintM2MToken({ signWith: 'foreign' }) },
  { name: 'm2m: unknown kid', token: () => issuer.mintM2MToken({ header: { kid: 'ins_unknown' } }) },
  { name: 'm2m: no kid', token: () => issuer.mintM2MToken({ header: { kid: undefined } }) },
  { name: 'm2m: no sub', token: () => issuer.mintM2MToken({ claims: { sub: undefined } }) },
  { name: 'm2m: numeric sub', token: () => issuer.mintM2MToken({ claims: { sub: 42 } }) },
  { name: 'm2m: user_ sub with the M2M cat', token: () => issuer.mintM2MToken({ machineId: 'user_1' }) },
  { name: 'm2m: no exp', token: () => issuer.mintM2MToken({ claims: { exp: undefined } }) },
  { name: 'm2m: string exp', token: () => issuer.mintM2MToken({ claims: { exp: String(nowSeconds() + 300) } }) },
  { name: 'm2m: no jti', token: () => issuer.mintM2MToken({ claims: { jti: undefined } }) },
  { name: 'm2m: no iat', token: () => issuer.mintM2MToken({ claims: { iat: undefined } }) },
  { name: 'm2m: foreign iss', token: () => issuer.mintM2MToken({ claims: { iss: 'https://evil.clerk.accounts.dev' } }) },
  { name: 'm2m: no iss', token: () => issuer.mintM2MToken({ claims: { iss: undefined } }) },
  { name: 'm2m: scopes as an array', token: () => issuer.mintM2MToken({ claims: { scopes: ['mch_api'] } }) },
  { name: 'm2m: aud as a string', token: () => issuer.mintM2MToken({ claims: { aud: 'mch_api', scopes: undefined } }) },
  { name: 'm2m: audience option, aud matches', token: () => issuer.mintM2MToken({ scopes: [API] }), audience: API },
  { name: 'm2m: audience option, aud differs', token: () => issuer.mintM2MToken({ scopes: ['mch_api'] }), audience: API },
  { name: 'm2m: audience option, no aud', token: () => issuer.mintM2MToken(), audience: API },
  { name: 'm2m: alg none', token: async () => `${b64({ alg: 'none', typ: 'JWT', ...M2M_HEADER })}.${b64(m2mPayload())}.AAAA` },
  { name: 'm2m: alg none, empty signature', token: async () => `${b64({ alg: 'none', typ: 'JWT', ...M2M_HEADER })}.${b64(m2mPayload())}.` },
  { name: 'm2m: HS256 with the public key as secret', token: async () => hs256({ alg: 'HS256', typ: 'JWT', kid: issuer.kid, ...M2M_HEADER }, m2mPayload()) },
  { name: 'm2m: alg RS512 header on an RS256 signature', token: () => issuer.mintM2MToken({ header: { alg: 'RS512' } }) },
  { name: 'm2m: huge (20 KB of claims)', token: () => issuer.mintM2MToken({ claims: { padding: 'x'.repeat(20_000) } }) },
  { name: 'm2m: azp and sid of a session', token: () => issuer.mintM2MToken({ claims: { azp: 'https://evil.example', sid: 'sess_1' } }) },

  // --- OAuth access tokens ---
  { name: 'oauth: valid', token: () => issuer.mintOAuthToken() },
  { name: 'oauth: typ application/at+jwt', token: () => issuer.mintOAuthToken({ header: { typ: 'application/at+jwt' } }) },
  { name: 'oauth: typ AT+JWT (case)', token: () => issuer.mintOAuthToken({ header: { typ: 'AT+JWT' } }) },
  { name: 'oauth: typ JWT (a session-like token)', token: () => issuer.mintOAuthToken({ header: { typ: 'JWT' } }) },
  { name: 'oauth: with the M2M cat', token: () => issuer.mintOAuthToken({ header: { cat: 'cl_B7d4PD333AAA' } }) },
  { name: 'oauth: with the session cat', token: () => issuer.mintOAuthToken({ header: { cat: 'cl_B7d4PD111AAA' } }) },
  { name: 'oauth: valid, scp array', token: () => issuer.mintOAuthToken({ claims: { scope: undefined, scp: ['read', 'write'] } }) },
  { name: 'oauth: valid, custom claims', token: () => issuer.mintOAuthToken({ claims: { o: { rol: 'admin' } } }) },
  { name: 'oauth: expired', token: () => issuer.mintOAuthToken({ expired: true }) },
  { name: 'oauth: expired 2 s ago (within the skew)', token: () => issuer.signJwt(oauthPayload({ exp: nowSeconds() - 2 }), { header: OAUTH_HEADER }) },
  { name: 'oauth: not yet valid', token: () => issuer.mintOAuthToken({ notYetValid: true }) },
  { name: 'oauth: iat in the future', token: () => issuer.signJwt(oauthPayload({ iat: nowSeconds() + 120, nbf: undefined }), { header: OAUTH_HEADER }) },
  { name: 'oauth: foreign signature', token: () => issuer.mintOAuthToken({ signWith: 'foreign' }) },
  { name: 'oauth: unknown kid', token: () => issuer.mintOAuthToken({ header: { kid: 'ins_unknown' } }) },
  { name: 'oauth: no sub', token: () => issuer.mintOAuthToken({ claims: { sub: undefined } }) },
  { name: 'oauth: numeric sub', token: () => issuer.mintOAuthToken({ claims: { sub: 7 } }) },
  { name: 'oauth: mch_ sub', token: () => issuer.mintOAuthToken({ userId: 'mch_worker' }) },
  { name: 'oauth: no exp', token: () => issuer.mintOAuthToken({ claims: { exp: undefined } }) },
  { name: 'oauth: no client_id', token: () => issuer.mintOAuthToken({ claims: { client_id: undefined } }) },
  { name: 'oauth: no jti', token: () => issuer.mintOAuthToken({ claims: { jti: undefined } }) },
  { name: 'oauth: foreign iss', token: () => issuer.mintOAuthToken({ claims: { iss: 'https://evil.clerk.accounts.dev' } }) },
  { name: 'oauth: no iss', token: () => issuer.mintOAuthToken({ claims: { iss: undefined } }) },
  { name: 'oauth: azp and sid', token: () => issuer.mintOAuthToken({ claims: { azp: 'https://evil.example', sid: 'sess_1' } }) },
  { name: 'oauth: aud without an audience option', token: () => issuer.mintOAuthToken({ audience: 'https://other.example' }) },
  { name: 'oauth: audience option, aud string matches', token: () => issuer.mintOAuthToken({ audience: API }), audience: API },
  { name: 'oauth: audience option, aud array matches', token: () => issuer.mintOAuthToken({ audience: ['https://x.example', API] }), audience: API },
  { name: 'oauth: audience list option, one matches', token: () => issuer.mintOAuthToken({ audience: API }), audience: ['https://x.example', API] },
  { name: 'oauth: audience option, aud differs', token: () => issuer.mintOAuthToken({ audience: 'https://other.example' }), audience: API },
  { name: 'oauth: audience option, no aud', token: () => issuer.mintOAuthToken(), audience: API },
  { name: 'oauth: audience option, empty aud array', token: () => issuer.mintOAuthToken({ claims: { aud: [] } }), audience: API },
  { name: 'oauth: audience option, aud with an empty string', token: () => issuer.mintOAuthToken({ claims: { aud: [API, ''] } }), audience: API },
  { name: 'oauth: audience option, numeric aud', token: () => issuer.mintOAuthToken({ claims: { aud: 1 } }), audience: API },
  { name: 'oauth: alg none', token: async () => `${b64({ alg: 'none', ...OAUTH_HEADER })}.${b64(oauthPayload())}.AAAA` },
  { name: 'oauth: HS256 with the public key as secret', token: async () => hs256({ alg: 'HS256', kid: issuer.kid, ...OAUTH_HEADER }, oauthPayload()) },
  { name: 'oauth: huge (20 KB of claims)', token: () => issuer.mintOAuthToken({ claims: { padding: 'x'.repeat(20_000) } }) },

  // --- neither ---
  { name: 'session token', token: () => issuer.mintToken() },
  { name: 'JWT with a user_ sub and no typ', token: () => issuer.signJwt(oauthPayload(), { header: { typ: undefined } }) },
];

async function clerkOutcome(token: string, audience: string | string[] | undefined): Promise<Outcome> {
  try {
    const result = await verifyMachineAuthToken(token, {
      jwtKey: issuer.jwtKey,
      clockSkewInMs: SKEW,
      ...(audience === undefined ? {} : { audience }),
    } as Parameters<typeof verifyMachineAuthToken>[1]);
    if (result.errors || !result.data) return { accepted: false, reason: result.errors?.[0]?.message ?? 'no data' };
    const data = result.data as unknown as { subject: string; id: string; scopes: string[] | string };
    // Clerk's M2MToken.fromJwtPayload leaves a string `aud` as it is (scopes: 'mch_api'); ours makes it a list.
    return { accepted: true, tokenType: result.tokenType, subject: data.subject, id: data.id, scopes: [data.scopes].flat() };
  } catch (error) {
    return { accepted: false, reason: `threw: ${(error as Error).message}`, threw: true };
  }
}

const ours = new Map<string, ClerkAuth>();
function ourAuth(audience: string | string[] | undefined): ClerkAuth {
  const key = JSON.stringify(audience ?? null);
  let auth = ours.get(key);
  if (!auth) {
    auth = createClerkAuth({
      ...issuer.authOptions,
      env: {},
      logger: false,
      clockSkewInMs: SKEW,
      acceptsToken: ['m2m_token', 'oauth_token'],
      ...(audience === undefined ? {} : { audience }),
    });
    ours.set(key, auth);
  }
  return auth;
}

async function ourOutcome(token: string, audience: string | string[] | undefined): Promise<Outcome> {
  try {
    const state: RequestState = await ourAuth(audience).authenticate({ authorization: [`Bearer ${token}`], cookie: undefined });
    if (state.status !== 'signed-in') return { accepted: false, reason: state.reason };
    const data = state.verified.machine?.data;
    return {
      accepted: true,
      tokenType: state.tokenType,
      subject: String(data?.subject ?? state.claims.sub),
      id: String(data?.id ?? ''),
      scopes: data?.scopes ?? [],
    };
  } catch (error) {
    return { accepted: false, reason: (error as { code?: string }).code ?? (error as Error).message };
  }
}

describe('JWT-format machine tokens: ours against @clerk/backend verifyMachineAuthToken', () => {
  const results: Array<{ name: string; clerk: Outcome; ours: Outcome }> = [];

  beforeAll(async () => {
    for (const entry of corpus) {
      const token = await entry.token();
      results.push({ name: entry.name, clerk: await clerkOutcome(token, entry.audience), ours: await ourOutcome(token, entry.audience) });
    }
  });

  it('the corpus exercises both outcomes on both sides', () => {
    expect(results).toHaveLength(corpus.length);
    expect(results.filter((r) => r.clerk.accepted).length).toBeGreaterThan(10);
    expect(results.filter((r) => !r.clerk.accepted).length).toBeGreaterThan(20);
    expect(results.filter((r) => r.ours.accepted).length).toBeGreaterThan(10);
  });

  it('we are never looser: a token we accept, Clerk accepts', () => {
    const looser = results
      .filter((r) => r.ours.accepted && !r.clerk.accepted)
      .map((r) => `${r.name} (ours: ${(r.ours as { tokenType: string }).tokenType}; Clerk: ${(r.clerk as { reason: string }).reason})`);
    expect(looser).toEqual([]);
  });

  it('a token both accept is the same type, subject, id and scopes for both', () => {
    for (const { name, clerk, ours: our } of results) {
      if (our.accepted && clerk.accepted) expect({ name, ...our }).toEqual({ name, ...clerk });
    }
  });

  it('where we are stricter than Clerk, case by case', () => {
    const stricter = results.filter((r) => !r.ours.accepted && r.clerk.accepted).map((r) => `${r.name}: ${(r.ours as { reason: string }).reason}`);
    // Each one is deliberate (see the spec): the issuer is checked when present (M2M) or always (OAuth); key ids are
    // matched against the JWKS (Clerk, given a PEM, ignores them, and needs none); tokens over 8 KiB are refused; a
    // configured audience is required of M2M tokens as of sessions (Clerk skips the check for a token without `aud`).
    expect(stricter.sort()).toEqual(
      [
        'm2m: audience option, no aud: token-invalid-audience',
        'm2m: foreign iss: token-invalid-issuer',
        'm2m: huge (20 KB of claims): token-invalid',
        'm2m: no kid: token-invalid',
        'm2m: unknown kid: jwk-kid-mismatch',
        'oauth: foreign iss: token-invalid-issuer',
        'oauth: huge (20 KB of claims): token-invalid',
        'oauth: no iss: token-invalid-issuer',
        'oauth: unknown kid: jwk-kid-mismatch',
      ].sort(),
    );
  });

  it('where Clerk throws instead of answering, we refuse', () => {
    for (const { name, clerk, ours: our } of results.filter((r) => !r.clerk.accepted && (r.clerk as { threw?: boolean }).threw)) {
      expect({ name, accepted: our.accepted }).toEqual({ name, accepted: false });
    }
  });
});
