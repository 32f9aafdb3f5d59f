/**
 * The verification of one Clerk session token, with Clerk's rules (`@clerk/backend` `verifyToken` is the
 * reference) in this order: size and charset before any decoding, `alg` (jose), `typ`, the signature before any claim,
 * then `sub`, `exp`, `nbf`, `iat` (with the clock skew), `iss`, `aud`, `azp`, and the session status.
 */
import { compactVerify, decodeProtectedHeader } from 'jose';
import type { ClerkClaims } from './claims.js';
import { ClerkAuthError, type ClerkAuthErrorCode } from './errors.js';
import { createKeyResolver, type KeyResolver } from './keys.js';
import type { ResolvedOptions } from './options.js';
import { TokenCache } from './token-cache.js';

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
  private readonly cache: TokenCache;
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

  /** The header checks jose does not make, then the key: runs after the `alg` check and before the signature. */
  private readonly checkedKey: KeyResolver = (header, token) => {
    // Only session tokens sign a user in (SEC-340, SDK-107 in @clerk/backend): an M2M token, an OAuth access token
    // or a JWT-template token is refused before its signature is even checked.
    if (!SESSION_CATEGORIES.has(header.cat) || OAUTH_TOKEN_TYPES.has(header.typ)) throw this.error('token-type-mismatch');
    if (header.typ !== undefined && header.typ !== 'JWT') {
      throw this.error('token-invalid', 'The session token type is not JWT.');
    }
    return this.keys(header, token);
  };

  /**
   * The claims of a token verified earlier and still valid, synchronously, or undefined (then call `verify`, which
   * also names the failure). Lets adapters answer a client that reuses its token without a promise.
   */
  cached(token: string): ClerkClaims | undefined {
    const now = this.options.now();
    const claims = this.cache.get(token, now);
    if (!claims) return undefined;
    try {
      this.checkTimes(claims, now);
    } catch {
      this.cache.delete(token);
      return undefined;
    }
    return claims;
  }

  /** Resolves with the verified, frozen claims; rejects with a `ClerkAuthError`. */
  async verify(token: string): Promise<ClerkClaims> {
    if (typeof token !== 'string' || token.length === 0) throw this.error('token-missing');
    if (token.length > MAX_TOKEN_LENGTH) throw this.error('token-invalid', 'The session token is too large.');

    // A cached token past its time falls through: full verification names the failure (token-expired...).
    const cached = this.cached(token);
    if (cached) return cached;

    // Single flight: the requests a client sends at once with a token not checked yet share one signature check
    // (measured: 32 connections reusing 50 new tokens cost 1,300 checks instead of 50). Only tokens in flight are kept.
    const pending = this.inFlight.get(token);
    if (pending && pending.generation === this.cache.generation) return pending.result;
    const generation = this.cache.generation;
    const result = this.verifyFresh(token);
    const entry = { generation, result };
    this.inFlight.set(token, entry);
    try {
      return await result;
    } finally {
      if (this.inFlight.get(token) === entry) this.inFlight.delete(token);
    }
  }

  /** Verifications under way, by token, with the cache generation they started in. */
  private readonly inFlight = new Map<string, { generation: number; result: Promise<ClerkClaims> }>();

  private async verifyFresh(token: string): Promise<ClerkClaims> {
    const now = this.options.now();
    const generation = this.cache.generation;
    if (!wellFormed(token)) {
      throw this.error('token-invalid', 'The session token is not three canonical base64url parts.');
    }

    let payloadBytes: Uint8Array;
    try {
      // jose parses the header and checks `alg` against the allow-list, then asks `checkedKey` (header checks, then
      // the key), then checks the signature. The header's `jku`, `x5u` and `jwk` are never followed.
      ({ payload: payloadBytes } = await compactVerify(token, this.checkedKey, this.verifyOptions));
    } catch (error) {
      if (error instanceof ClerkAuthError) throw error;
      // No `cause`: jose's messages can quote the token's own header (an unknown `crit` name, say), and a logged
      // cause would print attacker text. The code says what failed.
      throw this.error(joseCode(token, (error as { code?: string }).code));
    }

    const claims = parseJsonObject(utf8.decode(payloadBytes));
    if (!claims) throw this.error('token-invalid', 'The session token payload is not a JSON object.');
    const verified = this.checkClaims(claims);
    deepFreeze(verified);
    this.cache.set(token, verified, now, generation);
    return verified;
  }

  private checkClaims(claims: Record<string, unknown>): ClerkClaims {
    const { options } = this;
    if (typeof claims.sub !== 'string' || claims.sub.length === 0) {
      throw this.error('token-invalid', 'The session token has no subject (sub).');
    }
    // A machine's subject, or no session id: a template or machine token without Clerk's category header.
    if (claims.sub.startsWith(MACHINE_SUBJECT_PREFIX) || typeof claims.sid !== 'string' || claims.sid.length === 0) {
      throw this.error('token-type-mismatch');
    }
    if (typeof claims.exp !== 'number' || !Number.isFinite(claims.exp)) {
      throw this.error('token-invalid', 'The session token has no valid expiry (exp).');
    }
    for (const name of ['nbf', 'iat'] as const) {
      const value = claims[name];
      if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) {
        throw this.error('token-invalid', `The session token claim ${name} is not a number.`);
      }
    }
    const typed = claims as ClerkClaims;
    this.checkTimes(typed, this.options.now());

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
  private checkTimes(claims: ClerkClaims, now: number): void {
    const skew = this.options.clockSkewInMs;
    if (claims.exp * 1000 <= now - skew) throw this.error('token-expired');
    if (typeof claims.nbf === 'number' && claims.nbf * 1000 > now + skew) throw this.error('token-not-active-yet');
    if (typeof claims.iat === 'number' && claims.iat * 1000 > now + skew) throw this.error('token-iat-in-the-future');
  }
}
