/**
 * `clerk-mastra-auth/testing`: a local, offline stand-in for Clerk in tests.
 *
 * {@link createTestIssuer} generates an RSA key pair (or uses the one it is given), serves its JWKS over HTTP
 * on 127.0.0.1 and signs Clerk-shaped session tokens (v2 by default, v1 on request), so a test suite can
 * exercise real signature checks, real JWKS fetches and JWKS outages without a Clerk account or network access.
 *
 * Machine tokens too: it signs M2M tokens and OAuth access tokens in Clerk's JWT formats, and its fake Backend API
 * (`apiUrl`) verifies opaque M2M tokens, OAuth access tokens and API keys the way Clerk's does, serves users, counts
 * its calls and fails on request (down, 5xx, 429, slow, garbage) for outage tests.
 *
 * Never use this module in production: {@link createTestIssuer} refuses to run when
 * `NODE_ENV === 'production'`.
 *
 * @packageDocumentation
 */
import { randomBytes, webcrypto } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, importJWK } from 'jose';
import type { JWK } from 'jose';
import { createBackendApi } from './backend-api.js';
import type * as BackendApi from './backend-api.js';

export type {
  ApiKeyOptions,
  BackendApiFailureMode,
  InactiveTokenAnswer,
  OpaqueM2MTokenOptions,
  OpaqueOAuthTokenOptions,
  TestUser,
} from './backend-api.js';
export {
  createTestOAuthServer,
  type OAuthCounts,
  type OAuthTestUser,
  type TestOAuthServer,
  type TestOAuthServerOptions,
} from './oauth-server.js';

/**
 * A key pair to sign with instead of a freshly generated one (see {@link TestIssuerOptions.key}), e.g. one kept
 * in a file so that tokens survive restarts.
 */
export interface TestIssuerKey {
  /**
   * The RSA private key as a JWK: `kty: 'RSA'` with `n`, `e`, `d` (and normally `p`, `q`, `dp`, `dq`, `qi`), e.g.
   * `await exportJWK(privateKey)` of an extractable `generateKeyPair('RS256')`. Its `alg`, when present, must be
   * `'RS256'`; `use`, `key_ops` and `ext` are ignored. The public key is derived from `n` and `e`.
   */
  privateJwk: JWK;
  /** Key id of this key: the `kid` of its JWKS entry and of the tokens signed with it. A non-empty string. */
  kid: string;
}

/** Options of {@link createTestIssuer}. */
export interface TestIssuerOptions {
  /**
   * Frontend API host of the fake Clerk instance (no scheme, no path), e.g. `'my-app.clerk.accounts.dev'`.
   * Used for `iss` (`https://<frontendApi>`) and the publishable key.
   * Default: `'test-<8 random hex>.clerk.accounts.dev'`, different on every call.
   */
  frontendApi?: string | undefined;
  /** Origin put in the `azp` claim of minted tokens and in `authOptions.authorizedParties`. Default `'http://localhost:3000'`. */
  authorizedParty?: string | undefined;
  /** Instance type: selects the `pk_test_` / `pk_live_` (and `sk_test_` / `sk_live_`) key prefixes. Default `'test'`. */
  instance?: 'test' | 'live' | undefined;
  /** Clock in milliseconds since the epoch, used for the default `iat` / `nbf` / `exp` of minted tokens. Default `Date.now`. */
  clock?: (() => number) | undefined;
  /**
   * Sign with this key pair instead of generating one: two issuers given the same key (and `frontendApi`) mint
   * tokens that verify against each other's JWKS. {@link TestIssuer.rotateKey} still replaces it with a fresh key.
   * Throws a `TypeError` when `privateJwk` is not a usable RSA private JWK (a public key, another key type, an `alg`
   * other than RS256, numbers that do not make one key pair) or `kid` is not a non-empty string.
   * Default: a fresh RSA-2048 key pair with a random `kid`.
   */
  key?: TestIssuerKey | undefined;
}

/** An organization membership to encode in a minted token. */
export interface TestOrg {
  /** Organization id (`org_...`). */
  id: string;
  /** Organization slug. Omitted from the token when not given. */
  slug?: string | undefined;
  /** Role in Clerk's user-facing form, e.g. `'org:admin'` (v2 tokens store it without the `org:` prefix). */
  role: string;
  /**
   * Permissions in Clerk's user-facing form `org:<feature>:<permission>`, e.g. `['org:posts:read']`.
   * For v2 tokens they are encoded into `o.per`, `o.fpm` and the `fea` claim.
   */
  permissions?: string[] | undefined;
}

