/**
 * The verification of one Clerk JWT, with Clerk's rules (`@clerk/backend` `verifyToken` and `verifyMachineAuthToken`
 * are the reference) in this order: size and charset before any decoding, `alg` (jose), the token type from the
 * header (refused before the signature when not accepted), the signature before any claim, then `sub`, `exp`, `nbf`,
 * `iat` (with the clock skew), `iss`, `aud`, and for sessions `azp` and the session status.
 *
 * Session tokens, JWT-format M2M tokens and OAuth access tokens share the keys and the verified-token cache.
 */
import { compactVerify, decodeProtectedHeader, type JWSHeaderParameters, type FlattenedJWSInput } from 'jose';
import type { ClerkClaims } from './claims.js';
import { ClerkAuthError, type ClerkAuthErrorCode } from './errors.js';
import { createKeyResolver, type KeyResolver } from './keys.js';
import type { ResolvedOptions } from './options.js';
import { TokenCache, tokenKey } from './token-cache.js';
import { accepts, bitOf, type MachineTokenType, type TokenType, type TokenTypeMask } from './token-types.js';

/**
 * Clerk's verification result of a machine token, in Clerk's own shape (`M2MToken`, `IdPOAuthAccessToken`,
 * `APIKey` of `@clerk/backend`): what `authenticatedMachineObject` builds the machine AuthObject from.
 */
export interface MachineData {
  readonly id: string;
  readonly subject: string;
  readonly scopes: readonly string[];
  readonly claims?: Readonly<Record<string, unknown>> | null;
  readonly clientId?: string;
  readonly name?: string;
  readonly aud?: readonly string[];
  readonly expiration?: number | null;
  readonly [field: string]: unknown;
}

/** A verified token: its type, the `user` the policy sees, and for machine tokens Clerk's verification result. */
export interface Verified {
  readonly tokenType: TokenType;
  /**
   * For a session, its verified claims. For a machine token, only `{ sub, exp, jti }` (subject, expiry, token id):
   * never the token's custom claims, so a rule written for sessions (`user.o?.rol === 'admin'`) cannot be met by claims
   * a machine chose.
   */
  readonly user: ClerkClaims;
  readonly machine?: { readonly tokenType: MachineTokenType; readonly data: MachineData; readonly token: string };
}

/** A verification under way (single flight). */
interface Flight {
  readonly token: string;
  readonly generation: number;
  readonly mask: TokenTypeMask;
  /** Set as soon as `verifyFresh` returns its promise. */
  result: Promise<Verified> | undefined;
}

/** Clerk session tokens are about 1 KiB; anything past 8 KiB is refused before any decoding. */
export const MAX_TOKEN_LENGTH = 8192;

/**
 * Clerk marks its JWTs with a header `cat`: session tokens `cl_B7d4PD111AAA`, and `cl_I7d4PD111III` ("ignore").
 * Any other category (M2M tokens, JWT templates) is not a session token (`@clerk/backend` `isNonSessionJwtCategory`).
 */
const SESSION_CATEGORIES: ReadonlySet<unknown> = new Set([undefined, 'cl_B7d4PD111AAA', 'cl_I7d4PD111III']);
/** OAuth access tokens (`typ: at+jwt`, RFC 9068) are machine tokens, not sessions. */
const OAUTH_TOKEN_TYPES: ReadonlySet<unknown> = new Set(['at+jwt', 'application/at+jwt']);
/** The subject prefix of Clerk machine identities (M2M tokens). */
const MACHINE_SUBJECT_PREFIX = 'mch_';
/** The header category of Clerk's JWT-format M2M tokens (`JWT_CATEGORY_M2M_TOKEN`). */
const M2M_CATEGORY = 'cl_B7d4PD333AAA';
/** Claims of an M2M JWT that are not custom claims (`@clerk/backend` `M2M_RESERVED_JWT_CLAIMS`). */
const M2M_RESERVED_CLAIMS: ReadonlySet<string> = new Set(['iss', 'sub', 'exp', 'nbf', 'iat', 'jti']);

/** The kind of a JWT by its header, before the signature; `session_token` may still turn out an M2M token by `sub`. */
type JwtKind = 'session_token' | 'm2m_token' | 'oauth_token' | 'other';