/** Options of {@link TestIssuer.mintToken}. */
export interface MintOptions {
  /** Value of `sub`. Default `'user_test'`. A `sub` given in the claims wins. */
  userId?: string | undefined;
  /** Token lifetime: `exp - iat`. Default 60 (Clerk's session-token lifetime). */
  expiresInSeconds?: number | undefined;
  /** Mint an expired token: `exp` 120 s in the past, `iat` / `nbf` before it. */
  expired?: boolean | undefined;
  /** Mint a token that is not valid yet: `nbf` and `iat` 120 s in the future. */
  notYetValid?: boolean | undefined;
  /** Mint a pending session (`sts: 'pending'`), which Clerk treats as signed out by default. */
  pending?: boolean | undefined;
  /** Session-token version. 2 (default) adds `v: 2`, `sts`, `fva` and encodes the org in `o`; 1 uses `org_*` claims. */
  version?: 1 | 2 | undefined;
  /** Active organization of the session. */
  org?: TestOrg | undefined;
  /** `kid` header value. Default: the issuer's current key id. */
  kid?: string | undefined;
  /**
   * Extra or overriding protected-header fields, e.g. `{ alg: 'HS256' }` or `{ kid: undefined }`.
   * A field set to `undefined` is removed. The signature is always RS256 whatever `alg` says.
   */
  header?: Record<string, unknown> | undefined;
  /** Clock override for this token, in milliseconds since the epoch. */
  now?: number | undefined;
  /**
   * Signing key. `'current'` (default): the key served in the JWKS. `'foreign'`: another RSA key, never
   * published, with the same `kid`: a forged token that must fail verification.
   */
  signWith?: 'current' | 'foreign' | undefined;
}

/** Options of {@link TestIssuer.signJwt}. */
export interface SignJwtOptions {
  /**
   * Protected-header fields merged over `{ alg: 'RS256', kid: <current kid>, typ: 'JWT' }`, e.g. `{ typ: 'at+jwt' }`
   * or `{ kid: undefined }`. A field set to `undefined` is removed. The signature is always RS256 whatever `alg` says.
   */
  header?: Record<string, unknown> | undefined;
  /** Signing key: `'current'` (default), or `'foreign'`, an unpublished key (see {@link MintOptions.signWith}). */
  signWith?: 'current' | 'foreign' | undefined;
}

/** Header category (`cat`) of Clerk's M2M JWTs (`@clerk/backend`'s `JWT_CATEGORY_M2M_TOKEN`). */
const M2M_JWT_CATEGORY = 'cl_B7d4PD333AAA';

/** Options shared by {@link TestIssuer.mintM2MToken} and {@link TestIssuer.mintOAuthToken}. */
export interface MintMachineTokenOptions {
  /** Token lifetime: `exp - iat`. Default 3600. */
  expiresInSeconds?: number | undefined;
  /** Mint an expired token: `exp` 120 s in the past, `iat` / `nbf` before it. */
  expired?: boolean | undefined;
  /** Mint a token that is not valid yet: `nbf` and `iat` 120 s in the future. */
  notYetValid?: boolean | undefined;
  /** Clock override for this token, in milliseconds since the epoch. */
  now?: number | undefined;
  /** `jti`: the token's id. Default `mt_` / `oat_` + 32 random hex digits (the shape of Clerk's ids). */
  jti?: string | undefined;
  /**
   * Extra or overriding claims, merged over the defaults; a claim set to `undefined` is removed (e.g.
   * `{ exp: undefined }`, `{ sub: undefined }`). For an M2M token, Clerk's custom claims go here (e.g. `{ o: { rol:
   * 'admin' } }`: `@clerk/backend` reports every claim but `iss`, `sub`, `exp`, `nbf`, `iat`, `jti` as `claims`).
   */
  claims?: Record<string, unknown> | undefined;
  /** Extra or overriding header fields, merged over the defaults; a field set to `undefined` is removed. */
  header?: Record<string, unknown> | undefined;
  /** Signing key: `'current'` (default), or `'foreign'`, an unpublished key with the same `kid`. */
  signWith?: 'current' | 'foreign' | undefined;
}

/** Options of {@link TestIssuer.mintM2MToken}. */
export interface MintM2MTokenOptions extends MintMachineTokenOptions {
  /** The machine the token authenticates: `sub`, `mch_...`. Default `'mch_test'`. */
  machineId?: string | undefined;
  /**
   * The machines it may call (Clerk's M2M scopes are machine ids): `aud` (the list) and `scopes` (space-separated),
   * as Clerk issues them. Both are left out when the list is empty. Default `[]`.
   */
  scopes?: string[] | undefined;
}

/** Options of {@link TestIssuer.mintOAuthToken}. */
export interface MintOAuthTokenOptions extends MintMachineTokenOptions {
  /** The user who granted the token: `sub`. Default `'user_test'`. */
  userId?: string | undefined;
  /** `client_id` of the OAuth application. Default `'client_test'`. */
  clientId?: string | undefined;
  /** Granted scopes: `scope`, space-separated (RFC 9068 §2.2.3). Default `['profile', 'email']`. */
  scopes?: string[] | undefined;
  /** `aud`: one audience (a string claim) or several (an array claim). Default: no `aud`. */
  audience?: string | string[] | undefined;
}

/** How the JWKS endpoint misbehaves; `null` serves the key set normally. */
export type JwksFailureMode = 'down' | 'garbage' | 'not-json' | 'slow' | 'reset' | 'huge' | null;

/** The options our Clerk verifier needs to trust the test issuer (structurally compatible with `ClerkAuthOptions`). */
export interface TestIssuerAuthOptions {
  /** The test issuer's publishable key. */
  publishableKey: string;
  /** URL of the test issuer's JWKS. */
  jwksUri: string;
  /** Expected `iss`. */
  issuer: string;
  /** Accepted `azp` values: the test issuer's authorized party. */
  authorizedParties: string[];
}

/** A running local Clerk stand-in. Call {@link TestIssuer.close} when done (e.g. in `afterAll`). */
export interface TestIssuer {
  /** JWKS URL: `http://127.0.0.1:<port>/.well-known/jwks.json`. */
  readonly jwksUri: string;
  /**
   * Base URL of the fake Backend API, `http://127.0.0.1:<port>` (`@clerk/backend`'s `apiUrl` option, `CLERK_API_URL`).
   * Behind `Authorization: Bearer <secretKey>`, it serves `GET /v1/jwks` (the same key set), `GET /v1/users/:id`
   * ({@link TestIssuer.addUser}), and the machine verify endpoints `POST /m2m_tokens/verify`,
   * `POST /oauth_applications/access_tokens/verify` and `POST /api_keys/verify` (with or without `/v1`), for the
   * tokens of {@link TestIssuer.createOpaqueM2MToken}, {@link TestIssuer.createOpaqueOAuthToken} and
   * {@link TestIssuer.createApiKey}.
   */
  readonly apiUrl: string;
  /** Frontend API host, e.g. `test-1a2b3c4d.clerk.accounts.dev`. */
  readonly frontendApi: string;
  /** Issuer (`iss`) of minted tokens: `https://<frontendApi>`. */
  readonly issuer: string;
  /** Publishable key: `pk_test_` (or `pk_live_`) + standard base64 of `<frontendApi>$`. */
  readonly publishableKey: string;
  /**
   * Secret key (`sk_test_<random>` or `sk_live_<random>`) that the fake Backend API (`/v1/jwks`, users, machine verify
   * endpoints) requires as a Bearer token: give it with {@link TestIssuer.apiUrl} as `secretKey` / `apiUrl`.
   */
  readonly secretKey: string;
  /** `azp` of minted tokens. */
  readonly authorizedParty: string;
  /** Key id of the current signing key. Changes on {@link TestIssuer.rotateKey}. */
  readonly kid: string;
  /** Current public key as an SPKI PEM string (what Clerk calls the JWT key, `CLERK_JWT_KEY`). */
  readonly jwtKey: string;
  /** Current private key, for tests that sign unusual tokens themselves. */
  readonly privateKey: CryptoKey;
  /** Current public key as a JWK with `kid`, `alg: 'RS256'` and `use: 'sig'`. */
  readonly publicJwk: JWK;
  /** Options for our verifier: `{ publishableKey, jwksUri, issuer, authorizedParties: [authorizedParty] }` (a fresh object per read). */
  readonly authOptions: TestIssuerAuthOptions;
  /** Number of HTTP requests received on the JWKS paths (in any failure mode) since start or the last reset. */
  readonly jwksFetchCount: number;
  /**
   * Signs a Clerk session token (v2 by default). `claims` are merged over the defaults; a claim set to
   * `undefined` is removed from the payload.
   */
  mintToken(claims?: Record<string, unknown>, options?: MintOptions): Promise<string>;
  /**
   * Signs `payload` as it is (no default claims; a claim set to `undefined` is removed) with RS256 and the current key
   * (or a foreign one), header `{ alg: 'RS256', kid, typ: 'JWT' }` merged with `options.header`: for tokens of any
   * shape, e.g. a differential corpus.
   */
  signJwt(payload: Record<string, unknown>, options?: SignJwtOptions): Promise<string>;
  /**
   * Signs an M2M token in the JWT format Clerk issues (`m2m.createToken({ tokenFormat: 'jwt' })`): header
   * `{ alg: 'RS256', kid, typ: 'JWT', cat: 'cl_B7d4PD333AAA' }`, claims `{ iss, sub: 'mch_...', aud: [machine ids],
   * scopes: 'mch_a mch_b', iat, nbf: iat - 10, exp, jti: 'mt_...' }` plus `options.claims`. Source: clerk/javascript
   * `packages/backend/src/fixtures/index.ts` (`mockM2MJwtPayload`) and `tokens/__tests__/verify.test.ts`
   * (`createSignedM2MJwt`); `@clerk/backend`'s `verifyMachineAuthToken` accepts it with `jwtKey: issuer.jwtKey`.
   */
  mintM2MToken(options?: MintM2MTokenOptions): Promise<string>;
  /**
   * Signs an OAuth access token in the JWT format of Clerk's OAuth server (RFC 9068): header
   * `{ alg: 'RS256', kid, typ: 'at+jwt' }`, claims `{ iss: 'https://<frontendApi>', sub: 'user_...', client_id,
   * scope: 'a b', iat, nbf: iat - 10, exp, jti: 'oat_...' }`, plus `aud` when `audience` is given, plus
   * `options.claims`. Source: clerk/javascript `packages/backend/src/fixtures` (`mockOAuthAccessTokenJwtPayload`,
   * `mockSignedOAuthAccessTokenJwt`); `verifyMachineAuthToken` accepts it with `jwtKey: issuer.jwtKey`.
   */
  mintOAuthToken(options?: MintOAuthTokenOptions): Promise<string>;
  /**
   * Replaces the signing key with a new key pair and kid. The JWKS then serves the new key, plus the previous
   * one when `keepPrevious` is true. Returns the new kid.
   */
  rotateKey(options?: { keepPrevious?: boolean }): Promise<string>;
  /**
   * Makes the JWKS endpoints misbehave: `'down'` 503; `'garbage'` 200 with JSON that is not a key set;
   * `'not-json'` 200 `text/plain` non-JSON; `'slow'` never answers (until the mode changes or close);
   * `'reset'` destroys the socket; `'huge'` 200 with a key set padded over 1 MiB; `null` normal.
   */
  setJwksFailure(mode: JwksFailureMode): void;
  /** Sets {@link TestIssuer.jwksFetchCount} back to 0. */
  resetJwksFetchCount(): void;
  /**
   * Secret key of a machine (`ak_<random>`), accepted by the fake Backend API's `POST /m2m_tokens/verify` next to
   * {@link TestIssuer.secretKey} (what `@clerk/backend` sends when given `machineSecretKey`).
   */
  readonly machineSecretKey: string;
  /**
   * Adds (or replaces) a user served by the fake Backend API's `GET /v1/users/:id` (behind the secret key) as Clerk's
   * `UserJSON`, which `createClerkClient({ secretKey, apiUrl }).users.getUser(id)` reads. Unknown ids get a 404 with
   * Clerk's error JSON (`resource_not_found`). Returns a copy of the JSON served.
   */
  addUser(user: BackendApi.TestUser): Record<string, unknown>;
  /**
   * Number of requests the fake Backend API received (any method, answered or not, in any failure mode) since start or
   * {@link TestIssuer.resetBackendApiCalls}. Without `path`: all of them, `/v1/jwks` included. With `path`: those to
   * that path or under it, with or without the `/v1` prefix (`@clerk/backend` calls the machine verify endpoints
   * without it): `backendApiCalls('/v1/m2m_tokens/verify')` equals `backendApiCalls('/m2m_tokens/verify')`, and
   * `backendApiCalls('/v1/users')` counts every `GET /v1/users/:id`.
   */
  backendApiCalls(path?: string): number;
  /** Sets every {@link TestIssuer.backendApiCalls} count back to 0. */
  resetBackendApiCalls(): void;
  /**
   * Creates an opaque M2M token (`mt_<random>`) that the fake Backend API's `POST /m2m_tokens/verify` (`{ token }`,
   * behind {@link TestIssuer.machineSecretKey} or {@link TestIssuer.secretKey}) answers with Clerk's `M2MTokenJSON`
   * (`object: 'machine_to_machine_token'`, `id: 'mt_<32 hex>'`, `subject`, `scopes`, `claims`, `revoked`, `expired`,
   * `expiration` in ms, ...). Expiry is judged by the issuer's clock at each verify call.
   */
  createOpaqueM2MToken(options?: BackendApi.OpaqueM2MTokenOptions): string;
  /**
   * Creates an opaque OAuth access token (`oat_<random>`) that `POST /oauth_applications/access_tokens/verify`
   * (`{ access_token }`, behind the secret key) answers with Clerk's `IdPOAuthAccessTokenJSON`
   * (`object: 'clerk_idp_oauth_access_token'`, `type: 'oauth:access_token'`, `client_id`, `subject`, `scopes`, `aud`).
   */
  createOpaqueOAuthToken(options?: BackendApi.OpaqueOAuthTokenOptions): string;
  /**
   * Creates an API key (`ak_<random>`) that `POST /api_keys/verify` (`{ secret }`, behind the secret key) answers with
   * Clerk's `APIKeyJSON` (`object: 'api_key'`, `type: 'api_key'`, `name`, `subject`, `scopes`, `claims`, ...).
   */
  createApiKey(options?: BackendApi.ApiKeyOptions): string;
  /**
   * Revokes a token made by {@link TestIssuer.createOpaqueM2MToken}, {@link TestIssuer.createOpaqueOAuthToken} or
   * {@link TestIssuer.createApiKey}: its verify endpoint then answers as {@link TestIssuer.setInactiveTokenAnswer}
   * says (404 by default, as Clerk's Backend API). Throws a `TypeError` for a token this issuer did not create.
   */
  revokeToken(token: string, options?: { reason?: string | null }): void;
  /**
   * The JSON the verify endpoint holds for a token made by the creation helpers (whatever its state), or `undefined`:
   * e.g. its `id`, which Clerk's machine auth object reports as `id`.
   */
  describeToken(token: string): Record<string, unknown> | undefined;
  /** How the verify endpoints answer a revoked or expired token (see {@link BackendApi.InactiveTokenAnswer}). Default `'not-found'`. */
  setInactiveTokenAnswer(answer: BackendApi.InactiveTokenAnswer): void;
  /**
   * Makes the fake Backend API (users and machine verify endpoints; `/v1/jwks` follows {@link TestIssuer.setJwksFailure})
   * misbehave: see {@link BackendApi.BackendApiFailureMode}. Requests held by `'slow'` get the next mode's answer.
   */
  setBackendApiFailure(mode: BackendApi.BackendApiFailureMode): void;
  /** Stops the HTTP server and closes every connection, stalled ones included. Idempotent. */
  close(): Promise<void>;
}