function jwtKindOf(header: JWSHeaderParameters): JwtKind {
  if (OAUTH_TOKEN_TYPES.has(header.typ)) return 'oauth_token';
  if (header.cat === M2M_CATEGORY) return 'm2m_token';
  // A JWT template, or any category Clerk may add: never accepted (SEC-340, SDK-107 in @clerk/backend).
  if (!SESSION_CATEGORIES.has(header.cat)) return 'other';
  return 'session_token';
}

function stringList(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? (value as string[]) : undefined;
}

/**
 * An OAuth access token's `aud` as a list: Clerk's shape (a non-empty string, or a non-empty list of them) copied,
 * any other value an empty list, which names no resource (Clerk refuses such an `aud` wherever it checks one).
 */
export function oauthAudience(aud: unknown): string[] | undefined {
  if (aud === undefined) return undefined;
  const list = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? [...(aud as unknown[])] : [];
  return list.length > 0 && list.every((a) => typeof a === 'string' && a.length > 0) ? (list as string[]) : [];
}

/** What Clerk's `fromJwtPayload` puts in every machine token's data: id, subject, and the times of a live token. */
function jwtData(payload: Record<string, unknown>, scopes: string[]): MachineData {
  const iat = typeof payload.iat === 'number' ? payload.iat * 1000 : undefined;
  return {
    id: typeof payload.jti === 'string' ? payload.jti : '',
    subject: payload.sub as string,
    scopes,
    revoked: false,
    revocationReason: null,
    expired: false,
    expiration: (payload.exp as number) * 1000,
    createdAt: iat,
    updatedAt: iat,
  };
}

/** Clerk's `M2MToken.fromJwtPayload`, as data. */
function m2mData(payload: Record<string, unknown>): MachineData {
  const claims: Record<string, unknown> = {};
  for (const key of Object.keys(payload)) if (!M2M_RESERVED_CLAIMS.has(key)) claims[key] = payload[key];
  const scopes = typeof payload.scopes === 'string' ? payload.scopes.split(' ') : (stringList(payload.aud) ?? (typeof payload.aud === 'string' ? [payload.aud] : []));
  return { ...jwtData(payload, scopes), claims: Object.keys(claims).length > 0 ? claims : null };
}

/** Clerk's `IdPOAuthAccessToken.fromJwtPayload`, as data. */
function oauthData(payload: Record<string, unknown>): MachineData {
  const scopes = stringList(payload.scp) ?? (typeof payload.scope === 'string' ? payload.scope.split(' ') : []);
  return {
    ...jwtData(payload, scopes),
    clientId: typeof payload.client_id === 'string' ? payload.client_id : '',
    type: 'oauth_token',
    aud: oauthAudience(payload.aud),
  };
}

/**
 * Every verified machine token by its `user` object, so an adapter handed only the user (Mastra) tells a machine
 * from a person. A session's user is not recorded: every caller takes a user it does not find for a session's, and
 * an entry per session token cost about 9 µs of main-thread CPU per fresh token (the garbage collector's work on a
 * WeakMap of 10,000 young keys; interleaved A/B, a full token cache).
 */
const machineByUser = new WeakMap<object, Verified>();

/** The verified machine token a `user` object came from; undefined for a session's user or any other object. */
export function machineTokenOf(user: object): Verified | undefined {
  return machineByUser.get(user);
}

/** Freezes a verified token and, for a machine token, records it by its user. */
export function sealVerified(verified: Verified): Verified {
  Object.freeze(verified);
  if (verified.machine) machineByUser.set(verified.user, verified);
  return verified;
}

/** The `user` of a machine token: subject, expiry (seconds) and token id, nothing a machine could choose. */
export function machineUser(subject: string, expSeconds: number, id: string): ClerkClaims {
  return Object.freeze({ sub: subject, exp: expSeconds, jti: id }) as ClerkClaims;
}

function base64urlValue(code: number): number {
  if (code >= 65 && code <= 90) return code - 65; // A-Z
  if (code >= 97 && code <= 122) return code - 71; // a-z
  if (code >= 48 && code <= 57) return code + 4; // 0-9
  return code === 45 ? 62 : 63; // - or _ (the charset is checked before)
}

/**
 * One base64url segment is in canonical form: a length that encodes whole bytes, and no stray bits in the last
 * character. Otherwise two different strings would decode to the same bytes (a "different" token that verifies).
 */
function isCanonical(token: string, start: number, end: number): boolean {
  const remainder = (end - start) % 4;
  if (remainder === 0) return true;
  if (remainder === 1) return false;
  const unusedBits = remainder === 2 ? 0x0f : 0x03;
  return (base64urlValue(token.charCodeAt(end - 1)) & unusedBits) === 0;
}