interface KeyMaterial {
  kid: string;
  privateKey: CryptoKey;
  jwtKey: string;
  publicJwk: JWK;
}

const JWKS_PATH = '/.well-known/jwks.json';
const BAPI_JWKS_PATH = '/v1/jwks';
/** Size of the padding in 'huge' mode: the body ends up over 1 MiB. */
const HUGE_PADDING = 1024 * 1024 + 4096;

const randomHex = (bytes: number): string => randomBytes(bytes).toString('hex');

async function keyMaterialOf(kid: string, publicKey: CryptoKey, privateKey: CryptoKey): Promise<KeyMaterial> {
  const jwk = await exportJWK(publicKey);
  const publicJwk: JWK = { kid, kty: jwk.kty, alg: 'RS256', use: 'sig', n: jwk.n, e: jwk.e };
  return { kid, privateKey, jwtKey: await exportSPKI(publicKey), publicJwk };
}

async function newKeyMaterial(kid: string): Promise<KeyMaterial> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  return keyMaterialOf(kid, publicKey, privateKey);
}

/** Validates and imports {@link TestIssuerOptions.key}. */
async function givenKeyMaterial(key: TestIssuerKey): Promise<KeyMaterial> {
  const invalid = (problem: string, cause?: unknown): TypeError =>
    new TypeError(`createTestIssuer: invalid \`key\`: ${problem}.`, cause === undefined ? undefined : { cause });
  if (typeof key !== 'object' || key === null) throw invalid('expected { privateJwk, kid }');
  if (typeof key.kid !== 'string' || key.kid === '') throw invalid('`kid` must be a non-empty string');
  const jwk = key.privateJwk as JWK | null | undefined;
  if (typeof jwk !== 'object' || jwk === null || jwk.kty !== 'RSA') throw invalid('`privateJwk` must be an RSA JWK (kty "RSA")');
  if (typeof jwk.d !== 'string' || typeof jwk.n !== 'string' || typeof jwk.e !== 'string') {
    throw invalid('`privateJwk` must be an RSA private key (with `n`, `e` and `d`), not a public one');
  }
  if (jwk.alg !== undefined && jwk.alg !== 'RS256') throw invalid(`\`privateJwk\` is for ${jwk.alg}, not RS256`);
  const { kty, n, e, d, p, q, dp, dq, qi } = jwk;
  try {
    const privateKey = await importJWK({ kty, n, e, d, p, q, dp, dq, qi }, 'RS256', { extractable: true });
    const publicKey = await importJWK({ kty, n, e }, 'RS256', { extractable: true });
    // WebCrypto imports inconsistent numbers without a word: a signature that does not verify reveals them.
    const probe = new TextEncoder().encode('createTestIssuer');
    const signature = await webcrypto.subtle.sign({ name: 'RSASSA-PKCS1-v1_5' }, privateKey as CryptoKey, probe);
    if (!(await webcrypto.subtle.verify({ name: 'RSASSA-PKCS1-v1_5' }, publicKey as CryptoKey, signature, probe))) {
      throw new Error('its signatures do not verify with its public part (n, e)');
    }
    return await keyMaterialOf(key.kid, publicKey as CryptoKey, privateKey as CryptoKey);
  } catch (error) {
    throw invalid('`privateJwk` is not a usable RS256 private key', error);
  }
}