const TOKEN_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * Three non-empty base64url segments, each canonical, checked before anything is decoded (jose's decoder would
 * skip characters it does not expect). A regular expression: several times faster here than a character loop.
 */
function wellFormed(token: string): boolean {
  if (!TOKEN_SHAPE.test(token)) return false;
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  return isCanonical(token, 0, first) && isCanonical(token, first + 1, second) && isCanonical(token, second + 1, token.length);
}

function parseJsonObject(json: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(json);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key in value) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}

const utf8 = new TextDecoder();

const JOSE_CODES: Record<string, ClerkAuthErrorCode> = {
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'token-invalid-signature',
  ERR_JOSE_ALG_NOT_ALLOWED: 'token-invalid-algorithm',
  ERR_JOSE_NOT_SUPPORTED: 'token-invalid-algorithm',
};

/** Our code for a jose failure. An unknown `crit` extension is a malformed token, not an algorithm problem. */
function joseCode(token: string, code: string | undefined): ClerkAuthErrorCode {
  if (code === 'ERR_JOSE_NOT_SUPPORTED') {
    try {
      if ('crit' in decodeProtectedHeader(token)) return 'token-invalid';
    } catch {
      return 'token-invalid';
    }
  }
  return JOSE_CODES[code ?? ''] ?? 'token-invalid';
}

export class Verifier {
  private readonly keys: KeyResolver;
  private readonly cache: TokenCache<Verified>;
  private readonly verifyOptions: { algorithms: string[] };

  constructor(private readonly options: ResolvedOptions) {
    this.cache = new TokenCache(options.tokenCacheSize);
    this.keys = createKeyResolver(options.keySource, {
      realm: options.realm,
      jwks: options.jwks,
      now: options.now,
      // Tokens verified with a key that has since left the key set must not be served from memory.
      onKeySetChange: () => this.cache.clear(),
    });
    this.verifyOptions = { algorithms: [...options.algorithms] };
  }

  private error(code: ClerkAuthErrorCode, message?: string, cause?: unknown): ClerkAuthError {
    return new ClerkAuthError(code, { realm: this.options.realm, message, cause });
  }

  /**
   * The header checks jose does not make, then the key: runs after the `alg` check and before the signature. A token
   * of a type not accepted is refused here, before its signature costs anything.
   */
  private keyFor(header: JWSHeaderParameters, token: FlattenedJWSInput, mask: TokenTypeMask, kind: { value: JwtKind; cat?: unknown }) {
    const found = jwtKindOf(header);
    // A session-looking header may still be an M2M token, told by its subject after the signature.
    const possible = found === 'other' ? 0 : found === 'session_token' ? bitOf('session_token') | bitOf('m2m_token') : bitOf(found);
    if ((mask & possible) === 0) throw this.error('token-type-mismatch');
    if (found !== 'oauth_token' && header.typ !== undefined && header.typ !== 'JWT') {
      throw this.error('token-invalid', 'The token type (typ) is not JWT.');
    }
    kind.value = found;
    kind.cat = header.cat;
    return this.keys(header, token);
  }

  /**
   * A token verified earlier and still valid, synchronously, or undefined (then call `verify`, which also names the
   * failure). Lets adapters answer a client that reuses its token without a promise. The caller checks the type.
   */
  cached(token: string): Verified | undefined {
    const now = this.options.now();
    const verified = this.cache.get(token, now);
    if (!verified) return undefined;
    try {
      this.checkTimes(verified.user, now);
    } catch {
      this.cache.delete(token);
      return undefined;
    }
    return verified;
  }