const newKid = (): string => `ins_test_${randomHex(12)}`;

function base64url(data: Uint8Array | string): string {
  return Buffer.from(data).toString('base64url');
}

function withoutUndefined(record: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) {
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/**
 * Encodes an organization the way Clerk's v2 session tokens do (decoded by `@clerk/shared`'s
 * `__experimental_JWTPayloadToAuthObjectProperties`):
 * - `o.rol`: the role without its `org:` prefix;
 * - `o.per`: comma-separated permission names (the last segment of `org:<feature>:<permission>`);
 * - `fea`: comma-separated org features, `o:<feature>`;
 * - `o.fpm`: one decimal bitmask per org feature (in `fea` order); bit `j` set means the feature has
 *   permission `per[j]`.
 */
function encodeOrgV2(org: TestOrg): { o: Record<string, unknown>; fea?: string } {
  const features: string[] = [];
  const names: string[] = [];
  const pairs: Array<[number, number]> = [];
  for (const permission of org.permissions ?? []) {
    const parts = (permission.startsWith('org:') ? permission.slice(4) : permission).split(':');
    const [feature, name] = parts;
    if (parts.length !== 2 || !feature || !name) {
      throw new TypeError(`Invalid organization permission "${permission}": expected "org:<feature>:<permission>".`);
    }
    let featureIndex = features.indexOf(feature);
    if (featureIndex === -1) featureIndex = features.push(feature) - 1;
    let nameIndex = names.indexOf(name);
    if (nameIndex === -1) nameIndex = names.push(name) - 1;
    pairs.push([featureIndex, nameIndex]);
  }
  const masks = features.map(() => 0n);
  for (const [featureIndex, nameIndex] of pairs) {
    masks[featureIndex] = (masks[featureIndex] ?? 0n) | (1n << BigInt(nameIndex));
  }
  const o: Record<string, unknown> = {
    id: org.id,
    rol: org.role.startsWith('org:') ? org.role.slice(4) : org.role,
  };
  if (org.slug !== undefined) o.slg = org.slug;
  if (names.length > 0) {
    o.per = names.join(',');
    o.fpm = masks.map(String).join(',');
    return { o, fea: features.map((feature) => `o:${feature}`).join(',') };
  }
  return { o };
}

function validateFrontendApi(host: string): void {
  if (!host.includes('.') || /[$/\s:]/.test(host)) {
    throw new TypeError(
      `Invalid frontendApi "${host}": expected a host name such as "my-app.clerk.accounts.dev" (no scheme, no path).`,
    );
  }
}

/**
 * Starts a local Clerk stand-in: a fresh RSA-2048 key pair (or {@link TestIssuerOptions.key}), its JWKS served
 * on an ephemeral port of 127.0.0.1, and a token minter. Throws when `NODE_ENV` is `'production'`.
 *
 * @example
 * ```ts
 * const clerk = await createTestIssuer();
 * const token = await clerk.mintToken({}, { userId: 'user_1' });
 * // ... use clerk.authOptions with the middleware, send `Authorization: Bearer ${token}`
 * await clerk.close();
 * ```
 */
export async function createTestIssuer(options: TestIssuerOptions = {}): Promise<TestIssuer> {
  if (process.env.NODE_ENV === 'production') {
    throw new Error(
      'clerk-mastra-auth/testing: the testing kit must never run in production (NODE_ENV is "production"). ' +
        'It signs tokens with keys it generates itself.',
    );
  }

  const frontendApi = options.frontendApi ?? `test-${randomHex(4)}.clerk.accounts.dev`;
  validateFrontendApi(frontendApi);
  const instance = options.instance ?? 'test';
  const authorizedParty = options.authorizedParty ?? 'http://localhost:3000';
  const clock = options.clock ?? Date.now;
  const issuer = `https://${frontendApi}`;
  const publishableKey = `pk_${instance}_${Buffer.from(`${frontendApi}$`, 'utf8').toString('base64')}`;
  const secretKey = `sk_${instance}_${randomHex(20)}`;
  const machineSecretKey = `ak_${randomHex(24)}`;
  const backendApi = createBackendApi({ secretKey, machineSecretKey, clock });

  let current = options.key === undefined ? await newKeyMaterial(newKid()) : await givenKeyMaterial(options.key);
  let previous: KeyMaterial | undefined;
  let foreignKey: Promise<CryptoKey> | undefined;
  let failure: JwksFailureMode = null;
  let fetchCount = 0;
  let closing: Promise<void> | undefined;
  const held = new Set<{ req: IncomingMessage; res: ServerResponse }>();

  const keySet = (): { keys: JWK[] } => ({
    keys: previous ? [current.publicJwk, previous.publicJwk] : [current.publicJwk],
  });

  const send = (res: ServerResponse, status: number, contentType: string, body: string): void => {
    res.writeHead(status, {
      'content-type': contentType,
      'cache-control': 'no-store',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  };

  const sendJson = (res: ServerResponse, status: number, value: unknown): void =>
    send(res, status, 'application/json', JSON.stringify(value));

  /** Answers a JWKS request according to the current failure mode (and, for /v1/jwks, the secret key). */
  const answerJwks = (req: IncomingMessage, res: ServerResponse, path: string): void => {
    switch (failure) {
      case 'down':
        sendJson(res, 503, { errors: [{ message: 'Service unavailable', code: 'service_unavailable' }] });
        return;
      case 'garbage':
        sendJson(res, 200, { hello: 'world' });
        return;
      case 'not-json':
        send(res, 200, 'text/plain; charset=utf-8', 'this is not JSON <html>');
        return;
      case 'slow': {
        const entry = { req, res };
        held.add(entry);
        res.on('close', () => held.delete(entry));
        return;
      }
      case 'reset':
        req.socket.destroy();
        return;
      case 'huge':
        sendJson(res, 200, { ...keySet(), padding: 'x'.repeat(HUGE_PADDING) });
        return;
      case null:
        break;
    }
    if (path === BAPI_JWKS_PATH) {
      const authorization = req.headers.authorization;
      if (authorization === undefined) {
        sendJson(res, 401, {
          errors: [
            {
              message: 'Unauthorized',
              long_message: 'The Authorization header is missing.',
              code: 'authorization_header_missing',
            },
          ],
        });
        return;
      }
      if (authorization !== `Bearer ${secretKey}`) {
        sendJson(res, 401, {
          errors: [
            { message: 'Unauthorized', long_message: 'The provided Clerk Secret Key is invalid.', code: 'clerk_key_invalid' },
          ],
        });
        return;
      }
    }
    sendJson(res, 200, keySet());
  };

  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (path !== JWKS_PATH && path !== BAPI_JWKS_PATH) {
      if (!backendApi.handle(req, res, path)) {
        sendJson(res, 404, { errors: [{ message: 'Not found', code: 'resource_not_found' }] });
      }
      return;
    }
    if (path === BAPI_JWKS_PATH) backendApi.count(path);
    fetchCount += 1;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      sendJson(res, 405, { errors: [{ message: 'Method not allowed', code: 'method_not_allowed' }] });
      return;
    }
    answerJwks(req, res, path);
  });
  server.on('clientError', (_error, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const apiUrl = `http://127.0.0.1:${port}`;
  const jwksUri = `${apiUrl}${JWKS_PATH}`;

  const signingKey = async (which: 'current' | 'foreign'): Promise<CryptoKey> => {
    if (which === 'current') return current.privateKey;
    foreignKey ??= generateKeyPair('RS256', { extractable: true }).then((pair) => pair.privateKey);
    return foreignKey;
  };

  const signJwt = async (payload: Record<string, unknown>, sign: SignJwtOptions = {}): Promise<string> => {
    const header = withoutUndefined({ alg: 'RS256', kid: current.kid, typ: 'JWT', ...sign.header });
    const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(withoutUndefined(payload)))}`;
    const key = await signingKey(sign.signWith ?? 'current');
    const signature = await webcrypto.subtle.sign(
      { name: 'RSASSA-PKCS1-v1_5' },
      key,
      new TextEncoder().encode(signingInput),
    );
    return `${signingInput}.${base64url(new Uint8Array(signature))}`;
  };

  /** `iat` / `nbf` / `exp` of a machine token, as {@link mintToken} computes them for sessions. */
  const machineTimes = (mint: MintMachineTokenOptions, caller: string): { iat: number; nbf: number; exp: number } => {
    if (mint.expired && mint.notYetValid) {
      throw new TypeError(`${caller}: \`expired\` and \`notYetValid\` cannot both be set.`);
    }
    const lifetime = mint.expiresInSeconds ?? 3600;
    const nowSeconds = Math.floor((mint.now ?? clock()) / 1000);
    if (mint.expired) {
      const exp = nowSeconds - 120;
      return { exp, iat: exp - lifetime, nbf: exp - lifetime - 10 };
    }
    if (mint.notYetValid) {
      const iat = nowSeconds + 120;
      return { iat, nbf: iat, exp: iat + lifetime };
    }
    return { iat: nowSeconds, nbf: nowSeconds - 10, exp: nowSeconds + lifetime };
  };

  const mintM2MToken = async (mint: MintM2MTokenOptions = {}): Promise<string> => {
    const scopes = [...(mint.scopes ?? [])];
    const defaults: Record<string, unknown> = {
      iss: issuer,
      sub: mint.machineId ?? 'mch_test',
      ...machineTimes(mint, 'mintM2MToken'),
      jti: mint.jti ?? `mt_${randomHex(16)}`,
    };
    if (scopes.length > 0) {
      defaults.aud = scopes;
      defaults.scopes = scopes.join(' ');
    }
    return signJwt(
      { ...defaults, ...mint.claims },
      { header: { cat: M2M_JWT_CATEGORY, ...mint.header }, signWith: mint.signWith },
    );
  };

  const mintOAuthToken = async (mint: MintOAuthTokenOptions = {}): Promise<string> => {
    const defaults: Record<string, unknown> = {
      iss: issuer,
      sub: mint.userId ?? 'user_test',
      client_id: mint.clientId ?? 'client_test',
      scope: (mint.scopes ?? ['profile', 'email']).join(' '),
      ...machineTimes(mint, 'mintOAuthToken'),
      jti: mint.jti ?? `oat_${randomHex(16)}`,
    };
    if (mint.audience !== undefined) defaults.aud = Array.isArray(mint.audience) ? [...mint.audience] : mint.audience;
    return signJwt(
      { ...defaults, ...mint.claims },
      { header: { typ: 'at+jwt', ...mint.header }, signWith: mint.signWith },
    );
  };

  const mintToken = async (claims: Record<string, unknown> = {}, mint: MintOptions = {}): Promise<string> => {
    if (mint.expired && mint.notYetValid) {
      throw new TypeError('mintToken: `expired` and `notYetValid` cannot both be set.');
    }
    const version = mint.version ?? 2;
    const lifetime = mint.expiresInSeconds ?? 60;
    const nowSeconds = Math.floor((mint.now ?? clock()) / 1000);
    let iat: number;
    let nbf: number;
    let exp: number;
    if (mint.expired) {
      exp = nowSeconds - 120;
      iat = exp - lifetime;
      nbf = iat - 10;
    } else if (mint.notYetValid) {
      iat = nowSeconds + 120;
      nbf = iat;
      exp = iat + lifetime;
    } else {
      iat = nowSeconds;
      nbf = iat - 10;
      exp = iat + lifetime;
    }

    const defaults: Record<string, unknown> = {
      azp: authorizedParty,
      exp,
      iat,
      iss: issuer,
      nbf,
      sid: `sess_test_${randomHex(12)}`,
      sub: mint.userId ?? 'user_test',
    };
    if (version === 2) {
      defaults.fva = [0, -1];
      defaults.sts = mint.pending ? 'pending' : 'active';
      defaults.v = 2;
      if (mint.org) {
        const { o, fea } = encodeOrgV2(mint.org);
        defaults.o = o;
        if (fea !== undefined) defaults.fea = fea;
      }
    } else {
      if (mint.pending) defaults.sts = 'pending';
      if (mint.org) {
        defaults.org_id = mint.org.id;
        if (mint.org.slug !== undefined) defaults.org_slug = mint.org.slug;
        defaults.org_role = mint.org.role;
        defaults.org_permissions = [...(mint.org.permissions ?? [])];
      }
    }

    return signJwt(withoutUndefined({ ...defaults, ...claims }), {
      header: { kid: mint.kid ?? current.kid, ...mint.header },
      signWith: mint.signWith,
    });
  };

  const setJwksFailure = (mode: JwksFailureMode): void => {
    failure = mode;
    if (mode === 'slow') return;
    // Requests held by 'slow' get the new mode's answer.
    for (const entry of [...held]) {
      held.delete(entry);
      if (!entry.res.destroyed && !entry.res.headersSent) {
        answerJwks(entry.req, entry.res, new URL(entry.req.url ?? '/', 'http://127.0.0.1').pathname);
      }
    }
  };

  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve, reject) => {
      server.close((error) => (error ? reject(error) : resolve()));
      server.closeAllConnections();
      held.clear();
      backendApi.close();
    });
    return closing;
  };

  return {
    jwksUri,
    apiUrl,
    frontendApi,
    issuer,
    publishableKey,
    secretKey,
    authorizedParty,
    get kid() {
      return current.kid;
    },
    get jwtKey() {
      return current.jwtKey;
    },
    get privateKey() {
      return current.privateKey;
    },
    get publicJwk() {
      return { ...current.publicJwk };
    },
    get authOptions() {
      return { publishableKey, jwksUri, issuer, authorizedParties: [authorizedParty] };
    },
    get jwksFetchCount() {
      return fetchCount;
    },
    mintToken,
    signJwt,
    mintM2MToken,
    mintOAuthToken,
    async rotateKey(rotate: { keepPrevious?: boolean } = {}) {
      const next = await newKeyMaterial(newKid());
      previous = rotate.keepPrevious ? current : undefined;
      current = next;
      return next.kid;
    },
    setJwksFailure,
    resetJwksFetchCount() {
      fetchCount = 0;
    },
    machineSecretKey,
    addUser: backendApi.addUser,
    backendApiCalls: backendApi.calls,
    resetBackendApiCalls: backendApi.resetCalls,
    createOpaqueM2MToken: backendApi.createOpaqueM2MToken,
    createOpaqueOAuthToken: backendApi.createOpaqueOAuthToken,
    createApiKey: backendApi.createApiKey,
    revokeToken(token: string, revoke: { reason?: string | null } = {}) {
      backendApi.revokeToken(token, revoke.reason ?? null);
    },
    describeToken: backendApi.describeToken,
    setInactiveTokenAnswer: backendApi.setInactiveTokenAnswer,
    setBackendApiFailure: backendApi.setFailure,
    close,
  };
}