  /** Resolves with the verified token if its type is in `mask`; rejects with a `ClerkAuthError`. */
  verify(token: string, mask: TokenTypeMask): Promise<Verified> {
    if (typeof token !== 'string' || token.length === 0) return Promise.reject(this.error('token-missing'));
    if (token.length > MAX_TOKEN_LENGTH) return Promise.reject(this.error('token-invalid', 'The token is too large.'));

    // A cached token past its time falls through: full verification names the failure (token-expired...).
    const cached = this.cached(token);
    if (cached) return accepts(mask, cached.tokenType) ? Promise.resolve(cached) : Promise.reject(this.error('token-type-mismatch'));

    // Single flight: the requests a client sends at once with a token not checked yet share one signature check
    // (measured: 32 connections reusing 50 new tokens cost 1,300 checks instead of 50). Only tokens in flight are kept,
    // by the cache's integer key (hashing the whole token string cost more than the rest of the bookkeeping).
    const key = tokenKey(token);
    const pending = this.inFlight.get(key);
    if (pending?.result && pending.token === token && pending.generation === this.cache.generation && pending.mask === mask) return pending.result;
    const flight: Flight = { token, generation: this.cache.generation, mask, result: undefined };
    // Another token under the same key keeps its flight (a forgery cannot take a valid token's); this one goes alone.
    if (pending === undefined || pending.token === token) this.inFlight.set(key, flight);
    // `verifyFresh` takes its entry out as it settles: no promise of its own to clean up after it.
    return (flight.result = this.verifyFresh(token, mask, key, flight));
  }

  /** Verifications under way, by token key: the token, the cache generation they started in, the types they accept. */
  private readonly inFlight = new Map<number, Flight>();

  private async verifyFresh(token: string, mask: TokenTypeMask, key: number, flight: Flight): Promise<Verified> {
    try {
      const now = this.options.now();
      const generation = this.cache.generation;
      if (!wellFormed(token)) {
        throw this.error('token-invalid', 'The token is not three canonical base64url parts.');
      }

      let payloadBytes: Uint8Array;
      const kind: { value: JwtKind; cat?: unknown } = { value: 'other' };
      try {
        // jose parses the header and checks `alg` against the allow-list, then asks `keyFor` (type and header checks,
        // then the key), then checks the signature. The header's `jku`, `x5u` and `jwk` are never followed.
        ({ payload: payloadBytes } = await compactVerify(token, (h: JWSHeaderParameters, t: FlattenedJWSInput) => this.keyFor(h, t, mask, kind), this.verifyOptions));
      } catch (error) {
        if (error instanceof ClerkAuthError) throw error;
        // No `cause`: jose's messages can quote the token's own header (an unknown `crit` name, say), and a logged
        // cause would print attacker text. The code says what failed.
        throw this.error(joseCode(token, (error as { code?: string }).code));
      }

      const claims = parseJsonObject(utf8.decode(payloadBytes));
      if (!claims) throw this.error('token-invalid', 'The token payload is not a JSON object.');
      if (typeof claims.sub !== 'string' || claims.sub.length === 0) {
        throw this.error('token-invalid', 'The token has no subject (sub).');
      }
      // Clerk tells an M2M JWT by its subject first (`verifyMachineAuthToken`): a machine's subject is never a session
      // nor an OAuth token, and its header must then be an M2M token's (no category or the M2M one, `typ` JWT).
      let type: JwtKind = kind.value;
      if (claims.sub.startsWith(MACHINE_SUBJECT_PREFIX)) {
        if (type === 'oauth_token' || (kind.cat !== undefined && kind.cat !== M2M_CATEGORY)) {
          throw this.error(accepts(mask, 'm2m_token') ? 'token-invalid' : 'token-type-mismatch', 'The M2M token header is not an M2M token\'s.');
        }
        type = 'm2m_token';
      }
      if (type === 'other' || !accepts(mask, type)) throw this.error('token-type-mismatch');
      // No session id: a template or machine token without Clerk's category header. An ID token: see `looksLikeIdToken`.
      if (type === 'session_token' && (typeof claims.sid !== 'string' || claims.sid.length === 0 || this.looksLikeIdToken(claims))) {
        throw this.error('token-type-mismatch');
      }
      this.checkCommon(claims, now);
      let verified: Verified;
      if (type === 'session_token') {
        verified = { tokenType: type, user: deepFreeze(this.checkSession(claims as ClerkClaims)) };
      } else {
        const data = type === 'm2m_token' ? this.checkM2M(claims) : this.checkOAuth(claims);
        verified = { tokenType: type, user: machineUser(data.subject, claims.exp as number, data.id), machine: { tokenType: type, data: deepFreeze(data), token } };
      }
      sealVerified(verified);
      this.cache.set(token, verified, now, generation);
      return verified;
    } finally {
      if (this.inFlight.get(key) === flight) this.inFlight.delete(key);
    }
  }

  /** The claims every Clerk JWT has: `exp` (required), `nbf` and `iat` (numbers when present), and the times. */
  private checkCommon(claims: Record<string, unknown>, now: number): void {
    if (typeof claims.exp !== 'number' || !Number.isFinite(claims.exp)) {
      throw this.error('token-invalid', 'The token has no valid expiry (exp).');
    }
    for (const name of ['nbf', 'iat'] as const) {
      const value = claims[name];
      if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) {
        throw this.error('token-invalid', `The token claim ${name} is not a number.`);
      }
    }
    this.checkTimes(claims as ClerkClaims, now);
  }

  /** An M2M JWT: a machine subject; `iss`, when present, must be the instance's. */
  private checkM2M(claims: Record<string, unknown>): MachineData {
    if (!(claims.sub as string).startsWith(MACHINE_SUBJECT_PREFIX)) {
      throw this.error('token-invalid', 'The M2M token subject is not a machine (mch_...).');
    }
    const { issuers, audiences } = this.options;
    if (issuers && claims.iss !== undefined && (typeof claims.iss !== 'string' || !issuers.includes(claims.iss))) {
      throw this.error('token-invalid-issuer');
    }
    if (claims.scopes !== undefined && typeof claims.scopes !== 'string') {
      throw this.error('token-invalid', 'The M2M token scopes are not a space-separated string.');
    }
    if (audiences) {
      // As for sessions (Clerk checks `aud` of M2M tokens too): a configured audience is required.
      const list = claims.aud === undefined ? [] : [claims.aud].flat();
      if (!list.some((a) => typeof a === 'string' && audiences.includes(a))) throw this.error('token-invalid-audience');
    }
    return m2mData(claims);
  }

  /** An OAuth access token: the instance's issuer, and the audience when one is configured (Clerk's rule). */
  private checkOAuth(claims: Record<string, unknown>): MachineData {
    const { issuers, audiences } = this.options;
    if (issuers && (typeof claims.iss !== 'string' || !issuers.includes(claims.iss))) throw this.error('token-invalid-issuer');
    if (audiences && !(oauthAudience(claims.aud) ?? []).some((a) => audiences.includes(a))) throw this.error('token-invalid-audience');
    return oauthData(claims);
  }

  /**
   * An OpenID Connect ID token of Clerk as an identity provider: what any OAuth application of the instance (an MCP
   * client registered on its own, say) gets for a user, signed by the instance's key, with `iss`, `sub`, `sid` and no
   * category header, so only its claims tell it from a session token (`@clerk/backend` accepts it as one). Clerk's
   * session tokens carry none of OIDC's ID-token claims (`nonce`, `auth_time`, `at_hash`, `c_hash`), and an `aud` only
   * when the instance customizes them, with an `azp` whenever a browser asked; an ID token has an `aud` (the client)
   * and no `azp`. A configured `audience` that the token names is the app's own choice, and passes.
   */
  private looksLikeIdToken(claims: Record<string, unknown>): boolean {
    if (claims.nonce !== undefined || claims.auth_time !== undefined || claims.at_hash !== undefined || claims.c_hash !== undefined) return true;
    return claims.aud !== undefined && claims.azp === undefined && this.options.audiences === undefined;
  }

  private checkSession(typed: ClerkClaims): ClerkClaims {
    const { options } = this;
    if (options.issuers && (typeof typed.iss !== 'string' || !options.issuers.includes(typed.iss))) {
      throw this.error('token-invalid-issuer');
    }
    if (options.audiences) {
      // Stricter than Clerk, which skips the check for a token without `aud`: a configured audience is required.
      const audiences = options.audiences;
      const aud = typed.aud;
      const list = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
      if (!list.some((a) => typeof a === 'string' && audiences.includes(a))) throw this.error('token-invalid-audience');
    }
    if (options.authorizedParties && (typeof typed.azp !== 'string' || !options.authorizedParties.includes(typed.azp))) {
      throw this.error('token-invalid-authorized-parties');
    }
    if (options.treatPendingAsSignedOut && typed.sts === 'pending') throw this.error('session-pending');
    return typed;
  }

  /** Clerk's time rules, in milliseconds, with the skew on each side. */
  checkTimes(claims: ClerkClaims, now: number): void {
    const skew = this.options.clockSkewInMs;
    if (claims.exp * 1000 <= now - skew) throw this.error('token-expired');
    if (typeof claims.nbf === 'number' && claims.nbf * 1000 > now + skew) throw this.error('token-not-active-yet');
    if (typeof claims.iat === 'number' && claims.iat * 1000 > now + skew) throw this.error('token-iat-in-the-future');
  }
}
